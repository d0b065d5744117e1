"""Velero, read from the prod, test and on-prem inventories: the pinned chart with the plugin for the
storage kind and restricted pods, the backup location and schedule declared after it, the read-only
location of a secondary site on its primary's backups, and the namespace's guard rails."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest
import yaml

from stacks import catalogue
from components.services.backup import EXCLUDED_NAMESPACES
from policies.evaluate import Evaluator
from stacks.tools.inventory import evaluate

STACKS = Path(__file__).resolve().parents[2] / "stacks"
BACKUP = "platform:services:Backup::platform-backup"
CHART = "kubernetes:helm.sh/v4:Chart"
BSL = "kubernetes:velero.io/v1:BackupStorageLocation"
SCHEDULE = "kubernetes:velero.io/v1:Schedule"
CHART_KEY = f"{CHART}::platform-backup-velero"
LABELS = {
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/part-of": "complete-cluster",
    "app.kubernetes.io/component": "backup",
}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def backup(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-backup-"): r for r in inventory(stack) if r.parent == BACKUP}


def test_only_stacks_that_enable_backups_run_velero(inventory):
    assert [r for r in inventory("dev") if r.type == "platform:services:Backup"] == []
    for stack in ("test", "prod", "onprem-dc1", "onprem-dc2"):
        [component] = [r for r in inventory(stack) if r.type == "platform:services:Backup"]
        assert component.parent == "platform:index:CompleteCluster::platform"


# --- the chart -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, plugin, registry", [
    ("prod", "velero-plugin-for-microsoft-azure", "platformacr.azurecr.io/docker.io"),
    ("onprem-dc1", "velero-plugin-for-aws", "harbor.dc1.example.com/dockerhub"),
    ("onprem-dc2", "velero-plugin-for-aws", "harbor.dc2.example.com/dockerhub"),
])
def test_the_pinned_chart_with_the_plugin_for_the_storage_kind_and_restricted_pods(inventory, stack, plugin, registry):
    chart = backup(inventory, stack)["velero"]
    assert chart.type == CHART
    inputs = chart.inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"], inputs["namespace"]) == (
        "velero", "10.1.1", {"repo": "https://vmware-tanzu.github.io/helm-charts"}, "velero")
    values = inputs["values"]
    assert values["image"] == {"repository": f"{registry}/velero/velero", "tag": "v1.16.2"}
    [init] = values["initContainers"]
    assert init == {
        "name": plugin,
        "image": f"{registry}/velero/{plugin}:v1.12.2",
        "imagePullPolicy": "IfNotPresent",
        "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
        "securityContext": RESTRICTED,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    }
    assert values["podSecurityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["containerSecurityContext"] == RESTRICTED
    # The chart mounts /tmp itself for a read-only root file system; a second mount there is refused (render tier).
    assert "extraVolumes" not in values and "extraVolumeMounts" not in values
    assert values["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    # The credentials come from the object storage's Secret; the chart writes none of its own.
    assert values["credentials"] == {"useSecret": True, "existingSecret": "velero-backups-storage"}
    # No node agent (a privileged DaemonSet), no CRD-upgrade hook, no chart-made locations or schedules.
    assert (values["deployNodeAgent"], values["upgradeCRDs"], values["cleanUpCRDs"]) == (False, False, False)
    assert (values["backupsEnabled"], values["snapshotsEnabled"], values["schedules"]) == (False, False, {})
    assert values["configuration"] == {
        "backupStorageLocation": [], "volumeSnapshotLocation": [], "defaultBackupStorageLocation": "default",
        "features": "EnableCSI", "logFormat": "json",
    }
    assert chart.options["depends_on"] == [
        "kubernetes:core/v1:Namespace::platform-backup-namespace",
        "kubernetes:core/v1:Secret::platform-storage-velero-backups",
    ]
    assert chart.options["protect"] is False  # Velero keeps no state in the cluster


def _velero_deployment(values: dict) -> dict:
    """The Deployment the chart renders from these values, as far as Pod Security and resources go
    (templates/deployment.yaml: the pod and container security contexts, the init containers as
    given, emptyDir plugins, scratch and (read-only root) tmpdir volumes, the credentials Secret)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": "velero"},
        "spec": {"template": {"spec": {
            "securityContext": values["podSecurityContext"],
            "initContainers": copy.deepcopy(values["initContainers"]),
            "containers": [{
                "name": "velero", "image": f"{values['image']['repository']}:{values['image']['tag']}",
                "securityContext": values["containerSecurityContext"], "resources": values["resources"],
            }],
            "volumes": [{"name": "plugins", "emptyDir": {}}, {"name": "scratch", "emptyDir": {}}, {"name": "tmpdir", "emptyDir": {}},
                        {"name": "cloud-credentials", "secret": {"secretName": values["credentials"]["existingSecret"]}}],
        }}},
    }


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1"])
def test_the_velero_pod_passes_pod_security_restricted_and_the_resource_policy(inventory, stack):
    deployment = _velero_deployment(backup(inventory, stack)["velero"].inputs["values"])
    evaluator = Evaluator({"all": ("mandatory", {})})
    found = [
        f for f in evaluator.resource("kubernetes:apps/v1:Deployment", deployment) if f.policy in ("pod-security", "workload-resources")
    ]
    assert found == []
    # the same pod without the values' security context fails, so the check can fail
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {}
    assert [f.policy for f in evaluator.resource("kubernetes:apps/v1:Deployment", deployment) if f.policy == "pod-security"]


