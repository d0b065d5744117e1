"""What the observability components share: their namespaces, the in-cluster addresses by which
they find each other, the node agents' namespace, and the credentials of the cross-site view.

Every chart here sets `fullnameOverride`, so the Service names below are fixed and each component
can point at the others without holding their objects (Grafana's data sources, the collectors'
exporters, network policies between namespaces).
"""

from __future__ import annotations

import base64
import hashlib

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.model.site import Site

from ..kit import parts
from ..kit.namespaces import ServiceNamespace
from ..labels import StackIdentity, kubernetes_labels

# --- namespaces ----------------------------------------------------------------------------------

MONITORING_NAMESPACE = "monitoring"  # Prometheus operator, Prometheus, Alertmanager, kube-state-metrics
GRAFANA_NAMESPACE = "grafana"
LOGGING_NAMESPACE = "logging"  # Loki
TRACING_NAMESPACE = "tracing"  # Tempo and the OpenTelemetry Collector applications send to
NODE_AGENTS_NAMESPACE = "node-agents"  # node-exporter and the log agent: they read the node itself

# --- in-cluster addresses ------------------------------------------------------------------------

PROMETHEUS_URL = f"http://monitoring-prometheus.{MONITORING_NAMESPACE}.svc:9090"
ALERTMANAGER_URL = f"http://monitoring-alertmanager.{MONITORING_NAMESPACE}.svc:9093"
LOKI_URL = f"http://loki-gateway.{LOGGING_NAMESPACE}.svc:80"
LOKI_PUSH_PATH = "/loki/api/v1/push"
TEMPO_URL = f"http://tempo.{TRACING_NAMESPACE}.svc:3200"
TEMPO_OTLP_GRPC = f"tempo.{TRACING_NAMESPACE}.svc:4317"
# Where applications send traces (and may send logs and metrics): the collector's OTLP receivers.
OTEL_COLLECTOR_HOST = f"otel-collector.{TRACING_NAMESPACE}.svc"
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
PROMETHEUS_REMOTE_WRITE_PATH = "/api/v1/write"

# The label every metric and log line carries, so the primary's central view tells sites apart.
SITE_LABEL = parts.SITE_LABEL

# --- the sites' roles --------------------------------------------------------------------------------


def several_sites(site: Site) -> bool:
    """The environment has several sites: every site holds the central view's credentials."""
    return site.role == "secondary" or bool(site.secondaries)


def receives_from_secondaries(site: Site) -> bool:
    """A primary with secondaries receives their metrics and logs (the central view)."""
    return site.role == "primary" and bool(site.secondaries)


# --- the node agents' namespace ------------------------------------------------------------------


def node_agents_namespace(name: str, identity: StackIdentity, opts: pulumi.ResourceOptions) -> ServiceNamespace:
    """The one namespace whose pods may use the node: node-exporter (host network and PID namespace,
    the root file system read-only) and the log agent (the pod log and audit log directories).

    Pod Security `restricted` cannot admit them, so this namespace enforces `privileged` and still
    audits and warns at `restricted`; the policy pack exempts it by name with that reason
    (policies/config/*.json, policies/README.md). Nothing else runs here.
    """
    return ServiceNamespace(name, NODE_AGENTS_NAMESPACE, kubernetes_labels(identity, "node-agents"), opts, enforce="privileged")


# --- the cross-site view's credentials -----------------------------------------------------------

CENTRAL_USERNAME = "telemetry"


def htpasswd_line(stack: str, password: pulumi.Output[str]) -> pulumi.Output[str]:
    """An nginx basic-auth entry (`user:{SSHA}...`) for the shared central-view password, a secret.

    Salted SHA-1 is what nginx's `auth_basic_user_file` understands without the system's crypt();
    the salt is fixed per stack so the Secret does not change on every run. The password is a long
    random secret, not a word a person chose, so the hash's speed is not its weakness.
    """
    salt = hashlib.sha256(f"{stack}:{CENTRAL_USERNAME}".encode()).digest()[:8]

    def line(secret: str) -> str:
        digest = hashlib.sha1(secret.encode() + salt).digest()
        return f"{CENTRAL_USERNAME}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"

    hidden: pulumi.Output[str] = pulumi.Output.secret(password)
    return hidden.apply(line)


def central_receiver(
    name: str, space: ServiceNamespace, *, ingress_name: str, auth_secret: str, tls_secret: str, hostname: str, path: str,
    service: str, port: int, password: pulumi.Output[str], opts: pulumi.ResourceOptions,
) -> tuple[k8s.core.v1.Secret, k8s.networking.v1.Ingress]:
    """A primary's receiving end for one kind of telemetry from its secondaries: an Ingress on its
    telemetry host for exactly `path`, routed to `service:port`, with a certificate from the
    ClusterIssuer and ingress-nginx basic auth from a Secret holding the shared password's entry."""
    auth = k8s.core.v1.Secret(
        f"{name}-central-auth",
        metadata=space.metadata(auth_secret),
        type="Opaque",
        string_data={"auth": htpasswd_line(pulumi.get_stack(), password)},
        opts=opts,
    )
    ingress = k8s.networking.v1.Ingress(
        f"{name}-central-ingress",
        metadata={
            **space.metadata(ingress_name),
            "annotations": {
                "cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER,
                "nginx.ingress.kubernetes.io/auth-type": "basic",
                "nginx.ingress.kubernetes.io/auth-secret": auth_secret,
                "nginx.ingress.kubernetes.io/auth-realm": "complete-cluster central view",
                # Remote-write and push batches may exceed nginx's 1m default body size.
                "nginx.ingress.kubernetes.io/proxy-body-size": "16m",
            },
        },
        spec={
            "ingressClassName": catalogue.INGRESS_CLASS,
            "tls": [{"hosts": [hostname], "secretName": tls_secret}],
            "rules": [
                {
                    "host": hostname,
                    "http": {
                        "paths": [{"path": path, "pathType": "Exact", "backend": {"service": {"name": service, "port": {"number": port}}}}]
                    },
                }
            ],
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[auth])),
    )
    return auth, ingress
