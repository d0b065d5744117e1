"""aks-hardening, storage-account-hardening, storage-blob-soft-delete, rancher-cluster-hardening,
stateful-protection: compliant resources (wire properties of pulumi-azure-native 3.x and
pulumi-rancher2 13.x), then one mutation per case with the exact message."""

from __future__ import annotations

import copy

import pytest
from policy_helpers import run, run_stack

from policies.lib.spec import Resource
from policies.lib.values import UNKNOWN_ARRAY, UNKNOWN_BOOLEAN, UNKNOWN_NUMBER, UNKNOWN_OBJECT, UNKNOWN_STRING

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
    (
        lambda c: c.pop("aadProfile"),
        [
            "cluster is not integrated with Microsoft Entra ID; set aadProfile.managed: true",
            "cluster does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true",
        ],
    ),
    (lambda c: c.update(enableRBAC=False), ["cluster disables Kubernetes RBAC; set enableRBAC: true"]),
    (lambda c: c.pop("disableLocalAccounts"), ["cluster keeps local accounts (a static admin credential); set disableLocalAccounts: true"]),
    (
        lambda c: c.pop("apiServerAccessProfile"),
        [
            "API server is public; set apiServerAccessProfile.enablePrivateCluster: true or restrict "
            "apiServerAccessProfile.authorizedIPRanges"
        ],
    ),
    (
        lambda c: c.update(apiServerAccessProfile={"authorizedIPRanges": ["0.0.0.0/0"]}),
        ["API server authorizedIPRanges include 0.0.0.0/0; list only the networks that administer the cluster"],
    ),
    (
        lambda c: c["networkProfile"].update(networkPolicy="none"),
        [
            'cluster has no network policy engine, so NetworkPolicies are not enforced; set networkProfile.networkPolicy to "azure", '
            '"calico" or "cilium"'
        ],
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
        [
            "workload identity is off; set oidcIssuerProfile.enabled: true and securityProfile.workloadIdentity.enabled: true "
            "so pods use federated identities instead of secrets"
        ],
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

STORAGE = {
    "kind": "StorageV2",
    "sku": {"name": "Standard_RAGZRS"},
    "minimumTlsVersion": "TLS1_2",
    "allowBlobPublicAccess": False,
    "enableHttpsTrafficOnly": True,
}


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

# The wire shape components/infrastructure/rancher.py registers (`python -m stacks inventory
# onprem-dc1 --json`, ClusterV2 `platform-rancher-cluster`), plus a compliant per-machine override.
RKE2 = {
    "name": "dc1",
    "kubernetesVersion": "v1.33.5+rke2r1",
    "defaultPodSecurityAdmissionConfigurationTemplateName": "rancher-restricted",
    "enableNetworkPolicy": True,
    "rkeConfig": {
        "machineGlobalConfig": "cluster-cidr: 10.42.0.0/16\ncni: cilium\nservice-cidr: 10.43.0.0/16\n",
        "machineSelectorConfigs": [
            {"config": "kubelet-arg:\n- max-pods=150\n", "machineLabelSelector": {"matchLabels": {"pool": "workers"}}},
        ],
        "etcd": {
            "snapshotScheduleCron": "0 */6 * * *",
            "snapshotRetention": 12,
            "s3Config": {
                "bucket": "etcd",
                "endpoint": "s3.dc1.example.com",
                "folder": "prod-dc1",
                "region": "us-east-1",
                "retention": 12,
                "cloudCredentialName": "cattle-global-data:cc-s3",
            },
        },
    },
}

S3_RETENTION = "etcd snapshot retention in S3 is not set or below 5; set rkeConfig.etcd.s3Config.retention to 5 or more"
S3_CREDENTIAL = (
    "etcd snapshots in S3 have no credential; set rkeConfig.etcd.s3Config.cloudCredentialName to a Rancher S3 cloud "
    "credential (the id of a rancher2 CloudCredential)"
)
CNI_ADVICE = 'does not enforce NetworkPolicies; use "canal", "calico" or "cilium"'


def rancher(mutate) -> list[str]:
    cluster = copy.deepcopy(RKE2)
    mutate(cluster)
    return run("rancher-cluster-hardening", RANCHER, cluster)


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
        f"the CNI in rkeConfig.machineGlobalConfig {CNI_ADVICE}",
    ]


