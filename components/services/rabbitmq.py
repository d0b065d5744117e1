"""RabbitMQ: the RabbitMQ cluster operator, and a `RabbitmqCluster` per queue a team declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import CertManager as CertManagerSettings
from stacks.model.services import RabbitMQ as RabbitMQSettings
from stacks.model.services import Services
from stacks.model.teams import Queue, Team
from stacks.shared_services import SHARED_SERVICES, Endpoint
from stacks.naming import rabbitmq_statefulset

from ..charts import pinned_chart
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.options import after
from ..kit.parts import INSTANCE_LABEL, SITE_LABEL, Alert, ConnectionSettings, InstanceRow, ServicePart, Target, login_env
from ..kit.placement import database_node_affinity, database_tolerations
from ..kit.security import resources, restricted_container, restricted_pod
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from .instances import clients_of, instance_network_policy

RABBITMQ = SHARED_SERVICES["rabbitmq"]
OPERATOR_SIZE = ("100m", "256Mi")
SETUP_SIZE = ("100m", "128Mi")
MANAGEMENT_PORTS = (15671, 15672)
# Erlang distribution: the port mapper and the inter-node port.
CLUSTER_PORTS = (4369, 25672)


def operator_values(images: ImageSource) -> dict[str, Any]:
    return {
        "clusterOperator": {
            "image": {"registry": images.registry_for("ghcr.io")},
            "resources": resources(*OPERATOR_SIZE),
            "watchAllNamespaces": True,
            # The namespace's own policies (ServiceNamespace) replace the chart's allow-all egress.
            "networkPolicy": {"enabled": False},
        },
        "rabbitmqImage": {"registry": images.registry_for("docker.io")},
        "credentialUpdaterImage": {"registry": images.registry_for("ghcr.io")},
        # Exchanges, queues and users stay the applications' business; no topology CRDs or webhooks.
        "msgTopologyOperator": {"enabled": False},
    }


@dataclass(frozen=True, kw_only=True)
class RabbitMQArgs:
    team: Team
    queue: Queue
    settings: RabbitMQSettings
    identity: StackIdentity
    images: ImageSource
    tls: bool
    """Serve only TLS listeners, with a certificate of the cluster's internal CA (the stack runs cert-manager)."""


