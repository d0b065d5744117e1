"""Where the cluster comes from: Azure AKS, Rancher RKE2, an existing cluster, or a render target."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, ValidationInfo, model_validator

from .. import catalogue
from .workloads import Schedule
from .base import Cidr, IpAddress, KubernetesLabels, Secret, Strict, check, kubernetes_at_least, matching, overlapping_ranges

_TAINT = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?=[-A-Za-z0-9_.]*:(NoSchedule|PreferNoSchedule|NoExecute)$")


def _taint(value: str) -> str:
    if not _TAINT.fullmatch(value):
        raise ValueError(f"`{value}` is not a taint; write it as `key=value:NoSchedule` (or PreferNoSchedule, NoExecute)")
    return value


Taint = Annotated[str, AfterValidator(_taint)]

_AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_GPU_VM_SIZE = re.compile(r"^Standard_N[CDGV]", re.IGNORECASE)
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_ENTRA_OBJECT_ID = re.compile(_GUID)
_AZURE_REGION = re.compile(r"^[a-z]+[a-z0-9]*$")
# Premium SSD needs a VM size whose feature letters (after the vCPU count) include `s`.
_PREMIUM_VM_SIZE = re.compile(r"^Standard_[A-Z]+[0-9]+[a-z]*s[a-z]*(_|$)")
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _environment(info: ValidationInfo) -> str | None:
    return (info.context or {}).get("environment")


# --- AKS -----------------------------------------------------------------------------------------


class AksNodePool(Strict):
    """An AKS node pool. User pools may scale to zero; the system pool keeps at least one node."""

    mode: Literal["System", "User"] = "User"
    """`System` runs the cluster's own add-ons (exactly one pool); `User` pools run the workloads."""
    vm_size: str
    """Forces replacement of a user pool (an AgentPool's `vmSize` is create-only); the system pool's
    profile, inline in the cluster, is not updated in place by Azure."""
    min_count: int = Field(ge=0, le=1000)
    """The autoscaler's lower bound, and the node count the pool is created with."""
    max_count: int = Field(ge=1, le=1000)
    """The autoscaler's upper bound."""
    taints: list[Taint] = []
    """Node taints, `key=value:Effect`."""
    labels: KubernetesLabels = {}
    """Node labels."""
    os_disk_gb: int = Field(default=128, ge=30, le=2048)
    """Size of each node's OS disk."""
    os_disk: Literal["Ephemeral", "Managed"] = "Ephemeral"
    """`Ephemeral`: the OS disk lives on the VM's local disk (free, fast, reimaged with the node; it
    must fit the size's local disk). `Managed`: a managed disk, Premium SSD on premium-capable sizes,
    kept when Azure moves the VM to another host."""
    premium_disks: bool = False
    """The pool runs Premium SSD volumes (and a Premium SSD OS disk when `os_disk: Managed`), so its
    VM size must support premium storage."""
    gpu: bool = False
    """A GPU pool (an N-series `vm_size`); AKS installs the GPU driver."""
    spot: bool = False
    """Spot VMs, evicted when Azure needs them back (dev only); the nodes are tainted so only pods
    that tolerate it land there."""
    zones: list[Literal["1", "2", "3"]] = []
    """Availability zones the nodes spread over; none: no zone pinning."""

    @model_validator(mode="after")
    def _bounds_and_kind(self, info: ValidationInfo):
        problems = []
        if self.min_count > self.max_count:
            problems.append(("min_count", f"must be <= max_count ({self.min_count} > {self.max_count})"))
        if self.mode == "System" and self.min_count < 1:
            problems.append(("min_count", "the system pool needs at least 1 node"))
        if self.mode == "System" and self.spot:
            problems.append(("spot", "the system pool cannot run on spot VMs"))
        if self.gpu and not _GPU_VM_SIZE.match(self.vm_size):
            problems.append(
                ("vm_size", f"`{self.vm_size}` is not a GPU VM size; a GPU pool needs an N-series size such as `Standard_NC4as_T4_v3`")
            )
        if self.premium_disks and not _PREMIUM_VM_SIZE.match(self.vm_size):
            problems.append(
                (
                    "vm_size",
                    f"`{self.vm_size}` cannot attach Premium SSD; choose a size with `s` in its features such as `Standard_E4ds_v5`",
                )
            )
        if self.spot and _environment(info) not in (None, "dev"):
            problems.append(("spot", f"spot VMs are allowed only in dev, not in {_environment(info)}"))
        check(problems)
        return self


