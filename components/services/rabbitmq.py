"""RabbitMQ: the RabbitMQ cluster operator, and a `RabbitmqCluster` per queue a team declares."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, SkipValidation

from stacks.model import StackConfig
from stacks.model.teams import Queue, Team
from stacks.shared_services import SHARED_SERVICES

from stacks import catalogue
from ..charts import pinned_chart
from stacks.chart_sources import PartCharts
from ..labels import LABEL_PREFIX, kubernetes_labels
from ..kit.namespaces import ServiceNamespace
from ..kit.options import after
from ..kit.placement import database_node_affinity, database_tolerations
from ..kit.security import resources, restricted_container, restricted_pod
from .operators import clients_of, instance_network_policy, mirrored, protect, registry_for

RABBITMQ = SHARED_SERVICES["rabbitmq"]
OPERATOR_SIZE = ("100m", "256Mi")
SETUP_SIZE = ("100m", "128Mi")
MANAGEMENT_PORTS = (15671, 15672)
# Erlang distribution: the port mapper and the inter-node port.
CLUSTER_PORTS = (4369, 25672)


def operator_values(config: StackConfig) -> dict[str, Any]:
    return {
        "clusterOperator": {
            "image": {"registry": registry_for(config, "ghcr.io")},
            "resources": resources(*OPERATOR_SIZE),
            "watchAllNamespaces": True,
            # The namespace's own policies (ServiceNamespace) replace the chart's allow-all egress.
            "networkPolicy": {"enabled": False},
        },
        "rabbitmqImage": {"registry": registry_for(config, "docker.io")},
        "credentialUpdaterImage": {"registry": registry_for(config, "ghcr.io")},
        # Exchanges, queues and users stay the applications' business; no topology CRDs or webhooks.
        "msgTopologyOperator": {"enabled": False},
    }


class RabbitMQArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    team: Team
    queue: Queue
    stack: SkipValidation[StackConfig]  # validated once by the loader; revalidating reruns every cross-team rule per component


class RabbitMQ(pulumi.ComponentResource):
    """A `RabbitmqCluster` named after the queue in the team's namespace: replicas by environment,
    the declared size (requests = limits) and version, a persistent volume per node, restricted
    pods on the database node pool, TLS-only client listeners with a certificate from the platform
    issuer (when the stack runs cert-manager), and the NetworkPolicy its pods need. The operator
    keeps the default user's credentials in the Secret `<queue>-default-user`. Protected in prod."""

    cluster: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:RabbitMQ", name, None, opts)
        team, queue, stack = args.team, args.queue, args.stack
        service = stack.services.rabbitmq
        cpu, memory = catalogue.INSTANCE_SIZES[queue.size]
        labels = {**kubernetes_labels(stack, "queue"), f"{LABEL_PREFIX}/team": team.name}
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        restricted = restricted_container()
        spec: dict[str, Any] = {
            "replicas": service.replicas,
            "image": mirrored(stack, catalogue.RABBITMQ_IMAGES[queue.version or service.version]),
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
        if stack.services.cert_manager.enabled:
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
            opts=after(child, certificate, protected=protect(stack)),
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


class RabbitMQOperator(pulumi.ComponentResource):
    """Creates the `rabbitmq-system` namespace (restricted, default-deny, egress to the management
    API of the clusters it manages), the RabbitMQ cluster operator chart at its pinned version, and
    a `RabbitMQ` for every queue the teams declare, each after the operator (its CRD), the platform
    issuer (its certificate) and the team's namespace."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    clusters: dict[str, RabbitMQ]

    def __init__(
        self, name: str, config: StackConfig, charts: PartCharts, team_namespaces: dict[str, pulumi.Resource], issuer: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("platform:services:RabbitMQOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        space = ServiceNamespace(name, catalogue.RABBITMQ_OPERATOR_NAMESPACE, kubernetes_labels(config, "queue-operator"), child)
        self.namespace = space.namespace
        space.policy("allow-clusters", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rabbitmq"}}}],
                "ports": [{"protocol": "TCP", "port": port} for port in MANAGEMENT_PORTS],
            }],
        })
        self.chart = pinned_chart(f"{name}-chart", catalogue.RABBITMQ_OPERATOR, charts, catalogue.RABBITMQ_OPERATOR_NAMESPACE, operator_values(config), after(child, self.namespace))
        self.clusters = {}
        for team in config.teams:
            for queue in team.queues:
                self.clusters[f"{team.name}/{queue.name}"] = RabbitMQ(
                    f"rabbitmq-{team.name}-{queue.name}", RabbitMQArgs(team=team, queue=queue, stack=config), after(child, self.chart, issuer, team_namespaces.get(team.name)),
                )
        self.register_outputs({"clusters": sorted(self.clusters)})
