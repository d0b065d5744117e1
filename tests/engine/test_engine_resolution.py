"""scripts/engine's resolution order: an installed pulumi, then released plugins, then the offline build.

Every case runs the script in a subprocess with fake `pulumi` executables (shell scripts that report a version and
record what they are asked to do), a fake Go that fails at once (so "the offline build" shows as an attempted build,
in milliseconds), and a fake plugin source on 127.0.0.1: a listening port (reachable), a closed port, or a
listening port whose accept queue is full so connections hang (blackholed). Nothing here uses the network or builds.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "engine"
PIN, K8S_PIN = "3.259.0", "4.25.0"

FAKE_PULUMI = """#!/bin/sh
# A fake pulumi: reports $FAKE_VERSION, records every call, and installs plugins the way pulumi lays them out.
echo "$*" >> "{calls}"
case "$1" in
  version) [ -n "{version}" ] && echo "{version}"; exit {version_rc} ;;
  plugin)
    dir="$PULUMI_HOME/plugins/$3-$4-v$5"
    mkdir -p "$dir" && echo "fake $3 plugin $4 $5" > "$dir/pulumi-$3-$4" && exit 0 ;;
esac
exit 3
"""

FAKE_GO = "#!/bin/sh\necho 'fake go: the offline build was attempted' >&2\nexit 2\n"


def load_engine_module():
    loader = importlib.machinery.SourceFileLoader("engine_resolution_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    loader.exec_module(module)
    return module


ENGINE = load_engine_module()


# --- fake plugin sources ------------------------------------------------------------------------------------------


@pytest.fixture
def reachable_source() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    yield f"https://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def closed_source() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"https://127.0.0.1:{port}"  # nothing listens there any more: connection refused


@pytest.fixture
def blackholed_source() -> Iterator[str]:
    """A port that never completes a TCP handshake: its listener's accept queue is full and never drained."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    address = server.getsockname()
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    time.sleep(0.2)
    with pytest.raises(TimeoutError):  # the fixture is what it claims to be
        socket.create_connection(address, timeout=0.5).close()
    yield f"https://127.0.0.1:{address[1]}"
    for s in (*fillers, server):
        s.close()


# --- a sandbox: requirements, cache, fake pulumi and go -----------------------------------------------------------


class Sandbox:
    def __init__(self, root: Path):
        self.root = root
        self.calls = root / "pulumi-calls.log"
        self.cache = root / "cache"
        (root / "requirements.txt").write_text(f"pulumi=={PIN}\npulumi-kubernetes=={K8S_PIN}\n")
        (root / "go").write_text(FAKE_GO)
        (root / "go").chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "PULUMI_"))}
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            self.env.pop(proxy, None)
        self.env.update(
            PATH=os.pathsep.join(["/usr/bin", "/bin"]), ENGINE_REQUIREMENTS=str(root / "requirements.txt"),
            ENGINE_CACHE_DIR=str(self.cache), ENGINE_PROJECT_DIR=str(root / "project"), ENGINE_GO=str(root / "go"),
            ENGINE_VENV=str(root / "no-venv"), ENGINE_LOCK_TIMEOUT="5", ENGINE_PROBE_TIMEOUT="1",
        )

    def install_pulumi(self, version: str | None, *, host: bool = True, version_rc: int = 0) -> Path:
        """A fake pulumi on PATH, reporting `version` (None: prints nothing), with a Python host beside it or not."""
        bindir = self.root / "installed-bin"
        bindir.mkdir(exist_ok=True)
        exe = bindir / "pulumi"
        exe.write_text(FAKE_PULUMI.format(calls=self.calls, version=version or "", version_rc=version_rc))
        exe.chmod(0o755)
        if host:
            (bindir / "pulumi-language-python").write_text("#!/bin/sh\nexit 0\n")
            (bindir / "pulumi-language-python").chmod(0o755)
        self.env["PATH"] = os.pathsep.join([str(bindir), self.env["PATH"]])
        return exe

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def pulumi_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def sandbox(tmp_path, closed_source) -> Sandbox:
    box = Sandbox(tmp_path)
    box.env["ENGINE_PLUGIN_SOURCE"] = closed_source
    return box


def the_using_line(proc: subprocess.CompletedProcess) -> str:
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("engine: using pulumi")]
    return line


def assert_offline_build_attempted(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("engine: error:")]
    assert len(errors) == 1 and "does not work" in errors[0] and "fake go" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


# --- (1) an installed CLI -----------------------------------------------------------------------------------------


