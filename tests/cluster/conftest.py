"""The `cluster` tier: a real control plane (scripts/cluster: etcd, kube-apiserver, controller manager,
scheduler, KWOK fake nodes) built once, started once per test session and always stopped.

With CI=true a failed build is a failure, never a skip, as for the engine tier. A control plane that
builds but does not start is a failure everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_plane import POOLS_STACK, ControlPlane, cluster
from cluster_pools import nodes_file_for
from tests.tooling import unavailable


def _build() -> None:
    built = cluster("build", timeout=3 * 3600)  # waits for any other Go build (the machine-wide lock) first
    if built.returncode != 0:
        unavailable(f"scripts/cluster build failed:\n{built.stderr.strip()[-3000:]}")


def started(tmp_path_factory, pools_stack: str) -> Iterator[ControlPlane]:
    """A control plane whose fake nodes mirror `pools_stack`'s node pools; always stopped."""
    _build()
    run_dir = tmp_path_factory.mktemp(f"control-plane-{pools_stack}") / "run"
    nodes = nodes_file_for(pools_stack, tmp_path_factory.mktemp("nodes") / "nodes.json")
    # --owner-pid: should this session die before the finally below, the control plane stops itself.
    started = cluster("start", "--dir", str(run_dir), "--nodes", str(nodes), "--owner-pid", str(os.getpid()), "--json",
                      timeout=600)
    if started.returncode != 0:
        cluster("stop", str(run_dir))
        pytest.fail(f"scripts/cluster start failed:\n{started.stderr.strip()[-3000:]}")
    info = json.loads(started.stdout)
    plane = ControlPlane(dir=Path(info["dir"]), server=info["server"], kubeconfig=Path(info["kubeconfig"]),
                         bin=Path(info["bin"]), nodes=info["nodes"], versions=info["versions"],
                         start_seconds=info["start_seconds"], rss_bytes=info["rss_bytes"])
    try:
        yield plane
    finally:
        stopped = cluster("stop", str(run_dir))
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> Iterator[ControlPlane]:
    yield from started(tmp_path_factory, POOLS_STACK)
