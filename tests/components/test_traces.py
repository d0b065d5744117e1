"""Tracing, read from the offline inventories: Tempo on the `traces` bucket with the environment's
retention, the OpenTelemetry Collector's OTLP endpoints, sampling and exporters, the team namespaces
reaching the collector and nothing else, and the policy pack's verdict on the configured pods."""

from __future__ import annotations

import copy

import pytest

from stacks import catalogue
from components.observability import traces as traces_module
from components.observability.common import OTEL_COLLECTOR_HOST, TEMPO_OTLP_GRPC
from policies.evaluate import Evaluator
from stacks.chart_sources import part_charts
from stacks.tools.inventory import evaluate
from stacks.loader import load

TRACES = "platform:observability:Traces::platform-observability-traces"
CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TRACING_STACKS = ["dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
OTLP_PORTS = [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}]


def traces(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-observability-traces-"): r for r in inventory(stack) if r.parent == TRACES}


def values(inventory, stack: str, chart: str) -> dict:
    return traces(inventory, stack)[chart].inputs["values"]


def test_every_stack_with_tracing_runs_tempo_and_the_collector_and_local_does_not(inventory):
    assert [r for r in inventory("local") if r.type == "platform:observability:Traces"] == []
    for stack in TRACING_STACKS:
        assert load(stack).services.tracing.enabled
        children = traces(inventory, stack)
        for chart, ref in (("tempo", catalogue.TEMPO_CHART), ("otel-collector", catalogue.OTEL_COLLECTOR_CHART)):
            inputs = children[chart].inputs
            assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"], inputs["namespace"]) == (
                ref.name, ref.version, {"repo": ref.repository}, "tracing")
    assert part_charts(load("prod"), "tracing") == [catalogue.TEMPO_CHART, catalogue.OTEL_COLLECTOR_CHART]
    assert part_charts(load("local"), "tracing") == []


@pytest.mark.parametrize("stack, hours, backend, bucket", [
    ("dev", 3 * 24, "azure", "traces"),
    ("test", 7 * 24, "azure", "traces"),
    ("prod", 14 * 24, "azure", "traces"),
    ("onprem-dc1", 14 * 24, "s3", "dc1-traces"),
])
def test_tempo_keeps_traces_in_the_traces_bucket_for_the_configured_retention(inventory, stack, hours, backend, bucket):
    tempo = values(inventory, stack, "tempo")
    assert tempo["fullnameOverride"] == "tempo"
    assert tempo["tempo"]["retention"] == f"{hours}h"
    trace = tempo["tempo"]["storage"]["trace"]
    assert trace["backend"] == backend
    given = trace[backend]
    assert given.get("bucket", given.get("container_name")) == bucket == load(stack).storage.buckets.traces
    # OTLP on the ports common.TEMPO_OTLP_GRPC names; Jaeger (which chart 1.24.4 cannot switch off) on loopback only.
    assert tempo["tempo"]["receivers"] == {
        "jaeger": {"protocols": {"grpc": {"endpoint": "127.0.0.1:14250"}, "thrift_binary": None, "thrift_compact": None,
                                 "thrift_http": None}},
        "opencensus": None,
        "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}},
    }
    assert TEMPO_OTLP_GRPC == "tempo.tracing.svc:4317"