def _inside(inner: str, outer: str) -> bool:
    """Whether the range `inner` lies in `outer` (never for ranges of different IP versions)."""
    subnet, network = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    if isinstance(subnet, ipaddress.IPv4Network) and isinstance(network, ipaddress.IPv4Network):
        return subnet.subnet_of(network)
    if isinstance(subnet, ipaddress.IPv6Network) and isinstance(network, ipaddress.IPv6Network):
        return subnet.subnet_of(network)
    return False


class AksNetwork(Strict):
    """Azure CNI overlay: nodes get addresses from the node subnet; pods get theirs from `pod_cidr`,
    a private range outside the virtual network (so there is no pod subnet), and services from
    `service_cidr`."""

    vnet_cidr: Cidr
    """The virtual network's address space."""
    node_subnet_cidr: Cidr
    """The nodes' subnet, inside `vnet_cidr`."""
    pod_cidr: Cidr
    """Forces replacement of the cluster (AKS changes `podCidr` only at creation)."""
    service_cidr: Cidr
    """Forces replacement of the cluster (AKS changes `serviceCidr` only at creation)."""
    dns_service_ip: IpAddress
    """Forces replacement of the cluster (AKS changes `dnsServiceIP` only at creation)."""

    @model_validator(mode="after")
    def _ranges_fit(self):
        problems = []
        if not _inside(self.node_subnet_cidr, self.vnet_cidr):
            problems.append(("node_subnet_cidr", f"{self.node_subnet_cidr} must lie inside vnet_cidr {self.vnet_cidr}"))
        problems += overlapping_ranges({"vnet_cidr": self.vnet_cidr, "pod_cidr": self.pod_cidr, "service_cidr": self.service_cidr})
        services = ipaddress.ip_network(self.service_cidr)
        dns = ipaddress.ip_address(self.dns_service_ip)
        if dns not in services:
            problems.append(("dns_service_ip", f"{self.dns_service_ip} must lie inside service_cidr {self.service_cidr}"))
        elif dns == services.network_address or (services.version == 4 and dns == services.broadcast_address):
            problems.append(("dns_service_ip", f"{self.dns_service_ip} is not a host address of service_cidr {self.service_cidr}; "
                                               f"use one such as {services.network_address + 10}"))
        elif dns == services.network_address + 1:
            # Kubernetes gives the first address of the service range to the `kubernetes` API Service
            # (k8s.io/kubernetes pkg/controlplane ServiceIPRange: GetIndexedIP(range, 1)); AKS documents
            # that dnsServiceIP must not be the first address of serviceCidr.
            problems.append(("dns_service_ip", f"{self.dns_service_ip} is the first address of service_cidr, which Kubernetes gives "
                                               f"to the API server's Service; use another, such as {services.network_address + 10}"))
        check(problems)
        return self


class ApiServer(Strict):
    """How the Kubernetes API server is reached: private, or public behind authorized ranges."""

    public: bool = False
    """A public endpoint (not in prod); otherwise the API server is private to the virtual network."""
    authorized_ranges: list[Cidr] = []
    """The only networks a public API server answers."""

    @model_validator(mode="after")
    def _exposure(self, info: ValidationInfo):
        problems = []
        if self.public and _environment(info) == "prod":
            problems.append(("public", "prod must not expose the API server publicly; set `public: false`"))
        if self.public and not self.authorized_ranges:
            problems.append(("authorized_ranges", "a public API server needs authorized ranges; list the CIDRs allowed to reach it"))
        if not self.public and self.authorized_ranges:
            problems.append(("authorized_ranges", "a private API server takes no authorized ranges; remove them or set `public: true`"))
        for index, cidr in enumerate(self.authorized_ranges):
            if ipaddress.ip_network(cidr).prefixlen == 0:
                problems.append(
                    (
                        f"authorized_ranges[{index}]",
                        f"{cidr} opens the API server to the whole internet; list only the networks that administer the cluster",
                    )
                )
        check(problems)
        return self


