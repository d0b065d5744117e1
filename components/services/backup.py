"""Velero: backups of the cluster's objects and volume snapshots, to the stack's object storage.

What `Backup` creates, in the `velero` namespace (Pod Security `restricted`, default-deny
networking with DNS and HTTPS egress to the API server and the object storage):

- the credentials Secret from `ObjectStorage.access_for("velero", ..., "backups")`;
- the pinned Velero chart with the object-store plugin for the storage kind (AWS plugin for S3,
  Azure plugin for Blob storage), CSI snapshots on (`EnableCSI`), no node agent, restricted security
  contexts and resources; the chart's own backup location and schedules are off, because
- the `BackupStorageLocation` `default` (the `backups` bucket, under the prefix
  `<environment>-<site>`) and the `Schedule` `daily` (cron from config, kept `retention_days`) are
  declared here, after the chart that serves their CRDs (`depends_on`);
- with `storage.ca_certificate` (an endpoint whose certificate an internal CA issued), that CA as
  each location's `caCert`, which Velero gives the object-store plugin to verify the endpoint;
- on a secondary site, the read-only `BackupStorageLocation` `primary-<site>` on the primary's
  backups bucket, so the primary's backups can be restored here (`velero restore create
  --from-backup <name>` after `velero backup get`);
- with a known CSI driver (AKS: `disk.csi.azure.com`, else `services.backup.snapshot_driver`) a
  `VolumeSnapshotClass` labelled for Velero, so volumes are snapshotted by their CSI driver.

Volume snapshots stay in the storage system that holds the volumes (the Azure region, the data
centre's storage): they restore in place, not at the other site. Moving snapshot data into the
bucket needs Velero's node agent, a privileged DaemonSet with the kubelet's pod directory mounted,
which Pod Security `restricted` forbids; it is left out (docs/storage.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import Backup as BackupSettings
from stacks.model.services import Services
from stacks.model.teams import Team
from stacks.sites import StandbySource

from ..charts import pinned_chart
from ..kit.images import ImageSource
from ..kit.namespaces import HardenedNamespace
from ..kit.options import present
from ..kit.network import KUBE_API_PORTS, allow_egress_outside_the_cluster
from ..kit.parts import SITE_LABEL, THIS_SITE, Alert, ServicePart, Target
from ..kit.security import RESTRICTED_CONTAINER
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from ..storage import CLOUD_CREDENTIALS, ObjectStorage, StorageAccess

NAMESPACE = "velero"
SCHEDULE = "daily"  # the name of the one Velero Schedule (its cron: services.backup.schedule)
VELERO_API = "velero.io/v1"
SNAPSHOT_API = "snapshot.storage.k8s.io/v1"
DEFAULT_LOCATION = "default"
AKS_DISK_DRIVER = "disk.csi.azure.com"
SNAPSHOT_CLASS_LABEL = "velero.io/csi-volumesnapshot-class"
# Namespaces the Kubernetes distribution itself owns; they are rebuilt, never restored.
EXCLUDED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]
# Velero images run as any non-root user; this is the conventional `nonroot` ID.
NON_ROOT_ID = 65532

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_ID,
    "runAsGroup": NON_ROOT_ID,
    "fsGroup": NON_ROOT_ID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
VELERO_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
PLUGIN_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
PROVIDERS = {"s3": "aws", "azure_blob": "azure"}


class KubernetesObject(pulumi.CustomResource):
    """A Kubernetes object of a kind without an SDK class whose fields sit beside `metadata` rather
    than under `spec` (a VolumeSnapshotClass), registered the way `CustomResource` registers."""

    def __init__(self, name: str, api_version: str, kind: str, fields: dict[str, Any], opts: pulumi.ResourceOptions):
        from pulumi_kubernetes import _utilities

        super().__init__(
            f"kubernetes:{api_version}:{kind}", name, {"apiVersion": api_version, "kind": kind, **fields},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_utilities.get_version())),
        )


# --- the component -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupArgs:
    settings: BackupSettings
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The backup part's charts (Velero), resolved by the loader."""
    storage: ObjectStorage
    """The stack's object storage: backups go to its `backups` bucket."""
    on_aks: bool
    """The cluster is AKS, whose volumes are Azure disks (`disk.csi.azure.com`)."""
    standby: StandbySource | None = None
    """On a secondary site, the primary it follows (its backups are restorable here, read-only)."""


def location_prefix(environment: str, site: str) -> str:
    """Where one cluster's backups go inside a bucket: `<environment>-<site>`."""
    return f"{environment}-{site}"


def location_config(access: StorageAccess) -> dict[str, Any]:
    """The provider config of a BackupStorageLocation for the bucket of `access`."""
    if access.kind == "s3":
        return {"region": access.region, "s3ForcePathStyle": "true" if access.path_style else "false", "s3Url": access.endpoint}
    return {
        "resourceGroup": access.resource_group,
        "storageAccount": access.account,
        # The account key, read from the `cloud` file of the credentials Secret.
        "storageAccountKeyEnvVar": "AZURE_STORAGE_ACCOUNT_ACCESS_KEY",
    }


