"""Traces for one site: the OpenTelemetry Collector applications send to, and Tempo on object storage.

`Traces` creates, when `services.tracing.enabled`, in the `tracing` namespace (Pod Security
restricted, default-deny, pods of the namespace may talk to each other):

- Tempo from the pinned grafana/tempo chart (single binary, `fullnameOverride: tempo`: query API
  `tempo:3200`, OTLP gRPC `tempo:4317`, common.TEMPO_URL) storing traces in the `traces` bucket
  with the credentials of `ObjectStorage.access_for("tempo", "tracing", "traces")` (environment
  variables from that Secret, expanded by Tempo with `-config.expand-env=true`), keeping them
  `retention_days`; its volume holds the write-ahead log; an S3 endpoint's CA (`storage.ca_certificate`) is the
  Secret `tempo-storage-ca` (`ObjectStorage.ca_for`), mounted for `tls_ca_path`;
- the OpenTelemetry Collector (pinned open-telemetry/opentelemetry-collector chart, deployment mode,
  `fullnameOverride: otel-collector`) with OTLP receivers on gRPC 4317 and HTTP 4318
  (common.OTEL_COLLECTOR_HOST), `memory_limiter`, head sampling by trace ID at `sampling_percent`
  and `batch`, exporting traces to Tempo and, when logging is on, OTLP logs to Loki;
- in each team namespace a NetworkPolicy that lets the team's pods reach the collector on 4317 and
  4318 and nothing else, created after the team; the collector admits exactly those namespaces;
- Tempo admits Grafana (queries) and the collector; both reach the object storage.

Applications set `OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector.tracing.svc:4318` (or :4317 for
gRPC); docs/observability.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.observability import Tracing

from ..access.team import Team
from ..charts import pinned_chart
from ..kit.images import ImageSource, split_image
from ..kit.namespaces import ServiceNamespace
from ..kit.options import present
from ..kit.network import ANYWHERE, KUBE_API_PORTS, from_namespace, namespace_selector, tcp
from ..labels import StackIdentity, kubernetes_labels
from ..storage import ObjectStorage, StorageAccess, StorageCa
from .common import (
    GRAFANA_NAMESPACE,
    LOGGING_NAMESPACE,
    MONITORING_NAMESPACE,
    OTEL_COLLECTOR_HOST,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    PROMETHEUS_REMOTE_WRITE_PATH,
    PROMETHEUS_URL,
    SITE_LABEL,
    TEMPO_OTLP_GRPC,
    TRACING_NAMESPACE,
    TEMPO_URL,
)
from .logs import RESTRICTED_CONTAINER, _host, storage_env

TEMPO_FULLNAME = "tempo"
TEMPO_PORT = 3200
JAEGER_GRPC_PORT = 14250  # the port of the chart's Jaeger gRPC receiver (values.yaml), kept on the pod's loopback
TEMPO_POD_LABELS = {"app.kubernetes.io/name": "tempo"}
COLLECTOR_FULLNAME = "otel-collector"
COLLECTOR_POD_LABELS = {"app.kubernetes.io/name": "opentelemetry-collector"}  # the chart's name label
LOKI_OTLP_ENDPOINT = f"http://loki-gateway.{LOGGING_NAMESPACE}.svc:80/otlp"
LOKI_GATEWAY_PORT = 8080
TEMPO_ID = 10001  # the Tempo image's user
COLLECTOR_ID = 10001  # the collector image's user
TEAM_EGRESS_POLICY = "allow-otel-collector"

PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}  # set by the Prometheus operator (metrics.py)
PROMETHEUS_PORT = 9090
# Tempo's metrics-generator (Tempo v2.9 modules/generator): the span-metrics processor writes
# traces_spanmetrics_calls_total, _latency (a histogram) and _size_total labelled service, span_name,
# span_kind and status_code; the service-graphs processor writes traces_service_graph_request_total,
# _failed_total and the _server_seconds/_client_seconds histograms labelled client and server. Grafana's
# Tempo data source reads exactly those: trace-to-metrics (grafana.py), the service map and its APM table.
GENERATOR_PROCESSORS = ["service-graphs", "span-metrics"]
GENERATOR_PATH = "/var/tempo/generator"  # on Tempo's volume: the generator's WAL survives a restart

TEMPO_RESOURCES = {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
COLLECTOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}


def restricted_pod(uid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}}


def tempo_storage(access: StorageAccess, ca: StorageCa | None = None) -> dict[str, Any]:
    """`tempo.storage.trace` of the chart: the `traces` bucket, credentials as `${VAR}` references; with `ca`, the
    endpoint verified with the mounted CA file: Tempo 2.9.0 tempodb/backend/s3/config.go inlines dskit's TLS client
    config (`tls_ca_path`), which s3.go sets as the minio transport's TLSClientConfig."""
    if access.kind == "s3":
        backend: dict[str, Any] = {"backend": "s3", "s3": {
            "bucket": access.bucket,
            "endpoint": _host(access.endpoint),
            "region": access.region,
            "insecure": False,
            "forcepathstyle": access.path_style,
            "access_key": "${AWS_ACCESS_KEY_ID}",
            "secret_key": "${AWS_SECRET_ACCESS_KEY}",
            **({"tls_ca_path": ca.file()} if ca is not None else {}),
        }}
    else:
        backend = {"backend": "azure", "azure": {
            "container_name": access.bucket,
            "storage_account_name": "${AZURE_STORAGE_ACCOUNT}",
            "storage_account_key": "${AZURE_STORAGE_ACCESS_KEY}",
        }}
    return {**backend, "wal": {"path": "/var/tempo/wal"}}


