"""A hardened AKS cluster in one Azure region, and the Kubernetes provider the other layers use.

Choices that are not config (each explained in docs/aks.md):
- Azure CNI overlay with the Cilium dataplane as network policy engine: nodes take addresses from
  the node subnet, pods from `pod_cidr` outside the virtual network, so there is no pod subnet;
  Cilium enforces NetworkPolicy in eBPF inside the dataplane AKS runs and upgrades, with no
  separate policy engine (Calico's operator and its namespaces) to run.
- Azure Linux nodes (a small, hardened image); no public node IPs; encryption at host everywhere.
- Identities are user-assigned so they exist, and hold their roles, before the cluster does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import (
    authorization,
    containerservice,
    logic,
    managedidentity,
    monitor,
    network,
    operationalinsights,
    resources,
)

from stacks.model import Aks
from stacks.model.infrastructure import AksNodePool
from stacks.naming import aks_dns_prefix

from .acr import ContainerRegistry, ContainerRegistryArgs


# Built-in Azure role definitions (the same IDs in every tenant).
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"
AKS_CONTRIBUTOR = "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8"

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Entra ID application of the AKS API server, the audience of every kubelogin token."""
OS_SKU = "AzureLinux"
CLUSTER_API_VERSION = "2025-09-01"
"""The ManagedCluster API version of the pinned azure-native SDK, used by the start/stop schedule."""
MAINTENANCE_SCHEDULES = {"upgrades": "aksManagedAutoUpgradeSchedule", "node-os": "aksManagedNodeOSUpgradeSchedule"}
# Control-plane logs worth keeping: writes to the API (audit-admin leaves out reads, which are most
# of the volume), Entra ID / Azure RBAC decisions (guard), and why the autoscaler did what it did.
CONTROL_PLANE_LOGS = ("kube-audit-admin", "guard", "cluster-autoscaler")
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
SPOT_TAINT = f"{SPOT_LABEL}=spot:NoSchedule"
KUBELOGIN_INSTALL_HINT = (
    "\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n\n"
    "To learn more, please go to https://aka.ms/aks/kubelogin\n"
)

# The invokes a preview runs that are ARM POST actions (Reader has only reads), each with the action
# it needs (Azure built-in roles reference: "Azure Kubernetes Service Cluster User Role" lists the first,
# the storage operations the second).
PREVIEW_ACTIONS = {
    "azure-native:containerservice:listManagedClusterUserCredentials":
        "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
    "azure-native:storage:listStorageAccountKeys": "Microsoft.Storage/storageAccounts/listkeys/action",
}

KubeloginMode = Literal["azurecli", "workloadidentity", "spn"]


@dataclass(frozen=True, kw_only=True)
class AksClusterArgs:
    """What the component needs from a stack: the cluster config, where it runs, and its tags."""

    cluster: Aks
    environment: Literal["dev", "test", "prod"]
    site: str
    tags: dict[str, str]
    upstream_registries: tuple[str, ...]
    """The registries the platform's images are published on; the cluster's registry caches each."""

    @property
    def production(self) -> bool:
        """Prod locks its resource group and protects its stateful resources."""
        return self.environment == "prod"


def _role(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role)


