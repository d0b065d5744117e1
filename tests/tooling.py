"""What the tiers that build or need a tool share: one rule for a tool or input that cannot be had, and where the
offline chart mirror is.

A tier that needs a tool (the engine, the control plane, the checkers, the oracle) or the chart mirror fails in CI
(`CI=true`), where every tier must run, and skips with the reason elsewhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]


def unavailable(message: str) -> NoReturn:
    """A tool or input this tier needs is missing: a failure in CI, a skip with `message` elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def find_chart_mirror() -> Path | None:
    """The offline chart mirror: $CHART_MIRROR, or `shared/charts` beside the repository or one of its parents."""
    if os.environ.get("CHART_MIRROR"):
        return Path(os.environ["CHART_MIRROR"])
    for parent in ROOT.parents:
        if (parent / "shared" / "charts" / "README.md").is_file():
            return parent / "shared" / "charts"
    return None


def chart_mirror() -> Path:
    """The offline chart mirror, or `unavailable`."""
    mirror = find_chart_mirror()
    if mirror is None:
        unavailable("no offline chart mirror (shared/charts beside the repository, or $CHART_MIRROR)")
    return mirror
