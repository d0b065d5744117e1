"""Metrics and alerting, read from the offline inventories of every shipped stack: the pinned
kube-prometheus-stack chart, retention and replicas per environment, selectors for every monitor and
rule, restricted pods with requests and memory limits, node-exporter in the node agents' namespace,
Alertmanager only with `mode: full` and its receivers' credentials only in a Secret, the cross-site
view (remote-write from the secondary, the receiving Ingress on the primary) and the network policies."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from stacks import catalogue
from components.observability import metrics as metrics_module
from components.complete_cluster import metrics_args
from components.observability.metrics import Metrics, alertmanager_config
from policies.evaluate import Evaluator
from stacks.chart_sources import part_charts
from stacks.tools.inventory import run_program
from stacks.loader import load, load_stack
from stacks.model.observability import Monitoring

KEY = "platform:observability:Metrics::platform-observability-metrics"
CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STACKS = ["dev", "test", "prod", "onprem-dc1", "onprem-dc2", "local"]
WITH_CHART = ["dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def secure(letter: str) -> dict:
    """A `secure:` leaf in the shape Pulumi writes (`v1:<nonce>:<ciphertext>`), distinct per letter."""
    return {"secure": f"v1:AAAA:{letter * 4}"}


def metrics(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-observability-metrics-"): r for r in inventory(stack) if r.parent == KEY}


def values(inventory, stack: str) -> dict:
    return metrics(inventory, stack)["kube-prometheus-stack"].inputs["values"]


def spec(inventory, stack: str) -> dict:
    return values(inventory, stack)["prometheus"]["prometheusSpec"]


# --- the component and its chart -------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_with_monitoring_runs_one_metrics_component_in_the_monitoring_namespace(inventory, stack):
    [component] = inventory(stack).of_type("platform:observability:Metrics")
    assert component.parent == "platform:observability:Observability::platform-observability"
    namespace = metrics(inventory, stack)["namespace"].inputs["metadata"]
    assert namespace["name"] == "monitoring"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert part_charts(load(stack), "monitoring") == [catalogue.KUBE_PROMETHEUS_STACK, catalogue.GRAFANA_CHART]


@pytest.mark.parametrize("stack", WITH_CHART)
def test_the_chart_is_pinned_at_the_catalogue_version(inventory, stack):
    chart = metrics(inventory, stack)["kube-prometheus-stack"]
    assert chart.type == CHART
    assert (chart.inputs["chart"], chart.inputs["version"], chart.inputs["namespace"]) == (
        "kube-prometheus-stack",
        catalogue.KUBE_PROMETHEUS_STACK.version,
        "monitoring",
    )
    assert catalogue.KUBE_PROMETHEUS_STACK == catalogue.ChartRef("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
    chart_values = chart.inputs["values"]
    # The Services the other components address: monitoring-prometheus:9090, monitoring-alertmanager:9093.
    assert chart_values["fullnameOverride"] == "monitoring"
    # The chart's Grafana is off, its dashboards still go to ConfigMaps for the separate Grafana.
    assert chart_values["grafana"] == {"enabled": False, "forceDeployDashboards": True}
    assert chart_values["crds"] == {"enabled": True, "upgradeJob": {"enabled": False}}


def test_a_stack_with_charts_off_still_gets_the_namespace_and_policies_but_no_chart(local_without_charts):
    resources = metrics(lambda stack: local_without_charts, "local")
    assert "kube-prometheus-stack" not in resources
    assert {"namespace", "default-deny", "prometheus-scrape", "operator-webhook", "grafana-to-prometheus"} <= set(resources)


# --- Prometheus ------------------------------------------------------------------------------------


def _days(retention: str) -> int:
    assert re.fullmatch(r"\d+d", retention), retention
    return int(retention[:-1])


@pytest.mark.parametrize("stack, retention, size, volume, replicas, environment, site", [
    ("dev", "3d", "18GiB", "20Gi", 1, "dev", "sea"),
    ("test", "15d", "45GiB", "50Gi", 1, "test", "cin"),
    ("prod", "30d", "180GiB", "200Gi", 2, "prod", "cin"),
    ("onprem-dc1", "30d", "180GiB", "200Gi", 2, "prod", "dc1"),
    ("onprem-dc2", "30d", "180GiB", "200Gi", 2, "prod", "dc2"),
])
def test_retention_volume_replicas_and_external_labels_per_environment(
    inventory, stack, retention, size, volume, replicas, environment, site
):
    prometheus = spec(inventory, stack)
    assert (prometheus["retention"], prometheus["retentionSize"], prometheus["replicas"]) == (retention, size, replicas)
    assert prometheus["storageSpec"] == {
        "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": volume}}}}
    }
    assert prometheus["externalLabels"] == {"site": site, "environment": environment}


@pytest.mark.parametrize("stack, budget", [("dev", False), ("test", False), ("prod", True), ("onprem-dc2", True)])
def test_two_replicas_keep_one_through_a_node_drain(inventory, stack, budget):
    chart_values = values(inventory, stack)
    expected = {"enabled": True, "minAvailable": 1}
    assert chart_values["prometheus"].get("podDisruptionBudget") == (expected if budget else None)
    if chart_values["alertmanager"]["enabled"]:
        assert chart_values["alertmanager"].get("podDisruptionBudget") == (expected if budget else None)


def test_retention_grows_from_dev_to_test_to_prod(inventory):
    dev, test, prod = (_days(spec(inventory, stack)["retention"]) for stack in ("dev", "test", "prod"))
    assert dev < test < prod
    assert spec(inventory, "prod")["replicas"] == 2


@pytest.mark.parametrize("stack", WITH_CHART)
def test_prometheus_selects_every_monitor_and_rule_in_every_namespace(inventory, stack):
    prometheus = spec(inventory, stack)
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert prometheus[f"{kind}SelectorNilUsesHelmValues"] is False, kind
        # left empty, so the chart renders `{}` (everything) rather than the `release` label
        assert f"{kind}Selector" not in prometheus and f"{kind}NamespaceSelector" not in prometheus


@pytest.mark.parametrize("stack, registry", [
    ("prod", "platformacr.azurecr.io"),
    ("onprem-dc1", "harbor.dc1.example.com"),
])
def test_images_come_from_the_approved_registry(inventory, stack, registry):
    chart_values = values(inventory, stack)
    quay = [
        chart_values["prometheusOperator"]["image"]["registry"],
        chart_values["prometheusOperator"]["prometheusConfigReloader"]["image"]["registry"],
        chart_values["prometheus"]["prometheusSpec"]["image"]["registry"],
        chart_values["alertmanager"]["alertmanagerSpec"]["image"]["registry"],
        chart_values["prometheus-node-exporter"]["image"]["registry"],
    ]
    assert all(value.startswith(registry) for value in quay), quay
    assert chart_values["kube-state-metrics"]["image"]["registry"].startswith(registry)
    if stack == "prod":  # the ACR mirrors each upstream registry under its host name
        assert quay[0] == "platformacr.azurecr.io/quay.io"
        assert chart_values["kube-state-metrics"]["image"]["registry"] == "platformacr.azurecr.io/registry.k8s.io"


# --- pods: requests, memory limits, restricted -----------------------------------------------------


def _containers(chart_values: dict) -> dict[str, dict]:
    """Every container's resources the values set, by the chart component that runs it."""
    found = {
        "operator": chart_values["prometheusOperator"]["resources"],
        "config-reloader": chart_values["prometheusOperator"]["prometheusConfigReloader"]["resources"],
        "prometheus": chart_values["prometheus"]["prometheusSpec"]["resources"],
        "kube-state-metrics": chart_values["kube-state-metrics"]["resources"],
        "node-exporter": chart_values["prometheus-node-exporter"]["resources"],
    }
    if chart_values["alertmanager"]["enabled"]:
        found["alertmanager"] = chart_values["alertmanager"]["alertmanagerSpec"]["resources"]
    patch = chart_values["prometheusOperator"]["admissionWebhooks"]["patch"]
    if patch["enabled"]:
        found["webhook-jobs"] = patch["resources"]
    return found


