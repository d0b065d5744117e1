"""Which series a query reads, and whether something the stack deploys writes them with the labels
the query uses (DESIGN.md tier 5: "every query reads series something exports").

A series' labels are its exporter's own labels (FAMILIES, each with the upstream source it was read
from) and the labels its way into Prometheus adds:

- scraped through a monitor: the Prometheus operator's target labels (pkg/prometheus/promcfg.go
  v0.93: a PodMonitor adds namespace, container, pod, job, endpoint; a ServiceMonitor also
  service and, for node targets, node; Prometheus adds instance), the monitor's own relabelings
  (read from the inventory) and the default scrape class's relabelings (read from the chart's
  values in the inventory). With `honorLabels: false` an exporter's label that a target label
  also names is kept as `exported_<label>` (Prometheus's honor_labels), so reading `<label>` reads
  the target's value: SHADOWED;
- remote-written (Tempo's metrics-generator): the generator's labels and its external labels.

A query's result labels follow PromQL's evaluation (promql/engine.go resultMetric, aggregations,
absent()), computed from the parser's tree of the query (scripts/checkers.d/go/tree.go): `must` are
labels every result series has, `may` those some have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

from stacks.tools.inventory import Registration
from stacks.model import StackConfig

MONITOR_TYPES = {"kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"}
POD_TARGET = frozenset({"namespace", "container", "pod", "job", "endpoint", "instance"})
SERVICE_TARGET = POD_TARGET | {"service"}


@dataclass(frozen=True)
class Family:
    """A family of series one exporter writes: its own labels and where that was read."""

    producer: str
    labels: frozenset[str]
    source: str


def family(producer: str, labels: Iterable[str], source: str) -> Family:
    return Family(producer, frozenset(labels), source)


KSM = "kube-state-metrics v2.20.0 docs/metrics (the kube-prometheus-stack subchart's appVersion)"
CADVISOR = "cAdvisor through the kubelet's /metrics/cadvisor (container, id, image, name, namespace, pod)"
NGINX = ("ingress-nginx controller-v1.14.1 internal/ingress/metric/collectors/socket.go requestTags "
         "(+ host: --metrics-per-host defaults true)")
NGINX_LABELS = {"status", "method", "path", "namespace", "ingress", "service", "canary", "host",
                "controller_namespace", "controller_class", "controller_pod"}
CERT_MANAGER = "cert-manager v1.20.2 pkg/metrics (certificates_test.go expositions)"
CERT_LABELS = {"name", "namespace", "issuer_name", "issuer_kind", "issuer_group"}
PATRONI = "Patroni v4.1 patroni/api.py metrics: labels scope and name"
TEMPO_SPANS = "Tempo v2.9.0 modules/generator/processor/spanmetrics (default intrinsic dimensions)"
TEMPO_GRAPH = "Tempo v2.9.0 modules/generator/processor/servicegraphs (client, server, connection_type)"
SPAN_LABELS = {"service", "span_name", "span_kind", "status_code"}
GRAPH_LABELS = {"client", "server", "connection_type"}

FAMILIES: dict[str, Family] = {
    "kube_node_status_condition": family("kube-state-metrics", {"node", "condition", "status"}, KSM),
    "kube_node_status_allocatable": family("kube-state-metrics", {"node", "resource", "unit"}, KSM),
    "kube_resourcequota": family("kube-state-metrics", {"namespace", "resourcequota", "resource", "type"}, KSM),
    "kube_pod_container_status_restarts_total": family("kube-state-metrics", {"namespace", "pod", "uid", "container"}, KSM),
    "kube_pod_container_status_waiting_reason": family("kube-state-metrics", {"namespace", "pod", "uid", "container", "reason"}, KSM),
    "kube_statefulset_status_replicas_ready": family("kube-state-metrics", {"namespace", "statefulset"}, KSM),
    "kube_statefulset_replicas": family("kube-state-metrics", {"namespace", "statefulset"}, KSM),
    "container_cpu_usage_seconds_total": family("kubelet", {"container", "id", "image", "name", "namespace", "pod"}, CADVISOR),
    "container_memory_working_set_bytes": family("kubelet", {"container", "id", "image", "name", "namespace", "pod"}, CADVISOR),
    "kubelet_volume_stats_used_bytes": family("kubelet", {"namespace", "persistentvolumeclaim"},
                                              "Kubernetes pkg/kubelet/metrics/collectors/volume_stats.go"),
    "kubelet_volume_stats_capacity_bytes": family("kubelet", {"namespace", "persistentvolumeclaim"},
                                                  "Kubernetes pkg/kubelet/metrics/collectors/volume_stats.go"),
    "node_filesystem_avail_bytes": family("node-exporter", {"device", "mountpoint", "fstype", "device_error"},
                                          "node_exporter v1.12.1 collector/filesystem_common.go filesystemLabelNames"),
    "node_filesystem_size_bytes": family("node-exporter", {"device", "mountpoint", "fstype", "device_error"},
                                         "node_exporter v1.12.1 collector/filesystem_common.go filesystemLabelNames"),
    "nginx_ingress_controller_requests": family("ingress", NGINX_LABELS, NGINX),
    "nginx_ingress_controller_request_duration_seconds_bucket": family("ingress", NGINX_LABELS | {"le"}, NGINX),
    "certmanager_certificate_expiration_timestamp_seconds": family("cert_manager", CERT_LABELS, CERT_MANAGER),
    "certmanager_certificate_ready_status": family("cert_manager", CERT_LABELS | {"condition"}, CERT_MANAGER),
    "patroni_postgres_running": family("postgres", {"scope", "name"}, PATRONI),
    "patroni_xlog_location": family("postgres", {"scope", "name"}, PATRONI),
    "patroni_xlog_replayed_location": family("postgres", {"scope", "name"}, PATRONI),
    "patroni_replica": family("postgres", {"scope", "name"}, PATRONI),
    "redis_up": family("redis", set(), "redis_exporter v1.88 exporter/exporter.go: `up`, a gauge without labels"),
    "rabbitmq_queue_messages_ready": family(
        "rabbitmq", set(), "rabbitmq_prometheus (RabbitMQ 4.1/4.3): /metrics aggregates per node, without per-object labels"),
    "kafka_server_replicamanager_underreplicatedpartitions": family(
        "kafka", set(), "components/services/kafka.py JMX exporter rule `kafka.(\\w+)<type=(.+), name=(.+)><>Value`, no labels"),
    "harbor_up": family("registry", {"component"}, "Harbor v2.14.3 src/pkg/exporter/health_collector.go"),
    "velero_backup_last_successful_timestamp": family("backup", {"schedule"}, "Velero v1.16.2 pkg/metrics/metrics.go"),
    "velero_backup_failure_total": family("backup", {"schedule"}, "Velero v1.16.2 pkg/metrics/metrics.go"),
    "traces_spanmetrics_calls_total": family("metrics-generator", SPAN_LABELS, TEMPO_SPANS),
    "traces_spanmetrics_latency_bucket": family("metrics-generator", SPAN_LABELS | {"le"}, TEMPO_SPANS),
    "traces_service_graph_request_total": family("metrics-generator", GRAPH_LABELS, TEMPO_GRAPH),
    "traces_service_graph_request_failed_total": family("metrics-generator", GRAPH_LABELS, TEMPO_GRAPH),
    "traces_service_graph_request_server_seconds_sum": family("metrics-generator", GRAPH_LABELS, TEMPO_GRAPH),
    "traces_service_graph_request_server_seconds_bucket": family("metrics-generator", GRAPH_LABELS | {"le"}, TEMPO_GRAPH),
}

# What Grafana's Tempo data source queries itself, given a service map data source (Grafana's tempo
# data source, graphTransform.ts: secondsMetric, totalsMetric, failedMetric, histogramMetric) and
# its APM table (rateMetric: traces_spanmetrics_calls_total by span_name).
SERVICE_MAP_QUERIES = [
    "sum by (client, server) (rate(traces_service_graph_request_total[5m]))",
    "sum by (client, server) (rate(traces_service_graph_request_failed_total[5m]))",
    "sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[5m]))",
    "histogram_quantile(0.9, sum by (le, client, server) (rate(traces_service_graph_request_server_seconds_bucket[5m])))",
    "topk(5, sum by (span_name) (rate(traces_spanmetrics_calls_total[5m])))",
]


@dataclass
class Way:
    """How one producer's series reach Prometheus."""

    target: set[str]
    honor: bool
    scrapes: bool = True  # False: remote-written, no target labels