def _flag(args: list[str], flag: str) -> str | None:
    """The value after `flag` in a command line, or None."""
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def exec_kubeconfig(kubeconfig: str, login: KubeloginMode) -> str:
    """The cluster's user kubeconfig with every Entra ID user signing in through
    `kubelogin get-token --login <login>`, as `kubelogin convert-kubeconfig -l <login>` writes it.

    Both shapes AKS returns are converted: the exec plugin (`format=exec`, kubelogin in device-code
    mode, which would wait for a human) and the legacy `azure` auth-provider.
    """
    document = yaml.safe_load(kubeconfig)
    for entry in document.get("users") or []:
        user = entry.get("user") or {}
        current = user.get("exec") or {}
        provider = user.get("auth-provider") or {}
        if "kubelogin" in str(current.get("command", "")).lower():
            flags = list(current.get("args") or [])
            server_id, client_id, tenant_id, environment = (
                _flag(flags, flag) for flag in ("--server-id", "--client-id", "--tenant-id", "--environment")
            )
            hint = current.get("installHint") or KUBELOGIN_INSTALL_HINT
        elif provider.get("name") == "azure":
            settings = provider.get("config") or {}
            server_id, client_id = settings.get("apiserver-id"), settings.get("client-id")
            tenant_id, environment = settings.get("tenant-id"), settings.get("environment")
            hint = KUBELOGIN_INSTALL_HINT
        else:
            continue
        if not server_id:
            raise ValueError(f"kubeconfig user `{entry.get('name')}` names no --server-id; is the cluster Entra ID integrated?")
        args = ["get-token", "--login", login, "--server-id", server_id]
        if login == "spn":
            # kubelogin takes the service principal from AZURE_CLIENT_ID / AZURE_CLIENT_SECRET (or a
            # certificate) at run time; these flags only carry what the kubeconfig names.
            if not (client_id and tenant_id):
                raise ValueError(f"kubeconfig user `{entry.get('name')}` names no --client-id/--tenant-id for spn login")
            args += ["--client-id", client_id, "--tenant-id", tenant_id]
            if environment:
                args += ["--environment", environment]
        user.pop("auth-provider", None)
        user["exec"] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubelogin",
            "args": args,
            "env": None,
            "installHint": hint,
            # The program (and CI) can never answer a prompt.
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
        entry["user"] = user
    return yaml.safe_dump(document, sort_keys=False)


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster and everything around it, in its own resource group:

    virtual network and node subnet, Log Analytics workspace (control-plane audit logs, Defender),
    user-assigned control-plane and kubelet identities with the roles they need, the ManagedCluster
    with its system pool, one AgentPool per user pool, the upgrade maintenance windows, Azure RBAC
    admin grants, in prod a CanNotDelete lock on the resource group, outside prod optionally a
    start/stop schedule, and a Kubernetes provider that signs in through kubelogin.
    """

    resource_group: resources.ResourceGroup
    workspace: operationalinsights.Workspace
    cluster: containerservice.ManagedCluster
    node_pools: dict[str, containerservice.AgentPool]
    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str | None]
    kubeconfig: pulumi.Output[str]
    """The user kubeconfig in kubelogin exec form; a secret."""

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:infrastructure:AksCluster", name, None, opts)
        aks, tags = args.cluster, args.tags
        child = pulumi.ResourceOptions(parent=self)
        # Resources whose loss loses data or forces a rebuild of the cluster: protected in prod.
        stateful = pulumi.ResourceOptions(parent=self, protect=args.production)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        role = lambda role_id: _role(client.subscription_id, role_id)  # noqa: E731
        in_group: list[pulumi.Resource] = []  # everything inside the resource group, for the lock

        self.resource_group = resources.ResourceGroup(f"{name}-rg", location=aks.region, tags=tags, opts=stateful)
        group = self.resource_group.name
        location = self.resource_group.location

        vnet = network.VirtualNetwork(
            f"{name}-vnet", resource_group_name=group, location=location,
            address_space={"address_prefixes": [aks.network.vnet_cidr]}, tags=tags, opts=stateful,
        )
        # Only a node subnet: with Azure CNI overlay pods take addresses from pod_cidr, not the VNet.
        subnet = network.Subnet(
            f"{name}-nodes", subnet_name="nodes", resource_group_name=group, virtual_network_name=vnet.name,
            address_prefix=aks.network.node_subnet_cidr,
            # Egress goes through the cluster's load balancer, never Azure's implicit default route.
            default_outbound_access=False,
            opts=stateful,
        )
        self.workspace = operationalinsights.Workspace(
            f"{name}-logs", resource_group_name=group, location=location, sku={"name": "PerGB2018"},
            retention_in_days=aks.log_retention_days, tags=tags, opts=stateful,
        )
        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane", resource_group_name=group, location=location, tags=tags, opts=stateful
        )
        kubelet = managedidentity.UserAssignedIdentity(
            f"{name}-kubelet", resource_group_name=group, location=location, tags=tags, opts=stateful
        )
        in_group += [vnet, subnet, self.workspace, control_plane, kubelet]

        # The control plane joins nodes and internal load balancers to the subnet (Network
        # Contributor) and assigns the kubelet identity to the node VMs (Managed Identity Operator).
        control_plane_roles = [
            authorization.RoleAssignment(
                f"{name}-control-plane-{what}", scope=scope, role_definition_id=role(role_id),
                principal_id=control_plane.principal_id, principal_type="ServicePrincipal", opts=child,
            )
            for what, scope, role_id in (("subnet", subnet.id, NETWORK_CONTRIBUTOR), ("kubelet", kubelet.id, MANAGED_IDENTITY_OPERATOR))
        ]

        self.registry = ContainerRegistry(
            f"{name}-acr",
            ContainerRegistryArgs(
                registry=aks.registry, upstreams=args.upstream_registries, subscription_id=client.subscription_id,
                resource_group_name=group, location=location, kubelet_principal_id=kubelet.principal_id,
                virtual_network_id=vnet.id, subnet_id=subnet.id, tags=tags, production=args.production,
            ),
            opts=child,
        )
        in_group.append(self.registry)

        pools = aks.node_pools
        [(system_name, system)] = [(key, pool) for key, pool in pools.items() if pool.mode == "System"]
        self.cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_group_name=group,
            location=location,
            dns_prefix=aks_dns_prefix(args.environment, args.site),
            kubernetes_version=aks.kubernetes_version,
            sku={"name": "Base", "tier": aks.sku_tier},
            identity={"type": "UserAssigned", "user_assigned_identities": [control_plane.id]},
            identity_profile={
                "kubeletidentity": {"resource_id": kubelet.id, "client_id": kubelet.client_id, "object_id": kubelet.principal_id}
            },
            aad_profile={"managed": True, "enable_azure_rbac": True, "admin_group_object_ids": list(aks.admin_group_ids)},
            enable_rbac=True,
            disable_local_accounts=True,
            api_server_access_profile=(
                {"enable_private_cluster": False, "authorized_ip_ranges": list(aks.api_server.authorized_ranges)}
                if aks.api_server.public
                else {"enable_private_cluster": True, "private_dns_zone": "system"}
            ),
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "pod_cidr": aks.network.pod_cidr,
                "service_cidr": aks.network.service_cidr,
                "dns_service_ip": aks.network.dns_service_ip,
                "load_balancer_sku": "standard",
                "outbound_type": "loadBalancer",
            },
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "image_cleaner": {"enabled": True, "interval_hours": 168},
                "defender": (
                    {"log_analytics_workspace_resource_id": self.workspace.id, "security_monitoring": {"enabled": True}}
                    if aks.defender
                    else {"security_monitoring": {"enabled": False}}
                ),
            },
            auto_upgrade_profile={"upgrade_channel": aks.upgrade_channel, "node_os_upgrade_channel": aks.node_os_upgrade_channel},
            addon_profiles={
                "azureKeyvaultSecretsProvider": {"enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}},
                "azurepolicy": {"enabled": aks.azure_policy},
            },
            agent_pool_profiles=[{"name": system_name, **self._pool_spec(aks, system, subnet, tags)}],
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.production,
                depends_on=control_plane_roles,
                # The autoscaler owns the node count; re-applying the initial count would scale in.
                ignore_changes=["agentPoolProfiles[0].count"],
            ),
        )
        cluster_name = self.cluster.name
        in_group.append(self.cluster)

        self.node_pools = {
            pool_name: containerservice.AgentPool(
                f"{name}-pool-{pool_name}", resource_group_name=group, resource_name_=cluster_name, agent_pool_name=pool_name,
                **self._pool_spec(aks, pool, subnet, tags),
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
            )
            for pool_name, pool in pools.items()
            if pool.mode == "User"
        }
        in_group += list(self.node_pools.values())

        window = aks.maintenance
        for role_name, config_name in MAINTENANCE_SCHEDULES.items():
            in_group.append(containerservice.MaintenanceConfiguration(
                f"{name}-maintenance-{role_name}", resource_group_name=group, resource_name_=cluster_name, config_name=config_name,
                maintenance_window={
                    "schedule": {"weekly": {"day_of_week": window.day, "interval_weeks": 1}},
                    "duration_hours": window.duration_hours,
                    "start_time": f"{window.start_hour:02d}:00",
                    "utc_offset": window.utc_offset,
                },
                opts=child,
            ))

        in_group.append(monitor.DiagnosticSetting(
            f"{name}-control-plane-logs", name="control-plane-to-log-analytics", resource_uri=self.cluster.id,
            workspace_id=self.workspace.id, log_analytics_destination_type="Dedicated",
            logs=[{"category": category, "enabled": True} for category in CONTROL_PLANE_LOGS],
            opts=child,
        ))

        # Kubernetes authorization is Azure RBAC: the admin groups administer the cluster and may
        # fetch its kubeconfig. The identity running this program is a member of one of them
        # (docs/aks.md): aadProfile binds the groups to cluster-admin as the cluster is created,
        # so the layers above apply on the first `pulumi up`, before Azure role assignments have
        # propagated to the cluster.
        grants = [
            authorization.RoleAssignment(
                f"{name}-admins-{group_id[:8]}-{what}", scope=self.cluster.id, role_definition_id=role(role_id),
                principal_id=group_id, principal_type="Group", opts=child,
            )
            for group_id in aks.admin_group_ids
            for what, role_id in (("admin", AKS_RBAC_CLUSTER_ADMIN), ("user", AKS_CLUSTER_USER))
        ]
        in_group += [*control_plane_roles, *grants]

        if aks.working_hours is not None:
            in_group += self._working_hours(name, aks, group, location, tags, role)

        if aks.preview_principal_id is not None:
            in_group += self._preview_role(name, args, aks.preview_principal_id)

        if args.production:
            # Last to be created and first to be removed: it depends on everything it guards.
            authorization.ManagementLockAtResourceGroupLevel(
                f"{name}-lock", lock_name="complete-cluster-do-not-delete", level="CanNotDelete", resource_group_name=group,
                notes="prod AKS cluster: deleting any resource here needs this lock lifted first (docs/aks.md)",
                opts=pulumi.ResourceOptions(parent=self, depends_on=in_group),
            )

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=group, resource_name=cluster_name, format="exec", opts=pulumi.InvokeOutputOptions(parent=self),
        )
        login = aks.kubelogin_mode
        self.kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs.apply(lambda configs: exec_kubeconfig(base64.b64decode(configs[0].value).decode(), login))
        )
        self.provider = k8s.Provider(
            f"{name}-kubernetes", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
            # The layers above need the node pools, the admins' grants, and images they can pull.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.node_pools.values(), *grants, *self.registry.ready]),
        )
        self.cluster_name = cluster_name
        self.resource_group_name = group
        self.oidc_issuer_url = self.cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url if profile else None)
        self.register_outputs({
            "cluster_name": self.cluster_name,
            "resource_group_name": self.resource_group_name,
            "oidc_issuer_url": self.oidc_issuer_url,
            "kubeconfig": self.kubeconfig,
        })

    def _preview_role(self, name: str, args: AksClusterArgs, principal_id: str) -> list[pulumi.Resource]:
        """A custom role with exactly the POST actions a `pulumi preview` of this stack calls, and its
        assignment to the preview identity on the stack's resource group. Reads need no more than
        Reader; Kubernetes needs nothing: the provider's server-side dry-runs are authorized like the
        writes themselves, so they are refused and the provider previews from the inputs (docs/aks.md)."""
        scope = self.resource_group.id
        definition = authorization.RoleDefinition(
            f"{name}-preview-role", scope=scope, assignable_scopes=[scope],
            role_name=f"complete-cluster preview ({args.environment}, {args.site})",
            description="What a merge-request preview of this complete-cluster stack calls besides reads",
            permissions=[{"actions": list(PREVIEW_ACTIONS.values()), "not_actions": []}],
            opts=pulumi.ResourceOptions(parent=self),
        )
        assignment = authorization.RoleAssignment(
            f"{name}-preview", scope=scope, role_definition_id=definition.id, principal_id=principal_id,
            principal_type="ServicePrincipal", opts=pulumi.ResourceOptions(parent=self),
        )
        return [definition, assignment]

    @staticmethod
    def _pool_spec(aks: Aks, pool: AksNodePool, subnet: network.Subnet, tags: dict[str, str]) -> dict:
        """The settings shared by the system pool (inside the cluster) and the user pools."""
        taints, labels = list(pool.taints), dict(pool.labels)
        spec = {
            "mode": pool.mode,
            "vm_size": pool.vm_size,
            "count": pool.min_count,
            "enable_auto_scaling": True,
            "min_count": pool.min_count,
            "max_count": pool.max_count,
            "orchestrator_version": aks.kubernetes_version,
            "os_type": "Linux",
            "os_sku": OS_SKU,
            "os_disk_type": pool.os_disk,
            "os_disk_size_gb": pool.os_disk_gb,
            "type": "VirtualMachineScaleSets",
            "vnet_subnet_id": subnet.id,
            "enable_node_public_ip": False,
            "enable_encryption_at_host": True,
            "tags": tags,
        }
        if pool.zones:
            spec["availability_zones"] = list(pool.zones)
        if pool.gpu:
            spec["gpu_profile"] = {"driver": "Install"}
        if pool.spot:
            # Spot capacity is reclaimed without notice: VMs are deleted (not kept deallocated and
            # billed for disks), and price never evicts them (-1 pays up to the on-demand price). AKS
            # adds this label and taint itself; declaring them keeps the pool free of drift.
            spec.update(scale_set_priority="Spot", scale_set_eviction_policy="Delete", spot_max_price=-1)
            taints.append(SPOT_TAINT)
            labels[SPOT_LABEL] = "spot"
        else:
            spec["upgrade_settings"] = {"max_surge": "33%"}
        if taints:
            spec["node_taints"] = taints
        if labels:
            spec["node_labels"] = labels
        return spec

    def _working_hours(self, name: str, aks: Aks, group, location, tags: dict[str, str], role) -> list[pulumi.Resource]:
        """Two Logic Apps that stop the cluster after hours and start it again, each allowed only to
        operate this cluster (Azure Kubernetes Service Contributor on it)."""
        hours = aks.working_hours
        if hours is None:
            return []
        created: list[pulumi.Resource] = []
        for action, hour in (("stop", hours.stop_hour), ("start", hours.start_hour)):
            definition = {
                "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
                "contentVersion": "1.0.0.0",
                "triggers": {
                    "schedule": {
                        "type": "Recurrence",
                        "recurrence": {
                            "frequency": "Week",
                            "interval": 1,
                            "timeZone": hours.time_zone,
                            # A recurrence without a start time also fires when it is created.
                            "startTime": "2025-01-01T00:00:00",
                            "schedule": {"weekDays": list(hours.days), "hours": [hour], "minutes": [0]},
                        },
                    }
                },
                "actions": {
                    action: {
                        "type": "Http",
                        "inputs": {
                            "method": "POST",
                            "uri": pulumi.Output.concat(
                                "https://management.azure.com", self.cluster.id, f"/{action}?api-version={CLUSTER_API_VERSION}"
                            ),
                            "authentication": {"type": "ManagedServiceIdentity", "audience": "https://management.azure.com/"},
                        },
                    }
                },
            }
            workflow = logic.Workflow(
                f"{name}-{action}", resource_group_name=group, location=location, state="Enabled",
                identity={"type": "SystemAssigned"}, definition=definition, tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            operator = authorization.RoleAssignment(
                f"{name}-{action}-operator",
                scope=self.cluster.id,
                role_definition_id=role(AKS_CONTRIBUTOR),
                principal_id=workflow.identity.apply(lambda identity: identity.principal_id if identity else ""),
                principal_type="ServicePrincipal",
                opts=pulumi.ResourceOptions(parent=self),
            )
            created += [workflow, operator]
        return created