def object_storage(bucket: str, prefix: str, ca_certificate: str | None) -> dict[str, Any]:
    """A location's `objectStorage`: with the endpoint's CA, when the stack names one, as `caCert` (base64 of the PEM,
    the CRD's `format: byte`), which Velero hands to the object-store plugin as its trust for that endpoint."""
    location: dict[str, Any] = {"bucket": bucket, "prefix": prefix}
    if ca_certificate:
        location["caCert"] = base64.b64encode(ca_certificate.encode()).decode()
    return location


def chart_values(images: ImageSource, kind: str, access: StorageAccess) -> dict[str, Any]:
    # Images from the stack's approved registry (the site's Harbor proxy cache, or the registry
    # that mirrors docker.io), like every other chart's.
    repository, tag = images.mirrored(catalogue.VELERO_IMAGE).rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag},
        "initContainers": [{
            "name": catalogue.VELERO_PLUGIN_IMAGES[kind].rsplit("/", 1)[1].split(":")[0],
            "image": images.mirrored(catalogue.VELERO_PLUGIN_IMAGES[kind]),
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
            "securityContext": RESTRICTED_CONTAINER,
            "resources": PLUGIN_RESOURCES,
        }],
        "podSecurityContext": RESTRICTED_POD,
        # A read-only root file system: the chart then mounts an emptyDir at /tmp itself, for the plugins' sockets
        # (`tmpdir`, templates/deployment.yaml at 10.1.1); a second mount there is refused by the API server.
        "containerSecurityContext": RESTRICTED_CONTAINER,
        "resources": VELERO_RESOURCES,
        # Pulumi applies the pinned chart's CRDs itself; the chart's CRD-upgrade Job (a kubectl
        # image run as a Helm hook) is not needed.
        "upgradeCRDs": False,
        "cleanUpCRDs": False,
        "credentials": {"useSecret": True, "existingSecret": access.secret_name},
        # The backup location and the schedules are declared by this component, not the chart.
        "backupsEnabled": False,
        "snapshotsEnabled": False,
        "deployNodeAgent": False,
        "schedules": {},
        "configuration": {
            "backupStorageLocation": [],
            "volumeSnapshotLocation": [],
            "defaultBackupStorageLocation": DEFAULT_LOCATION,
            "features": "EnableCSI",
            "logFormat": "json",
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
    }