@pytest.mark.parametrize("stack", WITH_CHART)
def test_every_container_requests_cpu_and_memory_and_has_a_memory_limit(inventory, stack):
    containers = _containers(values(inventory, stack))
    assert {"operator", "config-reloader", "prometheus", "kube-state-metrics", "node-exporter"} <= set(containers)
    for name, resources in containers.items():
        assert set(resources["requests"]) == {"cpu", "memory"}, name
        assert "memory" in resources["limits"], name
    # the operator passes all four to every config-reloader sidecar as flags
    assert containers["config-reloader"] == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}


@pytest.mark.parametrize("stack", WITH_CHART)
def test_pods_are_restricted_where_the_values_set_them(inventory, stack):
    chart_values = values(inventory, stack)
    operator = chart_values["prometheusOperator"]
    ksm = chart_values["kube-state-metrics"]
    exporter = chart_values["prometheus-node-exporter"]
    for context in (operator["containerSecurityContext"], ksm["containerSecurityContext"], exporter["containerSecurityContext"]):
        assert context == RESTRICTED
    nobody = {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}}
    assert operator["securityContext"] == nobody
    assert ksm["securityContext"] == {"enabled": True, **nobody}
    assert exporter["securityContext"] == nobody
    prometheus_pod = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "fsGroup": 2000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert chart_values["prometheus"]["prometheusSpec"]["securityContext"] == prometheus_pod
    if chart_values["alertmanager"]["enabled"]:
        assert chart_values["alertmanager"]["alertmanagerSpec"]["securityContext"] == prometheus_pod


