"""AKS clusters are hardened (azure-native `containerservice` ManagedCluster and AgentPool).

Everywhere: Microsoft Entra ID integration with Azure RBAC, local accounts disabled, Kubernetes
RBAC on, a network policy engine, an auto-upgrade channel (the node OS channel must not be
`None`/`Unmanaged`), no public node IPs, the OIDC issuer with workload identity, and no API server
range open to the whole internet. In prod also: a private API server or authorized IP ranges,
Microsoft Defender and the Azure Policy add-on.
"""

from __future__ import annotations

from ..lib.spec import ENVIRONMENT, PolicySpec
from ..lib.values import Undecided, flag, is_unknown, name_of, obj, seq, text

MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"


def _check(messages: list, ok, message: str) -> None:
    """Appends `message` unless `ok()` holds; an unknown value leaves it undecided."""
    try:
        if not ok():
            messages.append(message)
    except Undecided:
        pass


def _enabled(section, key: str = "enabled") -> bool:
    section = obj(section)
    return bool(section) and flag(section.get(key)) is True


def _addon(props: dict, name: str) -> dict | None:
    for key, value in (obj(props.get("addonProfiles")) or {}).items():
        if key.lower() == name:
            return obj(value)
    return None


def _public_pools(props: dict) -> list[str]:
    return [
        name_of(pool)
        for pool in seq(props.get("agentPoolProfiles"))
        if pool.__class__ is dict and flag(pool.get("enableNodePublicIP")) is True
    ]


def aks_problems(type_token: str, props: dict, config: dict) -> list[str]:
    messages: list[str] = []
    if type_token == AGENT_POOL:
        _check(
            messages,
            lambda: flag(props.get("enableNodePublicIP")) is not True,
            "agent pool gives its nodes public IPs; set enableNodePublicIP: false and reach nodes through the cluster network",
        )
        return messages
    prod = config.get("environment", "prod") == "prod"
    aad = lambda: obj(props.get("aadProfile")) or {}  # noqa: E731
    _check(
        messages,
        lambda: flag(aad().get("managed")) is True,
        "cluster is not integrated with Microsoft Entra ID; set aadProfile.managed: true",
    )
    _check(
        messages,
        lambda: flag(aad().get("enableAzureRBAC")) is True,
        "cluster does not use Azure RBAC for Kubernetes authorization; set aadProfile.enableAzureRBAC: true",
    )
    _check(
        messages,
        lambda: flag(props.get("enableRBAC")) is not False,
        "cluster disables Kubernetes RBAC; set enableRBAC: true",
    )
    _check(
        messages,
        lambda: flag(props.get("disableLocalAccounts")) is True,
        "cluster keeps local accounts (a static admin credential); set disableLocalAccounts: true",
    )
    access = lambda: obj(props.get("apiServerAccessProfile")) or {}  # noqa: E731
    ranges = lambda: [text(r) for r in seq(access().get("authorizedIPRanges")) if not is_unknown(r)]  # noqa: E731
    _check(
        messages,
        lambda: not any(r in ("0.0.0.0/0", "::/0") for r in ranges()),
        "API server authorizedIPRanges include 0.0.0.0/0; list only the networks that administer the cluster",
    )
    if prod:
        _check(
            messages,
            lambda: flag(access().get("enablePrivateCluster")) is True or bool(ranges()),
            "API server is public; set apiServerAccessProfile.enablePrivateCluster: true or restrict "
            "apiServerAccessProfile.authorizedIPRanges",
        )
    network = lambda: obj(props.get("networkProfile")) or {}  # noqa: E731
    _check(
        messages,
        lambda: text(network().get("networkPolicy")) not in ("", "none"),
        'cluster has no network policy engine, so NetworkPolicies are not enforced; set networkProfile.networkPolicy '
        'to "azure", "calico" or "cilium"',
    )
    upgrade = lambda: obj(props.get("autoUpgradeProfile")) or {}  # noqa: E731
    _check(
        messages,
        lambda: text(upgrade().get("upgradeChannel")) not in ("", "none"),
        'cluster does not upgrade automatically; set autoUpgradeProfile.upgradeChannel (e.g. "patch" or "stable")',
    )
    _check(
        messages,
        lambda: text(upgrade().get("nodeOSUpgradeChannel")) not in ("None", "Unmanaged"),
        'node OS images are not updated; set autoUpgradeProfile.nodeOSUpgradeChannel to "NodeImage" or "SecurityPatch"',
    )
    try:
        pools = _public_pools(props)
    except Undecided:
        pools = []
    if pools:
        messages.append(
            f"agent pool profiles {', '.join(pools)} give nodes public IPs; set enableNodePublicIP: false"
        )
    security = lambda: obj(props.get("securityProfile")) or {}  # noqa: E731
    _check(
        messages,
        lambda: _enabled(props.get("oidcIssuerProfile")) and _enabled(security().get("workloadIdentity")),
        "workload identity is off; set oidcIssuerProfile.enabled: true and securityProfile.workloadIdentity.enabled: "
        "true so pods use federated identities instead of secrets",
    )
    if prod:
        _check(
            messages,
            lambda: _enabled((obj(security().get("defender")) or {}).get("securityMonitoring")),
            "Microsoft Defender is off; set securityProfile.defender.securityMonitoring.enabled: true (with "
            "logAnalyticsWorkspaceResourceId)",
        )
        _check(
            messages,
            lambda: _enabled(_addon(props, "azurepolicy")),
            "the Azure Policy add-on is off; set addonProfiles.azurepolicy.enabled: true",
        )
    return messages


POLICY = PolicySpec(
    name="aks-hardening",
    description="AKS clusters use Entra ID and Azure RBAC, no local accounts, private or restricted API access in "
    "prod, network policy, auto-upgrades, no public node IPs, workload identity, and Defender plus Azure Policy in prod.",
    kind="resource",
    check=aks_problems,
    applies_to=lambda t: t in (MANAGED_CLUSTER, AGENT_POOL),
    config_schema={"environment": ENVIRONMENT},
)
