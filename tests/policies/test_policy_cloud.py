"""aks-hardening, storage-account-hardening, storage-blob-soft-delete, rancher-cluster-hardening,
stateful-protection: compliant resources (wire properties of pulumi-azure-native 3.x and
pulumi-rancher2 13.x), then one mutation per case with the exact message."""

from __future__ import annotations

import copy

import pytest
from policy_helpers import run, run_stack

from policies.lib.spec import Resource
from policies.lib.values import UNKNOWN_BOOLEAN, UNKNOWN_NUMBER, UNKNOWN_STRING

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ACCOUNT = "azure-native:storage:StorageAccount"
BLOBS = "azure-native:storage:BlobServiceProperties"
RANCHER = "rancher2:index/clusterV2:ClusterV2"

AKS = {
    "resourceGroupName": "rg",
    "aadProfile": {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": ["g"]},
    "disableLocalAccounts": True,
    "enableRBAC": True,
    "apiServerAccessProfile": {"enablePrivateCluster": True},
    "networkProfile": {"networkPlugin": "azure", "networkPolicy": "cilium"},
    "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
    "agentPoolProfiles": [{"name": "system", "mode": "System", "enableNodePublicIP": False}],
    "oidcIssuerProfile": {"enabled": True},
    "securityProfile": {
        "workloadIdentity": {"enabled": True},
        "defender": {"logAnalyticsWorkspaceResourceId": "/x", "securityMonitoring": {"enabled": True}},
    },
    "addonProfiles": {"azurepolicy": {"enabled": True}},
}


@pytest.fixture
def aks():
    return copy.deepcopy(AKS)


def test_compliant_cluster(aks):
    assert run("aks-hardening", CLUSTER, aks) == []


AKS_CASES = [
    (lambda c: c.pop("aadProfile"), ["cluster is not integrated with Microsoft Entra ID; set aadProfile.managed: true",
                                     "cluster does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true"]),
    (lambda c: c.update(enableRBAC=False), ["cluster disables Kubernetes RBAC; set enableRBAC: true"]),
    (lambda c: c.pop("disableLocalAccounts"), ["cluster keeps local accounts (a static admin credential); set disableLocalAccounts: true"]),
    (
        lambda c: c.pop("apiServerAccessProfile"),
        ["API server is public; set apiServerAccessProfile.enablePrivateCluster: true or restrict apiServerAccessProfile.authorizedIPRanges"],
    ),
    (
        lambda c: c.update(apiServerAccessProfile={"authorizedIPRanges": ["0.0.0.0/0"]}),
        ["API server authorizedIPRanges include 0.0.0.0/0; list only the networks that administer the cluster"],
    ),
    (
        lambda c: c["networkProfile"].update(networkPolicy="none"),
        ['cluster has no network policy engine, so NetworkPolicies are not enforced; set networkProfile.networkPolicy to "azure", "calico" or "cilium"'],
    ),
    (
        lambda c: c.pop("autoUpgradeProfile"),
        ['cluster does not upgrade automatically; set autoUpgradeProfile.upgradeChannel (e.g. "patch" or "stable")'],
    ),
    (
        lambda c: c["autoUpgradeProfile"].update(nodeOSUpgradeChannel="None"),
        ['node OS images are not updated; set autoUpgradeProfile.nodeOSUpgradeChannel to "NodeImage" or "SecurityPatch"'],
    ),
    (
        lambda c: c["agentPoolProfiles"].append({"name": "gpu", "enableNodePublicIP": True}),
        ["agent pool profiles gpu give nodes public IPs; set enableNodePublicIP: false"],
    ),
    (
        lambda c: c["securityProfile"].pop("workloadIdentity"),
        ["workload identity is off; set oidcIssuerProfile.enabled: true and securityProfile.workloadIdentity.enabled: true "
         "so pods use federated identities instead of secrets"],
    ),
    (
        lambda c: c["securityProfile"].pop("defender"),
        ["Microsoft Defender is off; set securityProfile.defender.securityMonitoring.enabled: true (with logAnalyticsWorkspaceResourceId)"],
    ),
    (lambda c: c.pop("addonProfiles"), ["the Azure Policy add-on is off; set addonProfiles.azurepolicy.enabled: true"]),
]


@pytest.mark.parametrize("mutate, expected", AKS_CASES)
def test_cluster_hardening(aks, mutate, expected):
    mutate(aks)
    assert run("aks-hardening", CLUSTER, aks) == expected


def test_prod_only_cluster_rules(aks):
    aks.pop("apiServerAccessProfile")
    aks["securityProfile"].pop("defender")
    aks.pop("addonProfiles")
    assert run("aks-hardening", CLUSTER, aks, environment="dev") == []
    assert len(run("aks-hardening", CLUSTER, aks, environment="prod")) == 3
    aks["apiServerAccessProfile"] = {"authorizedIPRanges": ["10.0.0.0/8"]}
    aks["addonProfiles"] = {"azurePolicy": {"enabled": True}}
    assert len(run("aks-hardening", CLUSTER, aks)) == 1


def test_agent_pool_and_unknowns(aks):
    assert run("aks-hardening", POOL, {"enableNodePublicIP": False}) == []
    assert run("aks-hardening", POOL, {"enableNodePublicIP": True}) == [
        "agent pool gives its nodes public IPs; set enableNodePublicIP: false and reach nodes through the cluster network"
    ]
    aks["disableLocalAccounts"] = UNKNOWN_BOOLEAN
    aks["networkProfile"] = UNKNOWN_STRING
    assert run("aks-hardening", CLUSTER, aks) == []


# --- storage ----------------------------------------------------------------------------------

STORAGE = {"kind": "StorageV2", "sku": {"name": "Standard_RAGZRS"}, "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False, "enableHttpsTrafficOnly": True}


def test_storage_account():
    account = copy.deepcopy(STORAGE)
    assert run("storage-account-hardening", ACCOUNT, account) == []
    account.update(enableHttpsTrafficOnly=False, allowBlobPublicAccess=True, sku={"name": "Standard_LRS"})
    del account["minimumTlsVersion"]
    assert run("storage-account-hardening", ACCOUNT, account) == [
        "storage account accepts plain HTTP; set enableHttpsTrafficOnly: true",
        'storage account accepts TLS older than 1.2 (the default is TLS 1.0); set minimumTlsVersion: "TLS1_2"',
        "storage account allows anonymous public blob access; set allowBlobPublicAccess: false",
        "prod storage is not geo-redundant; set sku.name to one of Standard_GRS, Standard_RAGRS, Standard_GZRS, "
        "Standard_RAGZRS, StandardV2_GRS, StandardV2_GZRS",
    ]
    assert len(run("storage-account-hardening", ACCOUNT, account, environment="test")) == 3
    defaults = {"sku": {"name": "Standard_GRS"}, "minimumTlsVersion": "TLS1_2"}
    assert run("storage-account-hardening", ACCOUNT, defaults) == []  # Azure's defaults are HTTPS-only, no public access
    assert run("storage-account-hardening", ACCOUNT, {**defaults, "minimumTlsVersion": UNKNOWN_STRING}) == []


def test_blob_soft_delete():
    good = {"deleteRetentionPolicy": {"enabled": True, "days": 30}, "containerDeleteRetentionPolicy": {"enabled": True, "days": 7}}
    assert run("storage-blob-soft-delete", BLOBS, good) == []
    assert run("storage-blob-soft-delete", BLOBS, {"deleteRetentionPolicy": {"enabled": True, "days": 3}}) == [
        "deleted blobs are not kept; set deleteRetentionPolicy: {enabled: true, days: 7} (or more days)",
        "deleted containers are not kept; set containerDeleteRetentionPolicy: {enabled: true, days: 7} (or more days)",
    ]
    assert run("storage-blob-soft-delete", BLOBS, good, minRetentionDays=14.0) == [
        "deleted containers are not kept; set containerDeleteRetentionPolicy: {enabled: true, days: 14} (or more days)"
    ]
    good["deleteRetentionPolicy"]["days"] = UNKNOWN_NUMBER
    assert run("storage-blob-soft-delete", BLOBS, good) == []


# --- rancher ----------------------------------------------------------------------------------

RKE2 = {
    "name": "dc1",
    "kubernetesVersion": "v1.33.5+rke2r1",
    "defaultPodSecurityAdmissionConfigurationTemplateName": "rancher-restricted",
    "enableNetworkPolicy": True,
    "rkeConfig": {
        "machineGlobalConfig": "cni: cilium\n",
        "etcd": {
            "snapshotScheduleCron": "0 */6 * * *",
            "snapshotRetention": 12,
            "s3Config": {"bucket": "etcd", "endpoint": "s3.dc1.example.com", "cloudCredentialName": "cattle-global-data:s3"},
        },
    },
}


def test_rancher_cluster():
    cluster = copy.deepcopy(RKE2)
    assert run("rancher-cluster-hardening", RANCHER, cluster) == []
    cluster.update(defaultPodSecurityAdmissionConfigurationTemplateName="rancher-privileged", enableNetworkPolicy=False)
    cluster["rkeConfig"] = {"machineGlobalConfig": "cni: flannel", "etcd": {"disableSnapshots": True, "snapshotRetention": 2}}
    assert run("rancher-cluster-hardening", RANCHER, cluster) == [
        "etcd snapshots are disabled; remove rkeConfig.etcd.disableSnapshots",
        'etcd snapshots are not scheduled; set rkeConfig.etcd.snapshotScheduleCron (e.g. "0 */6 * * *")',
        "etcd snapshot retention is not set or below 5; set rkeConfig.etcd.snapshotRetention to 5 or more",
        "etcd snapshots stay on the nodes; set rkeConfig.etcd.s3Config with bucket, endpoint and cloudCredentialName so "
        "they survive the loss of the cluster",
        'cluster does not enforce Pod Security by default; set defaultPodSecurityAdmissionConfigurationTemplateName: "rancher-restricted"',
        "network policy is not enabled; set enableNetworkPolicy: true",
        'the CNI in rkeConfig.machineGlobalConfig does not enforce NetworkPolicies; use "canal", "calico" or "cilium"',
    ]


def test_rancher_config_and_unknowns():
    cluster = copy.deepcopy(RKE2)
    assert run("rancher-cluster-hardening", RANCHER, cluster, minSnapshotRetention=20) == [
        "etcd snapshot retention is not set or below 20; set rkeConfig.etcd.snapshotRetention to 20 or more"
    ]
    cluster["rkeConfig"]["etcd"]["snapshotRetention"] = UNKNOWN_NUMBER
    cluster["rkeConfig"]["machineGlobalConfig"] = UNKNOWN_STRING
    cluster["enableNetworkPolicy"] = UNKNOWN_BOOLEAN
    assert run("rancher-cluster-hardening", RANCHER, cluster) == []


# --- stateful-protection ------------------------------------------------------------------------


def test_stateful_resources_in_prod_are_protected():
    sts = {"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
    resources = [
        Resource(ACCOUNT, {}, "urn:sa", "backups", protect=False),
        Resource(CLUSTER, {}, "urn:aks", "aks", protect=True),
        Resource("kubernetes:acid.zalan.do/v1:postgresql", {}, "urn:pg", "orders-db", protect=False),
        Resource("kubernetes:apps/v1:StatefulSet", sts, "urn:sts", "db", protect=False),
        Resource("kubernetes:apps/v1:Deployment", {}, "urn:web", "web", protect=False),
        Resource("kubernetes:kafka.strimzi.io/v1beta2:Kafka", {}, "urn:kafka", "events", protect=None),
    ]
    fix = "create it with pulumi.ResourceOptions(protect=True) so that no destroy or replacement can delete it"
    assert run_stack("stateful-protection", resources) == [
        (f'{ACCOUNT} "backups" holds state but is not protected; {fix}', "urn:sa"),
        (f'kubernetes:acid.zalan.do/v1:postgresql "orders-db" holds state but is not protected; {fix}', "urn:pg"),
        (f'kubernetes:apps/v1:StatefulSet "db" holds state but is not protected; {fix}', "urn:sts"),
    ]
    assert run_stack("stateful-protection", resources, environment="test") == []
    assert len(run_stack("stateful-protection", resources, statefulTypes=[], statefulSetsWithVolumeClaims=False)) == 0