class MaintenanceWindow(Strict):
    """The weekly window for Kubernetes auto-upgrades and node OS image upgrades."""

    day: Weekday = "Sunday"
    """The weekday the window opens."""
    start_hour: int = Field(default=2, ge=0, le=23)
    """Hour the window opens, at `utc_offset`."""
    duration_hours: int = Field(default=4, ge=4, le=24)
    """How long the window stays open (AKS needs at least 4 hours)."""
    utc_offset: Annotated[str, matching(r"^[+-](0[0-9]|1[0-4]):(00|30|45)$", "a UTC offset such as `+05:30` or `-07:00`")] = "+00:00"
    """The offset `start_hour` is given in (e.g. `+05:30` for India, `+08:00` for Singapore)."""


class WorkingHours(Strict):
    """When a non-prod cluster runs. Outside these hours a schedule stops it (as `az aks stop` does:
    control plane and nodes go away, every Kubernetes object and volume is kept) and starts it again
    at `start_hour`, so an idle cluster costs little more than its disks."""

    time_zone: str = Field(default="UTC", min_length=1)
    """A Windows time zone name, as Azure schedules take it (e.g. `Singapore Standard Time`)."""
    days: list[Weekday] = Field(default=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], min_length=1)
    """Days the cluster runs; on the others it stays stopped."""
    start_hour: int = Field(default=8, ge=0, le=23)
    """Hour the cluster starts, in `time_zone`."""
    stop_hour: int = Field(default=20, ge=0, le=23)
    """Hour the cluster stops, in `time_zone`, after `start_hour`."""

    @model_validator(mode="after")
    def _start_before_stop(self):
        if self.stop_hour <= self.start_hour:
            check([("stop_hour", f"must be later than start_hour ({self.stop_hour} <= {self.start_hour})")])
        return self


_KEY_VAULT_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"
_KEY_VAULT_SECRET = r"^[0-9a-zA-Z-]{1,127}$"
_RESOURCE_GROUP = r"^[-\w.()]{1,89}[-\w()]$"


class DockerHubCredentials(Strict):
    """The Docker Hub account the registry's cache pulls with, as two secrets in a Key Vault that uses
    Azure RBAC: Azure Container Registry caches Docker Hub only with credentials (a credential set),
    and reads them from Key Vault with the credential set's own identity, which the program grants
    "Key Vault Secrets User" on exactly these two secrets. Nothing secret is in the stack file."""

    key_vault_id: Annotated[str, matching(_KEY_VAULT_ID, "a Key Vault resource ID (`/subscriptions/<id>/resourceGroups/<group>/"
                                                         "providers/Microsoft.KeyVault/vaults/<name>`)")]
    """The Key Vault holding the two secrets (`az keyvault show --name <vault> --query id`)."""
    username_secret: Annotated[str, matching(_KEY_VAULT_SECRET, "a Key Vault secret name (letters, digits and '-')")]
    """The secret holding the Docker Hub user name."""
    token_secret: Annotated[str, matching(_KEY_VAULT_SECRET, "a Key Vault secret name (letters, digits and '-')")]
    """The secret holding a Docker Hub personal access token (read-only public repositories is enough)."""


class ContainerRegistry(Strict):
    """The Azure Container Registry every image of the stack is pulled from: the teams' own images, and
    every upstream image of the platform through a cache rule per upstream registry (`<name>.azurecr.io/
    quay.io/...` pulls `quay.io/...` once and keeps it). The kubelet identity holds AcrPull on it.

    Created with the cluster, or `existing_resource_group` names one that exists: then the program only
    grants AcrPull, and the registry's owner keeps its cache rules (docs/aks.md lists them)."""

    name: Annotated[str, matching(r"^[a-zA-Z0-9]{5,50}$", "an Azure Container Registry name: 5-50 letters and digits")]
    """Globally unique; the images' registry is `<name>.azurecr.io`, which is also the stack's approved registry
    (the policy pack's and the config's). Forces replacement of the registry and everything cached in it."""
    existing_resource_group: Annotated[str, matching(_RESOURCE_GROUP, "a resource group name")] | None = None
    """Use the registry of this name in this resource group (same subscription) instead of creating one."""
    sku: Literal["Basic", "Standard", "Premium"] = "Standard"
    """The service tier. Artifact cache works on every tier; a private endpoint needs `Premium`."""
    private_endpoint: bool = False
    """Reach the registry only through a private endpoint in the cluster's node subnet (public network
    access off, `privatelink.azurecr.io` linked to the virtual network); required in prod."""
    docker_hub: DockerHubCredentials | None = None
    """The Docker Hub account of the `docker.io` cache rule; required when the registry is created,
    since the catalogue's images include Docker Hub ones."""

    @property
    def login_server(self) -> str:
        """The registry host images name."""
        return f"{self.name.lower()}.azurecr.io"

    @model_validator(mode="after")
    def _tier_and_credentials(self, info: ValidationInfo):
        problems = []
        if self.existing_resource_group is not None:
            for field in sorted({"sku", "private_endpoint", "docker_hub"} & self.model_fields_set):
                problems.append((field, "applies only to a registry this stack creates; remove it, or remove existing_resource_group"))
            check(problems)
            return self
        if self.private_endpoint and self.sku != "Premium":
            problems.append(("sku", f"a private endpoint needs the `Premium` tier, not `{self.sku}`"))
        if _environment(info) == "prod" and not self.private_endpoint:
            problems.append(("private_endpoint", "prod pulls its images over a private endpoint; set `private_endpoint: true` and "
                                                 "`sku: Premium`"))
        if self.docker_hub is None and "docker.io" in catalogue.upstream_registries():
            problems.append(("docker_hub", "Azure Container Registry caches Docker Hub images only with credentials, and the "
                                           "platform's images include Docker Hub ones; store a Docker Hub user name and access token in "
                                           "a Key Vault and name them here (docs/aks.md)"))
        check(problems)
        return self


