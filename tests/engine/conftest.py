"""What the engine tier's tests share: the variables of the engine scripts/engine provides."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.object_store import ObjectStore, started
from tests.tooling import unavailable, without_automatic_logs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine_env(tmp_path_factory) -> dict[str, str]:
    """scripts/engine's variables (`env` builds the engine first when needed), with a Pulumi home of this session
    that holds the engine's plugins and no automatic log (tests/tooling.py); with CI=true an engine that cannot be
    had is a failure, never a skip."""
    proc = subprocess.run([str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True,
                          timeout=5400, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        unavailable(f"scripts/engine env failed:\n{proc.stderr.strip()}")
    env = json.loads(proc.stdout)
    home = without_automatic_logs(Path(env["PULUMI_HOME"]), tmp_path_factory.mktemp("pulumi") / "home")
    return {**env, "PULUMI_HOME": str(home)}


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> Iterator[ObjectStore]:
    """An S3-compatible endpoint on loopback (moto's server), for state kept the way the sites keep it."""
    yield from started(tmp_path_factory.mktemp("object-store") / "moto.log")