class RabbitMQ(pulumi.ComponentResource):
    """A `RabbitmqCluster` named after the queue in the team's namespace: replicas by environment,
    the declared size (requests = limits) and version, a persistent volume per node, restricted
    pods on the database node pool, TLS-only client listeners with a certificate from the platform
    issuer (when the stack runs cert-manager), and the NetworkPolicy its pods need. The operator
    keeps the default user's credentials in the Secret `<queue>-default-user`. Protected in prod."""

    cluster: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:RabbitMQ", name, None, opts)
        team, queue = args.team, args.queue
        service = args.settings
        cpu, memory = catalogue.INSTANCE_SIZES[queue.size]
        labels = {**kubernetes_labels(args.identity, "queue"), f"{LABEL_PREFIX}/team": team.name}
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        restricted = restricted_container()
        spec: dict[str, Any] = {
            "replicas": service.replicas,
            "image": args.images.mirrored(catalogue.RABBITMQ_IMAGES[queue.version or service.version]),
            "resources": resources(cpu, memory),
            "persistence": {"storage": f"{queue.volume_gi or service.volume_gi}Gi"},
            "tolerations": database_tolerations(),
            "affinity": {"nodeAffinity": database_node_affinity()},
            "override": {"statefulSet": {"spec": {"template": {"spec": {
                "securityContext": restricted_pod(),
                "containers": [{"name": "rabbitmq", "securityContext": restricted}],
                "initContainers": [{"name": "setup-container", "securityContext": restricted, "resources": resources(*SETUP_SIZE)}],
            }}}}},
        }
        certificate = None
        if args.tls:
            secret = f"{queue.name}-tls"
            certificate = k8s.apiextensions.CustomResource(
                f"{name}-certificate",
                api_version=catalogue.CERT_MANAGER_API,
                kind="Certificate",
                metadata={"name": secret, "namespace": team.name, "labels": labels},
                spec={
                    "secretName": secret,
                    "dnsNames": [f"{queue.name}.{team.name}.svc", f"{queue.name}.{team.name}.svc.cluster.local"],
                    # `.svc` names: the cluster's own CA, whatever issues the public hosts.
                    "issuerRef": {"name": catalogue.INTERNAL_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
                opts=child,
            )
            spec["tls"] = {"secretName": secret, "disableNonTLSListeners": True}
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=catalogue.RABBITMQ_API,
            kind="RabbitmqCluster",
            metadata={"name": queue.name, "namespace": team.name, "labels": labels},
            spec=spec,
            opts=after(child, certificate, protected=args.identity.production),
        )
        instance_network_policy(
            f"{name}-network",
            {"name": f"{queue.name}-rabbitmq", "namespace": team.name, "labels": labels},
            RABBITMQ.endpoint(team.name, queue.name).pod_labels,
            client_ports=RABBITMQ.ports,
            peer_ports=(*CLUSTER_PORTS, *RABBITMQ.ports),
            clients=clients_of(team, "rabbitmq", queue.name),
            operator_namespace=catalogue.RABBITMQ_OPERATOR_NAMESPACE,
            operator_ports=MANAGEMENT_PORTS,
            # Peer discovery asks the API server for the other nodes.
            https_egress=True,
            opts=child,
        )
        self.register_outputs({"cluster": queue.name})


@dataclass(frozen=True, kw_only=True)
class RabbitMQOperatorArgs:
    settings: RabbitMQSettings
    teams: list[Team]
    """The teams whose `queues` the operator runs."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The rabbitmq part's charts (the cluster operator), resolved by the loader."""
    team_namespaces: dict[str, k8s.core.v1.Namespace]
    issuer: pulumi.Resource | None = None
    """The internal CA's ClusterIssuer, when the stack runs cert-manager: the clusters' TLS certificates."""


class RabbitMQOperator(pulumi.ComponentResource):
    """Creates the `rabbitmq-system` namespace (restricted, default-deny, egress to the management
    API of the clusters it manages), the RabbitMQ cluster operator chart at its pinned version, and
    a `RabbitMQ` for every queue the teams declare, each after the operator (its CRD), the platform
    issuer (its certificate) and the team's namespace."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    clusters: dict[str, RabbitMQ]

    def __init__(self, name: str, args: RabbitMQOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:RabbitMQOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        space = ServiceNamespace(name, catalogue.RABBITMQ_OPERATOR_NAMESPACE, kubernetes_labels(args.identity, "queue-operator"), child)
        self.namespace = space.namespace
        space.policy("allow-clusters", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rabbitmq"}}}],
                "ports": [{"protocol": "TCP", "port": port} for port in MANAGEMENT_PORTS],
            }],
        })
        self.chart = pinned_chart(
            f"{name}-chart",
            catalogue.RABBITMQ_OPERATOR,
            args.charts,
            catalogue.RABBITMQ_OPERATOR_NAMESPACE,
            operator_values(args.images),
            after(child, self.namespace),
        )
        self.clusters = {}
        for team in args.teams:
            for queue in team.queues:
                queue_args = RabbitMQArgs(team=team, queue=queue, settings=args.settings, identity=args.identity, images=args.images,
                                          tls=args.issuer is not None)
                self.clusters[f"{team.name}/{queue.name}"] = RabbitMQ(
                    f"rabbitmq-{team.name}-{queue.name}",
                    queue_args,
                    after(child, self.chart, args.issuer, args.team_namespaces.get(team.name)),
                )
        self.register_outputs({"clusters": sorted(self.clusters)})


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

PROMETHEUS_TLS_PORT = 15691  # rabbitmq_prometheus over TLS (`prometheus-tls`)
PROMETHEUS_PORT = 15692  # rabbitmq_prometheus in clear (`prometheus`)
# Ready messages a RabbitMQ cluster holds before a steady rise is worth a look.
QUEUE_READY_MESSAGES = 1000


def metrics_endpoint(cert_manager: CertManagerSettings, team: str, queue: str) -> tuple[int, dict[str, Any]]:
    """With cert-manager the cluster serves only TLS listeners (above), metrics included: Prometheus
    verifies the certificate against the platform CA in the cluster's own TLS Secret and the Service
    name the certificate is issued for. An ACME issuer's chain is publicly trusted, so the system
    roots verify it and no CA is named."""
    if not cert_manager.enabled:
        return PROMETHEUS_PORT, {}
    tls: dict[str, Any] = {"serverName": f"{queue}.{team}.svc"}
    if cert_manager.issuer.kind != "acme":
        tls["ca"] = {"secret": {"name": f"{queue}-tls", "key": "ca.crt"}}
    return PROMETHEUS_TLS_PORT, {"scheme": "https", "tlsConfig": tls}


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    """rabbitmq_prometheus in every pod of every cluster the teams declare."""
    found = []
    for team in teams:
        for queue in team.queues:
            port, endpoint = metrics_endpoint(services.cert_manager, team.name, queue.name)
            pods = RABBITMQ.endpoint(team.name, queue.name).pod_labels
            found.append(
                Target(
                    "rabbitmq",
                    f"{queue.name}-rabbitmq",
                    team.name,
                    "PodMonitor",
                    pods,
                    port,
                    f"{team.name}/{queue.name}",
                    team.name,
                    endpoint,
                )
            )
    return found


def dashboard_instances(team: Team) -> list[InstanceRow]:
    """The operator names a cluster's StatefulSet `<name>-server`."""
    return [(f"rabbitmq {queue.name}", team.name, rabbitmq_statefulset(queue.name)) for queue in team.queues]


def client_env(settings: ConnectionSettings, prefix: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The address, and the credentials from the operator's `<cluster>-default-user` Secret (the endpoint's)."""
    return login_env(prefix, endpoint)


PART = ServicePart(
    service="rabbitmq",
    component=RabbitMQOperator,
    title="RabbitMQ",
    label="RabbitMQ",
    holds_data=True,
    health=("rabbitmq-operator", catalogue.RABBITMQ_OPERATOR_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "RabbitMQQueueGrowing",
            f"sum by ({SITE_LABEL}, namespace, {INSTANCE_LABEL}) (rabbitmq_queue_messages_ready) > {QUEUE_READY_MESSAGES} "
            f"and sum by ({SITE_LABEL}, namespace, {INSTANCE_LABEL}) (delta(rabbitmq_queue_messages_ready[30m])) > 0",
            "warning",
            "rabbitmq",
            "Messages pile up in {{ $labels." + INSTANCE_LABEL + " }}",
            "{{ $value }} messages are ready and the backlog has grown for 30 minutes: consumers are slower than producers, or "
            "stopped.",
            "30m",
        ),
    ),
    instances=dashboard_instances,
    client_env=client_env,
    volume_claims={
        "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster": (
            ("spec", "persistence", "storage"),
            ("spec", "replicas"),
            ("spec", "persistence", "storageClassName"),
        ),
    },
    stateful_types=("kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",),
)