# Its admission policy on team Ingresses (catalogue.MIN_KUBERNETES_MINOR).
SERVES_THE_PLATFORM = kubernetes_at_least(
    catalogue.MIN_KUBERNETES_MINOR, "choose a later version (the platform's admission policies need admissionregistration.k8s.io/v1)"
)


class Aks(Strict):
    """A hardened AKS cluster in one Azure region."""

    kind: Literal["aks"]
    region: str
    """The Azure region. Forces replacement of every Azure resource of the stack (their `location`)."""
    kubernetes_version: Annotated[
        str, matching(r"^1\.[0-9]+(\.[0-9]+)?$", "an AKS Kubernetes version such as `1.33` or `1.33.2`"), SERVES_THE_PLATFORM
    ]
    """Of the control plane and every node pool; `1.33` takes AKS's latest patch of it."""
    sku_tier: Literal["Free", "Standard", "Premium"] = "Free"
    """The AKS pricing tier; prod needs `Standard` (the API server's uptime SLA)."""
    network: AksNetwork
    """The virtual network and the cluster's address ranges."""
    api_server: ApiServer = ApiServer()
    """How the API server is reached."""
    registry: ContainerRegistry
    """The container registry the cluster pulls every image from."""
    admin_group_ids: list[Annotated[str, matching(_GUID, "an Entra ID object ID (a GUID)")]] = Field(min_length=1)
    """Entra ID object IDs of the groups that administer the cluster through Azure RBAC. Forces
    replacement of their role assignments (a role assignment's principal is create-only)."""
    preview_principal_id: Annotated[str, matching(_GUID, "an Entra ID object ID (a GUID)")] | None = None
    """The Entra ID object ID of the merge-request preview identity's service principal (the one behind
    `PREVIEW_AZURE_CLIENT_ID`; `az ad sp show --id <client id> --query id`). It gets the program's
    preview role on the stack's resource group: exactly the two POST actions a preview calls, the
    cluster's user kubeconfig and the storage account's keys (docs/aks.md). None: no preview grant."""
    upgrade_channel: Literal["patch", "stable", "rapid", "node-image"] = "patch"
    """AKS's automatic Kubernetes upgrades, run in the maintenance window."""
    node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged"] = "NodeImage"
    """AKS's automatic node OS updates, run in the maintenance window."""
    maintenance: MaintenanceWindow = MaintenanceWindow()
    """When the automatic upgrades run."""
    defender: bool = False
    """Microsoft Defender for Containers threat detection, reporting to the cluster's workspace."""
    azure_policy: bool = True
    """The Azure Policy add-on (Gatekeeper), which enforces the subscription's policy assignments."""
    log_retention_days: int = Field(default=30, ge=30, le=730)
    """How long the Log Analytics workspace keeps control-plane audit logs and Defender findings."""
    working_hours: WorkingHours | None = None
    """Stop the cluster outside these hours (not allowed in prod)."""
    kubelogin_mode: Literal["azurecli", "workloadidentity", "spn"] = "azurecli"
    """How the program's Kubernetes provider signs in through kubelogin (see docs/aks.md)."""
    allowed_vm_sizes: list[str] = Field(min_length=1)
    """The VM sizes node pools may use (the profiles set them per environment)."""
    node_pools: dict[str, AksNodePool] = Field(min_length=1)
    """The node pools by name (one `mode: System`). A renamed pool is a new pool (forces replacement)."""

    @model_validator(mode="after")
    def _cluster_rules(self, info: ValidationInfo):
        problems = []
        if not _AZURE_REGION.fullmatch(self.region):
            problems.append(("region", f"`{self.region}` is not an Azure region name (e.g. `centralindia`, `southeastasia`)"))
        if _environment(info) == "prod" and self.sku_tier == "Free":
            problems.append(("sku_tier", "prod needs the `Standard` tier (financially backed API server SLA)"))
        if _environment(info) == "prod" and not self.defender:
            problems.append(("defender", "prod needs Microsoft Defender threat detection; set `defender: true`"))
        if _environment(info) == "prod" and not self.azure_policy:
            problems.append(("azure_policy", "prod needs the Azure Policy add-on; set `azure_policy: true`"))
        if _environment(info) == "prod" and self.working_hours is not None:
            problems.append(("working_hours", "prod runs around the clock; remove `working_hours`"))
        for name, pool in self.node_pools.items():
            if not _AKS_POOL_NAME.fullmatch(name):
                problems.append((f"node_pools.{name}", "an AKS pool name is 1-12 lower-case letters and digits, starting with a letter"))
            if pool.vm_size not in self.allowed_vm_sizes:
                problems.append(
                    (f"node_pools.{name}.vm_size", f"`{pool.vm_size}` is not in allowed_vm_sizes ({', '.join(self.allowed_vm_sizes)})")
                )
        if sum(pool.mode == "System" for pool in self.node_pools.values()) != 1:
            problems.append(("node_pools", "declare exactly one pool with `mode: System`"))
        check(problems)
        return self


