"""What every operator-run service shares: a namespace of its own (Pod Security restricted,
default-deny networking), its chart at the pinned version, images from the approved registry, and
the placement of data-service pods on the database node pool."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.model import Rancher, Render, StackConfig

from stacks import catalogue
from stacks.catalogue import ChartRef
from ..labels import LABEL_PREFIX, kubernetes_labels
from stacks.shared_services import SHARED_SERVICES

DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
# The API server's address is not a pod; operators reach it (and object storage) over HTTPS.
KUBE_API_PORTS = (443, 6443)
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]


# --- images from the approved registry ------------------------------------------------------------


def registry_for(config: StackConfig, upstream: str) -> str:
    """Where the stack pulls images published on `upstream` (`quay.io`, `docker.io`, ...):

    - a site with its own Harbor and a proxy-cache project for that registry
      (`infrastructure.registry_mirrors`): `<harbor>/<project>`;
    - otherwise the first approved registry (`policy.allowed_registries`), which mirrors upstream
      images under the upstream host name (an ACR cache rule `quay.io/*`, say):
      `<registry>/<upstream>`;
    - with no approved registry configured, the upstream registry itself.
    """
    infrastructure = config.infrastructure
    registry = config.services.registry
    if isinstance(infrastructure, Rancher) and registry.enabled and registry.hostname and upstream in infrastructure.registry_mirrors:
        return f"{registry.hostname}/{infrastructure.registry_mirrors[upstream]}"
    if config.policy.allowed_registries:
        return f"{config.policy.allowed_registries[0].rstrip('/')}/{upstream}"
    return upstream


def mirrored(config: StackConfig, image: str) -> str:
    """A full upstream image reference (`quay.io/strimzi/operator:1.2.0`) from the stack's registry."""
    upstream, _, path = image.partition("/")
    return f"{registry_for(config, upstream)}/{path}"


def split_image(image: str) -> tuple[str, str, str]:
    """(registry, repository, tag) of a full image reference."""
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":")
    return registry, repository, tag


# --- pods ------------------------------------------------------------------------------------------


def resources(cpu: str, memory: str) -> dict[str, Any]:
    """Requests equal to limits: the pod is Guaranteed and its quota cost is what it can use."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def restricted_container(run_as: int | None = None) -> dict[str, Any]:
    """A container security context that meets Pod Security `restricted`."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as is not None:
        context["runAsUser"] = run_as
    return context


# The restricted container context with a read-only root file system, for images that allow it.
RESTRICTED_CONTAINER: dict[str, Any] = {**restricted_container(), "readOnlyRootFilesystem": True}