@dataclass
class Labels:
    must: set[str] = field(default_factory=set)
    may: set[str] = field(default_factory=set)
    shadowed: set[str] = field(default_factory=set)
    unknown: bool = False  # read from series nothing writes (reported once, at the selector)


def scrape_class_labels(kps_values: dict[str, Any] | None) -> set[str]:
    """Target labels the default scrape class writes on every scraped series."""
    spec = ((kps_values or {}).get("prometheus") or {}).get("prometheusSpec") or {}
    found = set()
    for scrape_class in spec.get("scrapeClasses") or []:
        if scrape_class.get("default"):
            found |= {r["targetLabel"] for r in scrape_class.get("relabelings") or [] if r.get("targetLabel")}
    return found


def chart_values(stack: str, inventory: list[Registration], chart: str) -> dict[str, Any] | None:
    """The values the stack gives `chart`: as registered, or, where the stack installs no charts
    (`charts.source: off`), as its component computes them for the chart it would install."""
    from components.complete_cluster import metrics_args
    from components.observability import metrics, traces
    from stacks.loader import load_stack

    found = [r.inputs["values"] for r in inventory if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs.get("chart") == chart]
    if found:
        return found[0]
    loaded = load_stack(stack)
    services = loaded.config.services
    if chart == "kube-prometheus-stack" and services.monitoring.enabled:
        return metrics.chart_values(metrics_args(loaded), with_cert_manager=services.cert_manager.enabled)
    if chart == "tempo" and services.tracing.enabled:
        return {"tempo": traces.metrics_generator(loaded.config.site.name) if services.monitoring.enabled else {}}
    return None


