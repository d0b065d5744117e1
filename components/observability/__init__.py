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

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from ..labels import StackIdentity
from .common import node_agents_namespace
from .grafana import Grafana, GrafanaArgs
from .logs import Logs, LogsArgs
from .metrics import Metrics, MetricsArgs
from .monitors import Monitors, MonitorsArgs
from .rules import AlertRules, AlertRulesArgs
from .traces import Traces, TracesArgs


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    """The args of each part the stack enables (None: the part is off). The parts come from the
    monitoring section (metrics, monitors, alert rules, Grafana), logging and tracing; this component
    adds what it creates itself: the node agents' namespace, and the metrics chart and namespace the
    monitors, rules and Grafana come after."""

    identity: StackIdentity
    metrics: MetricsArgs | None = None
    monitors: MonitorsArgs | None = None
    alert_rules: AlertRulesArgs | None = None
    grafana: GrafanaArgs | None = None
    logs: LogsArgs | None = None
    traces: TracesArgs | None = None


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
        child = pulumi.ResourceOptions(parent=self)
        self.summary: dict[str, Any] = {}
        # node-exporter and the log agent share the one namespace that may use the node.
        self.node_agents = node_agents_namespace(f"{name}-node-agents", args.identity, child) if args.metrics or args.logs else None

        if args.metrics is not None:
            # Prometheus, Alertmanager and the operator; its webhook certificate from cert-manager when the stack runs it.
            self.metrics = Metrics(f"{name}-metrics", replace(args.metrics, node_agents=self.node_agents), child)
            self.summary["metrics"] = self.metrics.summary
            # Monitors and rules after the metrics chart, which serves the monitoring.coreos.com CRDs (None when charts are off).
            monitoring_namespace = self.metrics.namespace.namespace
            if args.monitors is not None:
                self.monitors = Monitors(f"{name}-monitors", replace(args.monitors, metrics_chart=self.metrics.chart), child)
                self.summary["monitors"] = self.monitors.summary
            if args.alert_rules is not None:
                self.alert_rules = AlertRules(
                    f"{name}-alert-rules", replace(args.alert_rules, after=[self.metrics.chart, monitoring_namespace]), child
                )
                self.summary["alertRules"] = self.alert_rules.summary
            if args.grafana is not None:
                # Grafana after the `monitoring` namespace, where its dashboard sidecar gets a Role.
                self.grafana = Grafana(f"{name}-grafana", replace(args.grafana, after=[monitoring_namespace]), child)
                self.summary["grafana"] = self.grafana.summary

        if args.logs is not None:
            self.logs = Logs(f"{name}-logs", replace(args.logs, node_agents=self.node_agents), child)
            self.summary["logs"] = self.logs.summary

        if args.traces is not None:
            self.traces = Traces(f"{name}-traces", args.traces, child)
            self.summary["traces"] = self.traces.summary
        self.register_outputs({"summary": self.summary})
