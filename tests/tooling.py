"""What the tiers that build or need a tool share: one rule for a tool or input that cannot be had, where the
offline chart mirror is, and a Pulumi home for the engine without its automatic log.

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


def without_automatic_logs(engine_home: Path, home: Path) -> Path:
    """A Pulumi home with the engine's plugins in which the CLI cannot keep its automatic log.

    Pulumi 3.259.0 writes every engine operation at debug level, with every resource's properties, to an encrypted,
    gzip-compressed file under `$PULUMI_HOME/logs` (pkg/logging/encrypted.go, on since pulumi/pulumi#23731, with no
    switch to turn it off); for a stack with its charts that is half of the CLI's CPU time (bench/engine: a preview of
    the dev stack 2m35s with it, 24s without). When the directory cannot be made, the CLI logs "automatic logging
    unavailable" and carries on (pkg/cmd/pulumi/pulumi.go); a file named `logs` is that case."""
    home.mkdir()
    (home / "plugins").symlink_to(engine_home / "plugins")
    (home / "logs").write_text("no automatic logs here: see tests/tooling.py\n")
    return home