def ways(stack: str, config: StackConfig, inventory: list[Registration]) -> dict[str, Way]:
    """Every producer the stack deploys, with how its series reach Prometheus."""
    if not config.services.monitoring.enabled:
        return {}
    scrape_class = scrape_class_labels(chart_values(stack, inventory, "kube-prometheus-stack"))
    # kube-prometheus-stack's own monitors (values.yaml: kube-state-metrics and kubelet honorLabels: true;
    # the kubelet's ServiceMonitor adds metrics_path and, its targets being nodes, node).
    found = {
        "kube-state-metrics": Way(set(SERVICE_TARGET | scrape_class), honor=True),
        "kubelet": Way(set(SERVICE_TARGET | {"node", "metrics_path"} | scrape_class), honor=True),
        "node-exporter": Way(set(SERVICE_TARGET | scrape_class), honor=False),
    }
    for monitor in (r for r in inventory if r.type in MONITOR_TYPES):
        spec = monitor.inputs["spec"]
        [endpoint] = spec.get("podMetricsEndpoints") or spec["endpoints"]
        relabeled = {r["targetLabel"] for r in endpoint.get("relabelings", []) if r.get("targetLabel")}
        service = next(r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "platform_service")
        base = POD_TARGET if "podMetricsEndpoints" in spec else SERVICE_TARGET
        way = Way(set(base | relabeled | scrape_class), honor=bool(endpoint.get("honorLabels")))
        if service in found and found[service] != way:
            way.target |= found[service].target  # instance monitors of one service: any of them
        found[service] = way
    tempo = chart_values(stack, inventory, "tempo") or {}
    generator = (tempo.get("tempo") or {}).get("metricsGenerator") or {}
    if generator.get("enabled"):
        found["metrics-generator"] = Way(set((generator.get("registry") or {}).get("external_labels") or {}), honor=True, scrapes=False)
    return found


