"""The checkers (scripts/checkers), built once per session, and where the offline chart mirror is.

With CI=true nothing here skips: a checker that cannot be built, or a missing chart mirror, fails."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKERS = ROOT / "scripts" / "checkers"


def missing(message: str):
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def check():
    """check(items) -> results, in the order of the items (scripts/checkers check)."""
    build = subprocess.run([str(CHECKERS), "build"], capture_output=True, text=True, timeout=3600)
    if build.returncode != 0:
        missing(f"scripts/checkers build failed:\n{build.stderr.strip()}")

    def run(items: list[dict]) -> list[dict]:
        done = subprocess.run([str(CHECKERS), "check"], input=json.dumps(items), capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 1), f"scripts/checkers check failed ({done.returncode}):\n{done.stderr}"
        results = json.loads(done.stdout)
        assert [(r["kind"], r["name"]) for r in results] == [(i["kind"], i["name"]) for i in items]
        return results

    return run


def find_chart_mirror() -> Path | None:
    """The offline chart mirror: $CHART_MIRROR, or `shared/charts` beside the repository or one of its parents."""
    if os.environ.get("CHART_MIRROR"):
        return Path(os.environ["CHART_MIRROR"])
    for parent in ROOT.parents:
        if (parent / "shared" / "charts" / "README.md").is_file():
            return parent / "shared" / "charts"
    return None


@pytest.fixture(scope="session")
def chart_mirror() -> Path:
    mirror = find_chart_mirror()
    if mirror is None:
        missing("no offline chart mirror (shared/charts beside the repository, or $CHART_MIRROR)")
    return mirror
