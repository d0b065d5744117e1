"""What the engine tier's tests share: the variables of the engine scripts/engine provides."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.object_store import ObjectStore, started
from tests.tooling import unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine_env() -> dict[str, str]:
    """scripts/engine's variables (`env` builds the engine first when needed); with CI=true an engine that cannot be
    had is a failure, never a skip."""
    proc = subprocess.run([str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True,
                          timeout=5400, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        unavailable(f"scripts/engine env failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> Iterator[ObjectStore]:
    """An S3-compatible endpoint on loopback (moto's server), for state kept the way the sites keep it."""
    yield from started(tmp_path_factory.mktemp("object-store") / "moto.log")