def _deployment(name: str, namespace: str, pod: dict, container: dict, resources: dict) -> dict:
    """A Deployment as the chart renders it from these values, as far as Pod Security and resources go."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {
            "securityContext": {key: value for key, value in pod.items() if key != "enabled"},
            "containers": [{"name": name, "image": f"quay.io/{name}:v1", "securityContext": container, "resources": resources}],
        }}},
    }


def test_the_operator_and_kube_state_metrics_pass_pod_security_restricted_and_the_resource_policy(inventory):
    chart_values = values(inventory, "prod")
    evaluator = Evaluator({"all": ("mandatory", {})})
    operator = chart_values["prometheusOperator"]
    ksm = chart_values["kube-state-metrics"]
    for deployment in (
        _deployment(
            "monitoring-operator", "monitoring", operator["securityContext"], operator["containerSecurityContext"], operator["resources"]
        ),
        _deployment("kube-state-metrics", "monitoring", ksm["securityContext"], ksm["containerSecurityContext"], ksm["resources"]),
    ):
        assert [
            f for f in evaluator.resource("kubernetes:apps/v1:Deployment", deployment) if f.policy in ("pod-security", "workload-resources")
        ] == []
        broken = copy.deepcopy(deployment)
        broken["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {}
        broken["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
        assert {f.policy for f in evaluator.resource("kubernetes:apps/v1:Deployment", broken)} >= {"pod-security", "workload-resources"}


@pytest.mark.parametrize("stack", WITH_CHART)
def test_node_exporter_runs_in_the_node_agents_namespace(inventory, stack):
    exporter = values(inventory, stack)["prometheus-node-exporter"]
    assert exporter["namespaceOverride"] == "node-agents"
    assert exporter["fullnameOverride"] == "node-exporter"
    chart = metrics(inventory, stack)["kube-prometheus-stack"]
    assert "kubernetes:core/v1:Namespace::platform-observability-node-agents-namespace" in chart.options["depends_on"]
    node_agents = inventory(stack).named("platform-observability-node-agents-namespace").inputs["metadata"]
    assert node_agents["name"] == "node-agents" and node_agents["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("stack", WITH_CHART)
def test_the_operator_webhook_certificate_comes_from_cert_manager_not_jobs(inventory, stack):
    webhooks = values(inventory, stack)["prometheusOperator"]["admissionWebhooks"]
    assert webhooks == {"failurePolicy": "Ignore", "certManager": {"enabled": True}, "patch": {"enabled": False}}
    assert (
        "kubernetes:helm.sh/v4:Chart::platform-cert-manager-chart"
        in metrics(inventory, stack)["kube-prometheus-stack"].options["depends_on"]
    )


def test_without_cert_manager_the_webhook_jobs_are_restricted_and_sized():
    webhooks = metrics_module.chart_values(metrics_args(load_stack("prod")), with_cert_manager=False)["prometheusOperator"][
        "admissionWebhooks"
    ]
    patch = webhooks["patch"]
    assert patch["enabled"] is True and patch["image"] == {"registry": "platformacr.azurecr.io/registry.k8s.io"}
    assert patch["resources"] == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
    assert patch["securityContext"]["runAsNonRoot"] is True and patch["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert webhooks["createSecretJob"] == {"securityContext": RESTRICTED} and webhooks["patchWebhookJob"] == {"securityContext": RESTRICTED}
    assert "certManager" not in webhooks


# --- Alertmanager ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_reduced_monitoring_runs_no_alertmanager(inventory, stack):
    resources = metrics(inventory, stack)
    assert "alertmanager-config" not in resources and "grafana-to-alertmanager" not in resources
    if stack == "dev":
        assert values(inventory, stack)["alertmanager"] == {"enabled": False}


@pytest.mark.parametrize("stack, receivers", [
    ("test", []),
    ("prod", ["platform-oncall", "platform-alerts"]),
    ("onprem-dc1", ["platform-oncall", "platform-alerts"]),
    ("onprem-dc2", ["platform-oncall", "platform-alerts"]),
])
def test_full_monitoring_runs_alertmanager_configured_from_a_secret(inventory, stack, receivers):
    resources = metrics(inventory, stack)
    alertmanager = values(inventory, stack)["alertmanager"]
    assert alertmanager["enabled"] is True
    spec_ = alertmanager["alertmanagerSpec"]
    assert (spec_["useExistingSecret"], spec_["configSecret"], spec_["replicas"]) == (
        True,
        "alertmanager-config",
        load(stack).services.monitoring.replicas,
    )
    assert "config" not in alertmanager and "stringConfig" not in alertmanager
    secret = resources["alertmanager-config"]
    assert secret.type == SECRET
    assert (secret.inputs["metadata"]["name"], secret.inputs["metadata"]["namespace"]) == ("alertmanager-config", "monitoring")
    assert secret.inputs["stringData"] == "[secret]"  # the whole file is a Pulumi secret
    assert f"{SECRET}::platform-observability-metrics-alertmanager-config" in resources["kube-prometheus-stack"].options["depends_on"]
    assert [r.name for r in load(stack).services.monitoring.receivers] == receivers


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1", "onprem-dc2"])
def test_no_receiver_credential_appears_in_the_chart_inputs(inventory, stack):
    monitoring = load(stack).services.monitoring
    ciphertexts = [
        receiver.routing_key.ciphertext if receiver.kind == "pagerduty" else receiver.api_url.ciphertext
        for receiver in monitoring.receivers
    ]
    if monitoring.central.password is not None:
        ciphertexts.append(monitoring.central.password.ciphertext)
    assert len(ciphertexts) >= 2
    for resource in metrics(inventory, stack).values():
        if resource.type == SECRET:
            continue
        serialized = json.dumps(resource.inputs)
        for ciphertext in ciphertexts:
            assert ciphertext not in serialized and ciphertext.split(":")[-1] not in serialized, resource.name
        assert "routing_key" not in serialized and "api_url" not in serialized
        # nor a secret Output passed inline (the engine would see it as a secret inside the values)
        assert "[secret]" not in serialized, resource.name


def _receivers(*entries: dict) -> list:
    return Monitoring.model_validate({"receivers": list(entries)}).receivers


def test_the_alertmanager_file_routes_by_severity_to_every_receiver_that_lists_it():
    receivers = _receivers(
        {"kind": "pagerduty", "name": "oncall", "routing_key": secure("a"), "severities": ["critical"]},
        {"kind": "slack", "name": "chat", "api_url": secure("b"), "channel": "#alerts", "severities": ["warning", "critical"]},
        {"kind": "webhook", "name": "incidents", "url": secure("c"), "bearer_token": secure("d")},
        {"kind": "webhook", "name": "bridge", "url": secure("e"), "basic_auth": {"username": "am", "password": secure("f")},
         "severities": ["info"]},
    )
    secrets = [
        {"routing_key": "KEY"},
        {"api_url": "https://hooks.example.com/x"},
        {"url": "https://incidents.example.com/hook", "bearer_token": "TOKEN"},
        {"url": "https://bridge.example.com/hook", "password": "PASS"},
    ]
    document = alertmanager_config(receivers, secrets)
    route = document["route"]
    assert route["receiver"] == "null" and route["group_by"] == ["alertname", "namespace", "site"]
    assert route["routes"] == [
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
        {"receiver": "oncall", "matchers": ['severity=~"critical"'], "continue": True},
        {"receiver": "chat", "matchers": ['severity=~"warning|critical"'], "continue": True},
        {"receiver": "incidents", "matchers": ['severity=~"critical|warning"'], "continue": True},
        {"receiver": "bridge", "matchers": ['severity=~"info"'], "continue": True},
    ]
    assert document["receivers"] == [
        {"name": "null"},
        {"name": "oncall", "pagerduty_configs": [{"routing_key": "KEY", "send_resolved": True}]},
        {"name": "chat", "slack_configs": [{"api_url": "https://hooks.example.com/x", "channel": "#alerts", "send_resolved": True}]},
        {"name": "incidents", "webhook_configs": [{"url": "https://incidents.example.com/hook", "send_resolved": True,
                                                   "http_config": {"authorization": {"type": "Bearer", "credentials": "TOKEN"}}}]},
        {"name": "bridge", "webhook_configs": [{"url": "https://bridge.example.com/hook", "send_resolved": True,
                                                "http_config": {"basic_auth": {"username": "am", "password": "PASS"}}}]},
    ]
    # criticals silence the warnings (and infos) of the same alert and namespace
    assert document["inhibit_rules"][0] == {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
                                            "equal": ["alertname", "namespace"]}
    # the file is YAML Alertmanager can read: every receiver a route names is declared
    names = {receiver["name"] for receiver in yaml.safe_load(yaml.safe_dump(document))["receivers"]}
    assert {r["receiver"] for r in route["routes"]} | {route["receiver"]} <= names


def test_without_receivers_every_alert_goes_to_the_null_receiver():
    document = alertmanager_config([], [])
    assert document["receivers"] == [{"name": "null"}]
    assert document["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname="Watchdog"']}]


# --- the cross-site view ---------------------------------------------------------------------------


def test_the_secondary_remote_writes_to_the_primarys_telemetry_host_with_basic_auth_from_a_secret(inventory):
    prometheus = spec(inventory, "onprem-dc2")
    assert prometheus["remoteWrite"] == [
        {
            "url": "https://telemetry.dc1.example.com/api/v1/write",
            "basicAuth": {
                "username": {"name": "central-remote-write", "key": "username"},
                "password": {"name": "central-remote-write", "key": "password"},
            },
            # The primary's host is verified with the environment CA (test_site_trust.py).
            "tlsConfig": {"ca": {"secret": {"name": "central-remote-write", "key": "ca.crt"}}},
        }
    ]
    # It receives only what its own Tempo's metrics-generator writes: no ingress reaches Prometheus.
    assert prometheus["enableRemoteWriteReceiver"] is True
    resources = metrics(inventory, "onprem-dc2")
    assert "ingress-to-prometheus" not in resources and "tempo-to-prometheus" in resources
    secret = resources["remote-write"]
    assert secret.type == SECRET
    assert (secret.inputs["metadata"]["name"], secret.inputs["metadata"]["namespace"], secret.inputs["stringData"]) == (
        "central-remote-write",
        "monitoring",
        "[secret]",
    )
    assert f"{SECRET}::platform-observability-metrics-remote-write" in resources["kube-prometheus-stack"].options["depends_on"]
    assert "central-ingress" not in resources


@pytest.mark.parametrize("stack", ["dev", "test", "prod", "onprem-dc1"])
def test_a_primary_writes_nowhere(inventory, stack):
    assert "remoteWrite" not in spec(inventory, stack)
    # a site of several holds the credentials anyway (a failover changes only where it writes)
    assert ("remote-write" in metrics(inventory, stack)) == (stack == "onprem-dc1")
    if stack == "onprem-dc1":  # the same objects, in the same order, as at the secondary
        assert (
            f"{SECRET}::platform-observability-metrics-remote-write"
            in metrics(inventory, stack)["kube-prometheus-stack"].options["depends_on"]
        )


def test_the_primary_receives_at_its_telemetry_host_with_tls_and_basic_auth(inventory):
    assert spec(inventory, "onprem-dc1")["enableRemoteWriteReceiver"] is True
    # ingress-nginx forwards only to pods with the ingress target label: every site of several
    # carries it (any may become the primary); only the receiving site's policy admits the controller
    for stack in ("onprem-dc1", "onprem-dc2"):
        assert spec(inventory, stack)["podMetadata"] == {"labels": {"complete-cluster/ingress": "true"}}
    assert "podMetadata" not in spec(inventory, "prod")
    resources = metrics(inventory, "onprem-dc1")
    ingress = resources["central-ingress"]
    assert ingress.type == INGRESS
    metadata, spec_ = ingress.inputs["metadata"], ingress.inputs["spec"]
    assert metadata["namespace"] == "monitoring"
    assert metadata["annotations"] == {
        "cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER,
        "nginx.ingress.kubernetes.io/auth-type": "basic",
        "nginx.ingress.kubernetes.io/auth-secret": "central-basic-auth",
        "nginx.ingress.kubernetes.io/auth-realm": "complete-cluster central view",
        "nginx.ingress.kubernetes.io/proxy-body-size": "16m",
    }
    assert spec_["ingressClassName"] == catalogue.INGRESS_CLASS
    assert spec_["tls"] == [{"hosts": ["telemetry.dc1.example.com"], "secretName": "central-telemetry-tls"}]
    assert spec_["rules"] == [{"host": "telemetry.dc1.example.com", "http": {"paths": [{
        "path": "/api/v1/write", "pathType": "Exact",
        "backend": {"service": {"name": "monitoring-prometheus", "port": {"number": 9090}}},
    }]}}]
    evaluator = Evaluator({"all": ("mandatory", {})})
    assert [f for f in evaluator.resource(INGRESS, ingress.inputs) if f.policy == "ingress-tls"] == []
    auth = resources["central-auth"]
    assert (auth.type, auth.inputs["metadata"]["name"], auth.inputs["stringData"]) == (SECRET, "central-basic-auth", "[secret]")
    assert f"{SECRET}::platform-observability-metrics-central-auth" in ingress.options["depends_on"]
    # ingress-nginx may reach Prometheus on this site, and only here
    policy = resources["ingress-to-prometheus"].inputs["spec"]
    assert policy == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": catalogue.INGRESS_NAMESPACE}}}],
                     "ports": [{"protocol": "TCP", "port": 9090}]}],
    }
    for stack in ("prod", "onprem-dc2"):
        assert not {"central-ingress", "central-auth", "ingress-to-prometheus"} & set(metrics(inventory, stack))


# --- network policies ------------------------------------------------------------------------------


def _policy(inventory, stack: str, role: str) -> dict:
    resource = metrics(inventory, stack)[role]
    assert resource.type == POLICY and resource.inputs["metadata"] == {
        **resource.inputs["metadata"],
        "name": role,
        "namespace": "monitoring",
    }
    return resource.inputs["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_namespace_is_default_deny_and_its_pods_talk_to_each_other(inventory, stack):
    assert _policy(inventory, stack, "default-deny") == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert _policy(inventory, stack, "allow-internal")["ingress"] == [{"from": [{"podSelector": {}}]}]


@pytest.mark.parametrize("stack", ["prod", "onprem-dc2"])
def test_prometheus_scrapes_every_pod_and_the_nodes(inventory, stack):
    assert _policy(inventory, stack, "prometheus-scrape") == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"namespaceSelector": {}}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}],
             "ports": [{"protocol": "TCP", "port": 10250}, {"protocol": "TCP", "port": 9100}]},
        ],
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_api_server_reaches_the_operator_webhook_and_grafana_reaches_prometheus_and_alertmanager(inventory, stack):
    assert _policy(inventory, stack, "operator-webhook") == {
        "podSelector": {"matchLabels": {"app": "kube-prometheus-stack-operator"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}], "ports": [{"protocol": "TCP", "port": 10250}]}
        ],
    }
    grafana = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "grafana"}}}
    assert _policy(inventory, stack, "grafana-to-prometheus")["ingress"] == [
        {"from": [grafana], "ports": [{"protocol": "TCP", "port": 9090}]}
    ]
    if stack == "prod":
        assert _policy(inventory, stack, "grafana-to-alertmanager") == {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [grafana], "ports": [{"protocol": "TCP", "port": 9093}]}],
        }


# --- the summary -----------------------------------------------------------------------------------


def _component(stack: str) -> Metrics:
    built: list[Metrics] = []
    args = metrics_args(load_stack(stack))
    run_program(lambda: built.append(Metrics("m", args)), stack)
    return built[0]


def test_the_summary_shows_chart_retention_receivers_by_name_and_the_cross_site_view():
    secondary = _component("onprem-dc2").summary
    assert secondary == {
        "chart": "kube-prometheus-stack 88.5.3",
        "namespace": "monitoring",
        "mode": "full",
        "retention": "30d",
        "retentionSize": "180GiB",
        "volumeGi": 200,
        "replicas": 2,
        "alertmanager": {"receivers": ["platform-oncall", "platform-alerts"]},
        "remoteWrite": "https://telemetry.dc1.example.com/api/v1/write",
        "receives": None,
    }
    primary = _component("onprem-dc1").summary
    assert (primary["remoteWrite"], primary["receives"]) == (None, "https://telemetry.dc1.example.com/api/v1/write")
    dev = _component("dev").summary
    assert (dev["mode"], dev["alertmanager"], dev["retention"], dev["replicas"]) == ("reduced", None, "3d", 1)
    # names only: no credential of any receiver
    assert "secure" not in json.dumps(secondary) and "v1:" not in json.dumps(secondary)


def test_the_secret_file_carries_the_receivers_decrypted_values_and_stays_secret():
    """Under the engine the loader fills each secret's plaintext; the file is built from those, as a
    Pulumi secret, and equals the pure configuration."""
    import pulumi_kubernetes as k8s

    from components.observability.metrics import alertmanager_yaml
    from stacks.model.base import SecretValue

    receivers = _receivers(
        {"kind": "pagerduty", "name": "oncall", "routing_key": secure("a"), "severities": ["critical"]},
        {"kind": "webhook", "name": "bridge", "url": secure("e"), "basic_auth": {"username": "am", "password": secure("f")}},
    )
    receivers = [
        receivers[0].model_copy(update={"routing_key": SecretValue("v1:a", "ROUTING-KEY")}),
        receivers[1].model_copy(
            update={
                "url": SecretValue("v1:e", "https://bridge.example.com/hook"),
                "basic_auth": receivers[1].basic_auth.model_copy(update={"password": SecretValue("v1:f", "PASS")}),
            }
        ),
    ]
    seen: dict[str, object] = {}

    def program():
        document = alertmanager_yaml(receivers)
        document.apply(lambda text: seen.setdefault("text", text))
        # a probe object: the engine receives the file marked secret
        k8s.core.v1.ConfigMap("probe", data={"alertmanager.yaml": document})

    [probe] = run_program(program, "prod")
    assert yaml.safe_load(seen["text"]) == alertmanager_config(
        receivers, [{"routing_key": "ROUTING-KEY"}, {"url": "https://bridge.example.com/hook", "password": "PASS"}]
    )
    assert "ROUTING-KEY" in seen["text"] and "v1:a" not in seen["text"]
    assert probe.inputs["data"] in ("[secret]", {"alertmanager.yaml": "[secret]"})
