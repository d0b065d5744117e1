"""Grafana dashboards as code: JSON models built from the stack's config, one platform overview and
one dashboard per team, provisioned by Grafana's dashboard sidecar from labelled ConfigMaps.

Every query names a metric that exists upstream, and a panel exists only for a service the stack runs:

- kube-state-metrics: `kube_node_status_condition`, `kube_node_status_allocatable`,
  `kube_resourcequota`, `kube_pod_container_status_restarts_total`,
  `kube_statefulset_status_replicas_ready` / `kube_statefulset_replicas`;
- cAdvisor and the kubelet: `container_cpu_usage_seconds_total`,
  `container_memory_working_set_bytes`, `kubelet_volume_stats_used_bytes` /
  `kubelet_volume_stats_capacity_bytes`;
- Prometheus itself: `up`, `ALERTS` (also without Alertmanager, in `reduced` monitoring);
- ingress-nginx: `nginx_ingress_controller_requests` (labels `host`, `status`),
  `nginx_ingress_controller_request_duration_seconds_bucket`;
- cert-manager: `certmanager_certificate_expiration_timestamp_seconds`;
- Velero: `velero_backup_last_successful_timestamp` (label `schedule`);
- Kafka (Strimzi's JMX exporter rules): `kafka_server_replicamanager_underreplicatedpartitions`;
- PostgreSQL (Patroni's own metrics endpoint in every Spilo pod): `patroni_xlog_location`,
  `patroni_xlog_replayed_location`, `patroni_replica`;
- Loki: a team's log lines by their `namespace` label; Tempo: a TraceQL search by the span's
  `k8s.namespace.name` resource attribute.

Every metric and log line carries the `site` label (the central view on a primary holds every
site's; a site's own series get it from Prometheus's default scrape class, metrics.py), so each
dashboard has a `site` variable listing every site; its "All" value is `.*`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from stacks.model.services import Services
from stacks.model.teams import Team

from ..kit.parts import INSTANCE_LABEL, InstanceRow
from ..services.backup import SCHEDULE as BACKUP_SCHEDULE
from ..services.parts import PARTS
from .common import LOGGING_NAMESPACE, MONITORING_NAMESPACE, SITE_LABEL, TRACING_NAMESPACE

# Grafana 13's dashboard JSON model: the newest schemaVersion of its migration table (V43,
# formatTime -> convertFieldType, in grafana/grafana apps/dashboard/pkg/migration/schemaversion).
SCHEMA_VERSION = 43
DASHBOARD_LABEL = "grafana_dashboard"  # what the sidecar selects (kube-prometheus-stack labels its own the same)
DASHBOARD_LABEL_VALUE = "1"
FOLDER_ANNOTATION = "grafana_folder"  # relative folder names only: the sidecar writes below its own directory
OVERVIEW_UID = "platform-overview"

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TEMPO = {"type": "tempo", "uid": "tempo"}

SITE = f'{SITE_LABEL}=~"$site"'


def shared_services(services: Services) -> list[tuple[str, str]]:
    """(name, namespace) of every shared service the stack runs (its part's `health`), then the
    observability stack's own, whose targets' `up` shows its health."""
    wanted = [(getattr(services, part.service).enabled, *part.health) for part in PARTS] + [
        (services.monitoring.enabled, "prometheus", MONITORING_NAMESPACE),
        (services.logging.enabled, "loki", LOGGING_NAMESPACE),
        (services.tracing.enabled, "tempo", TRACING_NAMESPACE),
    ]
    return [(service, namespace) for enabled, service, namespace in wanted if enabled]


# --- building blocks -----------------------------------------------------------------------------


class _Layout:
    """Panels placed left to right on a 24-column grid, each panel with the next id."""

    def __init__(self):
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_height = 0

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_height = 0, self.y + 1, 0


def prometheus(expr: str, legend: str, ref: str = "A", instant: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {"datasource": PROMETHEUS, "refId": ref, "expr": expr, "legendFormat": legend, "range": not instant}
    if instant:
        target["instant"] = True
        target["format"] = "table"
    return target


def _panel(kind: str, title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = "",
           thresholds: list[tuple[float | None, str]] | None = None, options: dict[str, Any] | None = None,
           datasource: dict[str, str] = PROMETHEUS) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
        "options": options or {},
    }


def timeseries(title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = "") -> dict[str, Any]:
    return _panel(
        "timeseries",
        title,
        targets,
        unit,
        description,
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def stat(title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = "",
         thresholds: list[tuple[float | None, str]] | None = None) -> dict[str, Any]:
    return _panel(
        "stat",
        title,
        targets,
        unit,
        description,
        thresholds,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
        },
    )


def table(title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = "") -> dict[str, Any]:
    return _panel("table", title, targets, unit, description, options={"showHeader": True})


def site_variable() -> dict[str, Any]:
    return {
        "type": "query",
        "name": "site",
        "label": "Site",
        "datasource": PROMETHEUS,
        "query": {"query": f"label_values(up, {SITE_LABEL})", "refId": "site"},
        "definition": f"label_values(up, {SITE_LABEL})",
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, tags: list[str], panels: list[dict[str, Any]], links: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "refresh": "1m",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "templating": {"list": [site_variable()]},
        "links": links or [],
        "panels": panels,
    }


def targets_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every query of a dashboard, rows' nested panels included."""
    found = []
    for panel in model["panels"]:
        found.extend(panel.get("targets", []))
        for nested in panel.get("panels", []):
            found.extend(nested.get("targets", []))
    return found


# --- the platform overview -----------------------------------------------------------------------


def platform_overview(services: Services) -> dict[str, Any]:
    """Sites, nodes and capacity, storage, alerts, each shared service's health, and a row per
    service the stack runs (ingress traffic, certificates, backups, Kafka, PostgreSQL)."""
    layout = _Layout()

    layout.row("Cluster")
    layout.add(stat("Sites reporting", [prometheus(f"count(count by ({SITE_LABEL}) (up{{{SITE}}}))", "sites", instant=True)],
                    description="Sites whose metrics reach this Prometheus (the central view receives every site's)."), 4, 4)
    layout.add(stat("Nodes ready", [
        prometheus(f'sum(kube_node_status_condition{{condition="Ready", status="true", {SITE}}})', "ready", instant=True),
    ]), 4, 4)
    layout.add(stat("Firing alerts", [
        prometheus(f'sum by (severity) (ALERTS{{alertstate="firing", {SITE}}})', "{{severity}}", instant=True),
    ], thresholds=[(None, "green"), (1, "red")]), 8, 4)
    layout.add(table("Metrics by site", [prometheus(f"count by ({SITE_LABEL}) (up{{{SITE}}})", "{{site}}", instant=True)],
                     description="Scrape targets per site; a site missing here has stopped reporting."), 8, 4)
    layout.add(
        timeseries(
            "CPU used vs allocatable",
            [
                prometheus(
                    f'sum by ({SITE_LABEL}) (rate(container_cpu_usage_seconds_total{{container!="", image!="", {SITE}}}[5m]))',
                    "used {{site}}",
                ),
                prometheus(f'sum by ({SITE_LABEL}) (kube_node_status_allocatable{{resource="cpu", {SITE}}})', "allocatable {{site}}"),
            ],
            unit="cores",
        ),
        12,
        8,
    )
    layout.add(timeseries("Memory used vs allocatable", [
        prometheus(f'sum by ({SITE_LABEL}) (container_memory_working_set_bytes{{container!="", image!="", {SITE}}})', "used {{site}}"),
        prometheus(f'sum by ({SITE_LABEL}) (kube_node_status_allocatable{{resource="memory", {SITE}}})', "allocatable {{site}}"),
    ], unit="bytes"), 12, 8)
    layout.add(table("Persistent volume claims by use", [prometheus(
        f"topk(20, max by ({SITE_LABEL}, namespace, persistentvolumeclaim) ("
        f"kubelet_volume_stats_used_bytes{{{SITE}}} / kubelet_volume_stats_capacity_bytes{{{SITE}}}))",
        "{{namespace}}/{{persistentvolumeclaim}}", instant=True)], unit="percentunit"), 24, 8)

    layout.row("Shared services")
    health = [
        prometheus(f'sum(up{{namespace="{namespace}", {SITE}}}) / count(up{{namespace="{namespace}", {SITE}}})', service, instant=True)
        for service, namespace in shared_services(services)
    ]
    layout.add(stat("Targets up per shared service", health, unit="percentunit",
                    description="The share of each service's scrape targets that answer (1 = all up).",
                    thresholds=[(None, "red"), (0.99, "green")]), 24, 5)

    if services.ingress.enabled:
        layout.row("Ingress")
        requests = f"nginx_ingress_controller_requests{{{SITE}}}"
        layout.add(
            timeseries("Request rate by host", [prometheus(f"sum by (host) (rate({requests}[5m]))", "{{host}}")], unit="reqps"), 8, 8
        )
        layout.add(timeseries("5xx error ratio by host", [prometheus(
            f'sum by (host) (rate(nginx_ingress_controller_requests{{status=~"5..", {SITE}}}[5m])) / sum by (host) (rate({requests}[5m]))',
            "{{host}}")], unit="percentunit"), 8, 8)
        layout.add(timeseries("Latency p95 by host", [prometheus(
            f"histogram_quantile(0.95, sum by (host, le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{{{SITE}}}[5m])))",
            "{{host}}")], unit="s"), 8, 8)

    if services.cert_manager.enabled or services.backup.enabled or services.kafka.enabled or services.postgres.enabled:
        layout.row("Certificates, backups and data")
    if services.cert_manager.enabled:
        layout.add(
            table(
                "Days until certificate expiry",
                [
                    prometheus(
                        f"sort((certmanager_certificate_expiration_timestamp_seconds{{{SITE}}} - time()) / 86400)",
                        "{{namespace}}/{{name}}",
                        instant=True,
                    )
                ],
                unit="d",
                description="cert-manager renews 30 days before expiry; a certificate under 21 days is failing to renew.",
            ),
            6,
            8,
        )
    if services.backup.enabled:
        layout.add(stat("Time since the last successful backup", [prometheus(
            f'time() - max by ({SITE_LABEL}) (velero_backup_last_successful_timestamp{{schedule="{BACKUP_SCHEDULE}", {SITE}}})',
            "{{site}}", instant=True)], unit="s", thresholds=[(None, "green"), (26 * 3600, "red")],
            description="The daily Velero schedule; over 26 hours means a run was missed or failed."), 6, 8)
    if services.kafka.enabled:
        layout.add(stat("Kafka under-replicated partitions", [prometheus(
            f"sum by ({SITE_LABEL}) (kafka_server_replicamanager_underreplicatedpartitions{{{SITE}}})", "{{site}}", instant=True)],
            thresholds=[(None, "green"), (1, "red")]), 6, 8)
    if services.postgres.enabled:
        # WAL the leader has written that a replica has not replayed yet (the rule PostgresReplicationLag's measure).
        layout.add(timeseries("PostgreSQL replication lag", [prometheus(
            f"max by (namespace, {INSTANCE_LABEL}) (patroni_xlog_location{{{SITE}}}) - on (namespace, {INSTANCE_LABEL}) group_right () "
            f"(patroni_xlog_replayed_location{{{SITE}}} and on (namespace, pod) (patroni_replica{{{SITE}}} == 1))",
            "{{namespace}}/{{pod}}")], unit="bytes"), 6, 8)

    links = [{"title": "Teams", "type": "dashboards", "tags": ["team"], "asDropdown": True, "includeVars": True, "keepTime": True}]
    return dashboard(OVERVIEW_UID, "Platform overview", ["platform"], layout.panels, links)


# --- one per team --------------------------------------------------------------------------------


def host_pattern(hosts: list[str]) -> str:
    """A PromQL regex (inside a double-quoted string) that matches exactly these hosts."""
    return "|".join(re.escape(host).replace("\\", "\\\\") for host in hosts)


def team_hosts(team: Team) -> list[str]:
    return sorted({workload.host for workload in team.workloads if workload.kind == "api"})


def team_uid(team: str) -> str:
    return f"team-{team}"


def traces_link(namespace: str) -> dict[str, Any]:
    """Explore on Tempo, searching the namespace's traces with TraceQL."""
    pane = {"a": {
        "datasource": TEMPO["uid"],
        "queries": [{"refId": "A", "datasource": TEMPO, "queryType": "traceql", "query": f'{{resource.k8s.namespace.name="{namespace}"}}'}],
        "range": {"from": "now-1h", "to": "now"},
    }}
    return {
        "title": f"Traces of {namespace}",
        "type": "link",
        "icon": "external link",
        "url": f"/explore?schemaVersion=1&orgId=1&panes={quote(json.dumps(pane, separators=(',', ':')), safe='')}",
        "targetBlank": False,
    }


def team_dashboard(services: Services, team: Team) -> dict[str, Any]:
    """The team's namespace against its quota, restarts, its hosts' ingress traffic, its data
    services' readiness, its logs and a link to its traces; every query is scoped to the team."""
    ns = f'namespace="{team.name}", {SITE}'
    layout = _Layout()

    layout.row("Capacity")
    layout.add(timeseries("CPU used vs quota", [
        prometheus(f'sum(rate(container_cpu_usage_seconds_total{{container!="", image!="", {ns}}}[5m]))', "used"),
        prometheus(f'sum(kube_resourcequota{{resource="requests.cpu", type="used", {ns}}})', "requested"),
        prometheus(f'sum(kube_resourcequota{{resource="limits.cpu", type="hard", {ns}}})', "quota"),
    ], unit="cores"), 12, 8)
    layout.add(timeseries("Memory used vs quota", [
        prometheus(f'sum(container_memory_working_set_bytes{{container!="", image!="", {ns}}})', "used"),
        prometheus(f'sum(kube_resourcequota{{resource="requests.memory", type="used", {ns}}})', "requested"),
        prometheus(f'sum(kube_resourcequota{{resource="limits.memory", type="hard", {ns}}})', "quota"),
    ], unit="bytes"), 12, 8)
    layout.add(timeseries("Container restarts per hour", [
        prometheus(f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]))", "{{pod}}"),
    ]), 24, 7)

    hosts = team_hosts(team)
    if services.ingress.enabled and hosts:
        layout.row("Ingress")
        by_host = f'host=~"{host_pattern(hosts)}", {SITE}'
        layout.add(
            timeseries(
                "Request rate",
                [prometheus(f"sum by (host) (rate(nginx_ingress_controller_requests{{{by_host}}}[5m]))", "{{host}}")],
                unit="reqps",
            ),
            8,
            8,
        )
        layout.add(timeseries("5xx error ratio", [prometheus(
            f'sum by (host) (rate(nginx_ingress_controller_requests{{status=~"5..", {by_host}}}[5m])) '
            f"/ sum by (host) (rate(nginx_ingress_controller_requests{{{by_host}}}[5m]))", "{{host}}")], unit="percentunit"), 8, 8)
        layout.add(
            timeseries(
                "Latency p95",
                [
                    prometheus(
                        "histogram_quantile(0.95, sum by (host, le) "
                        f"(rate(nginx_ingress_controller_request_duration_seconds_bucket{{{by_host}}}[5m])))",
                        "{{host}}",
                    )
                ],
                unit="s",
            ),
            8,
            8,
        )

    instances = data_service_instances(services, team)
    if instances:
        layout.row("Data services")
        layout.add(
            stat(
                "Ready replicas per instance",
                [
                    prometheus(
                        f'sum(kube_statefulset_status_replicas_ready{{namespace="{namespace}", statefulset="{statefulset}", {SITE}}}) '
                        f'/ sum(kube_statefulset_replicas{{namespace="{namespace}", statefulset="{statefulset}", {SITE}}})',
                        label,
                        instant=True,
                    )
                    for label, namespace, statefulset in instances
                ],
                unit="percentunit",
                thresholds=[(None, "red"), (0.99, "green")],
                description="The share of each instance's replicas that are ready (1 = all ready).",
            ),
            24,
            5,
        )

    if services.logging.enabled:
        layout.row("Logs")
        layout.add(
            _panel(
                "logs",
                "Logs",
                [{"datasource": LOKI, "expr": f'{{namespace="{team.name}", {SITE}}}', "queryType": "range"}],
                datasource=LOKI,
                options={"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True},
            ),
            24,
            12,
        )

    links = [
        {
            "title": "Platform overview",
            "type": "dashboards",
            "tags": ["platform"],
            "asDropdown": False,
            "includeVars": True,
            "keepTime": True,
        }
    ]
    if services.tracing.enabled:
        links.append(traces_link(team.name))
    return dashboard(team_uid(team.name), f"Team {team.name}", ["team", team.name], layout.panels, links)


def data_service_instances(services: Services, team: Team) -> list[InstanceRow]:
    """(label, namespace, StatefulSet) of each data-service instance the team declares, as each
    service names its StatefulSets (its part's `instances`)."""
    return [
        row for part in PARTS if part.instances is not None and getattr(services, part.service).enabled for row in part.instances(team)
    ]


def dashboards_for(services: Services, teams: list[Team]) -> dict[str, dict[str, Any]]:
    """Every dashboard the stack provisions, by uid: the overview first, then one per team."""
    models = {OVERVIEW_UID: platform_overview(services)}
    for team in teams:
        models[team_uid(team.name)] = team_dashboard(services, team)
    return models
