"""Monitors for every shared service the stack runs, and the network policies that let Prometheus
scrape them.

What `Monitors` creates, for each enabled shared service (monitoring.coreos.com/v1, served by the
kube-prometheus-stack chart of metrics.py, whose Prometheus selects every monitor in every namespace):

| service      | kind           | namespace        | selects                                         | port  |
|--------------|----------------|------------------|-------------------------------------------------|-------|
| ingress      | PodMonitor     | ingress-nginx    | the controller pods                             | 10254 |
| certificates | PodMonitor     | cert-manager     | the controller pods                             | 9402  |
| postgres     | PodMonitor     | `<team>-data`    | one cluster's Spilo pods (Patroni's REST API)   | 8008  |
| redis        | PodMonitor     | `<team>`         | one RedisFailover's Redis pods (the exporter)   | 9121  |
| rabbitmq     | PodMonitor     | `<team>`         | one RabbitmqCluster's pods (rabbitmq_prometheus)| 15691 (TLS) or 15692 |
| kafka        | PodMonitor     | kafka            | the Kafka cluster's pods (JMX exporter)         | 9404  |
| registry     | ServiceMonitor | harbor           | Harbor's Services with a `http-metrics` port    | 8001  |
| backup       | PodMonitor     | velero           | the Velero server pod                           | 8085  |

Pod monitors name the port by number (`portNumber`): Prometheus keeps only targets whose pod
declares that container port, so a monitor never scrapes a port the workload does not serve.
Every target gets the label `platform_service` (the service) and, for instances teams declare,
`platform_instance` (`<team>/<instance>`); the alert rules (rules.py) select by them.

Beside each monitor, an additive NetworkPolicy `allow-prometheus-<monitor>` admits the Prometheus
pods (namespace `monitoring`, `app.kubernetes.io/name: prometheus`) to exactly the monitored pods on
exactly the metrics port; the namespace's default-deny stays in force for everything else.

Every monitor and policy is created after the metrics chart (the CRDs) and after the namespace it
lives in, which the service's component creates (for team instances: the team's namespace, or the
team's data namespace for PostgreSQL), and after the service's own chart. They depend on those
objects, not on the whole service component, whose children differ between sites (a secondary's
Velero has a location on its primary's backups) while the monitors do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.model.services import CertManager as CertManagerSettings
from stacks.model.services import Services
from stacks.model.teams import Team as TeamSettings
from stacks.shared_services import SHARED_SERVICES, postgres_cluster_name, postgres_namespace

from ..access.team import Team
from ..kit.network import namespace_selector
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from ..services.backup import NAMESPACE as VELERO_NAMESPACE
from ..services.backup import Backup
from ..services.cert_manager import CertManager
from ..services.ingress import Ingress
from ..services.kafka import Kafka
from ..services.postgres import PATRONI_PORT, PostgresOperator
from ..services.rabbitmq import RabbitMQOperator
from ..services.redis import RedisOperator
from ..services.registry import NAMESPACE as HARBOR_NAMESPACE
from ..services.registry import Registry
from .common import MONITORING_NAMESPACE

MONITORING_API = catalogue.PROMETHEUS_OPERATOR_API
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
# Target labels the alert rules select by.
SERVICE_LABEL = "platform_service"
INSTANCE_LABEL = "platform_instance"
SCRAPE_INTERVAL = "30s"

# Metrics ports, each the one the service's pods declare (module docstring).
INGRESS_METRICS_PORT = 10254  # ingress-nginx `controller.metrics.port`
CERT_MANAGER_METRICS_PORT = 9402  # cert-manager controller `http-metrics`
REDIS_EXPORTER_PORT = 9121  # Spotahome's redis_exporter sidecar
RABBITMQ_PROMETHEUS_TLS_PORT = 15691  # rabbitmq_prometheus over TLS (`prometheus-tls`)
RABBITMQ_PROMETHEUS_PORT = 15692  # rabbitmq_prometheus in clear (`prometheus`)
KAFKA_METRICS_PORT = 9404  # Strimzi's JMX exporter (`tcp-prometheus`)
HARBOR_METRICS_PORT = 8001  # Harbor chart `metrics.{core,registry,jobservice,exporter}.port`
HARBOR_METRICS_PORT_NAME = "http-metrics"  # the chart's Service port name without internal TLS
VELERO_METRICS_PORT = 8085  # Velero `metrics.port` (`http-monitoring`)

# Selectors for the chart-installed services (the charts' own selector labels).
INGRESS_CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
CERT_MANAGER_CONTROLLER_LABELS = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
HARBOR_LABELS = {"app": "harbor"}
VELERO_LABELS = {"app.kubernetes.io/name": "velero"}
REDIS_ROLE_LABEL = ("app.kubernetes.io/component", "redis")  # Spotahome: Redis pods, not Sentinels

# Which component builds each service: monitors come after its namespace and its chart.
SERVICE_COMPONENTS: dict[str, type[pulumi.ComponentResource]] = {
    "ingress": Ingress,
    "cert_manager": CertManager,
    "postgres": PostgresOperator,
    "redis": RedisOperator,
    "rabbitmq": RabbitMQOperator,
    "kafka": Kafka,
    "registry": Registry,
    "backup": Backup,
}


@dataclass(frozen=True)
class Target:
    """One monitor: what it selects, where, and on which port."""

    service: str  # the config key under `services` (ingress, cert_manager, postgres, ...)
    name: str  # the monitor's name, unique in its namespace
    namespace: str
    kind: str  # PodMonitor or ServiceMonitor
    selector: dict[str, str]
    port: int
    instance: str | None = None  # `<team>/<instance>` for instances teams declare
    team: str | None = None
    endpoint: dict[str, Any] = field(default_factory=dict)  # scheme, TLS, port name


def _rabbitmq_endpoint(cert_manager: CertManagerSettings, team: str, queue: str) -> tuple[int, dict[str, Any]]:
    """With cert-manager the cluster serves only TLS listeners (components/services/rabbitmq.py),
    metrics included: Prometheus verifies the certificate against the platform CA in the cluster's
    own TLS Secret and the Service name the certificate is issued for. An ACME issuer's chain is
    publicly trusted, so the system roots verify it and no CA is named."""
    if not cert_manager.enabled:
        return RABBITMQ_PROMETHEUS_PORT, {}
    tls: dict[str, Any] = {"serverName": f"{queue}.{team}.svc"}
    if cert_manager.issuer.kind != "acme":
        tls["ca"] = {"secret": {"name": f"{queue}-tls", "key": "ca.crt"}}
    return RABBITMQ_PROMETHEUS_TLS_PORT, {"scheme": "https", "tlsConfig": tls}


def targets(services: Services, teams: list[TeamSettings]) -> list[Target]:
    """Every monitor the stack's enabled shared services need, for the teams' instances."""
    found: list[Target] = []
    if services.ingress.enabled:
        found.append(
            Target(
                "ingress",
                "ingress-nginx-controller",
                catalogue.INGRESS_NAMESPACE,
                "PodMonitor",
                INGRESS_CONTROLLER_LABELS,
                INGRESS_METRICS_PORT,
            )
        )
    if services.cert_manager.enabled:
        found.append(
            Target(
                "cert_manager",
                "cert-manager-controller",
                catalogue.CERT_MANAGER_NAMESPACE,
                "PodMonitor",
                CERT_MANAGER_CONTROLLER_LABELS,
                CERT_MANAGER_METRICS_PORT,
            )
        )
    for team in teams:
        if services.postgres.enabled:
            for database in team.databases:
                cluster = postgres_cluster_name(team.name, database.name)
                found.append(
                    Target(
                        "postgres",
                        f"{cluster}-patroni",
                        postgres_namespace(team.name),
                        "PodMonitor",
                        SHARED_SERVICES["postgres"].endpoint(team.name, database.name).pod_labels,
                        PATRONI_PORT,
                        f"{team.name}/{database.name}",
                        team.name,
                    )
                )
        if services.redis.enabled:
            for cache in team.caches:
                key, value = REDIS_ROLE_LABEL
                found.append(
                    Target(
                        "redis",
                        f"{cache.name}-redis",
                        team.name,
                        "PodMonitor",
                        {**SHARED_SERVICES["redis"].endpoint(team.name, cache.name).pod_labels, key: value},
                        REDIS_EXPORTER_PORT,
                        f"{team.name}/{cache.name}",
                        team.name,
                    )
                )
        if services.rabbitmq.enabled:
            for queue in team.queues:
                port, endpoint = _rabbitmq_endpoint(services.cert_manager, team.name, queue.name)
                found.append(
                    Target(
                        "rabbitmq",
                        f"{queue.name}-rabbitmq",
                        team.name,
                        "PodMonitor",
                        SHARED_SERVICES["rabbitmq"].endpoint(team.name, queue.name).pod_labels,
                        port,
                        f"{team.name}/{queue.name}",
                        team.name,
                        endpoint,
                    )
                )
    if services.kafka.enabled:
        found.append(Target("kafka", f"{catalogue.KAFKA_CLUSTER}-kafka", catalogue.KAFKA_NAMESPACE, "PodMonitor",
                            SHARED_SERVICES["kafka"].endpoint("").pod_labels, KAFKA_METRICS_PORT))
    if services.registry.enabled:
        # Harbor's core, registry, jobservice and exporter each serve metrics behind a Service port
        # named `http-metrics`; one ServiceMonitor over the chart's Services finds them all.
        found.append(Target("registry", "harbor", HARBOR_NAMESPACE, "ServiceMonitor", HARBOR_LABELS, HARBOR_METRICS_PORT,
                            endpoint={"port": HARBOR_METRICS_PORT_NAME}))
    if services.backup.enabled:
        found.append(Target("backup", "velero", VELERO_NAMESPACE, "PodMonitor", VELERO_LABELS, VELERO_METRICS_PORT))
    return found


def relabelings(target: Target) -> list[dict[str, str]]:
    labels = {SERVICE_LABEL: target.service}
    if target.instance:
        labels[INSTANCE_LABEL] = target.instance
    return [{"action": "replace", "targetLabel": key, "replacement": value} for key, value in labels.items()]


def monitor_spec(target: Target) -> dict[str, Any]:
    """The PodMonitor or ServiceMonitor spec of `target`: only its own namespace, only its pods."""
    endpoint: dict[str, Any] = {"path": "/metrics", "interval": SCRAPE_INTERVAL, "relabelings": relabelings(target)}
    endpoint.update({key: value for key, value in target.endpoint.items() if key != "port"})
    selection = {"selector": {"matchLabels": dict(target.selector)}, "namespaceSelector": {"matchNames": [target.namespace]}}
    if target.kind == "ServiceMonitor":
        return {**selection, "endpoints": [{"port": target.endpoint["port"], **endpoint}]}
    return {**selection, "podMetricsEndpoints": [{"portNumber": target.port, **endpoint}]}


def prometheus_policy_spec(target: Target) -> dict[str, Any]:
    """Ingress from Prometheus only, to the monitored pods only, on the metrics port only."""
    return {
        "podSelector": {"matchLabels": dict(target.selector)},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{**namespace_selector(MONITORING_NAMESPACE), "podSelector": {"matchLabels": dict(PROMETHEUS_POD_LABELS)}}],
            "ports": [{"protocol": "TCP", "port": target.port}],
        }],
    }


@dataclass(frozen=True, kw_only=True)
class MonitorsArgs:
    services: Services
    """Which services the stack runs; each enabled one gets its monitors."""
    teams: list[TeamSettings]
    """The teams, whose instances get monitors of their own."""
    identity: StackIdentity
    service_components: list[pulumi.ComponentResource] = field(default_factory=list)
    """The shared-service components (components/services/); each monitor comes after its service's."""
    team_components: dict[str, Team] = field(default_factory=dict)
    """The Team components by name; instances in team namespaces come after the team's namespace."""
    metrics_chart: k8s.helm.v4.Chart | None = None
    """The kube-prometheus-stack Chart (it serves the monitoring.coreos.com CRDs), or None when charts are off."""