def series_labels(metric: str, deployed: dict[str, Way], problems: list[str], where: str) -> Labels:
    fam = FAMILIES.get(metric)
    if fam is None:
        problems.append(f"{where}: reads `{metric}`, which no exporter tests/configs/series.py knows writes")
        return Labels(unknown=True)
    way = deployed.get(fam.producer)
    if way is None:
        problems.append(f"{where}: reads `{metric}`, which only {fam.producer} writes, and this stack does not run it ({fam.source})")
        return Labels(unknown=True)
    if way.honor:
        labels = fam.labels | way.target
        return Labels(set(labels), set(labels))
    shadowed = fam.labels & way.target
    labels = way.target | (fam.labels - way.target) | {f"exported_{label}" for label in shadowed}
    return Labels(set(labels), set(labels), set(shadowed))


def up_labels(deployed: dict[str, Way]) -> Labels:
    """`up` carries each scraped target's labels."""
    scraped = [way.target for way in deployed.values() if way.scrapes]
    return Labels(set.intersection(*scraped) if scraped else set(), set.union(*scraped) if scraped else set())


def matches_empty(matcher: dict[str, str]) -> bool:
    """A matcher that an absent label satisfies (Prometheus compares a missing label as "")."""
    op, value = matcher["op"], matcher["value"]
    if op == "=":
        return value == ""
    if op == "!=":
        return value != ""
    matched = re.fullmatch(value, "") is not None
    return matched if op == "=~" else not matched


@dataclass
class Sites:
    """The external labels of this site's Prometheus (`own`: name -> value), and whether its
    Prometheus also holds other sites' series (a primary receiving remote-write), which carry
    their own site's external labels."""

    own: dict[str, str]
    receives: bool

    def elsewhere(self, matcher: dict[str, str]) -> bool:
        """Whether the matcher selects only other sites' series."""
        label, op, value = matcher["label"], matcher["op"], matcher["value"]
        if not self.receives or label not in self.own:
            return False
        own = self.own[label]
        return {"=": own != value, "=~": re.fullmatch(value, own) is None}.get(op, False)


def sites(stack: str, inventory: list[Registration], config: StackConfig) -> Sites:
    spec = ((chart_values(stack, inventory, "kube-prometheus-stack") or {}).get("prometheus") or {}).get("prometheusSpec") or {}
    receives = config.site.role == "primary" and bool(config.site.secondaries)
    return Sites(dict(spec.get("externalLabels") or {}), receives)