@pytest.mark.parametrize("stack, keys", [
    ("prod", ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCESS_KEY")),
    ("onprem-dc2", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
])
def test_tempo_reads_its_storage_credentials_from_the_secret(inventory, stack, keys):
    tempo = values(inventory, stack, "tempo")
    assert tempo["tempo"]["extraEnv"] == [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": "tempo-traces-storage", "key": key}}} for key in keys
    ]
    assert tempo["tempo"]["extraArgs"] == {"config.expand-env": "true"}
    assert "[secret]" not in repr(tempo)
    [made] = [r for r in inventory(stack) if r.type == SECRET and r.inputs["metadata"]["name"] == "tempo-traces-storage"]
    assert made.inputs["metadata"]["namespace"] == "tracing"


@pytest.mark.parametrize("stack, percent, logs", [("dev", 100, False), ("test", 100, True), ("prod", 25, True)])
def test_the_collector_receives_otlp_samples_and_exports_to_tempo_and_loki(inventory, stack, percent, logs):
    collector = values(inventory, stack, "otel-collector")
    assert (collector["mode"], collector["fullnameOverride"]) == ("deployment", "otel-collector")
    assert (collector["ports"]["otlp"], collector["ports"]["otlp-http"]) == ({"enabled": True}, {"enabled": True})
    assert [port for port, setting in collector["ports"].items() if setting["enabled"]] == ["otlp", "otlp-http"]
    config = collector["config"]
    assert config["receivers"]["otlp"] == {
        "protocols": {"grpc": {"endpoint": "${env:MY_POD_IP}:4317"}, "http": {"endpoint": "${env:MY_POD_IP}:4318"}}
    }
    assert (config["receivers"]["jaeger"], config["receivers"]["zipkin"], config["receivers"]["prometheus"]) == (None, None, None)
    assert config["processors"]["probabilistic_sampler"] == {"sampling_percentage": percent}
    assert config["processors"]["memory_limiter"]["limit_percentage"] == 80
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "probabilistic_sampler", "batch"],
        "exporters": ["otlp_grpc/tempo"],
    }
    assert config["exporters"]["otlp_grpc/tempo"]["endpoint"] == TEMPO_OTLP_GRPC
    if logs:
        assert pipelines["logs"] == {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": ["otlp_http/loki"]}
        assert config["exporters"]["otlp_http/loki"] == {"endpoint": "http://loki-gateway.logging.svc:80/otlp"}
    else:
        assert pipelines["logs"] is None and "otlp_http/loki" not in config["exporters"]
    # where applications send (common.OTEL_COLLECTOR_HOST): the chart's Service is the fullname
    assert OTEL_COLLECTOR_HOST == f"{collector['fullnameOverride']}.tracing.svc"


# --- network policies ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1"])
def test_team_namespaces_may_reach_the_collector_and_nothing_more(inventory, stack):
    teams = sorted(team.name for team in load(stack).teams)
    assert teams
    team_policies = {r.inputs["metadata"]["namespace"]: r for r in inventory(stack) if r.type == POLICY and r.parent == TRACES
                     and r.inputs["metadata"]["name"] == "allow-otel-collector"}
    assert sorted(team_policies) == teams
    for team, policy in team_policies.items():
        assert policy.inputs["spec"] == {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tracing"}},
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}}}],
                        "ports": OTLP_PORTS}],
        }
        # created after the team (its namespace and default-deny)
        # created after the team: the engine sees a dependency on each of the Team's resources
        depends_on = policy.options["depends_on"]
        assert f"kubernetes:core/v1:Namespace::team-{team}-namespace" in depends_on
        assert f"kubernetes:networking.k8s.io/v1:NetworkPolicy::team-{team}-default-deny" in depends_on
        assert all(dependency.split("::")[1].startswith(f"team-{team}-") for dependency in depends_on)
    # the collector admits exactly the team namespaces, on the OTLP ports
    [admit] = [
        r for r in inventory(stack) if r.type == POLICY and r.name == "platform-observability-traces-tracing-allow-teams-to-collector"
    ]
    assert admit.inputs["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": teams}]}}
                ],
                "ports": OTLP_PORTS,
            }
        ],
    }


def test_tempo_admits_grafana_on_its_query_port_and_the_collector_reaches_loki(inventory):
    children = traces(inventory, "prod")
    grafana = children["tracing-allow-grafana-to-tempo"].inputs["spec"]
    assert grafana == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tempo"}}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "grafana"}}}],
                                    "ports": [{"protocol": "TCP", "port": 3200}]}]}
    loki = children["tracing-allow-collector-to-loki"].inputs["spec"]
    assert loki["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "logging"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    # the collector reaches Tempo inside the namespace; dev has no Loki, so no egress to it
    assert "tracing-allow-internal" in children
    assert "tracing-allow-collector-to-loki" not in traces(inventory, "dev")


# --- pods ----------------------------------------------------------------------------------------


def _pods(tempo: dict, collector: dict) -> list[tuple[str, dict]]:
    """Tempo's StatefulSet and the collector's Deployment as the charts render them from these values
    (pod and container security contexts, images, resources, a PVC and the config map)."""
    return [
        (
            "kubernetes:apps/v1:StatefulSet",
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "tempo", "namespace": "tracing"},
                "spec": {
                    "template": {
                        "spec": {
                            "securityContext": tempo["securityContext"],
                            "containers": [
                                {
                                    "name": "tempo",
                                    "image": f"{tempo['tempo']['registry']}/{tempo['tempo']['repository']}:{tempo['tempo']['tag']}",
                                    "securityContext": tempo["tempo"]["securityContext"],
                                    "resources": tempo["tempo"]["resources"],
                                }
                            ],
                            "volumes": [{"name": "tempo-conf", "configMap": {"name": "tempo"}}],
                        }
                    }
                },
            },
        ),
        (
            "kubernetes:apps/v1:Deployment",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "otel-collector", "namespace": "tracing"},
                "spec": {
                    "template": {
                        "spec": {
                            "securityContext": collector["podSecurityContext"],
                            "containers": [
                                {
                                    "name": "opentelemetry-collector",
                                    "image": f"{collector['image']['repository']}:{collector['image']['tag']}",
                                    "securityContext": collector["securityContext"],
                                    "resources": collector["resources"],
                                }
                            ],
                            "volumes": [{"name": "opentelemetry-collector-configmap", "configMap": {"name": "otel-collector"}}],
                        }
                    }
                },
            },
        ),
    ]


