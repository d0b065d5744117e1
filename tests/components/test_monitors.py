"""Monitors for every shared service, read from the inventories: each enabled service has a monitor
whose selector matches the labels its pods carry (derived here from what the operators and charts
label their pods with, and the instances the inventory declares), scraping the port the service
serves metrics on; every monitor comes after the metrics chart and its service; and a network policy
beside each monitor admits only Prometheus, only on that port."""

from __future__ import annotations

import pytest

from components.observability.monitors import MONITORING_API
from stacks.loader import load

STACKS = ["local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
MONITOR_KINDS = {f"kubernetes:{MONITORING_API}:PodMonitor", f"kubernetes:{MONITORING_API}:ServiceMonitor"}
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CHART = "kubernetes:helm.sh/v4:Chart"
MONITORS = "platform:observability:Monitors::platform-observability-monitors"
PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
SERVICES = ("ingress", "cert_manager", "postgres", "redis", "rabbitmq", "kafka", "registry", "backup")


def monitors(inventory, stack):
    return [r for r in inventory(stack) if r.type in MONITOR_KINDS]


def by_type(inventory, stack, kind):
    return [r for r in inventory(stack) if r.type == f"kubernetes:{kind}"]


def chart(inventory, stack, chart_name):
    found = [r for r in inventory(stack) if r.type == CHART and r.inputs["chart"].rsplit("/", 1)[-1] == chart_name]
    return found[0] if found else None


def service_of(monitor) -> str:
    endpoints = monitor.inputs["spec"].get("podMetricsEndpoints") or monitor.inputs["spec"]["endpoints"]
    [endpoint] = endpoints
    return {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}["platform_service"]


def endpoint_of(monitor) -> dict:
    spec = monitor.inputs["spec"]
    [endpoint] = spec.get("podMetricsEndpoints") or spec["endpoints"]
    return endpoint


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def expected_pods(inventory, stack) -> dict[str, list[tuple[str, dict[str, str], int]]]:
    """(namespace, labels, metrics port) of the pods each enabled service runs, from what the charts
    and operators label their pods with and the instances the inventory declares."""
    config = load(stack)
    services = config.services
    pods: dict[str, list[tuple[str, dict[str, str], int]]] = {}
    if services.ingress.enabled:
        # ingress-nginx selectorLabels + the controller component; metrics on controller.metrics.port.
        pods["ingress"] = [("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "release",
                                              "app.kubernetes.io/component": "controller"}, 10254)]
    if services.cert_manager.enabled:
        pods["cert_manager"] = [("cert-manager", {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "release",
                                                  "app.kubernetes.io/component": "controller"}, 9402)]
    if services.postgres.enabled:
        operator = chart(inventory, stack, "postgres-operator")
        kube = (
            operator.inputs["values"]["configKubernetes"]
            if operator
            else {"cluster_labels": {"application": "spilo"}, "cluster_name_label": "cluster-name"}
        )
        pods["postgres"] = [
            (
                r.inputs["metadata"]["namespace"],
                {**kube["cluster_labels"], kube["cluster_name_label"]: r.inputs["metadata"]["name"], "spilo-role": "master"},
                8008,
            )
            for r in by_type(inventory, stack, "acid.zalan.do/v1:postgresql")
        ]
    if services.redis.enabled:
        # Spotahome: the Redis StatefulSet's pods (not the Sentinels') of each RedisFailover.
        pods["redis"] = [
            (
                r.inputs["metadata"]["namespace"],
                {
                    "app.kubernetes.io/name": r.inputs["metadata"]["name"],
                    "app.kubernetes.io/part-of": "redis-failover",
                    "app.kubernetes.io/component": "redis",
                    "redisfailovers.databases.spotahome.com/name": r.inputs["metadata"]["name"],
                },
                9121,
            )
            for r in by_type(inventory, stack, "databases.spotahome.com/v1:RedisFailover")
        ]
    if services.rabbitmq.enabled:
        tls = services.cert_manager.enabled
        pods["rabbitmq"] = [
            (
                r.inputs["metadata"]["namespace"],
                {
                    "app.kubernetes.io/name": r.inputs["metadata"]["name"],
                    "app.kubernetes.io/component": "rabbitmq",
                    "app.kubernetes.io/part-of": "rabbitmq",
                },
                15691 if tls else 15692,
            )
            for r in by_type(inventory, stack, "rabbitmq.com/v1beta1:RabbitmqCluster")
        ]
    if services.kafka.enabled:
        pods["kafka"] = [
            (r.inputs["metadata"]["namespace"], {"strimzi.io/cluster": r.inputs["metadata"]["name"], "strimzi.io/kind": "Kafka",
                                                 "strimzi.io/pool-name": "brokers", "strimzi.io/broker-role": "true"}, 9404)
            for r in by_type(inventory, stack, "kafka.strimzi.io/v1:Kafka")
        ]
    if services.registry.enabled:
        # harbor.labels on every Service of the chart; metrics behind port `http-metrics` (8001).
        pods["registry"] = [("harbor", {"app": "harbor", "release": "release", "heritage": "Helm"}, 8001)]
    if services.backup.enabled:
        pods["backup"] = [("velero", {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "release", "name": "velero"}, 8085)]
    return pods


