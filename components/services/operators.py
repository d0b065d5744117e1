"""What the operator-run services share beyond the platform kit (components/kit): images from the
approved registry, and the network policy of the instances teams declare."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.model import Rancher, Render, StackConfig
from stacks.shared_services import SHARED_SERVICES

from ..kit.network import ANYWHERE, KUBE_API_PORTS, namespace_selector, tcp
from ..labels import LABEL_PREFIX

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


def generates_passwords(config: StackConfig) -> bool:
    """Whether the program generates passwords into Secrets (Redis auth, Grafana's admin): only on
    clusters it deploys to. A render target writes Secrets to files in plain text, so there the
    services run without generated passwords (and workloads get no reference to one)."""
    return not isinstance(config.infrastructure, Render)


def protect(config: StackConfig) -> bool:
    """Stateful instances are protected in prod (policy `stateful-protection`)."""
    return config.environment == "prod"


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
