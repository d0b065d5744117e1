"""Grafana: data sources for metrics, logs and traces wired to each other, and dashboards as code.

What `Grafana` creates, in the `grafana` namespace (Pod Security `restricted`, default-deny
networking with DNS and the API server, plus what Grafana itself needs):

- the admin credentials: on a cluster the program deploys to, a Secret `grafana-admin` holding a
  generated admin password and the key Grafana encrypts its stored secrets with (both
  `GeneratedPassword`s, secret in state); a render target writes Secrets in plain text into its
  files, so there (as components/services/redis.py does for cache passwords) no password is
  generated and the chart still reads `grafana-admin`, which whoever applies the rendered
  manifests creates first (summary `adminSecret`);
- the pinned grafana chart (`fullnameOverride: grafana`): one restricted pod with a read-only root
  file system, resources, no persistence (below), a hardened `grafana.ini`, the data sources
  provisioned through values, and the dashboard sidecar reading ConfigMaps labelled
  `grafana_dashboard: "1"` in `grafana` (ours) and `monitoring` (kube-prometheus-stack's);
- the sidecar's RBAC as namespaced Roles and RoleBindings in those two namespaces (ConfigMaps,
  read-only). The chart's own RBAC is off: with `rbac.namespaced: false` it makes a ClusterRole,
  with `true` a Role in its own namespace only, both over ConfigMaps *and* Secrets;
- the dashboards of dashboards.py, one ConfigMap each;
- network policies: Grafana reaches Prometheus and Alertmanager (`monitoring`), Loki (`logging`)
  and Tempo (`tracing`) on their ports;
- with `services.monitoring.grafana_hostname`, an Ingress with TLS from the platform ClusterIssuer,
  the pod labelled as an ingress target (ingress-nginx's egress reaches only those) and a policy
  admitting ingress-nginx on Grafana's port; without one Grafana is reached by port-forward only.

No persistent volume: every data source and dashboard is code, so Grafana's database holds only
sessions, preferences and what someone changed by hand, which a restart may lose. Without a
volume the pod restarts on any node at once, and the chart's root `init-chown-data` container
(Pod Security `restricted` forbids it) is not needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import Services
from stacks.model.teams import Team

from ..charts import pinned_chart
from ..kit.generated import GeneratedPassword
from ..kit.images import ImageSource, split_image
from ..kit.namespaces import ServiceNamespace
from ..kit.network import namespace_selector, tcp
from ..kit.options import after
from ..kit.security import restricted_container, restricted_pod
from ..labels import INGRESS_TARGET_LABEL, StackIdentity, kubernetes_labels
from .dashboards import DASHBOARD_LABEL, DASHBOARD_LABEL_VALUE, FOLDER_ANNOTATION, OVERVIEW_UID, dashboards_for
from .common import (
    ALERTMANAGER_URL, GRAFANA_NAMESPACE, LOGGING_NAMESPACE, LOKI_URL, MONITORING_NAMESPACE, PROMETHEUS_URL, SITE_LABEL, TEMPO_URL,
    TRACING_NAMESPACE,
)

FULLNAME = "grafana"  # the chart's fullnameOverride: Service, Deployment and ServiceAccount names
SERVICE_PORT = 80
GRAFANA_PORT = 3000  # the container port behind the Service
ADMIN_SECRET = "grafana-admin"
ADMIN_USER = "admin"
TLS_SECRET = "grafana-tls"
SIDECAR_ROLE = "grafana-dashboards"
RUN_AS = 472  # the grafana image's own user
SIDECAR_FOLDER = "/tmp/dashboards"

# The ports the data sources' pods listen on (network policies see them after the Service's
# translation): Prometheus 9090, Alertmanager 9093, the Loki gateway's nginx 8080 behind Service
# port 80, Tempo's HTTP API 3200.
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
LOKI_GATEWAY_PORT = 8080
TEMPO_PORT = 3200

GRAFANA_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
SIDECAR_RESOURCES = {"requests": {"cpu": "20m", "memory": "96Mi"}, "limits": {"memory": "192Mi"}}

# A trace ID in a log line: `traceID=...`, `trace_id: "..."`, `"traceId":"..."` (logfmt, text, JSON).
TRACE_ID_PATTERN = r'(?:traceID|trace_id|traceId)\W+([0-9a-fA-F]{16,32})'
# Span attributes (OpenTelemetry resource attributes set by the collector) -> Loki labels.
TRACE_TO_LOG_TAGS = [
    {"key": SITE_LABEL, "value": SITE_LABEL},
    {"key": "k8s.namespace.name", "value": "namespace"},
    {"key": "k8s.pod.name", "value": "pod"},
]


# --- data sources --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GrafanaArgs:
    services: Services
    """Which services the stack runs (data sources and dashboards follow them)."""
    teams: list[Team]
    """A dashboard per team."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The monitoring part's charts (Grafana), resolved by the loader."""
    generate_password: bool
    """Generate the admin password and secret key (only on clusters the program deploys to)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """Resources to create the chart and the `monitoring` Role after: the `monitoring` namespace,
    which the metrics part creates."""


def data_sources(services: Services) -> list[dict[str, Any]]:
    """Grafana's provisioned data sources for the stack (provisioning file `apiVersion: 1`).

    Links point only at data sources this stack has: logs -> traces and traces -> logs need both
    Loki and Tempo. Literal `$` is written `$$` because Grafana expands environment variables in
    provisioning files."""
    logs, traces = services.logging.enabled, services.tracing.enabled
    prometheus: dict[str, Any] = {
        "name": "Prometheus", "type": "prometheus", "uid": "prometheus", "access": "proxy", "url": PROMETHEUS_URL,
        "isDefault": True, "editable": False,
        "jsonData": {"httpMethod": "POST", "prometheusType": "Prometheus", "timeInterval": "30s"},
    }
    if traces:
        # An exemplar's trace ID opens the trace.
        prometheus["jsonData"]["exemplarTraceIdDestinations"] = [{"name": "trace_id", "datasourceUid": "tempo"}]
    found = [prometheus]
    if services.monitoring.mode == "full":
        found.append({
            "name": "Alertmanager", "type": "alertmanager", "uid": "alertmanager", "access": "proxy", "url": ALERTMANAGER_URL,
            "editable": False, "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        })
    if logs:
        loki: dict[str, Any] = {
            "name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": LOKI_URL, "editable": False,
            "jsonData": {"maxLines": 1000},
        }
        if traces:
            loki["jsonData"]["derivedFields"] = [{
                "name": "TraceID", "matcherType": "regex", "matcherRegex": TRACE_ID_PATTERN,
                "datasourceUid": "tempo", "url": "$${__value.raw}", "urlDisplayLabel": "View trace",
            }]
        found.append(loki)
    if traces:
        tempo: dict[str, Any] = {
            "name": "Tempo",
            "type": "tempo",
            "uid": "tempo",
            "access": "proxy",
            "url": TEMPO_URL,
            "editable": False,
            "jsonData": {
                "nodeGraph": {"enabled": True},
                "serviceMap": {"datasourceUid": "prometheus"},
                "search": {"hide": False},
                "traceQuery": {"timeShiftEnabled": True, "spanStartTimeShift": "-30m", "spanEndTimeShift": "30m"},
                # Tempo's metrics generator names span metrics `traces_spanmetrics_*`, with `service` for service.name.
                "tracesToMetrics": {
                    "datasourceUid": "prometheus",
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "tags": [{"key": "service.name", "value": "service"}],
                    "queries": [
                        {"name": "Request rate", "query": "sum(rate(traces_spanmetrics_calls_total{$$__tags}[5m]))"},
                        {
                            "name": "Latency p95",
                            "query": "histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket{$$__tags}[5m])))",
                        },
                    ],
                },
            },
        }
        if logs:
            tempo["jsonData"]["tracesToLogsV2"] = {
                "datasourceUid": "loki", "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m",
                "tags": TRACE_TO_LOG_TAGS, "filterByTraceID": True, "filterBySpanID": False, "customQuery": False,
            }
            tempo["jsonData"]["lokiSearch"] = {"datasourceUid": "loki"}
        found.append(tempo)
    return found


def data_source_links(sources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each data source's URL and the data sources it links to, by uid (the summary)."""
    summary = {}
    for source in sources:
        data = source.get("jsonData", {})
        links = sorted({
            *(d["datasourceUid"] for d in data.get("derivedFields", [])),
            *(d["datasourceUid"] for d in data.get("exemplarTraceIdDestinations", [])),
            *(data[key]["datasourceUid"] for key in ("tracesToLogsV2", "tracesToMetrics", "serviceMap", "lokiSearch") if key in data),
        })
        summary[source["uid"]] = {"type": source["type"], "url": source["url"], "default": bool(source.get("isDefault")), "links": links}
    return summary


