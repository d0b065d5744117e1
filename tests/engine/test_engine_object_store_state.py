"""State in an object store, as the sites keep it (issue 19 item 5): Pulumi's DIY backend on an S3-compatible endpoint
(tests/engine/object_store.py), and two `pulumi up` of one stack at once.

The DIY backend locks a stack by writing `.pulumi/locks/organization/<project>/<stack>/<id>.json` before an update and refuses an
update while another's lock is there (pkg/backend/diy: `Lock`, "the stack is currently locked by 1 lock(s)"); it does
not wait. Here the second `up` starts once the first one's lock is in the bucket, while the first is still creating
its resource: one update succeeds, the other is refused naming the lock, the state is whole, the lock is released,
and the next `up` has nothing to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine.object_store import CREDENTIALS

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "platform-state"
PROJECT = "state-lock"

# A resource whose creation takes a while, so that the first update still holds the lock when the second one starts.
SLOW_MODULE = '''
import time

from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class SlowProvider(ResourceProvider):
    def create(self, props):
        time.sleep(float(props["seconds"]))
        return CreateResult(id_=props["name"], outs=props)

    def diff(self, _id, olds, news):
        return DiffResult(changes=olds != news)


class Slow(Resource, module="engine-test", name="Slow"):
    def __init__(self, name, seconds):
        super().__init__(SlowProvider(), name, {"name": name, "seconds": seconds})
'''

PROGRAM = """
import pulumi
from slow_module import Slow

pulumi.export("name", Slow("settlement", 12).id)
"""


def project(directory: Path) -> Path:
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (directory / "__main__.py").write_text(PROGRAM)
    (directory / "slow_module.py").write_text(SLOW_MODULE)
    (directory / ".venv").symlink_to(ROOT / ".venv")
    return directory


def test_two_concurrent_ups_of_one_stack_on_s3_state_one_is_refused_by_the_lock_and_the_state_stays_whole(
        engine_env, object_store, tmp_path):
    backend = object_store.bucket(BUCKET)
    directory = project(tmp_path / "project")
    env = {**os.environ, **engine_env, **CREDENTIALS, "PULUMI_BACKEND_URL": backend, "PULUMI_CONFIG_PASSPHRASE": "test"}

    def pulumi(*args: str) -> subprocess.Popen:
        return subprocess.Popen(["pulumi", *args, "--stack", "dev", "--non-interactive"], cwd=directory, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)

    def finished(process: subprocess.Popen) -> tuple[int, str]:
        output, _ = process.communicate(timeout=600)
        return process.returncode, output

    subprocess.run(["pulumi", "stack", "init", "dev", "--non-interactive"], cwd=directory, env=env, check=True,
                   capture_output=True, timeout=120)
    assert f".pulumi/stacks/{PROJECT}/dev.json" in object_store.keys(BUCKET, ".pulumi/stacks/")

    first = pulumi("up", "--yes")
    locks = f".pulumi/locks/organization/{PROJECT}/dev/"  # the stack's fully qualified name (diy: stackLockDir)
    deadline = time.monotonic() + 120
    while not object_store.keys(BUCKET, locks):
        assert first.poll() is None and time.monotonic() < deadline, "the first update never took the stack's lock"
        time.sleep(0.1)
    [lock] = object_store.keys(BUCKET, locks)
    second = pulumi("up", "--yes")
    (first_rc, first_out), (second_rc, second_out) = finished(first), finished(second)

    assert first_rc == 0, first_out
    assert second_rc != 0, second_out
    assert "the stack is currently locked by 1 lock(s)" in second_out, second_out
    assert lock in second_out and f"(pid {first.pid})" in second_out  # it names the lock and who holds it
    assert object_store.keys(BUCKET, locks) == []  # released by the update that held it

    # The state is whole: the CLI reads it back, with the one resource the first update created, and no change pends.
    exported = subprocess.run(["pulumi", "stack", "export", "--stack", "dev"], cwd=directory, env=env, check=True,
                              capture_output=True, text=True, timeout=120)
    resources = json.loads(exported.stdout)["deployment"]["resources"]
    assert [r["urn"].rsplit("::", 1)[1] for r in resources if r["type"] == "pulumi-python:dynamic/engine-test:Slow"] == ["settlement"]
    again = pulumi("up", "--yes", "--expect-no-changes")
    assert finished(again)[0] == 0
    assert json.loads(object_store.read(BUCKET, f".pulumi/stacks/{PROJECT}/dev.json"))["checkpoint"]["latest"]["resources"]
    assert object_store.keys(BUCKET, f".pulumi/history/{PROJECT}/dev/")  # each update's history is kept beside it