@dataclass(frozen=True, kw_only=True)
class TracesArgs:
    tracing: Tracing
    logs_to_loki: bool
    """The stack runs central logging: the collector also sends OTLP logs to Loki."""
    metrics_to_prometheus: bool
    """The stack runs Prometheus: Tempo's metrics-generator writes span metrics and service graphs there."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The tracing part's charts (Tempo, the OpenTelemetry Collector), resolved by the loader."""
    storage: ObjectStorage | None = None
    """The stack's object storage (the config requires one when tracing is on)."""
    teams: dict[str, Team] = field(default_factory=dict)
    """The Team components by team name; their pods may send to the collector."""


def tempo_values(args: TracesArgs, access: StorageAccess, ca: StorageCa | None = None) -> dict[str, Any]:
    tracing = args.tracing
    registry, repository, tag = split_image(args.images.mirrored(catalogue.TEMPO_IMAGE))
    return {
        "fullnameOverride": TEMPO_FULLNAME,
        "replicas": 1,
        "tempo": {
            "registry": registry,
            "repository": repository,
            "tag": tag,
            "reportingEnabled": False,
            "retention": f"{tracing.retention_days * 24}h",
            "storage": {"trace": tempo_storage(access, ca)},
            # OTLP from the collector is what other pods can reach. Chart 1.24.4 cannot switch Jaeger off: its
            # templates/_ports.tpl reads `tempo.receivers.jaeger.protocols.*` without a guard (a null `jaeger` stops the
            # render: "nil pointer evaluating interface {}.protocols"), and Tempo's Jaeger receiver refuses a config
            # without a protocol. So Jaeger keeps one protocol, gRPC on the pod's loopback (no other pod can reach it),
            # and its other protocols and OpenCensus (a chart default) are removed from Tempo's config.
            "receivers": {
                "jaeger": {"protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{JAEGER_GRPC_PORT}"},
                    "thrift_binary": None, "thrift_compact": None, "thrift_http": None,
                }},
                "opencensus": None,
                "otlp": {
                    "protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}, "http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}
                },
            },
            "resources": TEMPO_RESOURCES,
            "securityContext": RESTRICTED_CONTAINER,
            "extraArgs": {"config.expand-env": "true"},
            "extraEnv": storage_env(access),
            **({"extraVolumeMounts": [ca.mount()]} if ca is not None else {}),
            **(metrics_generator(args.identity.site) if args.metrics_to_prometheus else {}),
        },
        "securityContext": restricted_pod(TEMPO_ID),
        **({"extraVolumes": [ca.volume()]} if ca is not None else {}),
        "persistence": {"enabled": True, "size": "10Gi"},
        "tempoQuery": {"enabled": False},
        "serviceAccount": {"create": True, "automountServiceAccountToken": False},
    }


