"""The AKS infrastructure of the dev, test and prod stacks, read from their offline inventories:
every hardening setting with its exact wire value, the per-environment differences, the Kubernetes
provider the other layers use, and the policy pack's verdict on the result."""

from __future__ import annotations

import ast
import base64
import copy
import os
import re
import uuid
from pathlib import Path

import pulumi
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime.sync_await import _sync_await

from components import outputs
from components.infrastructure import acr as acr_module
from components.infrastructure import aks as aks_module
from components.infrastructure.aks import exec_kubeconfig
from policies import enforcement
from policies.pack import PACK_NAME, SPECS, pulumi_policies
from stacks import catalogue
from stacks.loader import load
from stacks.tools.inventory import InventoryMocks, evaluate

AKS = "platform:infrastructure:AksCluster::platform-aks"
PROVIDER = "pulumi:providers:kubernetes::platform-aks-kubernetes"
CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
POLICY_CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "policies", "config")
ROLE_PREFIX = f"/subscriptions/{InventoryMocks.SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
ADMIN_GROUP = "6b0e3b8e-2c1f-4d8a-9a51-3f7c2d1e0a11"
STACKS = ["dev", "test", "prod"]


def tags(environment: str, site: str) -> dict:
    return {
        "environment": environment,
        "site": site,
        "owner": "platform-team",
        "cost-centre": "platform",
        "managed-by": "pulumi/complete-cluster",
    }


TAGS = {"dev": tags("dev", "sea"), "test": tags("test", "cin"), "prod": tags("prod", "cin")}


@pytest.fixture(scope="module")
def aks(inventory):
    """A stack's AKS resources by logical name (without the `platform-aks-` prefix)."""

    def get(stack: str) -> dict:
        return {r.name.removeprefix("platform-aks-"): r for r in inventory(stack) if r.parent == AKS}

    return get


def cluster(aks, stack: str) -> dict:
    return aks(stack)["cluster"].inputs


def names(aks, stack: str) -> tuple[str, str]:
    """The physical resource group and cluster names (Azure-side autonames, known from references)."""
    pool = aks(stack)["pool-general"].inputs
    return pool["resourceGroupName"], pool["resourceName"]


def azure_id(group: str, path: str) -> str:
    return f"/subscriptions/{InventoryMocks.SUBSCRIPTION_ID}/resourceGroups/{group}/providers/{path}"


def pool_profiles(aks, stack: str) -> dict:
    """Every node pool's settings as the engine receives them, system pool included."""
    resources = aks(stack)
    pools = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in cluster(aks, stack)["agentPoolProfiles"]}
    for registration in resources.values():
        if registration.type == AGENT_POOL:
            inputs = {k: v for k, v in registration.inputs.items() if k not in ("resourceGroupName", "resourceName")}
            pools[inputs.pop("agentPoolName")] = inputs
    return pools


# --- shape ---------------------------------------------------------------------------------------


EXPECTED_TYPES = {
    "azure-native:resources:ResourceGroup": 1,
    "azure-native:network:VirtualNetwork": 1,
    "azure-native:network:Subnet": 1,
    "azure-native:operationalinsights:Workspace": 1,
    "azure-native:managedidentity:UserAssignedIdentity": 2,
    ROLE_ASSIGNMENT: 5,
    "azure-native:authorization:RoleDefinition": 1,
    CLUSTER: 1,
    AGENT_POOL: 3,
    "azure-native:containerservice:MaintenanceConfiguration": 2,
    "azure-native:monitor:DiagnosticSetting": 1,
    "pulumi:providers:kubernetes": 1,
    "platform:infrastructure:ContainerRegistry": 1,
}