@pytest.mark.parametrize("stack", STACKS)
def test_every_enabled_shared_service_has_a_monitor_for_each_of_its_pods(inventory, stack):
    config = load(stack)
    expected = expected_pods(inventory, stack)
    found = monitors(inventory, stack)
    assert {service_of(m) for m in found} == {s for s in SERVICES if getattr(config.services, s).enabled}
    for service, pods in expected.items():
        assert pods, f"{service} is enabled on {stack} but runs no pods to monitor"
        for namespace, labels, port in pods:
            matching = [
                m for m in found
                if service_of(m) == service and m.inputs["metadata"]["namespace"] == namespace
                and m.inputs["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
                and selects(m.inputs["spec"]["selector"]["matchLabels"], labels)
            ]
            assert len(matching) == 1, f"{stack}: {service} pods {labels} in {namespace} have {len(matching)} monitors"
            endpoint = endpoint_of(matching[0])
            if matching[0].inputs["kind"] == "PodMonitor":
                assert endpoint["portNumber"] == port
            else:
                assert endpoint["port"] == "http-metrics"
            assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("stack", STACKS)
def test_an_instance_monitor_selects_no_other_instance(inventory, stack):
    expected = expected_pods(inventory, stack)
    for m in monitors(inventory, stack):
        service, namespace = service_of(m), m.inputs["metadata"]["namespace"]
        selector = m.inputs["spec"]["selector"]["matchLabels"]
        selected = [labels for pod_namespace, labels, _ in expected[service] if pod_namespace == namespace and selects(selector, labels)]
        assert len(selected) == 1, f"{stack}: {m.name} selects {selected}"


def test_redis_monitors_skip_the_sentinels(inventory):
    for m in monitors(inventory, "prod"):
        if service_of(m) == "redis":
            sentinel = {
                "app.kubernetes.io/name": "cache",
                "app.kubernetes.io/part-of": "redis-failover",
                "app.kubernetes.io/component": "sentinel",
            }
            assert not selects(m.inputs["spec"]["selector"]["matchLabels"], sentinel)


@pytest.mark.parametrize("stack", STACKS)
def test_instances_carry_their_instance_label(inventory, stack):
    for m in monitors(inventory, stack):
        labels = {r["targetLabel"]: r["replacement"] for r in endpoint_of(m)["relabelings"]}
        if service_of(m) in ("postgres", "redis", "rabbitmq"):
            team = m.inputs["metadata"]["labels"]["complete-cluster/team"]
            assert labels["platform_instance"].split("/")[0] == team
        else:
            assert set(labels) == {"platform_service"}


# --- order: after the CRDs and the service -------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "test", "prod", "onprem-dc1", "onprem-dc2"])
def test_monitors_come_after_the_metrics_chart_and_their_service(inventory, stack):
    metrics_chart = chart(inventory, stack, "kube-prometheus-stack")
    assert metrics_chart is not None
    namespaces = {r.inputs["metadata"]["name"]: f"{r.type}::{r.name}" for r in by_type(inventory, stack, "core/v1:Namespace")}
    for m in monitors(inventory, stack):
        depends = m.options["depends_on"]
        assert f"{CHART}::{metrics_chart.name}" in depends, m.name
        assert namespaces[m.inputs["metadata"]["namespace"]] in depends, m.name
        assert m.parent == MONITORS
        # and the service's own chart (the operator, or the chart that runs the service)
        service_charts = {
            "ingress": "ingress-nginx", "cert_manager": "cert-manager", "postgres": "postgres-operator", "redis": "redis-operator",
            "rabbitmq": "rabbitmq-cluster-operator", "kafka": "strimzi-kafka-operator", "registry": "harbor", "backup": "velero",
        }
        assert f"{CHART}::{chart(inventory, stack, service_charts[service_of(m)]).name}" in depends, m.name


def test_on_a_stack_without_charts_the_monitors_still_follow_their_service(local_without_charts):
    found = monitors(lambda stack: local_without_charts, "local")
    assert found and chart(lambda stack: local_without_charts, "local", "kube-prometheus-stack") is None
    [redis] = [m for m in found if service_of(m) == "redis"]
    assert redis.options["depends_on"] == ["kubernetes:core/v1:Namespace::team-search-namespace"]


# --- the metrics endpoints each service turns on ------------------------------------------------


def values(inventory, stack, chart_name):
    return chart(inventory, stack, chart_name).inputs["values"]


def test_the_services_serve_the_metrics_the_monitors_scrape(inventory):
    assert values(inventory, "onprem-dc1", "ingress-nginx")["controller"]["metrics"] == {
        "enabled": True,
        "serviceMonitor": {"enabled": False},
    }
    assert values(inventory, "onprem-dc1", "harbor")["metrics"]["enabled"] is True
    assert values(inventory, "onprem-dc1", "velero")["metrics"]["enabled"] is True
    # cert-manager serves controller metrics unless told not to.
    assert values(inventory, "onprem-dc1", "cert-manager").get("prometheus", {}).get("enabled", True) is True
    [kafka] = by_type(inventory, "onprem-dc1", "kafka.strimzi.io/v1:Kafka")
    metrics = kafka.inputs["spec"]["kafka"]["metricsConfig"]
    assert metrics["type"] == "jmxPrometheusExporter"
    ref = metrics["valueFrom"]["configMapKeyRef"]
    [config_map] = [
        r
        for r in by_type(inventory, "onprem-dc1", "core/v1:ConfigMap")
        if r.inputs["metadata"] == {**r.inputs["metadata"], "name": ref["name"], "namespace": "kafka"}
    ]
    assert "kafka_$1_$2_$3" in config_map.inputs["data"][ref["key"]]
    assert f"kubernetes:core/v1:ConfigMap::{config_map.name}" in kafka.options["depends_on"]


@pytest.mark.parametrize("stack, registry", [("prod", "platformacr.azurecr.io/quay.io"), ("onprem-dc1", "harbor.dc1.example.com/quay")])
def test_every_redis_pod_runs_a_restricted_exporter_from_the_approved_registry(inventory, stack, registry):
    failovers = by_type(inventory, stack, "databases.spotahome.com/v1:RedisFailover")
    assert failovers
    for failover in failovers:
        exporter = failover.inputs["spec"]["redis"]["exporter"]
        assert exporter["enabled"] is True
        assert exporter["image"] == f"{registry}/oliver006/redis_exporter:v1.91.0"
        assert exporter["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}
        assert exporter["containerSecurityContext"] == {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"}, "readOnlyRootFilesystem": True,
        }


def test_rabbitmq_metrics_are_scraped_over_verified_tls(inventory):
    certificates = {
        (r.inputs["metadata"]["namespace"], r.inputs["spec"]["secretName"]): r
        for r in by_type(inventory, "onprem-dc1", "cert-manager.io/v1:Certificate")
    }
    [monitor] = [m for m in monitors(inventory, "onprem-dc1") if service_of(m) == "rabbitmq"]
    endpoint = endpoint_of(monitor)
    assert endpoint["scheme"] == "https"
    tls = endpoint["tlsConfig"]
    assert "insecureSkipVerify" not in tls
    assert tls["ca"] == {"secret": {"name": "queue-tls", "key": "ca.crt"}}
    certificate = certificates[("payments", "queue-tls")]
    assert tls["serverName"] in certificate.inputs["spec"]["dnsNames"]
    assert certificate.inputs["spec"]["issuerRef"]["name"] == "platform-internal-ca"


# --- network policies ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_is_admitted_to_exactly_the_monitored_pods_on_exactly_the_metrics_port(inventory, stack):
    expected = expected_pods(inventory, stack)
    policies = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r
        for r in inventory(stack)
        if r.type == POLICY and r.parent == MONITORS
    }
    found = monitors(inventory, stack)
    assert len(policies) == len(found)
    for m in found:
        namespace, name = m.inputs["metadata"]["namespace"], m.inputs["metadata"]["name"]
        spec = policies[(namespace, f"allow-prometheus-{name}")].inputs["spec"]
        [port] = {port for pod_namespace, labels, port in expected[service_of(m)] if pod_namespace == namespace}
        assert spec == {
            "podSelector": {"matchLabels": m.inputs["spec"]["selector"]["matchLabels"]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": port}]}],
        }


def test_the_summary_lists_the_monitors_per_service():
    from components.observability.monitors import targets

    summary: dict[str, list[str]] = {}
    config = load("onprem-dc1")
    for target in targets(config.services, config.teams):
        summary.setdefault(target.service, []).append(f"{target.namespace}/{target.kind}/{target.name}")
    assert summary == {
        "ingress": ["ingress-nginx/PodMonitor/ingress-nginx-controller"],
        "cert_manager": ["cert-manager/PodMonitor/cert-manager-controller"],
        "postgres": ["payments-data/PodMonitor/payments-db-patroni"],
        "redis": ["payments/PodMonitor/cache-redis", "search/PodMonitor/cache-redis"],
        "rabbitmq": ["payments/PodMonitor/queue-rabbitmq"],
        "kafka": ["kafka/PodMonitor/events-kafka"],
        "registry": ["harbor/ServiceMonitor/harbor"],
        "backup": ["velero/PodMonitor/velero"],
    }