def entra_group_problems(key: str, groups: list[str]) -> list[tuple[str, str]]:
    """Group subjects of Kubernetes RBAC on AKS that are not Entra ID object IDs, each at `key[index]`.

    With AKS-managed Entra ID the token's `groups` claim carries the groups' object IDs, and Kubernetes
    RBAC compares subject names with those literally, so a binding to a display name grants nothing
    (AKS stopped accepting display names for new clusters: Azure/AKS#515)."""
    return [
        (
            f"{key}[{index}]",
            f"`{group}` is not an Entra ID group object ID: on AKS a token carries its groups' object IDs and Kubernetes RBAC "
            f"matches those, so a binding to a group's name grants nothing; find the ID with "
            f"`az ad group show --group {group} --query id --output tsv`",
        )
        for index, group in enumerate(groups)
        if not _ENTRA_OBJECT_ID.fullmatch(group)
    ]


# --- Rancher RKE2 --------------------------------------------------------------------------------


class MachinePool(Strict):
    """A pool of RKE2 nodes with the given roles, registered as custom nodes.

    On premises the VMs come from the data centre's own automation, not from a Rancher node driver:
    it creates `quantity` machines of this size and runs the pool's registration command (the
    `nodeRegistration` stack output, secret) on each, which joins them with these roles, labels and
    taints.
    """

    quantity: int = Field(ge=0, le=100)
    """Machines in the pool."""
    roles: list[Literal["etcd", "controlplane", "worker"]] = Field(min_length=1)
    """The RKE2 roles each machine joins with."""
    cpu: int = Field(default=4, ge=1)
    """vCPUs per machine (for the data centre's automation and the chargeback estimate)."""
    memory_gi: int = Field(default=16, ge=1)
    """Memory per machine."""
    disk_gi: int = Field(default=100, ge=20)
    """Disk per machine."""
    taints: list[Taint] = []
    """Node taints, `key=value:Effect`."""
    labels: KubernetesLabels = {}
    """Node labels."""


class EtcdRestore(Strict):
    """Restore the cluster's etcd from one of its snapshots (docs/runbooks/disaster-recovery.md).

    Rancher restores when `generation` is higher than the last restore's, so a restore is one
    reviewed change: name the snapshot and raise the generation.
    """

    snapshot: str = Field(min_length=1)
    """The snapshot's name as Rancher lists it (`kubectl get etcdsnapshots -n fleet-default` on the
    Rancher server)."""
    generation: int = Field(ge=1)
    """Raise it above the last restore's to restore again."""
    restore_rke_config: Literal["none", "kubernetesVersion", "all"] = "none"
    """What else to roll back with etcd: nothing, the Kubernetes version, or the whole RKE config."""


