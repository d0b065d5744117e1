"""Velero's server run outside the cluster against a site's control plane (scripts/velero builds it and the AWS
object-store plugin), with the site's S3 endpoint on loopback (tests/engine/object_store.py), and the way the sites tier
compares a team's objects before a backup and after its restore.

The server runs as the chart runs it in the `velero` pod (namespace `velero`, the plugin in its plugin directory, the
`EnableCSI` feature, JSON logs), using the BackupStorageLocations and the Schedule the program declared on that plane:
nothing of Velero's configuration is made here. What differs from the pod, and why: the admin kubeconfig instead of the
chart's ServiceAccount (which the chart binds to cluster-admin, so the rights are the same); `--schedule-skip-immediately`,
so the Schedule does not start a backup of its own while the test takes one from it; and no pod: the chart's Deployment
is there as an object only (`server_deployment`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from cluster_plane import ROOT, ControlPlane
from stacks.catalogue import VELERO_IMAGE
from tests.engine.object_store import free_port, stop
from tests.tooling import chart_mirror, unavailable

NAMESPACE = "velero"  # components/services/backup.py NAMESPACE
SCHEDULE = "daily"  # components/services/backup.py SCHEDULE
# Fields the API server or a controller sets, never the program: left out when an object is compared before and after
# its restore. A restored Service gets a new cluster IP (Velero's service restore action clears it, the API server
# allocates); Velero marks what it restored with two labels of its own.
SERVER_MANAGED = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
RESTORE_LABELS = ("velero.io/backup-name", "velero.io/restore-name")


@dataclass(frozen=True)
class Built:
    bin: Path
    """`velero` and `velero-plugin-for-aws`."""
    snapshot_crds: Path
    """The CSI snapshot CRDs of the external-snapshotter client Velero is built with (scripts/velero)."""


def built() -> Built:
    """scripts/velero build (cached)."""
    build = subprocess.run([sys.executable, str(ROOT / "scripts" / "velero"), "build"], capture_output=True, text=True,
                           timeout=3 * 3600)
    if build.returncode != 0:
        unavailable(f"scripts/velero build failed:\n{build.stderr.strip()[-3000:]}")
    manifest = json.loads(build.stdout)
    return Built(Path(manifest["bin"]), Path(manifest["snapshot_crds"]))


@dataclass
class Velero:
    """A running `velero server` for one plane, and the `velero` CLI pointed at the same plane."""

    plane: ControlPlane
    bin: Path
    log: Path

    def cli(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run([str(self.bin / "velero"), "--kubeconfig", str(self.plane.kubeconfig), "--namespace", NAMESPACE,
                                 *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"velero {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                                 f"{result.stderr[-3000:]}\nserver log: {self.log}")
        return result.stdout

    def get(self, kind: str, name: str) -> dict:
        return self.plane.get(f"{kind}.velero.io", name, "-n", NAMESPACE)

    def available(self, location: str, timeout: float = 120) -> None:
        """Wait until the server has validated `location` against the object store (its phase `Available`)."""
        self.plane.wait_until(f"BackupStorageLocation {location} Available (server log: {self.log})",
                              lambda: self.get("backupstoragelocations", location).get("status", {}).get("phase") == "Available",
                              timeout)

    def finished(self, kind: str, name: str, timeout: float = 600) -> dict:
        """A Backup or Restore once it has a final phase; its status (phase, progress, errors, warnings)."""
        final = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")
        status = self.plane.wait_until(f"{kind} {name} finished (server log: {self.log})",
                                       lambda: (s := self.get(kind, name).get("status", {})).get("phase") in final and s,
                                       timeout)
        assert isinstance(status, dict)
        return status


def install_crds(plane: ControlPlane, build: Built) -> None:
    """What a site's cluster serves before Velero starts: every CRD of the pinned Velero chart (its crds/, applied with
    the chart; the server checks that all of Velero's kinds are served), and the CSI snapshot kinds, which RKE2 and AKS
    install and Velero with `EnableCSI` lists at the end of every backup. The sites fixture applied the two Velero kinds
    the stack declares (BackupStorageLocation, Schedule) with the same field manager."""
    velero_crds = sorted((chart_mirror() / "velero" / "crds").glob("*.yaml"))
    assert velero_crds, f"the chart mirror {chart_mirror()} has no velero/crds"
    crds = [*velero_crds, *sorted(build.snapshot_crds.glob("*.yaml"))]
    for path in crds:
        plane.kubectl("apply", "--server-side", "--field-manager=chart-mirror-crds", "-f", str(path))
    names = [yaml.safe_load(path.read_text())["metadata"]["name"] for path in crds]
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in names))


def server_deployment(image: str) -> dict:
    """The chart's Deployment `velero`, as an object only (KWOK runs its pod; nothing runs in it): Velero's pod-volume
    restore action reads the server's image from it (pkg/restore/actions/pod_volume_restore_action.go) and the restore
    of any pod fails without it. Restricted, as the namespace's Pod Security requires."""
    labels = {"app.kubernetes.io/name": "velero"}
    container = {"name": "velero", "image": image, "args": ["server"],
                 "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                     "readOnlyRootFilesystem": True}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "velero", "namespace": NAMESPACE, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                                               "seccompProfile": {"type": "RuntimeDefault"}},
                                           "containers": [container]}}}}


