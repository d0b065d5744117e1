"""Grafana, read from the offline inventories of every shipped stack: the pinned chart with restricted
pods and hardened settings, data sources wired only to what the stack runs, dashboards as code (valid
JSON, unique uids, one per team scoped to the team), the admin password as a secret, namespaced RBAC
for the dashboard sidecar, the network policies, and the Ingress when a hostname is set."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from stacks import catalogue
from components.observability import dashboards
from components.complete_cluster import grafana_args
from components.observability.grafana import Grafana, data_sources
from policies.evaluate import Evaluator
from stacks.chart_sources import part_charts
from stacks.tools.inventory import run_program
from stacks.loader import load, load_stack

GRAFANA = "platform:observability:Grafana"
KEY = f"{GRAFANA}::platform-observability-grafana"
CHART = "kubernetes:helm.sh/v4:Chart"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STACKS = ["dev", "test", "prod", "onprem-dc1", "onprem-dc2", "local"]
READ_ONLY_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 472,
    "seccompProfile": {"type": "RuntimeDefault"},
    "readOnlyRootFilesystem": True,
}


def grafana(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-observability-grafana-"): r for r in inventory(stack) if r.parent == KEY}


def values(inventory, stack: str) -> dict:
    return grafana(inventory, stack)["chart"].inputs["values"]


def sources(inventory, stack: str) -> dict[str, dict]:
    return {source["uid"]: source for source in values(inventory, stack)["datasources"]["datasources.yaml"]["datasources"]}


def dashboard_models(inventory, stack: str) -> dict[str, dict]:
    models = {}
    for resource in grafana(inventory, stack).values():
        if resource.type == CONFIGMAP and resource.inputs["metadata"]["name"].startswith("dashboard-"):
            [(key, text)] = resource.inputs["data"].items()
            model = json.loads(text)
            assert key == f"{model['uid']}.json"
            models[model["uid"]] = model
    return models


def expressions(model: dict) -> list[str]:
    return [target["expr"] for target in dashboards.targets_of(model)]


# --- where it runs and the chart -----------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_with_monitoring_runs_one_grafana_in_the_observability_component(inventory, stack):
    [component] = inventory(stack).of_type(GRAFANA)
    assert component.parent == "platform:observability:Observability::platform-observability"
    assert load(stack).services.monitoring.enabled
    assert part_charts(load(stack), "monitoring") == [catalogue.KUBE_PROMETHEUS_STACK, catalogue.GRAFANA_CHART]


def test_no_monitoring_no_grafana_chart():
    config = load("prod")
    off = config.model_copy(
        update={
            "services": config.services.model_copy(update={"monitoring": config.services.monitoring.model_copy(update={"enabled": False})})
        }
    )
    assert part_charts(off, "monitoring") == []


def test_charts_off_leave_everything_else_in_place(local_without_charts):
    resources = grafana(lambda stack: local_without_charts, "local")
    assert "chart" not in resources  # charts.source: off
    assert {"namespace", "allow-data-sources", "dashboard-platform-overview", "dashboard-team-payments", "dashboard-team-search"} <= set(
        resources
    )


@pytest.mark.parametrize("stack, registry", [
    ("prod", "platformacr.azurecr.io"),
    ("onprem-dc1", "harbor.dc1.example.com"),
])
def test_the_pinned_chart_with_restricted_pods_and_the_stack_registry(inventory, stack, registry):
    chart = grafana(inventory, stack)["chart"]
    assert chart.type == CHART
    inputs = chart.inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"], inputs["namespace"]) == (
        "grafana", "12.11.1", {"repo": "https://grafana-community.github.io/helm-charts"}, "grafana")
    v = inputs["values"]
    assert v["fullnameOverride"] == "grafana"
    assert v["image"]["registry"] == registry and v["image"]["tag"] == "13.2.0"
    assert v["image"]["repository"].endswith("grafana/grafana")
    assert v["sidecar"]["image"]["registry"] == registry and v["sidecar"]["image"]["tag"] == "2.10.1"
    assert v["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 472,
        "runAsGroup": 472,
        "fsGroup": 472,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert v["containerSecurityContext"] == READ_ONLY_RESTRICTED
    assert v["sidecar"]["securityContext"] == READ_ONLY_RESTRICTED
    assert v["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    assert v["sidecar"]["resources"] == {"requests": {"cpu": "20m", "memory": "96Mi"}, "limits": {"memory": "192Mi"}}
    # No volume, so no root chown init container; no test pod; a writable /tmp on a read-only root.
    assert (v["persistence"], v["initChownData"], v["testFramework"]) == ({"enabled": False}, {"enabled": False}, {"enabled": False})
    assert v["extraEmptyDirMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert v["ingress"] == {"enabled": False}
    # after its namespace, the admin Secret and the metrics part (Prometheus, the data sources' namespace)
    assert {
        "kubernetes:core/v1:Namespace::platform-observability-grafana-namespace",
        "kubernetes:core/v1:Secret::platform-observability-grafana-admin",
        "kubernetes:core/v1:Namespace::platform-observability-metrics-namespace",
    } <= set(chart.options["depends_on"])


def _grafana_deployment(v: dict) -> dict:
    """The Deployment the chart renders from these values as far as Pod Security and resources go
    (templates/_pod.tpl: the pod context, the dashboard sidecar and the grafana container; no init
    containers without persistence or downloaded dashboards)."""
    image = v["image"]
    sidecar = v["sidecar"]["image"]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "grafana", "namespace": "grafana"},
        "spec": {"template": {"spec": {
            "serviceAccountName": "grafana",
            "automountServiceAccountToken": v["automountServiceAccountToken"],
            "securityContext": v["securityContext"],
            "containers": [
                {"name": "grafana-sc-dashboard", "image": f"{sidecar['registry']}/{sidecar['repository']}:{sidecar['tag']}",
                 "securityContext": v["sidecar"]["securityContext"], "resources": v["sidecar"]["resources"]},
                {"name": "grafana", "image": f"{image['registry']}/{image['repository']}:{image['tag']}",
                 "securityContext": v["containerSecurityContext"], "resources": v["resources"]},
            ],
            "volumes": [{"name": "storage", "emptyDir": {}}, {"name": "search", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}},
                        {"name": "sc-dashboard-volume", "emptyDir": {}}],
        }}},
    }


@pytest.mark.parametrize("stack", ["prod", "onprem-dc2"])
def test_the_grafana_pod_passes_pod_security_restricted_and_the_resource_policy(inventory, stack):
    deployment = _grafana_deployment(values(inventory, stack))
    evaluator = Evaluator({"all": ("mandatory", {})})
    found = [
        f for f in evaluator.resource("kubernetes:apps/v1:Deployment", deployment) if f.policy in ("pod-security", "workload-resources")
    ]
    assert found == []
    deployment["spec"]["template"]["spec"]["containers"][1]["securityContext"] = {}
    assert [f.policy for f in evaluator.resource("kubernetes:apps/v1:Deployment", deployment) if f.policy == "pod-security"]


def test_grafana_ini_is_hardened(inventory):
    ini = values(inventory, "prod")["grafana.ini"]
    assert ini["auth.anonymous"] == {"enabled": False}
    assert ini["users"] == {"allow_sign_up": False, "allow_org_create": False}
    assert ini["analytics"] == {
        "reporting_enabled": False,
        "check_for_updates": False,
        "check_for_plugin_updates": False,
        "feedback_links_enabled": False,
    }
    assert ini["plugins"] == {"preinstall_disabled": True}
    assert ini["snapshots"] == {"external_enabled": False}
    assert ini["news"] == {"news_feed_enabled": False}
    # prod names no Grafana hostname: reached by port-forward over plain HTTP, so cookies cannot require HTTPS
    assert ini["security"]["cookie_secure"] is False and "server" not in ini


# --- data sources --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, uids", [
    ("dev", ["prometheus", "tempo"]),  # reduced monitoring (no Alertmanager), no central logging
    ("test", ["prometheus", "alertmanager", "loki", "tempo"]),
    ("prod", ["prometheus", "alertmanager", "loki", "tempo"]),
    ("onprem-dc1", ["prometheus", "alertmanager", "loki", "tempo"]),
    ("onprem-dc2", ["prometheus", "alertmanager", "loki", "tempo"]),
])
def test_data_sources_follow_what_the_stack_runs(inventory, stack, uids):
    found = sources(inventory, stack)
    assert list(found) == uids
    assert [uid for uid, source in found.items() if source.get("isDefault")] == ["prometheus"]
    urls = {uid: source["url"] for uid, source in found.items()}
    expected = {
        "prometheus": "http://monitoring-prometheus.monitoring.svc:9090",
        "alertmanager": "http://monitoring-alertmanager.monitoring.svc:9093",
        "loki": "http://loki-gateway.logging.svc:80",
        "tempo": "http://tempo.tracing.svc:3200",
    }
    assert urls == {uid: expected[uid] for uid in uids}
    if "alertmanager" in found:
        assert found["alertmanager"]["type"] == "alertmanager"
        assert found["alertmanager"]["jsonData"]["implementation"] == "prometheus"


def test_the_render_target_has_prometheus_only():
    assert [source["uid"] for source in data_sources(load("local").services)] == ["prometheus"]


def _referenced_uids(value) -> set[str]:
    if isinstance(value, dict):
        found = {value["datasourceUid"]} if "datasourceUid" in value else set()
        return found.union(*(_referenced_uids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_referenced_uids(v) for v in value))
    return set()


@pytest.mark.parametrize("stack", ["dev", "test", "prod", "onprem-dc1", "onprem-dc2"])
def test_links_only_point_at_data_sources_of_the_stack(inventory, stack):
    found = sources(inventory, stack)
    assert _referenced_uids(list(found.values())) <= set(found)


def test_a_trace_id_in_a_log_line_links_to_tempo(inventory):
    [field] = sources(inventory, "prod")["loki"]["jsonData"]["derivedFields"]
    assert (field["datasourceUid"], field["url"], field["matcherType"]) == ("tempo", "$${__value.raw}", "regex")
    pattern = re.compile(field["matcherRegex"])
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    for line in (f"level=info traceID={trace} msg=done", f'{{"traceId":"{trace}","msg":"done"}}', f"trace_id: {trace}"):
        assert pattern.search(line).group(1) == trace
    assert pattern.search("level=info msg=no trace here") is None


def test_traces_link_to_logs_metrics_and_the_service_map(inventory):
    data = sources(inventory, "prod")["tempo"]["jsonData"]
    logs = data["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki"
    assert logs["tags"] == [
        {"key": "site", "value": "site"},
        {"key": "k8s.namespace.name", "value": "namespace"},
        {"key": "k8s.pod.name", "value": "pod"},
    ]
    assert logs["filterByTraceID"] is True
    assert data["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert all("$$__tags" in query["query"] for query in data["tracesToMetrics"]["queries"])
    assert data["serviceMap"] == {"datasourceUid": "prometheus"}
    assert data["nodeGraph"] == {"enabled": True}
    assert data["lokiSearch"] == {"datasourceUid": "loki"}
    assert sources(inventory, "prod")["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo"}
    ]


def test_without_central_logs_traces_link_to_no_logs(inventory):
    data = sources(inventory, "dev")["tempo"]["jsonData"]
    assert "tracesToLogsV2" not in data and "lokiSearch" not in data
    assert data["serviceMap"] == {"datasourceUid": "prometheus"}


# --- dashboards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_dashboards_are_valid_json_with_unique_uids_one_per_team(inventory, stack):
    resources = grafana(inventory, stack)
    maps = [r for r in resources.values() if r.type == CONFIGMAP]
    for resource in maps:
        metadata = resource.inputs["metadata"]
        assert metadata["namespace"] == "grafana"
        assert metadata["labels"]["grafana_dashboard"] == "1"
        assert metadata["annotations"]["grafana_folder"] in ("Platform", "Teams")
    uids = [json.loads(next(iter(r.inputs["data"].values())))["uid"] for r in maps]
    assert len(uids) == len(set(uids))
    teams = [team.name for team in load(stack).teams]
    assert sorted(uids) == sorted(["platform-overview", *(f"team-{team}" for team in teams)])
    for model in dashboard_models(inventory, stack).values():
        assert model["schemaVersion"] == 43
        assert [variable["name"] for variable in model["templating"]["list"]] == ["site"]
        ids = [panel["id"] for panel in model["panels"]]
        assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("stack", STACKS)
def test_each_team_dashboard_queries_only_its_team(inventory, stack):
    config = load(stack)
    models = dashboard_models(inventory, stack)
    for team in config.teams:
        model = models[f"team-{team.name}"]
        others = [other.name for other in config.teams if other.name != team.name]
        hosts = dashboards.team_hosts(team)
        for expr in expressions(model):
            scoped = (f'namespace="{team.name}"' in expr or f'namespace="{team.name}-data"' in expr
                      or (hosts and f'host=~"{dashboards.host_pattern(hosts)}"' in expr))
            assert scoped, expr
            assert not any(other in expr for other in others), expr
            assert 'site=~"$site"' in expr


def test_a_team_dashboard_shows_quota_restarts_ingress_data_services_logs_and_traces(inventory):
    model = dashboard_models(inventory, "prod")["team-payments"]
    exprs = expressions(model)
    assert 'sum(kube_resourcequota{resource="limits.cpu", type="hard", namespace="payments", site=~"$site"})' in exprs
    assert 'sum(kube_resourcequota{resource="limits.memory", type="hard", namespace="payments", site=~"$site"})' in exprs
    assert any("kube_pod_container_status_restarts_total" in e for e in exprs)
    assert 'sum by (host) (rate(nginx_ingress_controller_requests{host=~"payments\\\\.example\\\\.com", site=~"$site"}[5m]))' in exprs
    ready = [e for e in exprs if "kube_statefulset_status_replicas_ready" in e]
    assert [re.search(r'namespace="([^"]+)", statefulset="([^"]+)"', e).groups() for e in ready] == [
        ("payments-data", "payments-db"), ("payments", "rfr-cache"), ("payments", "queue-server")]
    [logs] = [panel for panel in model["panels"] if panel["type"] == "logs"]
    assert logs["datasource"] == {"type": "loki", "uid": "loki"}
    assert logs["targets"][0]["expr"] == '{namespace="payments", site=~"$site"}'
    [traces] = [link for link in model["links"] if link["type"] == "link"]
    assert "tempo" in traces["url"] and "resource.k8s.namespace.name%3D%5C%22payments%5C%22" in traces["url"]


def test_without_logging_or_tracing_no_logs_panel_or_traces_link(inventory):
    dev = dashboard_models(inventory, "dev")["team-search"]
    assert [panel for panel in dev["panels"] if panel["type"] == "logs"] == []
    assert [link["title"] for link in dev["links"] if link["type"] == "link"] == ["Traces of search"]  # dev traces, no central logs
    local = dashboard_models(inventory, "local")["team-search"]
    assert [panel for panel in local["panels"] if panel["type"] == "logs"] == []
    assert [link for link in local["links"] if link["type"] == "link"] == []


OPTIONAL_PANELS = {
    "ingress": "Request rate by host",
    "cert_manager": "Days until certificate expiry",
    "backup": "Time since the last successful backup",
    "kafka": "Kafka under-replicated partitions",
    "postgres": "PostgreSQL replication lag",
}


@pytest.mark.parametrize(
    "stack, present, services",
    [
        ("dev", {"ingress", "cert_manager", "kafka"}, ["ingress-nginx", "cert-manager", "redis-operator", "kafka", "prometheus", "tempo"]),
        (
            "test",
            {"ingress", "cert_manager", "backup", "postgres"},
            ["ingress-nginx", "cert-manager", "postgres-operator", "redis-operator", "velero", "prometheus", "loki", "tempo"],
        ),
        (
            "onprem-dc1",
            set(OPTIONAL_PANELS),
            [
                "ingress-nginx",
                "cert-manager",
                "postgres-operator",
                "redis-operator",
                "rabbitmq-operator",
                "kafka",
                "harbor",
                "velero",
                "prometheus",
                "loki",
                "tempo",
            ],
        ),
        (
            "local",
            {"ingress", "cert_manager", "kafka", "postgres"},
            ["ingress-nginx", "cert-manager", "postgres-operator", "redis-operator", "rabbitmq-operator", "kafka", "prometheus"],
        ),
    ],
)
def test_the_overview_has_panels_only_for_services_the_stack_runs(inventory, stack, present, services):
    model = dashboard_models(inventory, stack)["platform-overview"]
    titles = {panel["title"] for panel in model["panels"]}
    assert {service for service, title in OPTIONAL_PANELS.items() if title in titles} == present
    [health] = [panel for panel in model["panels"] if panel["title"] == "Targets up per shared service"]
    assert [target["legendFormat"] for target in health["targets"]] == services
    assert {"Sites reporting", "Nodes ready", "Firing alerts", "CPU used vs allocatable", "Memory used vs allocatable",
            "Persistent volume claims by use"} <= titles
    exprs = expressions(model)
    assert any("velero_backup_last_successful_timestamp" in e for e in exprs) == ("backup" in present)
    assert any("kafka_server_replicamanager_underreplicatedpartitions" in e for e in exprs) == ("kafka" in present)
    assert any("patroni_xlog_replayed_location" in e for e in exprs) == ("postgres" in present)


# --- secrets, RBAC, network ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem-dc1"])
def test_the_admin_password_is_a_generated_secret(inventory, stack):
    resources = grafana(inventory, stack)
    secret = resources["admin"]
    assert secret.inputs["metadata"]["name"] == "grafana-admin" and secret.inputs["metadata"]["namespace"] == "grafana"
    # the generated values make the whole of stringData a secret: nothing of it is readable in state or previews
    assert secret.inputs["stringData"] == "[secret]"
    assert resources["admin-password"].type == "pulumi-python:dynamic/platform:GeneratedPassword"
    v = values(inventory, stack)
    assert v["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert v["envValueFrom"] == {"GF_SECURITY_SECRET_KEY": {"secretKeyRef": {"name": "grafana-admin", "key": "secret-key"}}}
    assert "adminPassword" not in json.dumps(v)


def test_the_render_target_writes_no_password(inventory):
    resources = grafana(inventory, "local")
    assert not {"admin", "admin-password", "secret-key"} & set(resources)
    assert [r for r in resources.values() if r.type == "kubernetes:core/v1:Secret"] == []


@pytest.mark.parametrize("stack", ["prod", "local"])
def test_the_sidecar_reads_configmaps_through_namespaced_roles_only(inventory, stack):
    resources = grafana(inventory, stack)
    assert not [r for r in resources.values() if r.type.endswith(("ClusterRole", "ClusterRoleBinding"))]
    for namespace in ("grafana", "monitoring"):
        role = resources[f"sidecar-role-{namespace}"]
        assert role.type == "kubernetes:rbac.authorization.k8s.io/v1:Role"
        assert (role.inputs["metadata"]["name"], role.inputs["metadata"]["namespace"]) == ("grafana-dashboards", namespace)
        assert role.inputs["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
        binding = resources[f"sidecar-binding-{namespace}"]
        assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "grafana-dashboards"}
        assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "grafana", "namespace": "grafana"}]
    # the monitoring namespace is the metrics part's: the Role there comes after it
    assert (
        "kubernetes:core/v1:Namespace::platform-observability-metrics-namespace"
        in resources["sidecar-role-monitoring"].options["depends_on"]
    )
    assert (
        "kubernetes:core/v1:Namespace::platform-observability-metrics-namespace"
        not in resources["sidecar-role-grafana"].options["depends_on"]
    )


def test_the_chart_makes_no_rbac_and_the_sidecar_searches_two_namespaces(inventory):
    v = values(inventory, "prod")
    assert v["rbac"] == {"create": False, "namespaced": True}
    assert v["serviceAccount"] == {"create": True, "name": "grafana", "automountServiceAccountToken": False}
    board = v["sidecar"]["dashboards"]
    assert (board["enabled"], board["label"], board["labelValue"], board["resource"]) == (True, "grafana_dashboard", "1", "configmap")
    assert board["searchNamespace"] == ["grafana", "monitoring"]
    assert v["sidecar"]["datasources"] == {"enabled": False}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_grafanas_resources_pass_the_policy_pack(inventory, stack):
    evaluator = Evaluator({"all": ("mandatory", {})})
    for resource in grafana(inventory, stack).values():
        if resource.type.startswith("kubernetes:") and resource.type != CHART:
            assert evaluator.resource(resource.type, resource.inputs) == [], resource.name


@pytest.mark.parametrize("stack, egress", [
    ("prod", [("monitoring", [9090, 9093]), ("logging", [8080]), ("tracing", [3200])]),
    ("dev", [("monitoring", [9090]), ("tracing", [3200])]),
    ("local", [("monitoring", [9090])]),
])
def test_grafana_reaches_its_data_sources_and_without_a_hostname_admits_nothing(inventory, stack, egress):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in grafana(inventory, stack).values() if r.type == POLICY}
    assert set(policies) == {"default-deny", "allow-dns", "allow-kube-api", "allow-data-sources"}
    assert [(rule["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], [p["port"] for p in rule["ports"]])
            for rule in policies["allow-data-sources"]["egress"]] == egress
    assert policies["allow-data-sources"]["policyTypes"] == ["Egress"]
    if stack != "local":
        assert values(inventory, stack)["podLabels"] == {}  # not an ingress target: reached by port-forward only


# --- with a hostname -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_hostname():
    loaded = load_stack("prod")
    config = loaded.config
    monitoring = config.services.monitoring.model_copy(update={"grafana_hostname": "grafana.example.com"})
    config = config.model_copy(update={"services": config.services.model_copy(update={"monitoring": monitoring})})
    built = {}

    def program():
        built["grafana"] = Grafana("g", grafana_args(replace(loaded, config=config)))

    registrations = run_program(program, "prod")
    return built["grafana"], {r.name: r for r in registrations}


def test_a_hostname_gets_an_ingress_with_tls_from_the_platform_issuer(with_hostname, inventory):
    _, registered = with_hostname
    ingress = registered["g-ingress"].inputs
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == catalogue.CLUSTER_ISSUER
    assert ingress["spec"]["ingressClassName"] == catalogue.INGRESS_CLASS
    assert ingress["spec"]["tls"] == [{"hosts": ["grafana.example.com"], "secretName": "grafana-tls"}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "grafana.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "grafana", "port": {"number": 80}}}
    evaluator = Evaluator({"all": ("mandatory", {})})
    assert [f for f in evaluator.resource("kubernetes:networking.k8s.io/v1:Ingress", ingress) if f.policy == "ingress-tls"] == []
    # served over HTTPS: secure cookies, HSTS and the public URL
    ini = registered["g-chart"].inputs["values"]["grafana.ini"]
    assert ini["security"]["cookie_secure"] is True and ini["security"]["strict_transport_security"] is True
    assert ini["server"] == {"domain": "grafana.example.com", "root_url": "https://grafana.example.com/"}
    assert not [r for r in grafana(inventory, "prod").values() if r.type == "kubernetes:networking.k8s.io/v1:Ingress"]
    # the ingress controller reaches only labelled pods, and Grafana admits it on its port
    assert registered["g-chart"].inputs["values"]["podLabels"] == {"complete-cluster/ingress": "true"}
    assert registered["g-allow-ingress-controller"].inputs["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                     "ports": [{"protocol": "TCP", "port": 3000}]}],
    }


def test_the_summary_names_the_chart_data_sources_links_and_dashboards(with_hostname):
    component, _ = with_hostname
    summary = component.summary
    assert summary["chart"] == "grafana 12.11.1"
    assert summary["url"] == "https://grafana.example.com/"
    assert summary["adminSecret"] == "grafana-admin"
    assert summary["dataSources"] == {
        "prometheus": {
            "type": "prometheus",
            "url": "http://monitoring-prometheus.monitoring.svc:9090",
            "default": True,
            "links": ["tempo"],
        },
        "alertmanager": {
            "type": "alertmanager",
            "url": "http://monitoring-alertmanager.monitoring.svc:9093",
            "default": False,
            "links": [],
        },
        "loki": {"type": "loki", "url": "http://loki-gateway.logging.svc:80", "default": False, "links": ["tempo"]},
        "tempo": {"type": "tempo", "url": "http://tempo.tracing.svc:3200", "default": False, "links": ["loki", "prometheus"]},
    }
    assert summary["dashboards"] == {
        "platform-overview": "Platform overview",
        "team-payments": "Team payments",
        "team-search": "Team search",
    }
