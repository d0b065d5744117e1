"""Observability in one place: metrics and alerts, Grafana, central logs with a long-term archive,
and traces, for one site; and the cross-site view a primary receives from its secondaries.

`Observability` composes the parts the stack enables (`services.monitoring`, `.logging`,
`.tracing`); what each part creates is in its own module:

- metrics.py: kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager with the
  configured receivers, kube-state-metrics, node-exporter), monitors for every shared service, the
  platform's alert rules (rules.py), remote-write to the primary and the receiving end on it;
- grafana.py: Grafana with data sources for metrics, logs and traces wired to each other, and
  dashboards provisioned as code (a platform overview and one per team);
- logs.py: Fluent Bit on every node shipping container and audit logs to Loki (search) and to the
  `logs` bucket (archive), Loki on object storage;
- traces.py: the OpenTelemetry Collector endpoint applications send to, and Tempo on object storage.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, SkipValidation

from stacks.model import StackConfig
from stacks.sites import OtherSites

from stacks.chart_sources import ChartSources
from ..services.cert_manager import CertManager
from .common import node_agents_namespace
from .grafana import Grafana, GrafanaArgs
from .logs import Logs, LogsArgs
from .metrics import Metrics, MetricsArgs
from .monitors import Monitors, MonitorsArgs
from .rules import AlertRules, AlertRulesArgs
from .traces import Traces, TracesArgs


class ObservabilityArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    stack: SkipValidation[StackConfig]  # validated once by the loader
    charts: ChartSources
    """The stack's resolved charts; each part installs its own (monitoring, logging, tracing)."""
    other_sites: OtherSites = OtherSites()
    """What the other sites' stack files say about this one (the primary a secondary sends to, the
    secondaries a primary watches)."""
    storage: Any = None
    """The stack's ObjectStorage (None on a render target)."""
    services: list[Any] = []
    """The shared-service components already created; monitors and rules for them come after them."""
    teams: dict[str, Any] = {}
    """The Team components by team name (their namespaces exist once the component is created)."""
    aks: Any = None
    """The AksCluster on AKS stacks: its audit log leaves the cluster through a diagnostic setting."""


class Observability(pulumi.ComponentResource):
    """The parts of observability the stack enables (module docstring)."""

    metrics: Metrics | None = None
    monitors: Monitors | None = None
    alert_rules: AlertRules | None = None
    grafana: Grafana | None = None
    logs: Logs | None = None
    traces: Traces | None = None

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Observability", name, None, opts)
        config = args.stack
        services = config.services
        child = pulumi.ResourceOptions(parent=self)
        self.summary: dict[str, Any] = {}
        # node-exporter and the log agent share the one namespace that may use the node.
        self.node_agents = node_agents_namespace(f"{name}-node-agents", config, child) if services.monitoring.enabled or services.logging.enabled else None

        if services.monitoring.enabled:
            # Prometheus, Alertmanager and the operator; its webhook certificate from cert-manager when the stack runs it.
            cert_manager = next((service for service in args.services if isinstance(service, CertManager)), None)
            self.metrics = Metrics(f"{name}-metrics", MetricsArgs(stack=config, standby=args.other_sites.standby, charts=args.charts.of("monitoring"), node_agents=self.node_agents, cert_manager=cert_manager), child)
            self.summary["metrics"] = self.metrics.summary
            # Monitors and rules after the metrics chart, which serves the monitoring.coreos.com CRDs (None when charts are off).
            monitoring_namespace = self.metrics.namespace.namespace
            self.monitors = Monitors(f"{name}-monitors", MonitorsArgs(stack=config, services=args.services, teams=args.teams, metrics_chart=self.metrics.chart), child)
            self.alert_rules = AlertRules(f"{name}-alert-rules", AlertRulesArgs(stack=config, secondary_sites=args.other_sites.secondaries, after=[self.metrics.chart, monitoring_namespace]), child)
            self.summary.update({"monitors": self.monitors.summary, "alertRules": self.alert_rules.summary})
            # Grafana after the `monitoring` namespace, where its dashboard sidecar gets a Role.
            self.grafana = Grafana(f"{name}-grafana", GrafanaArgs(stack=config, charts=args.charts.of("monitoring"), after=[monitoring_namespace]), child)
            self.summary["grafana"] = self.grafana.summary

        if services.logging.enabled:
            self.logs = Logs(f"{name}-logs", LogsArgs(stack=config, standby=args.other_sites.standby, charts=args.charts.of("logging"), storage=args.storage, node_agents=self.node_agents, aks=args.aks), child)
            self.summary["logs"] = self.logs.summary

        if services.tracing.enabled:
            self.traces = Traces(f"{name}-traces", TracesArgs(stack=config, charts=args.charts.of("tracing"), storage=args.storage, teams=args.teams), child)
            self.summary["traces"] = self.traces.summary
        self.register_outputs({"summary": self.summary})