def test_an_installed_pulumi_newer_than_the_pin_is_used_with_its_own_host(sandbox, reachable_source):
    exe = sandbox.install_pulumi("v3.262.0")
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    proc = sandbox.run("env", "--json")
    assert proc.returncode == 0, proc.stderr
    variables = json.loads(proc.stdout)
    assert variables["PATH"].split(os.pathsep)[0] == str(exe.parent)  # its directory, with its language host
    assert str(sandbox.cache / "pulumi" / f"v{PIN}" / "bin") not in variables["PATH"]  # nothing offline-built
    assert the_using_line(proc) == (
        "engine: using pulumi v3.262.0 (installed) with its own Python host; kubernetes provider v4.25.0 (release, "
        "charts without a cluster render for Kubernetes v1.20.0); other plugins released through Pulumi's plugin "
        "acquisition")
    assert not (sandbox.cache / "pulumi").exists()  # the CLI was not built


def test_an_installed_pulumi_of_exactly_the_pin_is_used(sandbox, reachable_source):
    sandbox.install_pulumi(f"v{PIN}")
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    proc = sandbox.run("build")
    assert proc.returncode == 0, proc.stderr
    assert f"engine: using pulumi v{PIN} (installed)" in proc.stderr


def test_an_installed_pulumi_without_a_python_host_gets_the_offline_built_host(sandbox, reachable_source):
    sandbox.install_pulumi("v3.262.0", host=False)
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    check = sandbox.run("check")
    assert "pulumi         installed: pulumi v3.262.0 at" in check.stdout
    assert "language host  offline build: not built yet" in check.stdout
    assert_offline_build_attempted(sandbox.run("build"))  # the host is built (the CLI is the installed one)


@pytest.mark.parametrize("reported, rc, why", [
    ("v3.200.0", 0, "it is older than the pulumi SDK pin 3.259.0"),
    ("v3.259.0-alpha.1755000000", 0, "it is older than the pulumi SDK pin 3.259.0"),  # a pre-release comes before
    ("v4.0.0", 0, "it is major version 4, the pulumi SDK pin 3.259.0 is major version 3"),
    ("pulumi development build", 0, "its version 'pulumi development build' is not one scripts/engine can compare"),
    (None, 1, "it does not answer `pulumi version`"),
])
def test_an_older_or_incompatible_installed_pulumi_is_refused_with_a_clear_message(sandbox, reported, rc, why):
    exe = sandbox.install_pulumi(reported, version_rc=rc)
    proc = sandbox.run("build")
    refusal = [ln for ln in proc.stderr.splitlines() if "is not used" in ln]
    assert refusal == [f"engine: the installed pulumi at {exe} ({reported or 'no version'}) is not used: {why}; Pulumi "
                       f"runs a program with a CLI of the SDK's major version and at least the SDK's version (>= {PIN}, "
                       f"< 4.0.0); upgrade it, or the offline build is used"], proc.stderr
    assert_offline_build_attempted(proc)
    check = sandbox.run("check")
    assert f"pulumi         offline build: pulumi v{PIN}, not built yet" in check.stdout
    assert why in check.stdout and check.returncode == 1


def test_engine_use_installed_0_ignores_an_installed_pulumi(sandbox):
    sandbox.install_pulumi("v3.262.0")
    sandbox.env["ENGINE_USE_INSTALLED"] = "0"
    check = sandbox.run("check")
    assert f"pulumi         offline build: pulumi v{PIN}, not built yet" in check.stdout
    assert sandbox.pulumi_calls() == []  # not even asked for its version


# --- (2) released plugins through Pulumi's acquisition, only when the source answers ------------------------------