class Monitors(pulumi.ComponentResource):
    """A monitor and a Prometheus network policy per shared-service target (module docstring)."""

    monitors: dict[str, k8s.apiextensions.CustomResource]
    """By `<namespace>/<name>`."""
    policies: dict[str, k8s.networking.v1.NetworkPolicy]
    summary: dict[str, list[str]]
    """Monitors per service: `{service: ["<namespace>/<kind>/<name>", ...]}`."""

    def __init__(self, name: str, args: MonitorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Monitors", name, None, opts)
        labels = kubernetes_labels(args.identity, "monitoring")
        components = {
            service: next((component for component in args.service_components if isinstance(component, kind)), None)
            for service, kind in SERVICE_COMPONENTS.items()
        }
        self.monitors, self.policies, self.summary = {}, {}, {}
        for target in targets(args.services, args.teams):
            component = components[target.service]
            depends = [args.metrics_chart, getattr(component, "chart", None), self._namespace(target, component, args.team_components)]
            opts_after = pulumi.ResourceOptions(parent=self, depends_on=[resource for resource in depends if resource is not None])
            meta_labels = {**labels, **({f"{LABEL_PREFIX}/team": target.team} if target.team else {})}
            logical = f"{name}-{target.namespace}-{target.name}"
            self.monitors[f"{target.namespace}/{target.name}"] = k8s.apiextensions.CustomResource(
                logical,
                api_version=MONITORING_API,
                kind=target.kind,
                metadata={"name": target.name, "namespace": target.namespace, "labels": meta_labels},
                spec=monitor_spec(target),
                opts=opts_after,
            )
            policy_name = f"allow-prometheus-{target.name}"
            self.policies[f"{target.namespace}/{policy_name}"] = k8s.networking.v1.NetworkPolicy(
                f"{logical}-prometheus",
                metadata={"name": policy_name, "namespace": target.namespace, "labels": meta_labels},
                spec=prometheus_policy_spec(target),
                opts=opts_after,
            )
            self.summary.setdefault(target.service, []).append(f"{target.namespace}/{target.kind}/{target.name}")
        self.register_outputs({"summary": self.summary})

    @staticmethod
    def _namespace(target: Target, component: pulumi.ComponentResource | None, teams: dict[str, Team]) -> pulumi.Resource | None:
        """The Namespace resource the monitor lives in (None where its creator is not part of this program)."""
        if target.service == "postgres":
            data = getattr(component, "data_namespaces", {}).get(target.team)
            return data.namespace if data is not None else None
        if target.team:
            return getattr(teams.get(target.team), "namespace", None)
        return getattr(component, "namespace", None)