# --- chart values --------------------------------------------------------------------------------


def grafana_ini(services: Services) -> dict[str, Any]:
    """Hardened: no anonymous access and no sign-up; secure cookies and HSTS when served over HTTPS;
    nothing that calls the internet (analytics, update checks, plugin preinstall, external
    snapshots, the news feed), since the clusters have no route there."""
    host = services.monitoring.grafana_hostname
    https = bool(host)
    ini: dict[str, Any] = {
        "auth.anonymous": {"enabled": False},
        "users": {"allow_sign_up": False, "allow_org_create": False},
        "security": {
            "cookie_secure": https,
            "cookie_samesite": "strict",
            "strict_transport_security": https,
            "disable_gravatar": True,
        },
        "analytics": {
            "reporting_enabled": False,
            "check_for_updates": False,
            "check_for_plugin_updates": False,
            "feedback_links_enabled": False,
        },
        "plugins": {"preinstall_disabled": True},
        "snapshots": {"external_enabled": False},
        "news": {"news_feed_enabled": False},
        "log": {"mode": "console"},
    }
    if host:
        ini["server"] = {"domain": host, "root_url": f"https://{host}/"}
    return ini


def chart_values(args: GrafanaArgs) -> dict[str, Any]:
    registry, repository, tag = split_image(args.images.mirrored(catalogue.GRAFANA_IMAGE))
    sidecar_registry, sidecar_repository, sidecar_tag = split_image(args.images.mirrored(catalogue.GRAFANA_SIDECAR_IMAGE))
    read_only = {**restricted_container(RUN_AS), "readOnlyRootFilesystem": True}
    exposed = bool(args.services.monitoring.grafana_hostname)
    return {
        "fullnameOverride": FULLNAME,
        "replicas": 1,
        "image": {"registry": registry, "repository": repository, "tag": tag},
        "testFramework": {"enabled": False},
        # RBAC for the sidecar is ours (namespaced Roles in two namespaces, ConfigMaps only).
        "rbac": {"create": False, "namespaced": True},
        "serviceAccount": {"create": True, "name": FULLNAME, "automountServiceAccountToken": False},
        "automountServiceAccountToken": True,  # the dashboard sidecar reads ConfigMaps through the API
        "securityContext": restricted_pod(RUN_AS, RUN_AS),
        "containerSecurityContext": read_only,
        "resources": GRAFANA_RESOURCES,
        "podLabels": {INGRESS_TARGET_LABEL: "true"} if exposed else {},
        "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "persistence": {"enabled": False},
        "initChownData": {"enabled": False},
        "admin": {"existingSecret": ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "envValueFrom": {"GF_SECURITY_SECRET_KEY": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "secret-key"}}},
        "grafana.ini": grafana_ini(args.services),
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": data_sources(args.services)}},
        "service": {"enabled": True, "type": "ClusterIP", "port": SERVICE_PORT, "targetPort": GRAFANA_PORT},
        "ingress": {"enabled": False},  # our own Ingress below, with the platform's class and issuer
        "serviceMonitor": {"enabled": False},
        "sidecar": {
            "image": {"registry": sidecar_registry, "repository": sidecar_repository, "tag": sidecar_tag},
            "resources": SIDECAR_RESOURCES,
            "securityContext": read_only,
            "datasources": {"enabled": False},
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL,
                "labelValue": DASHBOARD_LABEL_VALUE,
                "searchNamespace": [GRAFANA_NAMESPACE, MONITORING_NAMESPACE],
                "resource": "configmap",
                "watchMethod": "WATCH",
                "folder": SIDECAR_FOLDER,
                "folderAnnotation": FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True, "allowUiUpdates": False, "disableDelete": False},
            },
        },
    }