# --- locations and schedule ----------------------------------------------------------------------


@pytest.mark.parametrize("stack, config, bucket, prefix", [
    ("onprem-dc1", {"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": "https://s3.dc1.example.com"}, "dc1-backups", "prod-dc1"),
    ("onprem-dc2", {"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": "https://s3.dc2.example.com"}, "dc2-backups", "prod-dc2"),
    ("prod", None, "backups", "prod-cin"),
])
def test_the_default_location_is_the_backups_bucket_after_the_chart(inventory, stack, config, bucket, prefix):
    location = backup(inventory, stack)["location"]
    assert location.type == BSL
    assert location.inputs["metadata"]["name"] == "default" and location.inputs["metadata"]["namespace"] == "velero"
    spec = location.inputs["spec"]
    if config is None:  # Azure: the account in the AKS resource group, its key from the credentials file
        account = inventory(stack).named("platform-storage-account").inputs
        config = {
            "resourceGroup": account["resourceGroupName"],
            "storageAccount": account["accountName"],
            "storageAccountKeyEnvVar": "AZURE_STORAGE_ACCOUNT_ACCESS_KEY",
        }
    assert spec == {
        "provider": "azure" if stack == "prod" else "aws",
        "objectStorage": {"bucket": bucket, "prefix": prefix},
        "config": config,
        "credential": {"name": "velero-backups-storage", "key": "cloud"},
        "default": True,
        "accessMode": "ReadWrite",
    }
    # operator before custom resources: the CRDs come with the chart
    assert CHART_KEY in location.options["depends_on"]


@pytest.mark.parametrize("stack, ttl", [("test", "336h0m0s"), ("prod", "720h0m0s"), ("onprem-dc1", "720h0m0s"), ("onprem-dc2", "720h0m0s")])
def test_a_daily_schedule_kept_longer_in_prod(inventory, stack, ttl):
    schedule = backup(inventory, stack)["daily"]
    assert schedule.type == SCHEDULE
    assert schedule.inputs["metadata"]["name"] == "daily"
    assert schedule.inputs["spec"] == {
        "schedule": "0 1 * * *",
        "useOwnerReferencesInBackup": False,
        "template": {
            "ttl": ttl,
            "storageLocation": "default",
            "includedNamespaces": ["*"],
            "excludedNamespaces": EXCLUDED_NAMESPACES,
            "includeClusterResources": True,
            "snapshotVolumes": True,
            "defaultVolumesToFsBackup": False,
            "snapshotMoveData": False,
            "metadata": {"labels": {"complete-cluster/schedule": "daily"}},
        },
    }
    assert {CHART_KEY, f"{BSL}::platform-backup-location"} <= set(schedule.options["depends_on"])