@pytest.mark.parametrize("retention", [1, 4, None, True, "12"])
def test_rancher_s3_retention(retention):
    def mutate(cluster):
        cluster["rkeConfig"]["etcd"]["s3Config"]["retention"] = retention

    assert rancher(mutate) == [S3_RETENTION]


def test_rancher_s3_retention_absent():
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].pop("retention")) == [S3_RETENTION]
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(retention=5)) == []


@pytest.mark.parametrize("credential", ["absent", None, "", "  "])
def test_rancher_s3_credential(credential):
    def mutate(cluster):
        s3 = cluster["rkeConfig"]["etcd"]["s3Config"]
        if credential == "absent":
            del s3["cloudCredentialName"]
        else:
            s3["cloudCredentialName"] = credential

    assert rancher(mutate) == [S3_CREDENTIAL]


@pytest.mark.parametrize(
    "endpoint, host",
    [
        ("https://s3.dc1.example.com", "s3.dc1.example.com"),
        ("http://minio.dc1.example.com:9000/", "minio.dc1.example.com:9000"),
        ("s3.dc1.example.com/etcd", "s3.dc1.example.com"),
    ],
)
def test_rancher_s3_endpoint_is_host_and_port(endpoint, host):
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(endpoint=endpoint)) == [
        f'rkeConfig.etcd.s3Config.endpoint "{endpoint}" is not host[:port]; RKE2\'s S3 client takes no scheme or '
        f'path, set it to "{host}"'
    ]


def test_rancher_s3_endpoint_with_port():
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(endpoint="minio.dc1.example.com:9000")) == []


def test_rancher_s3_keys_inline():
    def mutate(cluster):
        rke = cluster["rkeConfig"]
        rke["machineGlobalConfig"] += "etcd-s3-access-key: AKIA\netcd-s3-secret-key: secret\n"
        rke["machineSelectorConfigs"][0]["config"] += "etcd-s3-session-token: token\n"

    assert rancher(mutate) == [
        "rkeConfig.machineGlobalConfig holds etcd S3 keys inline (etcd-s3-access-key, etcd-s3-secret-key); remove them "
        "and set rkeConfig.etcd.s3Config.cloudCredentialName to a Rancher S3 cloud credential",
        "rkeConfig.machineSelectorConfigs[0].config holds etcd S3 keys inline (etcd-s3-session-token); remove them and "
        "set rkeConfig.etcd.s3Config.cloudCredentialName to a Rancher S3 cloud credential",
    ]


@pytest.mark.parametrize("cni", ["none", "flannel", "[multus, none]", "multus,flannel", "NONE"])
def test_rancher_cni_per_machine(cni):
    def mutate(cluster):
        cluster["rkeConfig"]["machineSelectorConfigs"].append({"config": f"cni: {cni}\n"})

    assert rancher(mutate) == [f"the CNI in rkeConfig.machineSelectorConfigs[1].config {CNI_ADVICE}"]


@pytest.mark.parametrize("cni", ["[multus, none]", "multus,flannel"])
def test_rancher_cni_behind_multus(cni):
    def mutate(cluster):
        cluster["rkeConfig"]["machineGlobalConfig"] = f"cni: {cni}\n"

    assert rancher(mutate) == [f"the CNI in rkeConfig.machineGlobalConfig {CNI_ADVICE}"]


@pytest.mark.parametrize("cni", ["canal", "calico", "[multus, cilium]", "multus,canal"])
def test_rancher_cni_enforcing(cni):
    def mutate(cluster):
        cluster["rkeConfig"]["machineGlobalConfig"] = f"cni: {cni}\n"
        cluster["rkeConfig"]["machineSelectorConfigs"][0]["config"] = f"cni: {cni}\n"

    assert rancher(mutate) == []


