"""The instances teams declare (PostgreSQL clusters, Redis failovers, RabbitMQ clusters, Kafka's
clients): the network policy each instance's pods need, and which workloads are its clients."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.teams import Team
from stacks.shared_services import SHARED_SERVICES

from ..kit.network import ANYWHERE, KUBE_API_PORTS, namespace_selector, tcp
from ..labels import LABEL_PREFIX


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
        name,
        metadata=metadata,
        spec={"podSelector": {"matchLabels": pod_labels}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
        opts=opts,
    )


def clients_of(team: Team, service: str, instance: str) -> list[dict[str, str]]:
    """Pod selectors of the team's workloads that declare they use `instance` of `service`; the
    same labels the workload components select their pods by."""
    return [
        {"app.kubernetes.io/name": workload.name, f"{LABEL_PREFIX}/team": team.name}
        for workload in team.workloads
        if any(
            uses.service == service and (uses.instance or SHARED_SERVICES[service].default_instance) == instance for uses in workload.uses
        )
    ]
