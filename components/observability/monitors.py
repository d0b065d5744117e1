"""Monitors for every shared service the stack runs, and the network policies that let Prometheus
scrape them.

What `Monitors` creates, for each enabled shared service (monitoring.coreos.com/v1, served by the
kube-prometheus-stack chart of metrics.py, whose Prometheus selects every monitor in every namespace);
each service declares its own targets (`monitor_targets` in components/services/<service>.py):

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
from stacks.model.services import Services
from stacks.model.teams import Team as TeamSettings

from ..access.team import Team
from ..kit.network import namespace_selector
from ..kit.parts import INSTANCE_LABEL, SERVICE_LABEL, Target
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from ..services.parts import PARTS
from .common import MONITORING_NAMESPACE

MONITORING_API = catalogue.PROMETHEUS_OPERATOR_API
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
SCRAPE_INTERVAL = "30s"


def targets(services: Services, teams: list[TeamSettings]) -> list[Target]:
    """Every monitor the stack's enabled shared services need, for the teams' instances: each
    service's own (its part's `targets`, in components/services/<service>.py)."""
    return [target for part in PARTS if getattr(services, part.service).enabled for target in part.targets(services, teams)]


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
            part.service: next((component for component in args.service_components if isinstance(component, part.component)), None)
            for part in PARTS
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