class EtcdSnapshots(Strict):
    """Scheduled etcd snapshots, kept on the etcd nodes and shipped to the site's S3 bucket."""

    schedule: Schedule = "0 */6 * * *"
    """Cron schedule of the snapshots (RKE2 reads it with the same robfig/cron parser as a CronJob's)."""
    retention: int = Field(default=28, ge=1)
    """Snapshots kept."""
    restore: EtcdRestore | None = None
    """Set to restore a snapshot; leave it in the file afterwards, as the record of the last restore."""


class RancherNetwork(Strict):
    """The data-centre network the nodes live in, and the cluster's pod and service ranges.

    Within a site the three ranges are disjoint; across the sites of an environment they are too,
    because replication (databases, registry, event streams) connects the two clusters directly.
    """

    node_cidr: Cidr
    """The data-centre network the machines have their addresses in."""
    cluster_cidr: Cidr
    """The pods' range."""
    service_cidr: Cidr
    """The Services' range."""

    @model_validator(mode="after")
    def _disjoint(self):
        check(overlapping_ranges({"node_cidr": self.node_cidr, "cluster_cidr": self.cluster_cidr, "service_cidr": self.service_cidr}))
        return self


# A Kubernetes object name (RFC 1123 subdomain), which MetalLB's IPAddressPool names are.
_OBJECT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# MetalLB's annotation asking a LoadBalancer Service for an address from one IPAddressPool
# (MetalLB >= 0.13; `metallb.universe.tf/address-pool` is its deprecated older name).
METALLB_POOL_ANNOTATION = "metallb.io/address-pool"


class SiteLoadBalancer(Strict):
    """The load balancer the site's cluster already runs, which gives LoadBalancer Services (the
    ingress controller's) their addresses. A prerequisite, like the machines and DNS: the program
    does not install it (docs/runbooks/disaster-recovery.md, *Before you need this page*). Without
    it the ingress controller's Service never gets an address and the first `up` waits for one
    until the chart's timeout fails it."""

    provider: Literal["metallb"]
    """MetalLB (0.13 or newer), configured with IPAddressPool resources in its namespace."""
    address_pool: Annotated[str, matching(_OBJECT_NAME, "an IPAddressPool name such as `internal` (lower-case letters, digits, '-', '.')")]
    """The MetalLB IPAddressPool on the data centre's internal network that the ingress controller's
    address comes from (a pool of addresses reachable only from inside, when
    `services.ingress.internal_load_balancer` is true)."""

    def annotations(self) -> dict[str, str]:
        """What a LoadBalancer Service carries to get its address from this pool."""
        return {METALLB_POOL_ANNOTATION: self.address_pool}


_GROUP_PRINCIPAL = re.compile(r"^[a-z]+_group://")
_REGISTRY_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+(:[0-9]+)?$")
_HARBOR_PROJECT = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*$")