def test_the_released_provider_is_acquired_when_the_plugin_source_is_reachable(sandbox, reachable_source):
    sandbox.install_pulumi("v3.262.0")
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    proc = sandbox.run("env", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "plugin install resource kubernetes 4.25.0" in sandbox.pulumi_calls()  # Pulumi's own acquisition
    variables = json.loads(proc.stdout)
    assert variables["PULUMI_HOME"] == str(sandbox.cache / "pulumi-home-release")
    assert variables["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "false"
    check = sandbox.run("check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "kubernetes     release: v4.25.0, acquired earlier" in check.stdout
    assert "other plugins  releases through Pulumi's automatic plugin acquisition" in check.stdout
    sandbox.run("env", "--json")
    assert sandbox.pulumi_calls().count("plugin install resource kubernetes 4.25.0") == 1  # acquired once


@pytest.mark.parametrize("source", ["closed_source", "blackholed_source", "off"])
def test_nothing_is_acquired_when_the_plugin_source_does_not_answer(sandbox, request, source):
    sandbox.install_pulumi("v3.262.0")
    url = "off" if source == "off" else request.getfixturevalue(source)
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=url, ENGINE_KUBERNETES="release", ENGINE_PROBE_TIMEOUT="1")
    started = time.monotonic()
    proc = sandbox.run("build", timeout=20)
    assert time.monotonic() - started < 10  # one bounded probe, not a hang
    assert not [call for call in sandbox.pulumi_calls() if call.startswith("plugin")]
    assert_offline_build_attempted(proc)  # the provider falls back to the offline build
    check = sandbox.run("check", timeout=20)
    expected = {"closed_source": "connection refused", "blackholed_source": "no answer within 1s",
                "off": "ENGINE_PLUGIN_SOURCE=off"}[source]
    assert "plugin source  unreachable: " in check.stdout and expected in check.stdout
    assert "other plugins  automatic plugin acquisition off" in check.stdout
    assert "ENGINE_KUBERNETES=release, but the plugin source is unreachable" in check.stdout


def test_a_provider_acquired_earlier_is_used_offline(sandbox, reachable_source, closed_source):
    sandbox.install_pulumi("v3.262.0")
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    assert sandbox.run("build").returncode == 0
    sandbox.env["ENGINE_PLUGIN_SOURCE"] = closed_source  # the machine goes offline
    proc = sandbox.run("env", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert "kubernetes provider v4.25.0 (release" in the_using_line(proc)
    assert sandbox.pulumi_calls().count("plugin install resource kubernetes 4.25.0") == 1


def test_a_failed_acquisition_falls_back_to_the_offline_build(sandbox, reachable_source):
    exe = sandbox.install_pulumi("v3.262.0")
    exe.write_text(exe.read_text().replace('mkdir -p "$dir"', 'false'))  # the download fails
    sandbox.env.update(ENGINE_PLUGIN_SOURCE=reachable_source, ENGINE_KUBERNETES="release")
    proc = sandbox.run("build")
    assert "'pulumi plugin install resource kubernetes 4.25.0' failed" in proc.stderr
    assert "building the kubernetes provider offline instead" in proc.stderr
    assert_offline_build_attempted(proc)


# --- (3) the offline build, and the kubernetes provider's default -------------------------------------------------


def test_the_kubernetes_provider_is_the_offline_build_by_default_even_when_the_source_answers(sandbox,
                                                                                            reachable_source):
    sandbox.install_pulumi("v3.262.0")
    sandbox.env["ENGINE_PLUGIN_SOURCE"] = reachable_source
    proc = sandbox.run("build")
    assert not [call for call in sandbox.pulumi_calls() if call.startswith("plugin")]
    assert_offline_build_attempted(proc)  # the stamped provider is built; the CLI is the installed one
    check = sandbox.run("check")
    assert "kubernetes     offline build: v4.25.0, not built yet" in check.stdout
    assert "charts rendered without a cluster need its stamped Kubernetes version" in check.stdout
    assert "other plugins  releases through Pulumi's automatic plugin acquisition" in check.stdout


def test_nothing_installed_and_nothing_reachable_means_the_offline_build_of_everything(sandbox):
    proc = sandbox.run("build")
    assert "is not used" not in proc.stderr
    assert_offline_build_attempted(proc)
    check = sandbox.run("check")
    assert check.returncode == 1
    for row in (f"pulumi         offline build: pulumi v{PIN}, not built yet", "language host  offline build",
                "kubernetes     offline build: v4.25.0, not built yet", "other plugins  automatic plugin acquisition off"):
        assert row in check.stdout, check.stdout


def test_a_bad_engine_kubernetes_value_is_one_clear_error(sandbox):
    sandbox.env["ENGINE_KUBERNETES"] = "latest"
    proc = sandbox.run("env")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "engine: error: ENGINE_KUBERNETES=latest: use offline-build (the default: charts rendered without a cluster get "
        "the right Kubernetes version) or release (only for stacks with a real cluster)")


# --- the pieces on their own --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reported, refused", [
    ("v3.259.0", False), ("v3.259.1", False), ("v3.300.0", False), ("v3.262.0+dirty", False),
    ("v3.258.9", True), ("v3.259.0-alpha.1", True), ("v2.99.0", True), ("v4.0.0", True), ("3.259", True),
])
def test_cli_compatibility_is_pulumis_rule(reported, refused):
    assert (ENGINE.cli_refusal(reported, PIN) is not None) is refused


def test_a_proxy_is_what_the_probe_connects_to(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", "mirror.internal")
    assert ENGINE.probe_endpoint("https://plugins.example") == ("proxy.internal", 3128)
    assert ENGINE.probe_endpoint("https://mirror.internal:8443/plugins") == ("mirror.internal", 8443)


def test_pulumis_own_download_overrides_are_what_the_probe_checks(monkeypatch):
    monkeypatch.delenv("ENGINE_PLUGIN_SOURCE", raising=False)
    monkeypatch.setenv("PULUMI_PLUGIN_DOWNLOAD_URL_OVERRIDES",
                       "^github://api.github.com/pulumi=https://mirror.internal/pulumi,^https://x=http://other:8080/")
    assert ENGINE.plugin_source_urls() == ("https://mirror.internal/pulumi", "http://other:8080/")