def metrics_generator(site: str) -> dict[str, Any]:
    """The chart's `tempo.metricsGenerator` (templates/configmap-tempo.yaml writes it to
    `metrics_generator:`) and the overrides that switch its processors on for every tenant: the
    generator remote-writes into this site's Prometheus, each series labelled with the site, as
    everything Prometheus scrapes here is (metrics.py)."""
    return {
        "metricsGenerator": {
            "enabled": True,
            "registry": {"external_labels": {SITE_LABEL: site}},
            "storage": {"path": f"{GENERATOR_PATH}/wal", "remote_write": [{"url": f"{PROMETHEUS_URL}{PROMETHEUS_REMOTE_WRITE_PATH}"}]},
            "traces_storage": {"path": f"{GENERATOR_PATH}/traces"},
        },
        "overrides": {"defaults": {"metrics_generator": {"processors": GENERATOR_PROCESSORS}}},
    }


def collector_config(args: TracesArgs) -> dict[str, Any]:
    """The collector's configuration, merged by the chart over its defaults (None removes a default)."""
    tracing = args.tracing
    logs = args.logs_to_loki
    exporters: dict[str, Any] = {
        "debug": None,
        "otlp_grpc/tempo": {"endpoint": TEMPO_OTLP_GRPC, "tls": {"insecure": True}},
    }
    pipelines: dict[str, Any] = {
        "traces": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "probabilistic_sampler", "batch"],
            "exporters": ["otlp_grpc/tempo"],
        },
        "metrics": None,
        "logs": None,
    }
    if logs:
        exporters["otlp_http/loki"] = {"endpoint": LOKI_OTLP_ENDPOINT}
        pipelines["logs"] = {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": ["otlp_http/loki"]}
    return {
        "receivers": {
            "jaeger": None,
            "zipkin": None,
            "prometheus": None,
            "otlp": {"protocols": {
                "grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC_PORT}"},
                "http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP_PORT}"},
            }},
        },
        "processors": {
            "memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
            # Head sampling by trace ID: every span of a kept trace is kept.
            "probabilistic_sampler": {"sampling_percentage": tracing.sampling_percent},
            "batch": {},
        },
        "exporters": exporters,
        "service": {"pipelines": pipelines},
    }


def collector_values(args: TracesArgs) -> dict[str, Any]:
    repository, _, tag = args.images.mirrored(catalogue.OTEL_COLLECTOR_IMAGE).rpartition(":")
    return {
        "mode": "deployment",
        "fullnameOverride": COLLECTOR_FULLNAME,
        "replicaCount": 2 if args.identity.production else 1,
        "image": {"repository": repository, "tag": tag},
        "command": {"name": "otelcol-contrib"},
        "podSecurityContext": restricted_pod(COLLECTOR_ID),
        "securityContext": RESTRICTED_CONTAINER,
        "resources": COLLECTOR_RESOURCES,
        "ports": {
            "otlp": {"enabled": True},
            "otlp-http": {"enabled": True},
            "jaeger-compact": {"enabled": False},
            "jaeger-thrift": {"enabled": False},
            "jaeger-grpc": {"enabled": False},
            "zipkin": {"enabled": False},
            "metrics": {"enabled": False},
        },
        "config": collector_config(args),
        # The collector never calls the API: its account (made by the Traces component) mounts no token, and
        # neither does its pod, which the chart sets from `serviceAccount.automountServiceAccountToken`
        # (templates/_pod.tpl at 0.170.0; default true, which overrides the account's false).
        "serviceAccount": {"create": False, "name": COLLECTOR_FULLNAME, "automountServiceAccountToken": False},
    }