@pytest.mark.parametrize(
    "stack, registry", [("prod", "platformacr.azurecr.io/docker.io"), ("onprem-dc1", "harbor.dc1.example.com/dockerhub")]
)
def test_tempo_and_the_collector_pass_pod_security_restricted_and_the_resource_policy(inventory, stack, registry):
    tempo, collector = values(inventory, stack, "tempo"), values(inventory, stack, "otel-collector")
    assert collector["image"] == {"repository": f"{registry}/otel/opentelemetry-collector-contrib", "tag": "0.158.0"}
    assert (tempo["tempo"]["securityContext"], collector["securityContext"]) == (RESTRICTED, RESTRICTED)
    evaluator = Evaluator({"all": ("mandatory", {})})
    for type_token, pod in _pods(tempo, collector):
        assert [
            f.message for f in evaluator.resource(type_token, pod) if f.policy in ("pod-security", "workload-resources", "approved-images")
        ] == []
    broken = copy.deepcopy(collector)
    broken["resources"] = {}
    type_token, pod = _pods(tempo, broken)[1]
    assert [f for f in evaluator.resource(type_token, pod) if f.policy == "workload-resources"] != []


def test_the_summary_states_charts_retention_and_the_collector_endpoint(monkeypatch):
    summaries: list[dict] = []
    register = traces_module.Traces.register_outputs
    monkeypatch.setattr(
        traces_module.Traces, "register_outputs", lambda self, outputs: (summaries.append(outputs["summary"]), register(self, outputs))[1]
    )
    evaluate("prod")
    [prod] = summaries
    assert prod == {
        "charts": {"tempo": "1.24.4", "opentelemetry-collector": "0.170.0"},
        "namespace": "tracing",
        "tempo": {"url": "http://tempo.tracing.svc:3200", "bucket": "traces", "retentionDays": 14},
        "collector": {"otlpGrpc": "otel-collector.tracing.svc:4317", "otlpHttp": "http://otel-collector.tracing.svc:4318",
                      "samplingPercent": 25.0, "logsToLoki": True},
        "teams": ["payments", "search"],
    }


def test_the_collector_runs_as_its_own_account_without_an_api_token(inventory):
    objects = traces(inventory, "prod")
    account = objects["otel-collector-account"]
    assert account.inputs["metadata"]["name"] == "otel-collector" and account.inputs["metadata"]["namespace"] == "tracing"
    assert account.inputs["automountServiceAccountToken"] is False
    collector = values(inventory, "prod", "otel-collector")
    # The pod's own automountServiceAccountToken comes from this value (chart 0.170.0 templates/_pod.tpl) and would
    # override the account's; the render tier sees the rendered Deployment (tests/engine/test_stacks_rendered.py).
    assert collector["serviceAccount"] == {"create": False, "name": "otel-collector", "automountServiceAccountToken": False}
    chart = next(r for r in inventory("prod") if r.name.endswith("-otel-collector") and r.type == "kubernetes:helm.sh/v4:Chart")
    assert "kubernetes:core/v1:ServiceAccount::platform-observability-traces-otel-collector-account" in chart.options["depends_on"]


def test_tempo_verifies_an_s3_endpoint_with_the_ca_the_stack_file_names(inventory, sites_with_storage_cas):
    """`storage.ca_certificate`: Tempo mounts a Secret holding it and names the file as its S3 client's `tls_ca_path`."""
    _, with_ca = sites_with_storage_cas
    tempo = values(with_ca, "onprem-dc1", "tempo")
    assert tempo["tempo"]["storage"]["trace"]["s3"]["tls_ca_path"] == "/etc/storage-ca/ca.crt"
    assert tempo["extraVolumes"] == [{"name": "storage-ca", "secret": {"secretName": "tempo-storage-ca"}}]
    assert tempo["tempo"]["extraVolumeMounts"] == [{"name": "storage-ca", "mountPath": "/etc/storage-ca", "readOnly": True}]
    secret = next(r.inputs for r in with_ca("onprem-dc1").of_type(SECRET) if r.inputs["metadata"]["name"] == "tempo-storage-ca")
    assert secret["metadata"]["namespace"] == "tracing"  # its data, a Pulumi secret here, is read in the render tier
    assert "kubernetes:core/v1:Secret::platform-storage-tempo-ca" in traces(with_ca, "onprem-dc1")["tempo"].options["depends_on"]
    shipped = values(inventory, "onprem-dc1", "tempo")
    assert "tls_ca_path" not in shipped["tempo"]["storage"]["trace"]["s3"] and "extraVolumes" not in shipped