def restricted_pod(run_as: int | None = None, fs_group: int | None = None) -> dict[str, Any]:
    """A pod security context that meets Pod Security `restricted`."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as is not None:
        context["runAsUser"] = run_as
        context["runAsGroup"] = run_as
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def database_tolerations() -> list[dict[str, str]]:
    return [dict(catalogue.DATABASE_NODE_TAINT)]


def database_node_selector() -> dict[str, str]:
    key, value = catalogue.DATABASE_NODE_LABEL
    return {key: value}


def database_node_affinity() -> dict[str, Any]:
    key, value = catalogue.DATABASE_NODE_LABEL
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}]}}


def generates_passwords(config: StackConfig) -> bool:
    """Whether the program generates passwords into Secrets (Redis auth, Grafana's admin): only on
    clusters it deploys to. A render target writes Secrets to files in plain text, so there the
    services run without generated passwords (and workloads get no reference to one)."""
    return not isinstance(config.infrastructure, Render)


def protect(config: StackConfig) -> bool:
    """Stateful instances are protected in prod (policy `stateful-protection`)."""
    return config.environment == "prod"


# --- the operator's namespace ------------------------------------------------------------------------


def pod_security_labels() -> dict[str, str]:
    return {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", catalogue.POD_SECURITY_LEVEL), ("-version", catalogue.POD_SECURITY_VERSION))
    }


def namespace_selector(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


class ServiceNamespace:
    """A platform namespace and its baseline network policies, created under `parent`:

    - the Namespace, enforcing Pod Security `restricted` at the pinned version;
    - `default-deny` (no ingress, no egress), `allow-dns`, and `allow-kube-api` (HTTPS egress: the
      API server, and object storage or ACME for the services that need them);
    - with `internal=True`, `allow-internal`: pods of the namespace talk to each other.

    `policy(role, spec)` adds a NetworkPolicy for what the service itself needs.
    """

    def __init__(self, name: str, namespace: str, config: StackConfig, component: str, opts: pulumi.ResourceOptions, internal: bool = False,
                 enforce: str = catalogue.POD_SECURITY_LEVEL):
        self.name = name
        self.namespace_name = namespace
        self.labels = kubernetes_labels(config, component)
        # `enforce` other than restricted is for the node agents alone (components/observability/common.py);
        # audit and warn stay at restricted everywhere.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": namespace, "labels": {**self.labels, **pod_security_labels(), "pod-security.kubernetes.io/enforce": enforce}},
            opts=opts,
        )
        # Everything else lives in the namespace (fixed name), so it is created after it.
        self.opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.namespace]))
        self.policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        self.policy("allow-dns", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{**namespace_selector(DNS_NAMESPACE), "podSelector": {"matchLabels": DNS_POD_LABELS}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        })
        self.policy("allow-kube-api", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": ANYWHERE, "ports": tcp(*KUBE_API_PORTS)}]})
        if internal:
            self.policy("allow-internal", {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            })

    def metadata(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace_name, "labels": {**self.labels, **(labels or {})}}

    def policy(self, role: str, spec: dict[str, Any]) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(f"{self.name}-{role}", metadata=self.metadata(role), spec=spec, opts=self.opts)


def after(opts: pulumi.ResourceOptions, *resources: pulumi.Resource | None, protected: bool = False) -> pulumi.ResourceOptions:
    """Options for a resource created after `resources` (operator charts, namespaces): custom
    resources need their operator's CRDs, and everything needs its namespace."""
    extra = pulumi.ResourceOptions(depends_on=[r for r in resources if r is not None])
    if protected:
        extra.protect = True
    return pulumi.ResourceOptions.merge(opts, extra)


def instance_network_policy(
    name: str,
    metadata: dict[str, Any],
    pod_labels: dict[str, str],
    *,
    client_ports: tuple[int, ...],
    peer_ports: tuple[int, ...],
    clients: list[dict[str, str]],
    clients_namespace: str | None = None,
    operator_namespace: str,
    operator_ports: tuple[int, ...],
    https_egress: bool,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """The traffic one instance's pods need inside a default-deny namespace: to and from each other
    (replication, elections), from their operator, from exactly the workloads that declare they use
    the instance (`clients`, their pod selectors; in `clients_namespace` when the instance runs
    outside the team namespace), and HTTPS out where the instance talks to the API
    server or object storage."""
    own = {"podSelector": {"matchLabels": pod_labels}}
    ingress = [
        {"from": [own], "ports": tcp(*peer_ports)},
        {"from": [namespace_selector(operator_namespace)], "ports": tcp(*operator_ports)},
    ]
    if clients:
        where = namespace_selector(clients_namespace) if clients_namespace else {}
        ingress.append({"from": [{**where, "podSelector": {"matchLabels": client}} for client in clients], "ports": tcp(*client_ports)})
    egress = [{"to": [own], "ports": tcp(*peer_ports)}]
    if https_egress:
        egress.append({"to": ANYWHERE, "ports": tcp(*KUBE_API_PORTS)})
    return k8s.networking.v1.NetworkPolicy(
        name, metadata=metadata, spec={"podSelector": {"matchLabels": pod_labels}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress}, opts=opts,
    )


def clients_of(team, service: str, instance: str) -> list[dict[str, str]]:
    """Pod selectors of the team's workloads that declare they use `instance` of `service`; the
    same labels the workload components select their pods by."""
    return [
        {"app.kubernetes.io/name": workload.name, f"{LABEL_PREFIX}/team": team.name}
        for workload in team.workloads
        if any(uses.service == service and (uses.instance or SHARED_SERVICES[service].default_instance) == instance for uses in workload.uses)
    ]
