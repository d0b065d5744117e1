"""Rancher RKE2 clusters (`rancher2` ClusterV2) back up etcd and start secure.

etcd snapshots are on, scheduled, retained (`minSnapshotRetention`) and shipped to S3; the default
Pod Security Admission template is `rancher-restricted`; network policy is enabled, and the CNI
chosen in `machineGlobalConfig` enforces NetworkPolicies (not `flannel` or `none`).
"""

from __future__ import annotations

import yaml

from ..lib.spec import PolicySpec
from ..lib.values import Undecided, flag, is_unknown, num, obj, text

CLUSTER_V2 = "rancher2:index/clusterV2:ClusterV2"


def _check(messages: list, ok, message: str) -> None:
    try:
        if not ok():
            messages.append(message)
    except Undecided:
        pass


def _cni(props: dict, rke: dict) -> str:
    config = rke.get("machineGlobalConfig")
    if config is None:
        return ""
    if is_unknown(config):
        raise Undecided
    try:
        parsed = yaml.safe_load(text(config)) if config.__class__ is str else config
    except yaml.YAMLError:
        return ""
    cni = parsed.get("cni") if isinstance(parsed, dict) else None
    if isinstance(cni, list):
        cni = ",".join(map(str, cni))
    return str(cni or "").lower()


def rancher_problems(type_token: str, props: dict, config: dict) -> list[str]:
    messages: list[str] = []
    rke = lambda: obj(props.get("rkeConfig")) or {}  # noqa: E731
    etcd = lambda: obj(rke().get("etcd")) or {}  # noqa: E731
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

    def retention_ok():
        value = etcd().get("snapshotRetention")
        if is_unknown(value):
            raise Undecided
        return value is not None and value is not True and value is not False and value >= minimum

    _check(
        messages,
        retention_ok,
        f"etcd snapshot retention is not set or below {num(minimum)}; set rkeConfig.etcd.snapshotRetention to "
        f"{num(minimum)} or more",
    )

    def s3_ok():
        s3 = obj(etcd().get("s3Config"))
        return bool(s3) and bool(text(s3.get("bucket"))) and bool(text(s3.get("endpoint")))

    _check(
        messages,
        s3_ok,
        "etcd snapshots stay on the nodes; set rkeConfig.etcd.s3Config with bucket, endpoint and "
        "cloudCredentialName so they survive the loss of the cluster",
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
    _check(
        messages,
        lambda: _cni(props, rke()) not in ("none", "flannel"),
        'the CNI in rkeConfig.machineGlobalConfig does not enforce NetworkPolicies; use "canal", "calico" or "cilium"',
    )
    return messages


POLICY = PolicySpec(
    name="rancher-cluster-hardening",
    description="Rancher RKE2 clusters ship scheduled etcd snapshots to S3, default to the restricted Pod Security "
    "template and enforce network policies.",
    kind="resource",
    check=rancher_problems,
    applies_to=lambda t: t == CLUSTER_V2,
    config_schema={
        "minSnapshotRetention": {
            "type": "integer",
            "minimum": 1,
            "default": 5,
            "description": "Minimum number of etcd snapshots to keep.",
        },
        "podSecurityTemplate": {
            "type": "string",
            "default": "rancher-restricted",
            "description": "Pod Security Admission configuration template the cluster must default to.",
        },
    },
)
