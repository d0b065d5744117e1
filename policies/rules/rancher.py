"""Rancher RKE2 clusters (`rancher2` ClusterV2) back up etcd and start secure.

etcd snapshots are on, scheduled and retained (`minSnapshotRetention`) on the nodes and in S3;
they are shipped to S3 (`s3Config` with bucket and an endpoint given as `host[:port]`, which is
what RKE2's S3 client takes) with the keys of a Rancher cloud credential (`cloudCredentialName`),
never with keys inline in the machine config; the default Pod Security Admission template is
`rancher-restricted`; network policy is enabled, and no machine runs a CNI that does not enforce
NetworkPolicies (`flannel`, `none`) or turns enforcement off (`disable-network-policy`) - neither
in `machineGlobalConfig` nor in a per-machine override (`machineSelectorConfigs[].config`).
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from ..lib.spec import PolicySpec
from ..lib.values import Undecided, flag, is_unknown, num, obj, seq, text

CLUSTER_V2 = "rancher2:index/clusterV2:ClusterV2"
# RKE2 server settings that would put S3 keys in the cluster spec (and the Pulumi state) in clear.
INLINE_S3_KEYS = ("etcd-s3-access-key", "etcd-s3-secret-key", "etcd-s3-session-token")


def _check(messages: list, ok, message) -> None:
    """Appends `message` (a string, or a function of nothing) when `ok()` is false; an unknown
    value makes the check undecided."""
    try:
        if not ok():
            messages.append(message() if callable(message) else message)
    except Undecided:
        pass


def _machine_config(value) -> dict:
    """An RKE2 config (`machineGlobalConfig`, `machineSelectorConfigs[].config`): a YAML string on
    the wire, or a mapping; {} when absent or unreadable."""
    if value is None:
        return {}
    if is_unknown(value):
        raise Undecided
    try:
        parsed = yaml.safe_load(value) if value.__class__ is str else value
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _cni(config: dict) -> str:
    """The CNI an RKE2 config deploys, lower case; multus is only a meta-plugin in front of the
    real one ("multus,canal"), so it is skipped. '' when the config does not choose one."""
    value = config.get("cni")
    items = value if isinstance(value, list) else [value]
    names = [part.strip().lower() for item in items if item is not None for part in str(item).split(",") if part.strip()]
    if names[:1] == ["multus"] and len(names) > 1:
        names = names[1:]
    return names[0] if names else ""


def _truthy(value) -> bool:
    return value is True or (value.__class__ is str and value.strip().lower() == "true")


def _endpoint_host(endpoint: str) -> str:
    """`host[:port]` of an endpoint written as a URL (`https://s3.example.com:9000/x`)."""
    rest = endpoint.split("://", 1)[1] if "://" in endpoint else endpoint
    return rest.split("/", 1)[0]


def _retained(value, minimum) -> bool:
    if is_unknown(value):
        raise Undecided
    return value is not None and value is not True and value is not False and isinstance(value, (int, float)) and value >= minimum


def _selector_config(selector: object) -> Callable[[], dict]:
    """The RKE2 config a machine selector entry sets, read when its check runs."""
    return lambda: _machine_config((obj(selector) or {}).get("config"))


def rancher_problems(type_token: str, props: dict, config: dict) -> list[str]:
    messages: list[str] = []
    rke = lambda: obj(props.get("rkeConfig")) or {}  # noqa: E731
    etcd = lambda: obj(rke().get("etcd")) or {}  # noqa: E731
    s3 = lambda: obj(etcd().get("s3Config"))  # noqa: E731
    _check(
        messages,
        lambda: flag(etcd().get("disableSnapshots")) is not True,
        "etcd snapshots are disabled; remove rkeConfig.etcd.disableSnapshots",
    )
    _check(
        messages,
        lambda: bool(text(etcd().get("snapshotScheduleCron")).strip()),
        'etcd snapshots are not scheduled; set rkeConfig.etcd.snapshotScheduleCron (e.g. "0 */6 * * *")',
    )
    minimum = config.get("minSnapshotRetention", 5)
    _check(
        messages,
        lambda: _retained(etcd().get("snapshotRetention"), minimum),
        f"etcd snapshot retention is not set or below {num(minimum)}; set rkeConfig.etcd.snapshotRetention to "
        f"{num(minimum)} or more",
    )
    # RKE2 prunes the snapshots in S3 by their own count (etcd-s3-retention); without s3Config the
    # message below applies instead.
    _check(
        messages,
        lambda: s3() is None or _retained((s3() or {}).get("retention"), minimum),
        f"etcd snapshot retention in S3 is not set or below {num(minimum)}; set rkeConfig.etcd.s3Config.retention to "
        f"{num(minimum)} or more",
    )
    _check(
        messages,
        lambda: bool(s3()) and bool(text((s3() or {}).get("bucket"))) and bool(text((s3() or {}).get("endpoint"))),
        "etcd snapshots stay on the nodes; set rkeConfig.etcd.s3Config with bucket, endpoint and "
        "cloudCredentialName so they survive the loss of the cluster",
    )
    _check(
        messages,
        lambda: s3() is None or bool(text((s3() or {}).get("cloudCredentialName")).strip()),
        "etcd snapshots in S3 have no credential; set rkeConfig.etcd.s3Config.cloudCredentialName to a Rancher S3 "
        "cloud credential (the id of a rancher2 CloudCredential)",
    )
    endpoint = lambda: text((s3() or {}).get("endpoint")).strip()  # noqa: E731
    _check(
        messages,
        lambda: "://" not in endpoint() and "/" not in endpoint(),
        lambda: f'rkeConfig.etcd.s3Config.endpoint "{endpoint()}" is not host[:port]; RKE2\'s S3 client takes no scheme '
        f'or path, set it to "{_endpoint_host(endpoint())}"',
    )

    # The RKE2 configs in the spec: the global one and each per-machine override, which Rancher
    # merges over the global one for the machines it selects. Each is judged on the keys it sets.
    places: list[tuple[str, Callable[[], dict]]] = [
        ("rkeConfig.machineGlobalConfig", lambda: _machine_config(rke().get("machineGlobalConfig"))),
    ]
    try:
        selectors = seq(rke().get("machineSelectorConfigs"))
    except Undecided:
        selectors = ()
    for index, selector in enumerate(selectors):
        places.append((f"rkeConfig.machineSelectorConfigs[{index}].config", _selector_config(selector)))

    for where, machine in places:
        _check(
            messages,
            lambda machine=machine: not any(key in machine() for key in INLINE_S3_KEYS),
            lambda where=where, machine=machine: f"{where} holds etcd S3 keys inline "
            f"({', '.join(key for key in INLINE_S3_KEYS if key in machine())}); remove them and set "
            "rkeConfig.etcd.s3Config.cloudCredentialName to a Rancher S3 cloud credential",
        )
    template = config.get("podSecurityTemplate", "rancher-restricted")
    _check(
        messages,
        lambda: text(props.get("defaultPodSecurityAdmissionConfigurationTemplateName")) == template,
        f'cluster does not enforce Pod Security by default; set defaultPodSecurityAdmissionConfigurationTemplateName: "{template}"',
    )
    _check(
        messages,
        lambda: flag(props.get("enableNetworkPolicy")) is True,
        "network policy is not enabled; set enableNetworkPolicy: true",
    )
    for where, machine in places:
        _check(
            messages,
            lambda machine=machine: _cni(machine()) not in ("none", "flannel"),
            f'the CNI in {where} does not enforce NetworkPolicies; use "canal", "calico" or "cilium"',
        )
        _check(
            messages,
            lambda machine=machine: not _truthy(machine().get("disable-network-policy")),
            f"{where} turns NetworkPolicy enforcement off; remove disable-network-policy",
        )
    return messages


POLICY = PolicySpec(
    name="rancher-cluster-hardening",
    description="Rancher RKE2 clusters ship scheduled etcd snapshots to S3 with a cloud credential, keep enough of "
    "them, default to the restricted Pod Security template and enforce network policies on every machine.",
    kind="resource",
    check=rancher_problems,
    applies_to=lambda t: t == CLUSTER_V2,
    config_schema={
        "minSnapshotRetention": {
            "type": "integer",
            "minimum": 1,
            "default": 5,
            "description": "Minimum number of etcd snapshots to keep, on the nodes and in S3.",
        },
        "podSecurityTemplate": {
            "type": "string",
            "default": "rancher-restricted",
            "description": "Pod Security Admission configuration template the cluster must default to.",
        },
    },
)