@pytest.mark.parametrize(
    "stack, extra",
    [
        ("dev", {"azure-native:logic:Workflow": 2, ROLE_ASSIGNMENT: 7}),
        ("test", {}),
        ("prod", {"azure-native:authorization:ManagementLockAtResourceGroupLevel": 1}),
    ],
)
def test_each_stack_builds_one_aks_cluster_of_these_resources(inventory, aks, stack, extra):
    [component] = [r for r in inventory(stack) if r.type == "platform:infrastructure:AksCluster"]
    assert (component.name, component.parent) == ("platform-aks", "platform:index:CompleteCluster::platform")
    counted: dict[str, int] = {}
    for registration in aks(stack).values():
        counted[registration.type] = counted.get(registration.type, 0) + 1
    assert counted == {**EXPECTED_TYPES, **extra}
    # nothing Azure lives outside the component, but the object storage in its resource group
    assert all(
        r.parent in (AKS, ACR, "platform:storage:ObjectStorage::platform-storage")
        for r in inventory(stack)
        if r.type.startswith("azure-native:")
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_azure_resource_carries_the_stack_tags(aks, stack):
    tagged = {name: r.inputs["tags"] for name, r in aks(stack).items() if "tags" in r.inputs}
    assert set(tagged) >= {"rg", "vnet", "logs", "control-plane", "kubelet", "cluster", "pool-general", "pool-database", "pool-ai"}
    assert all(value == TAGS[stack] for value in tagged.values())
    assert all(p["tags"] == TAGS[stack] for p in cluster(aks, stack)["agentPoolProfiles"])


@pytest.mark.parametrize("stack, region", [("dev", "southeastasia"), ("test", "centralindia"), ("prod", "centralindia")])
def test_region(aks, stack, region):
    resources = aks(stack)
    assert resources["rg"].inputs["location"] == region
    assert {r.inputs["location"] for r in resources.values() if "location" in r.inputs} == {region}


# --- network -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, octet", [("dev", 10), ("test", 20), ("prod", 30)])
def test_network_is_azure_cni_overlay_with_cilium_and_only_a_node_subnet(aks, stack, octet):
    resources = aks(stack)
    assert resources["vnet"].inputs["addressSpace"] == {"addressPrefixes": [f"10.{octet}.0.0/16"]}
    subnet = resources["nodes"].inputs
    assert (subnet["subnetName"], subnet["addressPrefix"], subnet["defaultOutboundAccess"]) == ("nodes", f"10.{octet}.0.0/20", False)
    assert [r for r in resources.values() if r.type == "azure-native:network:Subnet"] == [resources["nodes"]]
    assert cluster(aks, stack)["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
        "podCidr": "192.168.0.0/16",
        "serviceCidr": "172.16.0.0/16",
        "dnsServiceIP": "172.16.0.10",
        "loadBalancerSku": "standard",
        "outboundType": "loadBalancer",
    }
    subnet_id = (f"/subscriptions/{InventoryMocks.SUBSCRIPTION_ID}/resourceGroups/{subnet['resourceGroupName']}"
                 f"/providers/Microsoft.Network/virtualNetworks/{subnet['virtualNetworkName']}/subnets/nodes")
    for name, pool in pool_profiles(aks, stack).items():
        assert pool["vnetSubnetID"] == subnet_id, name
        assert "podSubnetID" not in pool  # overlay: pods are not in the VNet


# --- identities ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_user_assigned_identities_and_the_control_planes_roles(aks, stack):
    resources = aks(stack)
    inputs = cluster(aks, stack)
    group, _ = names(aks, stack)
    [control_plane_id] = inputs["identity"]["userAssignedIdentities"]
    assert inputs["identity"]["type"] == "UserAssigned"
    assert control_plane_id.startswith(azure_id(group, "Microsoft.ManagedIdentity/userAssignedIdentities/platform-aks-control-plane"))
    kubelet = inputs["identityProfile"]["kubeletidentity"]
    assert kubelet["resourceId"].startswith(azure_id(group, "Microsoft.ManagedIdentity/userAssignedIdentities/platform-aks-kubelet"))
    assert set(kubelet) == {"resourceId", "clientId", "objectId"}
    principal = InventoryMocks()._uuid(control_plane_id, "principal")
    subnet_role, kubelet_role = resources["control-plane-subnet"].inputs, resources["control-plane-kubelet"].inputs
    assert subnet_role == {
        "principalId": principal, "principalType": "ServicePrincipal",
        "roleDefinitionId": ROLE_PREFIX + "4d97b98b-1d4f-4787-a291-c67834d212e7",  # Network Contributor
        "scope": inputs["agentPoolProfiles"][0]["vnetSubnetID"],
    }
    assert kubelet_role == {
        "principalId": principal, "principalType": "ServicePrincipal",
        "roleDefinitionId": ROLE_PREFIX + "f1a07417-d97a-45cb-824c-7a7467783830",  # Managed Identity Operator
        "scope": kubelet["resourceId"],
    }
    assert kubelet["objectId"] != principal
    # the cluster is created only once its identity may use the subnet and the kubelet identity
    assert {f"{ROLE_ASSIGNMENT}::platform-aks-control-plane-subnet", f"{ROLE_ASSIGNMENT}::platform-aks-control-plane-kubelet"} <= set(
        resources["cluster"].options["depends_on"]
    )


# --- the managed cluster -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_hardening_shared_by_every_environment(aks, stack):
    inputs = cluster(aks, stack)
    assert inputs["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": [ADMIN_GROUP]}
    assert (inputs["enableRBAC"], inputs["disableLocalAccounts"]) == (True, True)
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert inputs["securityProfile"]["imageCleaner"] == {"enabled": True, "intervalHours": 168}
    assert inputs["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert inputs["addonProfiles"] == {
        "azureKeyvaultSecretsProvider": {"enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}},
        "azurepolicy": {"enabled": True},
    }
    assert inputs["kubernetesVersion"] == "1.33"
    assert inputs["dnsPrefix"] == f"complete-cluster-{stack}-{'sea' if stack == 'dev' else 'cin'}"
    assert aks(stack)["cluster"].options["ignore_changes"] == ["agentPoolProfiles[0].count"]


def test_environment_differences_of_the_cluster(aks):
    dev, test, prod = (cluster(aks, stack) for stack in STACKS)
    public = {"enablePrivateCluster": False, "authorizedIPRanges": ["203.0.113.0/24"]}
    assert (dev["apiServerAccessProfile"], test["apiServerAccessProfile"]) == (public, public)
    assert prod["apiServerAccessProfile"] == {"enablePrivateCluster": True, "privateDNSZone": "system"}
    assert (dev["sku"], test["sku"], prod["sku"]) == (
        {"name": "Base", "tier": "Free"},
        {"name": "Base", "tier": "Free"},
        {"name": "Base", "tier": "Standard"},
    )
    off = {"securityMonitoring": {"enabled": False}}
    assert (dev["securityProfile"]["defender"], test["securityProfile"]["defender"]) == (off, off)
    workspace_id = aks("prod")["control-plane-logs"].inputs["workspaceId"]
    assert workspace_id.startswith(azure_id(names(aks, "prod")[0], "Microsoft.OperationalInsights/workspaces/platform-aks-logs"))
    assert prod["securityProfile"]["defender"] == {"logAnalyticsWorkspaceResourceId": workspace_id, "securityMonitoring": {"enabled": True}}
    assert [aks(stack)["logs"].inputs["retentionInDays"] for stack in STACKS] == [30, 30, 90]
    assert aks("prod")["logs"].inputs["sku"] == {"name": "PerGB2018"}


# --- node pools ----------------------------------------------------------------------------------


COMMON_POOL = {
    "enableAutoScaling": True, "enableNodePublicIP": False, "enableEncryptionAtHost": True, "orchestratorVersion": "1.33",
    "osType": "Linux", "osSKU": "AzureLinux", "type": "VirtualMachineScaleSets",
}


def expected_pools(stack: str) -> dict:
    zones = {"availabilityZones": ["1", "2", "3"]} if stack == "prod" else {}
    surge = {"upgradeSettings": {"maxSurge": "33%"}}
    bounds = {"dev": {"system": (1, 3), "general": (0, 5), "database": (0, 3), "ai": (0, 2)},
              "test": {"system": (1, 3), "general": (0, 5), "database": (0, 3), "ai": (0, 2)},
              "prod": {"system": (3, 5), "general": (2, 10), "database": (2, 6), "ai": (0, 25)}}[stack]

    def sized(name):
        low, high = bounds[name]
        return {"count": low, "minCount": low, "maxCount": high}

    ai = {
        "mode": "User", "vmSize": "Standard_NC8as_T4_v3" if stack == "prod" else "Standard_NC4as_T4_v3", **sized("ai"),
        "osDiskType": "Ephemeral", "osDiskSizeGB": 128, "gpuProfile": {"driver": "Install"},
        "nodeTaints": ["nvidia.com/gpu=present:NoSchedule"],
    }
    if stack == "dev":
        ai.update(scaleSetPriority="Spot", scaleSetEvictionPolicy="Delete", spotMaxPrice=-1,
                  nodeTaints=["nvidia.com/gpu=present:NoSchedule", "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"],
                  nodeLabels={"kubernetes.azure.com/scalesetpriority": "spot"})
    else:
        ai.update(surge)
    return {
        "system": {
            "mode": "System",
            "vmSize": "Standard_D4ds_v5",
            **sized("system"),
            "osDiskType": "Ephemeral",
            "osDiskSizeGB": 128,
            "nodeTaints": ["CriticalAddonsOnly=true:NoSchedule"],
            **zones,
            **surge,
        },
        "general": {
            "mode": "User",
            "vmSize": "Standard_D4ds_v5",
            **sized("general"),
            "osDiskType": "Ephemeral",
            "osDiskSizeGB": 128,
            **zones,
            **surge,
        },
        "database": {
            "mode": "User",
            "vmSize": "Standard_E4ds_v5",
            **sized("database"),
            "osDiskType": "Managed",
            "osDiskSizeGB": 256,
            "nodeTaints": ["nodeType=database:NoSchedule"],
            "nodeLabels": {"nodeType": "database"},
            **zones,
            **surge,
        },
        "ai": ai,
    }


@pytest.mark.parametrize("stack", STACKS)
def test_node_pools(aks, stack):
    pools = pool_profiles(aks, stack)
    for name, settings in pools.items():
        settings = {k: v for k, v in settings.items() if k not in ("tags", "vnetSubnetID")}
        assert settings == {**COMMON_POOL, **expected_pools(stack)[name]}, name
    # the system pool lives in the cluster; the user pools are AgentPools the autoscaler sizes
    assert [p["name"] for p in cluster(aks, stack)["agentPoolProfiles"]] == ["system"]
    for name in ("general", "database", "ai"):
        registration = aks(stack)[f"pool-{name}"]
        assert registration.inputs["agentPoolName"] == name
        assert (registration.inputs["resourceGroupName"], registration.inputs["resourceName"]) == names(aks, stack)
        assert registration.options["ignore_changes"] == ["count"]
        assert f"{CLUSTER}::platform-aks-cluster" in registration.options["depends_on"]


def test_user_pools_scale_to_zero_outside_prod_and_gpu_to_25_in_prod(aks):
    for stack in ("dev", "test"):
        assert {name: p["minCount"] for name, p in pool_profiles(aks, stack).items() if p["mode"] == "User"} == {
            "general": 0,
            "database": 0,
            "ai": 0,
        }
    assert (pool_profiles(aks, "prod")["ai"]["minCount"], pool_profiles(aks, "prod")["ai"]["maxCount"]) == (0, 25)
    assert [stack for stack in STACKS if pool_profiles(aks, stack)["ai"].get("scaleSetPriority") == "Spot"] == ["dev"]


# --- upgrades, logs, access ----------------------------------------------------------------------


@pytest.mark.parametrize("stack, offset", [("dev", "+08:00"), ("test", "+05:30"), ("prod", "+05:30")])
def test_maintenance_windows_for_upgrades_and_node_os(aks, stack, offset):
    resources = aks(stack)
    window = {
        "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
        "durationHours": 4,
        "startTime": "02:00",
        "utcOffset": offset,
    }
    assert resources["maintenance-upgrades"].inputs["configName"] == "aksManagedAutoUpgradeSchedule"
    assert resources["maintenance-node-os"].inputs["configName"] == "aksManagedNodeOSUpgradeSchedule"
    for name in ("maintenance-upgrades", "maintenance-node-os"):
        assert resources[name].inputs["maintenanceWindow"] == window
        assert resources[name].inputs["resourceName"] == resources["pool-general"].inputs["resourceName"]


@pytest.mark.parametrize("stack", STACKS)
def test_control_plane_audit_logs_go_to_the_workspace(aks, stack):
    setting = aks(stack)["control-plane-logs"].inputs
    group, cluster_name = names(aks, stack)
    assert setting["logs"] == [{"category": c, "enabled": True} for c in ("kube-audit-admin", "guard", "cluster-autoscaler")]
    assert (setting["name"], setting["logAnalyticsDestinationType"]) == ("control-plane-to-log-analytics", "Dedicated")
    assert setting["workspaceId"].startswith(azure_id(group, "Microsoft.OperationalInsights/workspaces/platform-aks-logs"))
    assert setting["resourceUri"] == azure_id(group, f"Microsoft.ContainerService/managedClusters/{cluster_name}")


@pytest.mark.parametrize("stack", STACKS)
def test_admin_groups_get_azure_rbac_cluster_admin_and_credentials(aks, stack):
    resources = aks(stack)
    cluster_id = resources["control-plane-logs"].inputs["resourceUri"]
    grants = {name: r.inputs for name, r in resources.items() if name.startswith("admins-")}
    assert grants == {
        "admins-6b0e3b8e-admin": {"principalId": ADMIN_GROUP, "principalType": "Group", "scope": cluster_id,
                                  "roleDefinitionId": ROLE_PREFIX + "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"},
        "admins-6b0e3b8e-user": {"principalId": ADMIN_GROUP, "principalType": "Group", "scope": cluster_id,
                                 "roleDefinitionId": ROLE_PREFIX + "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"},
    }


@pytest.mark.parametrize("stack", STACKS)
def test_rbac_binds_team_and_platform_groups_by_entra_object_id(inventory, stack):
    """AKS puts the groups' object IDs in a token and Kubernetes RBAC matches subject names literally,
    so every Group subject of the stack's bindings must be an object ID to grant anything."""
    config = load(stack)
    bound = {
        (r.type.rsplit(":", 1)[-1], r.inputs["metadata"].get("namespace"), subject["name"])
        for r in inventory(stack)
        if r.type in ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        for subject in r.inputs.get("subjects", [])
        if subject["kind"] == "Group"
    }
    expected = {("ClusterRoleBinding", None, group) for group in config.policy.platform_groups}
    expected |= {("RoleBinding", team.name, group) for team in config.teams for group in team.groups}
    # A team with databases also views its data namespace.
    expected |= {("RoleBinding", f"{team.name}-data", group) for team in config.teams if team.databases for group in team.groups}
    assert bound == expected
    assert all(uuid.UUID(name) for _, _, name in bound)


# --- the container registry (issue 17 item 2) -----------------------------------------------------

ACR = "platform:infrastructure:ContainerRegistry::platform-aks-acr"
LOGIN_SERVERS = {"dev": "platformdevacr.azurecr.io", "test": "platformtestacr.azurecr.io", "prod": "platformacr.azurecr.io"}
VAULT = "/subscriptions/9a1c2f4e-6b7d-4e8f-a0b1-c2d3e4f5a6b7/resourceGroups/kv/providers/Microsoft.KeyVault/vaults/platformkv"


def registry_resources(inventory, stack: str) -> dict:
    """The registry component's resources by logical name (without the `platform-aks-acr-` prefix)."""
    return {r.name.removeprefix("platform-aks-acr-"): r for r in inventory(stack) if r.parent == ACR}


def test_every_upstream_of_the_catalogue_is_one_artifact_cache_supports():
    assert set(catalogue.upstream_registries()) <= set(acr_module.CACHEABLE_UPSTREAMS)
    # Every image the program names outside the catalogue is on one of them (the charts' own images).
    assert set(catalogue.upstream_registries()) >= program_image_hosts()


def program_image_hosts() -> set[str]:
    """Upstream hosts the components name: `registry_for("<host>")` and image literals `<host>/<path>`."""
    hosts: set[str] = set()
    known = tuple(f"{host}/" for host in acr_module.CACHEABLE_UPSTREAMS) + ("gcr.io/", "cr.fluentbit.io/", "public.ecr.aws/", "nvcr.io/")
    for path in (Path(__file__).resolve().parents[2] / "components").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "registry_for":
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    hosts.add(node.args[0].value)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(known):
                hosts.add(node.value.split("/", 1)[0])
    return hosts


@pytest.mark.parametrize("stack", STACKS)
def test_the_registry_caches_every_upstream_the_catalogue_uses(inventory, stack):
    resources = registry_resources(inventory, stack)
    registry = resources["registry"].inputs
    name = LOGIN_SERVERS[stack].split(".")[0]
    registry_id = azure_id(registry["resourceGroupName"], f"Microsoft.ContainerRegistry/registries/{name}")
    rules = {
        r.inputs["cacheRuleName"]: (r.inputs["sourceRepository"], r.inputs["targetRepository"], r.inputs.get("credentialSetResourceId"))
        for r in resources.values()
        if r.type == "azure-native:containerregistry:CacheRule"
    }
    assert rules == {
        "docker-io": ("docker.io/*", "docker.io/*", f"{registry_id}/credentialSets/docker-hub"),
        "ghcr-io": ("ghcr.io/*", "ghcr.io/*", None),
        "quay-io": ("quay.io/*", "quay.io/*", None),
        "registry-k8s-io": ("registry.k8s.io/*", "registry.k8s.io/*", None),
    }
    hub = resources["docker-hub"]
    assert hub.inputs == {
        "authCredentials": [{
            "name": "Credential1",
            "passwordSecretIdentifier": "https://platformkv.vault.azure.net/secrets/dockerhub-token",
            "usernameSecretIdentifier": "https://platformkv.vault.azure.net/secrets/dockerhub-username",
        }],
        "credentialSetName": "docker-hub",
        "identity": {"type": "SystemAssigned"},
        "loginServer": "docker.io",
        "registryName": name,
        "resourceGroupName": registry["resourceGroupName"],
    }
    # The credential set's own identity reads exactly the two secrets.
    readers = {r.inputs["scope"]: r.inputs for name_, r in resources.items() if name_.startswith("docker-hub-")}
    assert sorted(readers) == [f"{VAULT}/secrets/dockerhub-token", f"{VAULT}/secrets/dockerhub-username"]
    assert {(i["roleDefinitionId"].rsplit("/", 1)[-1], i["principalType"]) for i in readers.values()} == {
        ("4633458b-17de-408a-b874-0445c86b69e6", "ServicePrincipal")
    }
    assert registry["adminUserEnabled"] is False and registry["anonymousPullEnabled"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_the_kubelet_identity_pulls_from_the_registry_before_anything_is_deployed(inventory, aks, stack):
    resources = registry_resources(inventory, stack)
    pull = resources["kubelet-pull"].inputs
    kubelet = aks(stack)["cluster"].inputs["identityProfile"]["kubeletidentity"]
    assert pull["principalId"] == kubelet["objectId"]
    assert pull["roleDefinitionId"] == ROLE_PREFIX + "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert pull["scope"].endswith(f"/providers/Microsoft.ContainerRegistry/registries/{LOGIN_SERVERS[stack].split('.')[0]}")
    provider = inventory(stack).named("platform-aks-kubernetes")
    assert "azure-native:authorization:RoleAssignment::platform-aks-acr-kubelet-pull" in provider.options["depends_on"]


def test_prod_reaches_its_premium_registry_only_through_a_private_endpoint(inventory, aks):
    resources = registry_resources(inventory, "prod")
    registry = resources["registry"].inputs
    assert (registry["sku"], registry["publicNetworkAccess"]) == ({"name": "Premium"}, "Disabled")
    assert resources["registry"].options.get("protect") is True
    endpoint = resources["endpoint"].inputs
    subnet_id = aks("prod")["pool-general"].inputs["vnetSubnetID"]
    assert endpoint["subnet"] == {"id": subnet_id}
    [connection] = endpoint["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["registry"] and connection["privateLinkServiceId"].endswith("/registries/platformacr")
    zone = resources["dns"].inputs
    assert (zone["privateZoneName"], zone["location"]) == ("privatelink.azurecr.io", "global")
    link = resources["dns-link"].inputs
    assert link["virtualNetwork"] == {"id": subnet_id.rsplit("/subnets/", 1)[0]} and link["registrationEnabled"] is False
    [config] = resources["endpoint-dns"].inputs["privateDnsZoneConfigs"]
    assert config["privateDnsZoneId"].endswith("/privateDnsZones/privatelink.azurecr.io")


@pytest.mark.parametrize("stack", ["dev", "test"])
def test_dev_and_test_registries_are_standard_and_public(inventory, stack):
    resources = registry_resources(inventory, stack)
    assert (resources["registry"].inputs["sku"], resources["registry"].inputs["publicNetworkAccess"]) == ({"name": "Standard"}, "Enabled")
    assert not {"endpoint", "dns", "dns-link", "endpoint-dns"} & set(resources)


def test_an_existing_registry_only_gets_the_kubelets_pull_grant(tmp_path):
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["complete-cluster:infrastructure"]["registry"] = {"name": "sharedacr", "existing_resource_group": "registries"}
    for team in document["config"]["complete-cluster:teams"]:
        for workload in team["workloads"]:
            workload["image"] = workload["image"].replace("platformdevacr.azurecr.io", "sharedacr.azurecr.io")
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    registrations = evaluate("dev", stack_file)
    created = [(r.type, r.name) for r in registrations if r.parent == ACR]
    assert created == [(ROLE_ASSIGNMENT, "platform-aks-acr-kubelet-pull")]
    [pull] = [r for r in registrations if r.name == "platform-aks-acr-kubelet-pull"]
    assert pull.inputs["scope"] == (
        f"/subscriptions/{InventoryMocks.SUBSCRIPTION_ID}/resourceGroups/registries/providers/Microsoft.ContainerRegistry/registries/sharedacr"
    )


def _image_references(value, key: str = "") -> list[str]:
    """Every value of an `image`, `repository`, `registry` or `defaultImageRegistry` key, nested anywhere."""
    if isinstance(value, dict):
        if isinstance(value.get("registry"), str) and isinstance(value.get("repository"), str):
            # a chart's image split in two (registry: <host>, repository: <path>); an empty registry means the
            # repository is the whole reference, as the charts compose it (Loki's: components/observability/logs.py)
            rest = {k: v for k, v in value.items() if k not in ("registry", "repository")}
            reference = f"{value['registry']}/{value['repository']}" if value["registry"] else value["repository"]
            return [reference, *_image_references(rest, key)]
        return [found for k, v in value.items() for found in _image_references(v, k)]
    if isinstance(value, list):
        return [found for v in value for found in _image_references(v, key)]
    if isinstance(value, str) and key in ("image", "repository", "registry", "defaultImageRegistry", "docker_image") and "/" in value:
        return [value]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_every_image_of_the_stack_is_pulled_from_its_registry_under_a_cached_upstream(inventory, stack):
    login = LOGIN_SERVERS[stack]
    references = [ref for r in inventory(stack) if r.type.startswith("kubernetes:") for ref in _image_references(r.inputs)]
    assert references
    assert [ref for ref in references if not ref.startswith(f"{login}/")] == []
    hosts = {ref.split("/")[1] for ref in references if "." in ref.split("/")[1]}
    assert hosts <= set(catalogue.upstream_registries())
    assert load(stack).allowed_registries()[0] == login


# --- the merge-request preview identity (issue 17 item 5) -----------------------------------------

PREVIEW_PRINCIPAL = "3d5e8f21-7a4b-4c9d-b1e2-5f6a7b8c9d0e"


@pytest.mark.parametrize("stack", STACKS)
def test_the_preview_identity_may_call_exactly_the_post_actions_a_preview_calls(monkeypatch, stack):
    """Every `list*` invoke the program runs is an ARM POST action, which Reader does not hold: the
    preview role grants exactly the actions of the invokes this stack calls, on its resource group."""
    called: list[str] = []
    answer = InventoryMocks.call

    def recording(self, args):
        called.append(args.token)
        return answer(self, args)

    monkeypatch.setattr(InventoryMocks, "call", recording)
    registrations = evaluate(stack)
    posts = {token for token in called if token.startswith("azure-native:") and token.rsplit(":", 1)[-1].startswith("list")}
    assert posts == set(aks_module.PREVIEW_ACTIONS), "map each new POST invoke to its action in PREVIEW_ACTIONS"
    [definition] = [r for r in registrations if r.name == "platform-aks-preview-role"]
    [assignment] = [r for r in registrations if r.name == "platform-aks-preview"]
    group_id = definition.inputs["scope"]
    assert group_id == azure_id(names_of(registrations)[0], "").removesuffix("/providers/")
    assert definition.inputs["assignableScopes"] == [group_id]
    assert definition.inputs["permissions"] == [
        {"actions": sorted(aks_module.PREVIEW_ACTIONS[token] for token in posts), "notActions": []}
    ]
    assert assignment.inputs["scope"] == group_id and assignment.inputs["principalId"] == PREVIEW_PRINCIPAL
    assert assignment.inputs["principalType"] == "ServicePrincipal"
    assert assignment.inputs["roleDefinitionId"].startswith(f"{group_id}/providers/Microsoft.Authorization/roleDefinitions/")


def names_of(registrations) -> tuple[str, str]:
    [pool] = [r for r in registrations if r.name == "platform-aks-pool-general"]
    return pool.inputs["resourceGroupName"], pool.inputs["resourceName"]


# --- docs/aks.md against the inventories ----------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "aks.md"


def test_the_docs_resource_table_and_counts_are_the_inventories():
    """Each row of docs/aks.md's table names a resource type of the AKS component (and its registry)
    with its count per stack, and every type there is a row; the totals are the component's."""
    text = DOC.read_text()
    rows = re.findall(r"^\| (`\w+`|Kubernetes provider) \| (\d+) \| (\d+) \| (\d+) \|", text, re.MULTILINE)
    documented = {name.strip("`") if name.startswith("`") else "kubernetes": counts for name, *counts in rows}
    totals = re.search(r"that is (\d+) registrations in dev, (\d+) in test and (\d+) in prod", text)
    assert totals
    for index, stack in enumerate(STACKS):
        registrations = evaluate(stack)
        subtree = [r for r in registrations if r.parent in (AKS, ACR)]
        counted: dict[str, int] = {}
        for registration in subtree:
            short = registration.type.rsplit(":", 1)[-1]
            counted[short] = counted.get(short, 0) + 1
        assert {name: int(counts[index]) for name, counts in documented.items() if int(counts[index])} == counted, stack
        assert int(totals.group(index + 1)) == len(subtree) + 1, stack


# --- stopping dev after hours --------------------------------------------------------------------


def test_dev_is_stopped_after_hours_and_started_in_the_morning(aks):
    resources = aks("dev")
    cluster_id = resources["control-plane-logs"].inputs["resourceUri"]
    for action, hour in (("stop", 20), ("start", 8)):
        workflow = resources[action].inputs
        assert workflow["identity"] == {"type": "SystemAssigned"}
        assert workflow["state"] == "Enabled"
        trigger = workflow["definition"]["triggers"]["schedule"]
        assert trigger == {"type": "Recurrence", "recurrence": {
            "frequency": "Week", "interval": 1, "timeZone": "Singapore Standard Time", "startTime": "2025-01-01T00:00:00",
            "schedule": {"weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "hours": [hour], "minutes": [0]}}}
        assert workflow["definition"]["actions"] == {action: {"type": "Http", "inputs": {
            "method": "POST", "uri": f"https://management.azure.com{cluster_id}/{action}?api-version={aks_module.CLUSTER_API_VERSION}",
            "authentication": {"type": "ManagedServiceIdentity", "audience": "https://management.azure.com/"}}}}
        operator = resources[f"{action}-operator"]
        # the workflow's own system-assigned identity, allowed to operate this cluster only
        assert f"azure-native:logic:Workflow::platform-aks-{action}" in operator.options["depends_on"]
        assert {k: v for k, v in operator.inputs.items() if k != "principalId"} == {
            "principalType": "ServicePrincipal",
            "scope": cluster_id,
            "roleDefinitionId": ROLE_PREFIX + "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8",
        }
    principals = {resources[f"{action}-operator"].inputs["principalId"] for action in ("stop", "start")}
    assert len(principals) == 2 and ADMIN_GROUP not in principals
    for stack in ("test", "prod"):
        assert not [r for r in aks(stack).values() if r.type == "azure-native:logic:Workflow"]


# --- prod protection -----------------------------------------------------------------------------


STATEFUL = {"rg", "vnet", "nodes", "logs", "control-plane", "kubelet", "cluster"}


def test_prod_locks_its_resource_group_and_protects_stateful_resources(inventory, aks):
    resources = aks("prod")
    assert {name for name, r in resources.items() if r.options["protect"]} == STATEFUL
    lock = resources["lock"]
    assert lock.inputs == {
        "lockName": "complete-cluster-do-not-delete",
        "level": "CanNotDelete",
        "resourceGroupName": names(aks, "prod")[0],
        "notes": "prod AKS cluster: deleting any resource here needs this lock lifted first (docs/aks.md)",
    }
    # created after, and so removed before, everything it guards
    guarded = {f"{r.type}::{r.name}" for name, r in resources.items() if r.type.startswith("azure-native:") and name != "lock"}
    guarded |= {f"{r.type}::{r.name}" for r in inventory("prod") if r.parent == ACR}
    assert set(lock.options["depends_on"]) == guarded


@pytest.mark.parametrize("stack", ["dev", "test"])
def test_dev_and_test_are_neither_locked_nor_protected(aks, stack):
    resources = aks(stack)
    assert "lock" not in resources
    assert not [name for name, r in resources.items() if r.options["protect"]]


# --- the Kubernetes provider ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_provider_reads_a_secret_kubeconfig_and_carries_the_access_layer(inventory, aks, stack):
    provider = aks(stack)["kubernetes"]
    assert provider.inputs == {"kubeconfig": "[secret]", "enableServerSideApply": "true"}
    assert {f"{AGENT_POOL}::platform-aks-pool-{p}" for p in ("general", "database", "ai")} <= set(provider.options["depends_on"])
    assert {f"{ROLE_ASSIGNMENT}::platform-aks-admins-6b0e3b8e-admin", f"{ROLE_ASSIGNMENT}::platform-aks-admins-6b0e3b8e-user"} <= set(
        provider.options["depends_on"]
    )
    kubernetes = [r for r in inventory(stack) if r.type.startswith("kubernetes:")]
    assert kubernetes and {r.options["provider"] for r in kubernetes} == {PROVIDER}
    namespaces = sorted(r.inputs["metadata"]["name"] for r in kubernetes if r.type == "kubernetes:core/v1:Namespace")
    assert {"payments", "search"} <= set(namespaces)


def user_kubeconfig(form: str) -> str:
    mocks = InventoryMocks()
    return base64.b64decode(mocks._user_kubeconfig({"resourceGroupName": "rg", "resourceName": "aks", "format": form})).decode()


@pytest.mark.parametrize("form", ["exec", "azure"])
@pytest.mark.parametrize(
    "login, args",
    [
        ("azurecli", ["get-token", "--login", "azurecli", "--server-id", InventoryMocks.AKS_SERVER_ID]),
        ("workloadidentity", ["get-token", "--login", "workloadidentity", "--server-id", InventoryMocks.AKS_SERVER_ID]),
        (
            "spn",
            [
                "get-token",
                "--login",
                "spn",
                "--server-id",
                InventoryMocks.AKS_SERVER_ID,
                "--client-id",
                InventoryMocks.AZURE_CLI_CLIENT_ID,
                "--tenant-id",
                InventoryMocks.TENANT_ID,
                "--environment",
                "AzurePublicCloud",
            ],
        ),
    ],
)
def test_kubeconfig_is_converted_to_kubelogin_like_convert_kubeconfig(form, login, args):
    original = yaml.safe_load(user_kubeconfig(form))
    converted = yaml.safe_load(exec_kubeconfig(user_kubeconfig(form), login))
    [user] = converted["users"]
    assert user["user"] == {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin", "args": args, "env": None,
        "installHint": aks_module.KUBELOGIN_INSTALL_HINT, "interactiveMode": "Never", "provideClusterInfo": False}}
    assert {k: v for k, v in converted.items() if k != "users"} == {k: v for k, v in original.items() if k != "users"}


def test_kubeconfig_without_a_server_id_is_refused():
    document = yaml.safe_load(user_kubeconfig("exec"))
    document["users"][0]["user"]["exec"]["args"] = ["get-token", "--login", "devicecode"]
    with pytest.raises(ValueError, match="names no --server-id"):
        exec_kubeconfig(yaml.safe_dump(document), "azurecli")


@pytest.fixture(scope="module")
def exported():
    """Each stack's outputs, evaluated with `pulumi.export` recorded (values resolved, secrecy kept)."""
    cache = {}

    def get(stack: str) -> dict:
        if stack not in cache:
            captured = {}
            original = pulumi.export
            pulumi.export = lambda key, value: captured.__setitem__(key, value)
            try:
                evaluate(stack)
            finally:
                pulumi.export = original
            resolved = {}
            for key, value in captured.items():
                if isinstance(value, pulumi.Output):
                    resolved[key] = (_sync_await(value.future()), _sync_await(value.is_secret()))
                else:
                    resolved[key] = (value, False)
            cache[stack] = resolved
        return cache[stack]

    return get


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_name_the_cluster_and_carry_the_kubeconfig_as_a_secret(aks, exported, stack):
    values = exported(stack)
    resources = aks(stack)
    group, cluster_name = names(aks, stack)
    assert values[outputs.RESOURCE_GROUP] == (group, False)
    assert values[outputs.CLUSTER_NAME] == (cluster_name, False)
    issuer, secret = values[outputs.OIDC_ISSUER_URL]
    assert not secret and issuer.startswith(f"https://{resources['rg'].inputs['location']}.oic.prod-aks.azure.com/{InventoryMocks.TENANT_ID}/")
    kubeconfig, secret = values[outputs.KUBECONFIG]
    assert secret
    document = yaml.safe_load(kubeconfig)
    assert document["users"][0]["user"]["exec"]["args"] == ["get-token", "--login", "azurecli", "--server-id", InventoryMocks.AKS_SERVER_ID]
    server = document["clusters"][0]["cluster"]["server"]
    # prod is private: its kubeconfig points at the private link FQDN, reachable only from the VNet
    assert (".privatelink." in server) is (stack == "prod")


# --- the policy pack on the result ---------------------------------------------------------------


def _struct(value: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


@pytest.fixture
def servicer():
    from pulumi.runtime import proto
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    service = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", pulumi_policies(), EnforcementLevel.MANDATORY)
    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED, "remediate": proto.REMEDIATE}
    path = os.path.join(POLICY_CONFIG, "prod.json")
    config = {name: proto.PolicyConfig(enforcementLevel=levels[value.enforcement], properties=_struct(value.config))
              for name, value in enforcement.reconcile(SPECS, enforcement.load(path)).items()}
    service.Configure(proto.ConfigureAnalyzerRequest(policyConfig=config), None)
    return service


CLOUD_POLICIES = {"aks-hardening", "storage-account-hardening", "storage-blob-soft-delete", "stateful-protection"}


def analyze(servicer, type_token: str, props: dict) -> list[tuple[str, int, str]]:
    from pulumi.runtime import proto

    request = proto.AnalyzeRequest(
        type=type_token, properties=_struct(props), urn=f"urn:pulumi:prod::complete-cluster::{type_token}::x", name="x"
    )
    return [
        (d.policyName, d.enforcementLevel, d.message.split("\n", 1)[1])
        for d in servicer.Analyze(request, None).diagnostics
        if d.policyName in CLOUD_POLICIES
    ]


def analyze_stack(servicer, registrations) -> list[tuple[str, str]]:
    from pulumi.runtime import proto

    request = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=r.type, properties=_struct(r.inputs), urn=f"urn:pulumi:prod::complete-cluster::{r.type}::{r.name}",
                               name=r.name, options=proto.AnalyzerResourceOptions(protect=r.options["protect"]))
        for r in registrations if r.custom and r.type.startswith("azure-native:")
    ])
    return sorted((d.policyName, d.urn) for d in servicer.AnalyzeStack(request, None).diagnostics if d.policyName in CLOUD_POLICIES)


def test_prod_passes_the_aks_and_protection_policies_in_mandatory_mode(inventory, servicer):
    prod = inventory("prod")
    checked = [r for r in prod if r.type in (CLUSTER, AGENT_POOL)]
    assert len(checked) == 4
    for registration in checked:
        assert analyze(servicer, registration.type, registration.inputs) == [], registration.name
    assert analyze_stack(servicer, prod) == []


def test_prod_storage_passes_the_storage_policies(inventory, servicer):
    storage = [r for r in inventory("prod") if r.type in (STORAGE_ACCOUNT, BLOB_SERVICE)]
    assert [r.type for r in storage] == [STORAGE_ACCOUNT, BLOB_SERVICE]
    for registration in storage:
        assert analyze(servicer, registration.type, registration.inputs) == [], registration.name


def test_a_mutated_insecure_prod_cluster_fails_in_mandatory_mode(inventory, servicer):
    from pulumi.runtime import proto

    [registration] = [r for r in inventory("prod") if r.type == CLUSTER]
    insecure = copy.deepcopy(registration.inputs)
    insecure["aadProfile"]["enableAzureRBAC"] = False
    insecure["disableLocalAccounts"] = False
    insecure["apiServerAccessProfile"] = {"enablePrivateCluster": False}
    insecure["networkProfile"]["networkPolicy"] = "none"
    insecure["autoUpgradeProfile"]["nodeOSUpgradeChannel"] = "Unmanaged"
    insecure["agentPoolProfiles"][0]["enableNodePublicIP"] = True
    insecure["securityProfile"]["workloadIdentity"]["enabled"] = False
    insecure["securityProfile"]["defender"] = {"securityMonitoring": {"enabled": False}}
    insecure["addonProfiles"]["azurepolicy"]["enabled"] = False
    found = analyze(servicer, CLUSTER, insecure)
    assert {(policy, level) for policy, level, _ in found} == {("aks-hardening", proto.MANDATORY)}
    assert [message for _, _, message in found] == [
        "cluster does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true",
        "cluster keeps local accounts (a static admin credential); set disableLocalAccounts: true",
        "API server is public; set apiServerAccessProfile.enablePrivateCluster: true or restrict apiServerAccessProfile.authorizedIPRanges",
        'cluster has no network policy engine, so NetworkPolicies are not enforced; set networkProfile.networkPolicy to "azure", '
        '"calico" or "cilium"',
        'node OS images are not updated; set autoUpgradeProfile.nodeOSUpgradeChannel to "NodeImage" or "SecurityPatch"',
        "agent pool profiles system give nodes public IPs; set enableNodePublicIP: false",
        "workload identity is off; set oidcIssuerProfile.enabled: true and securityProfile.workloadIdentity.enabled: true so pods use "
        "federated identities instead of secrets",
        "Microsoft Defender is off; set securityProfile.defender.securityMonitoring.enabled: true (with logAnalyticsWorkspaceResourceId)",
        "the Azure Policy add-on is off; set addonProfiles.azurepolicy.enabled: true",
    ]
    [pool] = [r for r in inventory("prod") if r.name == "platform-aks-pool-ai"]
    public_pool = {**pool.inputs, "enableNodePublicIP": True}
    assert analyze(servicer, AGENT_POOL, public_pool) == [
        (
            "aks-hardening",
            proto.MANDATORY,
            "agent pool gives its nodes public IPs; set enableNodePublicIP: false and reach nodes through the cluster network",
        )
    ]


def test_an_unprotected_prod_cluster_fails_stateful_protection(inventory, servicer):
    prod = [copy.deepcopy(r) for r in inventory("prod")]
    for registration in prod:
        if registration.type == CLUSTER:
            registration.options["protect"] = False
    assert analyze_stack(servicer, prod) == [("stateful-protection", f"urn:pulumi:prod::complete-cluster::{CLUSTER}::platform-aks-cluster")]
