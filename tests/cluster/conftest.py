"""The `cluster` tier: a real control plane (scripts/cluster: etcd, kube-apiserver, controller manager,
scheduler, KWOK fake nodes) built once, started once per test session and always stopped.

With CI=true a failed build is a failure, never a skip, as for the engine tier. A control plane that
builds but does not start is a failure everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cluster_plane import POOLS_STACK, ControlPlane, cluster
from cluster_pools import nodes_file_for
from tests.tooling import unavailable


def _build() -> None:
    built = cluster("build", timeout=3 * 3600)  # waits for any other Go build (the machine-wide lock) first
    if built.returncode != 0:
        unavailable(f"scripts/cluster build failed:\n{built.stderr.strip()[-3000:]}")


def _start(run_dir: Path, nodes: Path) -> ControlPlane:
    """`scripts/cluster start` of one control plane; on failure it is stopped and the test fails."""
    # --owner-pid: should this session die before its cleanup, the control plane stops itself.
    started = cluster("start", "--dir", str(run_dir), "--nodes", str(nodes), "--owner-pid", str(os.getpid()), "--json",
                      timeout=600)
    if started.returncode != 0:
        cluster("stop", str(run_dir))
        pytest.fail(f"scripts/cluster start failed:\n{started.stderr.strip()[-3000:]}")
    info = json.loads(started.stdout)
    return ControlPlane(dir=Path(info["dir"]), server=info["server"], kubeconfig=Path(info["kubeconfig"]),
                        bin=Path(info["bin"]), nodes=info["nodes"], versions=info["versions"],
                        start_seconds=info["start_seconds"], rss_bytes=info["rss_bytes"])


def started_together(tmp_path_factory, pools_stacks: list[str]) -> Iterator[list[ControlPlane]]:
    """One control plane per stack of `pools_stacks` (fake nodes mirroring its node pools), started at once (each
    start mostly waits on its own processes); always all stopped."""
    _build()
    runs = [(tmp_path_factory.mktemp(f"control-plane-{stack}") / "run",
             nodes_file_for(stack, tmp_path_factory.mktemp("nodes") / "nodes.json")) for stack in pools_stacks]
    try:
        with ThreadPoolExecutor(len(runs)) as pool:
            planes = list(pool.map(lambda run: _start(*run), runs))
        yield planes
    finally:
        stops = [cluster("stop", str(run_dir)) for run_dir, _ in runs]
        assert all(s.returncode == 0 for s in stops), [s.stderr for s in stops]


def started(tmp_path_factory, pools_stack: str) -> Iterator[ControlPlane]:
    """A control plane whose fake nodes mirror `pools_stack`'s node pools; always stopped."""
    planes = started_together(tmp_path_factory, [pools_stack])
    [plane] = next(planes)
    try:
        yield plane
    finally:
        planes.close()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> Iterator[ControlPlane]:
    yield from started(tmp_path_factory, POOLS_STACK)