@pytest.mark.parametrize("value", ["true", '"true"'])
def test_rancher_network_policy_disabled_per_machine(value):
    def mutate(cluster):
        cluster["rkeConfig"]["machineSelectorConfigs"][0]["config"] += f"disable-network-policy: {value}\n"
        cluster["rkeConfig"]["machineGlobalConfig"] += "disable-network-policy: false\n"

    assert rancher(mutate) == [
        "rkeConfig.machineSelectorConfigs[0].config turns NetworkPolicy enforcement off; remove disable-network-policy"
    ]
    assert rancher(lambda c: c["rkeConfig"].update(machineGlobalConfig="disable-network-policy: true\n")) == [
        "rkeConfig.machineGlobalConfig turns NetworkPolicy enforcement off; remove disable-network-policy"
    ]


def test_rancher_config_and_unknowns():
    cluster = copy.deepcopy(RKE2)
    assert run("rancher-cluster-hardening", RANCHER, cluster, minSnapshotRetention=20) == [
        "etcd snapshot retention is not set or below 20; set rkeConfig.etcd.snapshotRetention to 20 or more",
        "etcd snapshot retention in S3 is not set or below 20; set rkeConfig.etcd.s3Config.retention to 20 or more",
    ]
    cluster["rkeConfig"]["etcd"]["snapshotRetention"] = UNKNOWN_NUMBER
    cluster["rkeConfig"]["machineGlobalConfig"] = UNKNOWN_STRING
    cluster["enableNetworkPolicy"] = UNKNOWN_BOOLEAN
    assert run("rancher-cluster-hardening", RANCHER, cluster) == []


def test_rancher_unknowns_during_preview():
    # The credential's id is unknown until the CloudCredential exists (the first preview of a site).
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(cloudCredentialName=UNKNOWN_STRING)) == []
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(retention=UNKNOWN_NUMBER)) == []
    assert rancher(lambda c: c["rkeConfig"]["etcd"]["s3Config"].update(endpoint=UNKNOWN_STRING)) == []
    assert rancher(lambda c: c["rkeConfig"]["etcd"].update(s3Config=UNKNOWN_OBJECT)) == []
    assert rancher(lambda c: c["rkeConfig"].update(machineSelectorConfigs=UNKNOWN_ARRAY)) == []

    def one_unknown_override(cluster):
        # An unknown override is undecided; a known one next to it is still judged.
        cluster["rkeConfig"]["machineSelectorConfigs"] = [{"config": UNKNOWN_STRING}, UNKNOWN_OBJECT, {"config": "cni: none\n"}]

    assert rancher(one_unknown_override) == [f"the CNI in rkeConfig.machineSelectorConfigs[2].config {CNI_ADVICE}"]


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


def test_strimzi_v1_kafka_and_node_pools_are_stateful():
    # Strimzi 1.x serves only kafka.strimzi.io/v1, and in KRaft the node pools own the volumes.
    resources = [
        Resource("kubernetes:kafka.strimzi.io/v1:Kafka", {}, "urn:kafka", "events", protect=False),
        Resource("kubernetes:kafka.strimzi.io/v1:KafkaNodePool", {}, "urn:brokers", "brokers", protect=False),
        Resource("kubernetes:kafka.strimzi.io/v1:KafkaTopic", {}, "urn:topic", "orders", protect=False),
    ]
    fix = "create it with pulumi.ResourceOptions(protect=True) so that no destroy or replacement can delete it"
    assert run_stack("stateful-protection", resources) == [
        (f'kubernetes:kafka.strimzi.io/v1:Kafka "events" holds state but is not protected; {fix}', "urn:kafka"),
        (f'kubernetes:kafka.strimzi.io/v1:KafkaNodePool "brokers" holds state but is not protected; {fix}', "urn:brokers"),
    ]
