"""NetworkPolicy building blocks shared by every namespace of the platform."""

from __future__ import annotations

from typing import Any

DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
# The API server's address is not a pod; operators reach it (and object storage) over HTTPS: 443
# behind the `kubernetes` Service on AKS, 6443 on RKE2 nodes (policies see the destination after the
# Service's address translation).
KUBE_API_PORTS = (443, 6443)
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]


def namespace_selector(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def from_namespace(namespace: str, pod_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A NetworkPolicy peer: pods of `namespace` (those with `pod_labels`, or all)."""
    peer = namespace_selector(namespace)
    if pod_labels:
        peer["podSelector"] = {"matchLabels": pod_labels}
    return peer


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def default_deny() -> dict[str, Any]:
    """No ingress, no egress: every namespace's first policy; the others each allow one thing."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def allow_dns() -> dict[str, Any]:
    """Every pod of the namespace may ask the cluster's DNS."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{**namespace_selector(DNS_NAMESPACE), "podSelector": {"matchLabels": DNS_POD_LABELS}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }],
    }


def allow_egress_outside_the_cluster(ports: list[int]) -> dict[str, Any]:
    """Every pod of the namespace may reach IPv4 addresses on `ports`: an object storage endpoint and
    the API server have no stable in-cluster selector."""
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(*ports)}]}
