"""The checkers (scripts/checkers), built once per session, and where the offline chart mirror is.

With CI=true nothing here skips: a checker that cannot be built, or a missing chart mirror, fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import tooling
from tests.tooling import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHECKERS = ROOT / "scripts" / "checkers"


@pytest.fixture(scope="session")
def check():
    """check(items) -> results, in the order of the items (scripts/checkers check)."""
    build = subprocess.run([str(CHECKERS), "build"], capture_output=True, text=True, timeout=3600)
    if build.returncode != 0:
        unavailable(f"scripts/checkers build failed:\n{build.stderr.strip()}")

    def run(items: list[dict]) -> list[dict]:
        done = subprocess.run([str(CHECKERS), "check"], input=json.dumps(items), capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 1), f"scripts/checkers check failed ({done.returncode}):\n{done.stderr}"
        results = json.loads(done.stdout)
        assert [(r["kind"], r["name"]) for r in results] == [(i["kind"], i["name"]) for i in items]
        return results

    return run


@pytest.fixture(scope="session")
def chart_mirror() -> Path:
    return tooling.chart_mirror()