def test_the_secondary_restores_the_primarys_backups_read_only(inventory):
    assert "primary-location" not in backup(inventory, "onprem-dc1")
    assert "primary-location" not in backup(inventory, "prod")
    location = backup(inventory, "onprem-dc2")["primary-location"]
    assert location.inputs["metadata"]["name"] == "primary-dc1"
    assert location.inputs["metadata"]["labels"]["complete-cluster/standby-for"] == "onprem-dc1"
    assert location.inputs["spec"] == {
        "provider": "aws",
        "objectStorage": {"bucket": "dc1-backups", "prefix": "prod-dc1"},
        "config": {"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": "https://s3.dc1.example.com"},
        "credential": {"name": "velero-backups-storage", "key": "cloud"},
        "default": False,
        "accessMode": "ReadOnly",
    }
    assert CHART_KEY in location.options["depends_on"]


def test_each_location_verifies_its_endpoint_with_the_ca_the_stack_file_names(tmp_path):
    """`storage.ca_certificate` (here the environment CA, a real CA certificate) becomes `caCert` (base64 of the PEM)
    of the site's own location and, read from the primary's file, of the secondary's read-only location on it."""
    files = {stack: yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text()) for stack in ("onprem-dc1", "onprem-dc2")}
    ca = files["onprem-dc1"]["config"]["complete-cluster:services"]["cert_manager"]["issuer"]["ca"]["certificate"]
    files["onprem-dc1"]["config"]["complete-cluster:storage"]["ca_certificate"] = ca
    for stack, document in files.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    encoded = base64.b64encode((ca.strip() + "\n").encode()).decode()

    def locations(stack: str) -> dict[str, dict]:
        registered = evaluate(stack, tmp_path / f"Pulumi.{stack}.yaml", sites=tmp_path)
        return {r.inputs["metadata"]["name"]: r.inputs["spec"]["objectStorage"] for r in registered if r.type == BSL}

    assert locations("onprem-dc1") == {"default": {"bucket": "dc1-backups", "prefix": "prod-dc1", "caCert": encoded}}
    assert locations("onprem-dc2") == {"default": {"bucket": "dc2-backups", "prefix": "prod-dc2"},  # dc2 names no CA
                                       "primary-dc1": {"bucket": "dc1-backups", "prefix": "prod-dc1", "caCert": encoded}}


def test_volumes_are_snapshotted_by_their_csi_driver(inventory):
    snapshot_class = backup(inventory, "prod")["snapshot-class"]
    assert snapshot_class.type == "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass"
    inputs = snapshot_class.inputs
    assert (inputs["metadata"]["name"], inputs["driver"], inputs["deletionPolicy"], inputs["parameters"]) == (
        "velero-disk-csi-azure-com", "disk.csi.azure.com", "Delete", {"incremental": "true"})
    assert inputs["metadata"]["labels"]["velero.io/csi-volumesnapshot-class"] == "true"
    # on premises the driver is the site's: none is configured, so no class is made up
    assert "snapshot-class" not in backup(inventory, "onprem-dc1")


# --- the namespace -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "onprem-dc2"])
def test_the_namespace_is_restricted_and_default_deny(inventory, stack):
    resources = backup(inventory, stack)
    namespace = resources["namespace"].inputs["metadata"]
    assert namespace["name"] == "velero"
    assert LABELS.items() <= namespace["labels"].items()
    for mode in ("enforce", "audit", "warn"):
        assert namespace["labels"][f"pod-security.kubernetes.io/{mode}"] == catalogue.POD_SECURITY_LEVEL
        assert namespace["labels"][f"pod-security.kubernetes.io/{mode}-version"] == catalogue.POD_SECURITY_VERSION
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in resources.values()
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    assert set(policies) == {"default-deny", "allow-dns", "allow-egress"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-egress"]["egress"] == [{
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
    }]
    assert "ingress" not in policies["allow-egress"]