@contextmanager
def serving(plane: ControlPlane, build: Built, run: Path, https_proxy: str) -> Iterator[Velero]:
    """`velero server` for `plane` until the block ends; stopped by its own pid. Its S3 traffic (from the plugin, which
    inherits the environment) goes through `https_proxy`; the API server on 127.0.0.1 is never proxied."""
    install_crds(plane, build)
    plane.apply(server_deployment(VELERO_IMAGE))
    bin = build.bin
    run.mkdir(parents=True, exist_ok=True)
    plugins = run / "plugins"  # only the plugin: the server runs every executable it finds there
    plugins.mkdir(exist_ok=True)
    (plugins / "velero-plugin-for-aws").symlink_to(bin / "velero-plugin-for-aws")
    log = run / "velero-server.log"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(run), "HTTPS_PROXY": https_proxy, "NO_PROXY": "127.0.0.1,localhost"}
    argv = [str(bin / "velero"), "server", "--kubeconfig", str(plane.kubeconfig), "--namespace", NAMESPACE,
            "--plugin-dir", str(plugins), "--features", "EnableCSI", "--log-format", "json",
            "--metrics-address", f"127.0.0.1:{free_port()}", "--profiler-address", f"127.0.0.1:{free_port()}",
            "--schedule-skip-immediately=true"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=run)
    try:
        yield Velero(plane, bin, log)
    finally:
        plane.kubectl("delete", "deployment", "velero", "-n", NAMESPACE, "--wait=false", check=False)
        stop(process, 20)


def comparable(obj: dict) -> dict:
    """An object as the API server serves it, without what the server or Velero's restore sets (SERVER_MANAGED,
    RESTORE_LABELS, a Service's allocated cluster IPs) and without `status`."""
    metadata = {k: v for k, v in obj["metadata"].items() if k not in SERVER_MANAGED}
    labels = {k: v for k, v in metadata.get("labels", {}).items() if k not in RESTORE_LABELS}
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    kept = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    if obj["kind"] == "Service":
        kept["spec"] = {k: v for k, v in kept["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    return {**kept, "metadata": metadata}


def gone(plane: ControlPlane, namespaces: list[str], timeout: float = 180) -> None:
    """Wait until the namespaces are deleted (the namespace controller removes their content first)."""
    def none_left() -> bool:
        listed = plane.get("namespaces")["items"]
        return not {n["metadata"]["name"] for n in listed} & set(namespaces)
    started = time.monotonic()
    plane.wait_until(f"namespaces {namespaces} deleted", none_left, timeout)
    print(f"namespaces deleted in {time.monotonic() - started:.0f}s")