# --- the component -------------------------------------------------------------------------------


class Grafana(pulumi.ComponentResource):
    """Grafana and its data sources, dashboards, RBAC and network policies (module docstring)."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    admin_secret: k8s.core.v1.Secret | None = None
    ingress: k8s.networking.v1.Ingress | None = None
    dashboards: dict[str, k8s.core.v1.ConfigMap]
    summary: dict[str, Any]

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Grafana", name, None, opts)
        services = args.services
        host = services.monitoring.grafana_hostname
        child = pulumi.ResourceOptions(parent=self)

        space = ServiceNamespace(name, GRAFANA_NAMESPACE, kubernetes_labels(args.identity, "grafana"), child)
        self.namespace = space.namespace
        self._network_policies(space, services, exposed=bool(host))

        if args.generate_password:
            password = GeneratedPassword(f"{name}-admin-password", 32, opts=child)
            secret_key = GeneratedPassword(f"{name}-secret-key", 40, opts=child)
            self.admin_secret = k8s.core.v1.Secret(
                f"{name}-admin",
                metadata=space.metadata(ADMIN_SECRET),
                type="Opaque",
                string_data={"admin-user": ADMIN_USER, "admin-password": password.result, "secret-key": secret_key.result},
                opts=space.opts,
            )

        self._sidecar_rbac(name, space, args.after)

        self.dashboards = {}
        models = dashboards_for(services, args.teams)
        for uid, model in models.items():
            folder = "Platform" if uid == OVERVIEW_UID else "Teams"
            self.dashboards[uid] = k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{uid}",
                metadata={
                    **space.metadata(f"dashboard-{uid}", {DASHBOARD_LABEL: DASHBOARD_LABEL_VALUE}),
                    "annotations": {FOLDER_ANNOTATION: folder},
                },
                data={f"{uid}.json": json.dumps(model, indent=1, sort_keys=True)},
                opts=space.opts,
            )

        self.chart = pinned_chart(
            f"{name}-chart", catalogue.GRAFANA_CHART, args.charts, GRAFANA_NAMESPACE, chart_values(args),
            after(space.opts, self.admin_secret, *args.after),
        )

        if host:
            self.ingress = k8s.networking.v1.Ingress(
                f"{name}-ingress",
                metadata={
                    **space.metadata(FULLNAME),
                    "annotations": {
                        "cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER,
                        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                    },
                },
                spec={
                    "ingressClassName": catalogue.INGRESS_CLASS,
                    "tls": [{"hosts": [host], "secretName": TLS_SECRET}],
                    "rules": [
                        {
                            "host": host,
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": FULLNAME, "port": {"number": SERVICE_PORT}}},
                                    }
                                ]
                            },
                        }
                    ],
                },
                opts=space.opts,
            )

        sources = data_sources(services)
        self.summary = {
            "chart": f"{catalogue.GRAFANA_CHART.name} {catalogue.GRAFANA_CHART.version}",
            "image": args.images.mirrored(catalogue.GRAFANA_IMAGE),
            "namespace": GRAFANA_NAMESPACE,
            "service": f"{FULLNAME}.{GRAFANA_NAMESPACE}.svc:{SERVICE_PORT}",
            "url": f"https://{host}/" if host else None,
            "adminSecret": ADMIN_SECRET if self.admin_secret is not None else f"{ADMIN_SECRET} (not rendered: create it before applying)",
            "dataSources": data_source_links(sources),
            "dashboards": {uid: model["title"] for uid, model in models.items()},
        }
        self.register_outputs({"summary": self.summary})

    def _network_policies(self, space: ServiceNamespace, services: Services, exposed: bool) -> None:
        to_sources = [{"to": [namespace_selector(MONITORING_NAMESPACE)],
                       "ports": tcp(PROMETHEUS_PORT, *([ALERTMANAGER_PORT] if services.monitoring.mode == "full" else []))}]
        if services.logging.enabled:
            to_sources.append({"to": [namespace_selector(LOGGING_NAMESPACE)], "ports": tcp(LOKI_GATEWAY_PORT)})
        if services.tracing.enabled:
            to_sources.append({"to": [namespace_selector(TRACING_NAMESPACE)], "ports": tcp(TEMPO_PORT)})
        space.policy("allow-data-sources", {"podSelector": {}, "policyTypes": ["Egress"], "egress": to_sources})
        if exposed:
            space.policy("allow-ingress-controller", {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [namespace_selector(catalogue.INGRESS_NAMESPACE)], "ports": tcp(GRAFANA_PORT)}],
            })

    def _sidecar_rbac(self, name: str, space: ServiceNamespace, later_than: list[pulumi.Resource]) -> None:
        """Read-only ConfigMap access in each namespace the dashboard sidecar searches."""
        for namespace in (GRAFANA_NAMESPACE, MONITORING_NAMESPACE):
            opts = space.opts if namespace == GRAFANA_NAMESPACE else after(space.opts, *later_than)
            metadata = {**space.metadata(SIDECAR_ROLE), "namespace": namespace}
            role = k8s.rbac.v1.Role(
                f"{name}-sidecar-role-{namespace}", metadata=metadata,
                rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
                opts=opts,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-sidecar-binding-{namespace}", metadata=metadata,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SIDECAR_ROLE},
                subjects=[{"kind": "ServiceAccount", "name": FULLNAME, "namespace": GRAFANA_NAMESPACE}],
                opts=after(opts, role),
            )