class Backup(pulumi.ComponentResource):
    """Velero and its backup locations and schedule (module docstring)."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    access: StorageAccess
    location: k8s.apiextensions.CustomResource
    primary_location: k8s.apiextensions.CustomResource | None = None
    schedule: k8s.apiextensions.CustomResource
    snapshot_class: pulumi.CustomResource | None = None
    summary: dict[str, Any]

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Backup", name, None, opts)
        storage, identity = args.storage, args.identity
        backup = args.settings
        labels = kubernetes_labels(identity, "backup")
        child = pulumi.ResourceOptions(parent=self)

        space = HardenedNamespace(name, NAMESPACE, labels, child)
        space.policy("allow-egress", allow_egress_outside_the_cluster(storage.egress_ports(*KUBE_API_PORTS)))
        self.namespace = space.namespace
        self.access = storage.access_for("velero", self.namespace.metadata.name, "backups")

        self.chart = pinned_chart(
            f"{name}-velero", catalogue.VELERO_CHART, args.charts, self.namespace.metadata.name,
            chart_values(args.images, storage.kind, self.access),
            pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *present(self.access.secret)]),
        )
        # The custom resources below need the CRDs the chart installs.
        crd_sources: list[pulumi.Resource] = [self.namespace, *present(self.access.secret), *present(self.chart)]
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=crd_sources)

        prefix = location_prefix(identity.environment, identity.site)
        self.location = k8s.apiextensions.CustomResource(
            f"{name}-location",
            api_version=VELERO_API,
            kind="BackupStorageLocation",
            metadata={"name": DEFAULT_LOCATION, "namespace": NAMESPACE, "labels": labels},
            spec={
                "provider": PROVIDERS[storage.kind],
                "objectStorage": object_storage(self.access.bucket, prefix, self.access.ca_certificate),
                "config": location_config(self.access),
                "credential": {"name": self.access.secret_name, "key": CLOUD_CREDENTIALS},
                "default": True,
                "accessMode": "ReadWrite",
            },
            opts=after_chart,
        )

        standby = args.standby
        if standby is not None and standby.storage_endpoint:
            self.primary_location = self._primary_location(name, standby, identity, labels, after_chart)

        self.schedule = k8s.apiextensions.CustomResource(
            f"{name}-daily",
            api_version=VELERO_API,
            kind="Schedule",
            metadata={"name": SCHEDULE, "namespace": NAMESPACE, "labels": labels},
            spec={
                "schedule": backup.schedule,
                "useOwnerReferencesInBackup": False,
                "template": {
                    "ttl": f"{backup.retention_days * 24}h0m0s",
                    "storageLocation": DEFAULT_LOCATION,
                    "includedNamespaces": ["*"],
                    "excludedNamespaces": EXCLUDED_NAMESPACES,
                    "includeClusterResources": True,
                    "snapshotVolumes": True,
                    "defaultVolumesToFsBackup": False,
                    "snapshotMoveData": False,
                    "metadata": {"labels": {f"{LABEL_PREFIX}/schedule": SCHEDULE}},
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*crd_sources, self.location]),
        )

        driver = backup.snapshot_driver or (AKS_DISK_DRIVER if args.on_aks else None)
        if driver:
            self.snapshot_class = KubernetesObject(
                f"{name}-snapshot-class", SNAPSHOT_API, "VolumeSnapshotClass",
                {
                    "metadata": {"name": f"velero-{driver.replace('.', '-')}"[:63], "labels": {**labels, SNAPSHOT_CLASS_LABEL: "true"}},
                    "driver": driver,
                    # Velero deletes a backup's snapshots when the backup expires.
                    "deletionPolicy": "Delete",
                    **({"parameters": {"incremental": "true"}} if driver == AKS_DISK_DRIVER else {}),
                },
                child,
            )

        self.summary = {
            "bucket": self.access.bucket,
            "prefix": prefix,
            "schedule": backup.schedule,
            "retentionDays": backup.retention_days,
            "snapshotDriver": driver,
            "primaryLocation": (
                {"name": f"primary-{standby.site}", "bucket": standby.buckets.get("backups"), "endpoint": standby.storage_endpoint,
                 "prefix": location_prefix(identity.environment, standby.site)}
                if self.primary_location is not None and standby is not None else None
            ),
        }
        self.register_outputs({"summary": self.summary})

    def _primary_location(self, name: str, standby: StandbySource, identity: StackIdentity, labels: dict[str, str],
                          opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """Read-only: this site restores the primary's backups and never writes, syncs away or prunes
        them; but Velero puts each restore's log and results beside its backup, so the site's own
        credentials must be allowed to read the primary's backups bucket and to write under its
        `<prefix>/restores/` (docs/storage.md; tests/cluster/test_failover_drill.py)."""
        return k8s.apiextensions.CustomResource(
            f"{name}-primary-location",
            api_version=VELERO_API,
            kind="BackupStorageLocation",
            metadata={
                "name": f"primary-{standby.site}",
                "namespace": NAMESPACE,
                "labels": {**labels, f"{LABEL_PREFIX}/standby-for": standby.stack},
            },
            spec={
                "provider": PROVIDERS["s3"],
                "objectStorage": object_storage(standby.buckets["backups"], location_prefix(identity.environment, standby.site),
                                                standby.storage_ca_certificate),
                "config": {"region": standby.storage_region, "s3ForcePathStyle": "true", "s3Url": standby.storage_endpoint},
                "credential": {"name": self.access.secret_name, "key": CLOUD_CREDENTIALS},
                "default": False,
                "accessMode": "ReadOnly",
            },
            opts=opts,
        )


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

METRICS_PORT = 8085  # Velero `metrics.port` (`http-monitoring`)
SERVER_LABELS = {"app.kubernetes.io/name": "velero"}
BACKUP_MAX_AGE_HOURS = 26  # since the last successful `daily` backup, for VeleroBackupMissing


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    return [Target("backup", "velero", NAMESPACE, "PodMonitor", SERVER_LABELS, METRICS_PORT)]


PART = ServicePart(
    service="backup",
    component=Backup,
    title="Velero",
    label="Velero backups",
    holds_data=False,
    health=("velero", NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "VeleroBackupMissing",
            f'time() - velero_backup_last_successful_timestamp{{schedule="{SCHEDULE}"}} > {BACKUP_MAX_AGE_HOURS} * 3600',
            "critical",
            "backup",
            "No successful backup for over 26 hours",
            "The last successful `daily` backup is older than 26 hours: the cluster cannot be restored to yesterday.",
            "5m",
        ),
        Alert(
            "VeleroBackupNeverSucceeded",
            f'absent(velero_backup_last_successful_timestamp{{schedule="{SCHEDULE}", {SITE_LABEL}="{THIS_SITE}"}})',
            "critical",
            "backup",
            "The daily backup has never succeeded",
            "Velero has recorded no successful `daily` backup for 26 hours.",
            f"{BACKUP_MAX_AGE_HOURS}h",
        ),
        Alert(
            "VeleroBackupFailed",
            f'increase(velero_backup_failure_total{{schedule="{SCHEDULE}"}}[1h]) > 0',
            "warning",
            "backup",
            "A daily backup failed",
            "Velero marked a `daily` backup Failed in the last hour.",
        ),
    ),
    object_storage="backups",
)
