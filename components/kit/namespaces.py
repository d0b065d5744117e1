"""The hardened namespace every namespace of the platform starts from, and the service namespace
the platform's services run in.

`HardenedNamespace` creates, under the options' parent:

- the Namespace, enforcing Pod Security at `enforce` (`restricted` unless a namespace's pods cannot
  meet it, with the reason as an annotation) and auditing and warning at `restricted`, all at the
  pinned version (stacks/catalogue.py), so a cluster upgrade does not move the standard;
- `default-deny` (no ingress, no egress) and `allow-dns`;

and `policy(role, spec)` adds a NetworkPolicy named `role` for what the namespace's pods need. The
team namespaces, the teams' data namespaces, Velero's and Harbor's namespaces and every
`ServiceNamespace` are built from it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue

from .network import ANYWHERE, KUBE_API_PORTS, allow_dns, default_deny, tcp


def pod_security_labels(enforce: str = catalogue.POD_SECURITY_LEVEL) -> dict[str, str]:
    """Pod Security admission labels: enforce `enforce`, audit and warn `restricted`, at the pinned version."""
    levels = {"enforce": enforce, "audit": catalogue.POD_SECURITY_LEVEL, "warn": catalogue.POD_SECURITY_LEVEL}
    return {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode, level in levels.items()
        for suffix, value in (("", level), ("-version", catalogue.POD_SECURITY_VERSION))
    }


class HardenedNamespace:
    """A namespace with Pod Security labels, default-deny and DNS (module docstring)."""

    def __init__(
        self, name: str, namespace: str, labels: dict[str, str], opts: pulumi.ResourceOptions, *,
        enforce: str = catalogue.POD_SECURITY_LEVEL, annotations: dict[str, pulumi.Input[str]] | None = None,
    ):
        self.name = name
        self.namespace_name = namespace
        self.labels = labels
        metadata: dict[str, Any] = {"name": namespace, "labels": {**labels, **pod_security_labels(enforce)}}
        if annotations:
            metadata["annotations"] = annotations
        self.namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=metadata, opts=opts)
        # Everything else lives in the namespace (fixed name), so it is created after it.
        self.opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.namespace]))
        self.policy("default-deny", default_deny())
        self.policy("allow-dns", allow_dns())

    def metadata(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace_name, "labels": {**self.labels, **(labels or {})}}

    def policy(self, role: str, spec: dict[str, Any]) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(f"{self.name}-{role}", metadata=self.metadata(role), spec=spec, opts=self.opts)


class ServiceNamespace(HardenedNamespace):
    """A platform service's namespace: the hardened namespace, and `allow-kube-api` (HTTPS egress:
    the API server, and object storage or ACME for the services that need them); with
    `internal=True` also `allow-internal`: pods of the namespace talk to each other.

    `enforce` other than restricted is for the node agents alone (components/observability/common.py).
    """

    def __init__(self, name: str, namespace: str, labels: dict[str, str], opts: pulumi.ResourceOptions, internal: bool = False,
                 enforce: str = catalogue.POD_SECURITY_LEVEL):
        super().__init__(name, namespace, labels, opts, enforce=enforce)
        self.policy(
            "allow-kube-api", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": ANYWHERE, "ports": tcp(*KUBE_API_PORTS)}]}
        )
        if internal:
            self.policy("allow-internal", {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            })