class Rancher(Strict):
    """An RKE2 cluster in one data centre, managed by a Rancher server."""

    kind: Literal["rancher"]
    server_url: HttpUrl
    """The Rancher server. Its API token comes from the environment (`RANCHER_TOKEN_KEY`), never from
    a stack file."""
    data_centre: str = Field(min_length=1)
    """The data centre the site is in; the cluster is named `<environment>-<data_centre>` in Rancher.
    Forces replacement of the RKE2 cluster (a ClusterV2's name is create-only)."""
    kubernetes_version: Annotated[
        str, matching(r"^v1\.[0-9]+\.[0-9]+\+rke2r[0-9]+$", "an RKE2 version such as `v1.33.5+rke2r1`"), SERVES_THE_PLATFORM
    ]
    """The RKE2 release the cluster runs; Rancher upgrades the nodes when it changes."""
    cni: Literal["canal", "calico", "cilium"] = "canal"
    """The RKE2 CNI; each of these enforces NetworkPolicies (flannel alone would not)."""
    network: RancherNetwork
    """The node network and the cluster's address ranges."""
    machine_pools: dict[str, MachinePool] = Field(min_length=1)
    """The machine pools by name; together they cover the etcd, controlplane and worker roles."""
    etcd_snapshots: EtcdSnapshots = EtcdSnapshots()
    """Snapshot schedule, retention and restore."""
    group_principal: str
    """How Rancher names a directory group: a principal ID with `{group}` where the group's name goes,
    e.g. `activedirectory_group://CN={group},OU=Groups,DC=example,DC=com` or
    `openldap_group://cn={group},ou=groups,dc=example,dc=com`. Forces replacement of the project and
    cluster role bindings (their group principal is create-only)."""
    registry_mirrors: dict[str, str] = {}
    """Upstream registries pulled through the site's Harbor: registry host -> Harbor proxy-cache
    project (e.g. `docker.io: dockerhub`)."""
    load_balancer: SiteLoadBalancer
    """The site's load balancer and the address pool the ingress controller uses: a prerequisite the
    data centre runs (the program does not install it)."""
    bootstrap: bool = False
    """A new site's first `up` (docs/runbooks/disaster-recovery.md, *A new site's first `up`*): create
    the cluster in Rancher and its registration commands (the `nodeRegistration` output) and nothing
    that needs running nodes, so `up` finishes instead of waiting for machines that cannot register
    before it has. Register the machines, then remove this key and run `up` again: that one waits
    until the cluster is active and builds everything on it."""

    @model_validator(mode="after")
    def _pools_cover_roles(self):
        roles = {role for pool in self.machine_pools.values() if pool.quantity > 0 for role in pool.roles}
        missing = {"etcd", "controlplane", "worker"} - roles
        problems = []
        if missing:
            problems.append(("machine_pools", f"no pool with nodes has the role(s) {', '.join(sorted(missing))}"))
        etcd_nodes = sum(pool.quantity for pool in self.machine_pools.values() if "etcd" in pool.roles)
        if etcd_nodes and etcd_nodes % 2 == 0:
            problems.append(("machine_pools", f"etcd needs an odd number of members for quorum, not {etcd_nodes}"))
        if not _GROUP_PRINCIPAL.match(self.group_principal) or self.group_principal.count("{group}") != 1:
            problems.append(
                (
                    "group_principal",
                    f"`{self.group_principal}` is not a group principal template; write it as `<provider>_group://...{{group}}...`, e.g. `activedirectory_group://CN={{group}},OU=Groups,DC=example,DC=com`",
                )
            )
        for host, project in self.registry_mirrors.items():
            if not _REGISTRY_HOST.fullmatch(host):
                problems.append((f"registry_mirrors.{host}", f"`{host}` is not a registry host name (e.g. `docker.io`)"))
            if not _HARBOR_PROJECT.fullmatch(project):
                problems.append(
                    (f"registry_mirrors.{host}", f"`{project}` is not a Harbor project name (lower-case letters, digits, '.', '_' and '-')")
                )
        check(problems)
        return self


# --- no cloud ------------------------------------------------------------------------------------


class Render(Strict):
    """No cluster: every Kubernetes object is written as YAML under `directory`."""

    kind: Literal["render"]
    directory: str = ""
    """Defaults to rendered/<stack>, relative to the project."""
    load_balancer: SiteLoadBalancer | None = None
    """The load balancer of the cluster the rendered manifests are for, when the ingress controller's
    internal address comes from a MetalLB pool; none: its LoadBalancer Service asks for no particular
    pool (the policy pack refuses it where the environment wants internal load balancers)."""

    @model_validator(mode="before")
    @classmethod
    def _default_directory(cls, data, info: ValidationInfo):
        if isinstance(data, dict) and not data.get("directory"):
            return {**data, "directory": f"rendered/{(info.context or {}).get('stack', 'local')}"}
        return data


class Existing(Strict):
    """A cluster that exists already, reached with a kubeconfig given as a Pulumi secret."""

    kind: Literal["existing"]
    kubeconfig: Secret
    """The kubeconfig's content, as a Pulumi secret."""
    context: str | None = None
    """The kubeconfig context to use; none: its current context."""
    load_balancer: SiteLoadBalancer | None = None
    """The cluster's load balancer, when the ingress controller's internal address comes from a
    MetalLB pool; none: its LoadBalancer Service asks for no particular pool (the policy pack refuses
    it where the environment wants internal load balancers)."""


Infrastructure = Annotated[Aks | Rancher | Render | Existing, Field(discriminator="kind")]