class Traces(pulumi.ComponentResource):
    """Tempo and the OpenTelemetry Collector of one site (module docstring)."""

    namespace: ServiceNamespace
    access: StorageAccess
    tempo: k8s.helm.v4.Chart | None
    collector: k8s.helm.v4.Chart | None
    team_policies: dict[str, k8s.networking.v1.NetworkPolicy]
    summary: dict[str, Any]

    def __init__(self, name: str, args: TracesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Traces", name, None, opts)
        storage = args.storage
        tracing = args.tracing
        if storage is None:
            raise ValueError("tracing keeps its traces in object storage; the stack has none (configure `storage`)")
        child = pulumi.ResourceOptions(parent=self)

        self.namespace = ServiceNamespace(
            f"{name}-tracing", TRACING_NAMESPACE, kubernetes_labels(args.identity, "tracing"), child, internal=True
        )
        in_namespace = self.namespace.opts
        self.access = storage.access_for("tempo", self.namespace.namespace.metadata.name, "traces")
        ca = storage.ca_for("tempo", self.namespace.namespace.metadata.name)
        self.tempo = pinned_chart(
            f"{name}-tempo", catalogue.TEMPO_CHART, args.charts, self.namespace.namespace.metadata.name,
            tempo_values(args, self.access, ca),
            # Tempo's StatefulSet claims its WAL volume: in prod it is protected, with the chart (policy stateful-protection).
            pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(
                depends_on=present(self.access.secret, ca.secret if ca else None), protect=args.identity.production)),
        )
        self.collector_account = k8s.core.v1.ServiceAccount(
            f"{name}-otel-collector-account", metadata=self.namespace.metadata(COLLECTOR_FULLNAME),
            automount_service_account_token=False, opts=in_namespace,
        )
        self.collector = pinned_chart(
            f"{name}-otel-collector", catalogue.OTEL_COLLECTOR_CHART, args.charts, self.namespace.namespace.metadata.name,
            collector_values(args), pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[self.collector_account])),
        )

        teams = dict(sorted(args.teams.items()))
        self._network_policies(storage.endpoint_port, list(teams), args.logs_to_loki, args.metrics_to_prometheus)
        # Each team's pods may reach the collector; the policy lives in the team's namespace, after it.
        self.team_policies = {
            team_name: k8s.networking.v1.NetworkPolicy(
                f"{name}-{team_name}-to-collector",
                metadata={"name": TEAM_EGRESS_POLICY, "namespace": team_name, "labels": self.namespace.labels},
                spec={
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [from_namespace(TRACING_NAMESPACE, COLLECTOR_POD_LABELS)], "ports": tcp(OTLP_GRPC_PORT, OTLP_HTTP_PORT)}
                    ],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[team]),
            )
            for team_name, team in teams.items()
        }

        self.summary = {
            "charts": {ref.name: ref.version for ref, _ in args.charts.sources},
            "namespace": TRACING_NAMESPACE,
            "tempo": {"url": TEMPO_URL, "bucket": self.access.bucket, "retentionDays": tracing.retention_days},
            "collector": {
                "otlpGrpc": f"{OTEL_COLLECTOR_HOST}:{OTLP_GRPC_PORT}",
                "otlpHttp": f"http://{OTEL_COLLECTOR_HOST}:{OTLP_HTTP_PORT}",
                "samplingPercent": tracing.sampling_percent,
                "logsToLoki": args.logs_to_loki,
            },
            "teams": list(teams),
        }
        self.register_outputs({"summary": self.summary})

    def _network_policies(self, storage_port: int, teams: list[str], logging: bool, metrics: bool) -> None:
        """What Tempo and the collector need beyond the namespace's baseline (default-deny, DNS, HTTPS
        out, and each other: the collector reaches Tempo inside the namespace)."""
        namespace = self.namespace
        namespace.policy("allow-grafana-to-tempo", {
            "podSelector": {"matchLabels": TEMPO_POD_LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [from_namespace(GRAFANA_NAMESPACE)], "ports": tcp(TEMPO_PORT)}],
        })
        if teams:
            namespace.policy(
                "allow-teams-to-collector",
                {
                    "podSelector": {"matchLabels": COLLECTOR_POD_LABELS},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": teams}]
                                    }
                                }
                            ],
                            "ports": tcp(OTLP_GRPC_PORT, OTLP_HTTP_PORT),
                        }
                    ],
                },
            )
        if logging:
            namespace.policy("allow-collector-to-loki", {
                "podSelector": {"matchLabels": COLLECTOR_POD_LABELS},
                "policyTypes": ["Egress"],
                "egress": [{"to": [namespace_selector(LOGGING_NAMESPACE)], "ports": tcp(LOKI_GATEWAY_PORT)}],
            })
        if metrics:
            # The metrics-generator remote-writes to Prometheus (metrics.py admits Tempo's pods).
            namespace.policy("allow-tempo-to-prometheus", {
                "podSelector": {"matchLabels": TEMPO_POD_LABELS},
                "policyTypes": ["Egress"],
                "egress": [{"to": [from_namespace(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS)], "ports": tcp(PROMETHEUS_PORT)}],
            })
        if storage_port not in KUBE_API_PORTS:
            namespace.policy(
                "allow-object-storage",
                {
                    "podSelector": {"matchLabels": TEMPO_POD_LABELS},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": ANYWHERE, "ports": tcp(storage_port)}],
                },
            )
