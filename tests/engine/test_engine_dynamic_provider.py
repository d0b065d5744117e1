"""Python dynamic resources run on the engine scripts/engine provides, with no plugin to acquire.

The CLI's own distribution ships `pulumi-resource-pulumi-python` beside `pulumi`; scripts/engine copies it from the
sdk/v3 module at the pin (docs/engine.md). Here the real engine serves a `pulumi.dynamic` resource through it: the
provider runs in the project's virtualenv, its secret output stays a secret in state, a second `up` and a `refresh`
change nothing, and `destroy` removes it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # how Pulumi state marks a secret value

TOKEN_MODULE = '''
import secrets

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class TokenProvider(ResourceProvider):
    def create(self, props):  # numbers arrive as floats (protobuf Struct)
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "result": secrets.token_urlsafe(int(props["bytes"]))})

    def diff(self, _id, olds, news):
        replaces = ["bytes"] if olds.get("bytes") != news.get("bytes") else []
        return DiffResult(changes=bool(replaces), replaces=replaces)


class Token(Resource, module="engine-test", name="Token"):
    result: pulumi.Output[str]

    def __init__(self, name, size):
        super().__init__(TokenProvider(), name, {"bytes": size, "result": None},
                         pulumi.ResourceOptions(additional_secret_outputs=["result"]))
'''

PROGRAM = """
import pulumi
from token_module import Token

pulumi.export("token", Token("api", 24).result)
"""




def test_a_dynamic_resource_is_created_kept_secret_unchanged_on_a_second_up_and_destroyed(engine_env, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: dynamic\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (project / "__main__.py").write_text(PROGRAM)
    (project / "token_module.py").write_text(TOKEN_MODULE)
    (project / ".venv").symlink_to(ROOT / ".venv")
    (project / ".state").mkdir()
    env = {**os.environ, **engine_env, "PULUMI_BACKEND_URL": f"file://{project / '.state'}", "PULUMI_CONFIG_PASSPHRASE": "test"}

    def pulumi(*args: str) -> str:
        done = subprocess.run(["pulumi", *args, "--stack", "dev", "--non-interactive"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"pulumi {args[0]}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    subprocess.run(["pulumi", "stack", "init", "dev", "--non-interactive"], cwd=project, env=env, check=True,
                   capture_output=True, timeout=120)
    up = pulumi("up", "--yes")
    assert "pulumi-python:dynamic/engine-test:Token" in up and "from $PATH" not in up, up
    token = pulumi("stack", "output", "token", "--show-secrets").strip()
    assert len(token) == 32  # 24 random bytes, URL-safe base64
    state = json.loads(pulumi("stack", "export"))["deployment"]["resources"]
    [resource] = [r for r in state if r["type"] == "pulumi-python:dynamic/engine-test:Token"]
    assert SECRET_SIGNATURE in resource["outputs"]["result"] and token not in json.dumps(state)

    pulumi("up", "--yes", "--expect-no-changes")
    pulumi("refresh", "--yes", "--expect-no-changes")
    assert pulumi("stack", "output", "token", "--show-secrets").strip() == token
    pulumi("destroy", "--yes")
    assert not [r for r in json.loads(pulumi("stack", "export"))["deployment"].get("resources") or []
                if r["type"] != "pulumi:pulumi:Stack"]