class Reader:
    """Walks one query's tree and records what it reads that no series offers."""

    def __init__(self, deployed: dict[str, Way], sites: Sites, alerts: Labels | None, where: str):
        self.deployed, self.sites, self.alerts, self.where = deployed, sites, alerts, where
        self.problems: list[str] = []

    def read(self, node: dict[str, Any]) -> Labels | None:
        """The labels of the node's result (None for a scalar or string)."""
        kind = node["type"]
        if kind == "vector":
            return self.selector(node)
        if kind in ("matrix", "subquery"):
            return self.read(node["args"][0])
        if kind == "aggregate":
            return self.aggregate(node)
        if kind == "binary":
            return self.binary(node)
        if kind == "call":
            return self.call(node)
        return None

    def need(self, label: str, labels: Labels, what: str, every: bool = False) -> None:
        """`label` must be on some series of `labels` (`every`: on every one)."""
        if labels.unknown:
            return
        if label not in (labels.must if every else labels.may):
            self.problems.append(f"{self.where}: {what} `{label}`, which no series it reads carries")
        elif label in labels.shadowed:
            self.problems.append(f"{self.where}: {what} `{label}`, which there is the scrape target's: the exporter's own "
                                 f"`{label}` is `exported_{label}` (the monitor has no honorLabels)")

    def selector(self, node: dict[str, Any]) -> Labels:
        metric = node["metric"]
        if metric == "up":
            labels = up_labels(self.deployed)
        elif metric == "ALERTS":
            labels = self.alerts or Labels()
        else:
            labels = series_labels(metric, self.deployed, self.problems, self.where)
        for matcher in node.get("matchers", []):
            if not matches_empty(matcher) and not self.sites.elsewhere(matcher):
                # every ALERTS series: the dashboards count this site's alerts by its label
                self.need(matcher["label"], labels, f"`{metric}` is selected by", every=metric == "ALERTS")
        if self.sites.receives:  # other sites' series carry their external labels
            return Labels(labels.must, labels.may | set(self.sites.own), labels.shadowed, labels.unknown)
        return labels

    def aggregate(self, node: dict[str, Any]) -> Labels:
        inner = self.read(node["args"][-1]) or Labels()
        op, grouping = node["op"], set(node.get("grouping") or [])
        if not node.get("without"):
            for label in sorted(grouping):
                self.need(label, inner, f"`{op} by` groups by")
        if op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        if node.get("without"):
            return Labels(inner.must - grouping, inner.may - grouping, inner.shadowed - grouping, inner.unknown)
        return Labels(grouping & inner.must, grouping & inner.may, grouping & inner.shadowed, inner.unknown)

    def binary(self, node: dict[str, Any]) -> Labels | None:
        left, right = (self.read(arg) for arg in node["args"])
        if left is None or right is None:
            return left or right
        on, matching, include = node.get("on"), set(node.get("matching") or []), set(node.get("include") or [])
        if on:
            for label in sorted(matching):
                self.need(label, left, "`on` matches by")
                self.need(label, right, "`on` matches by")
        op, card = node["op"], node.get("card")
        unknown = left.unknown or right.unknown
        if op == "or":
            return Labels(left.must & right.must, left.may | right.may, left.shadowed | right.shadowed, unknown)
        if op in ("and", "unless"):
            return left
        many, one = (right, left) if card == "one-to-many" else (left, right)
        for label in sorted(include):
            self.need(label, one, "`group_left/group_right` copies")
        if card == "one-to-one":
            if on:
                return Labels(many.must & matching, many.may & matching, many.shadowed & matching, unknown)
            return Labels(many.must - matching, many.may - matching, many.shadowed - matching, unknown)
        return Labels(many.must | include, many.may | include, many.shadowed, unknown)

    def call(self, node: dict[str, Any]) -> Labels | None:
        function, args = node["func"], node.get("args", [])
        if function in ("absent", "absent_over_time"):
            selector = args[0] if args[0]["type"] == "vector" else args[0]["args"][0]
            self.read(args[0])
            equal = {m["label"] for m in selector.get("matchers", []) if m["op"] == "="}
            return Labels(set(equal), set(equal))
        results = [self.read(arg) for arg in args]
        if node["value"] != "vector":
            return None
        vectors = [labels for labels in results if labels is not None]
        if function in ("vector", "time", "scalar") or not vectors:
            return Labels()
        labels = vectors[-1] if function == "histogram_quantile" else vectors[0]
        if function == "histogram_quantile":
            return Labels(labels.must - {"le"}, labels.may - {"le"}, labels.shadowed, labels.unknown)
        if function in ("label_replace", "label_join"):
            added = {args[1]["op"]}
            return Labels(labels.must | added, labels.may | added, labels.shadowed, labels.unknown)
        return labels


def check_query(tree: dict[str, Any], deployed: dict[str, Way], site: Sites, where: str, alerts: Labels | None = None,
                uses: Iterable[str] = ()) -> tuple[Labels | None, list[str]]:
    """The query's result labels and what it reads that nothing offers; `uses`: labels its legend or
    annotations print."""
    reader = Reader(deployed, site, alerts, where)
    result = reader.read(tree)
    for label in uses:
        reader.need(label, result or Labels(), "prints")
    return result, reader.problems
