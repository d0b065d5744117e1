"""Metrics and alerting for one site: kube-prometheus-stack in the `monitoring` namespace.

`Metrics` creates, when `services.monitoring.enabled`:

- the `monitoring` namespace (Pod Security restricted, default-deny, pods of the namespace may talk
  to each other) and the pinned kube-prometheus-stack chart (`fullnameOverride: monitoring`, so the
  Services are `monitoring-prometheus:9090` and `monitoring-alertmanager:9093`, common.py): the
  Prometheus operator and the chart's CRDs, Prometheus with retention by time and size, a volume
  per replica and external labels `site` and `environment`, kube-state-metrics, and node-exporter
  in the node agents' namespace. The chart's Grafana is off; its dashboards ConfigMaps are still
  created for the separate Grafana's sidecar (grafana.py);
- with `mode: full`, Alertmanager with its configuration in a Secret built from
  `services.monitoring.receivers` (URLs, keys and tokens stay Pulumi secrets), routed by the
  `severity` label; `reduced` runs no Alertmanager;
- the cross-site view: a secondary remote-writes to its primary's telemetry host with basic auth;
  a primary with secondaries receives there through the platform ingress (TLS from the
  ClusterIssuer, ingress-nginx basic auth);
- the network policies Prometheus, the operator's webhook, Grafana and the ingress need.

Values keys below were checked against charts/kube-prometheus-stack/values.yaml and
templates/prometheus/prometheus.yaml, templates/prometheus-operator/deployment.yaml in
prometheus-community/helm-charts (the newest revisions the offline index holds, from the 2025 release
line), and against the kube-state-metrics and prometheus-node-exporter subcharts' values.yaml; re-check
them with `helm show values` when the pinned version moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.observability import Monitoring, PagerDutyReceiver, Receiver, SlackReceiver, WebhookReceiver
from stacks.model.site import Site

from ..charts import pinned_chart
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.network import ANYWHERE, from_namespace, namespace_selector, tcp
from ..kit.security import RESTRICTED_CONTAINER
from ..labels import INGRESS_TARGET_LABEL, StackIdentity, kubernetes_labels
from ..services.cert_manager import CertManager
from .common import (
    CENTRAL_USERNAME,
    GRAFANA_NAMESPACE,
    MONITORING_NAMESPACE,
    NODE_AGENTS_NAMESPACE,
    PROMETHEUS_REMOTE_WRITE_PATH,
    SITE_LABEL,
    TRACING_NAMESPACE,
    central_receiver,
    receives_from_secondaries,
    several_sites,
)

FULLNAME = "monitoring"  # fullnameOverride: Services monitoring-prometheus and monitoring-alertmanager
PROMETHEUS_SERVICE = f"{FULLNAME}-prometheus"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
# The Prometheus operator serves its admission webhook on the kubelet's port number
# (prometheusOperator.tls.internalPort), which clusters' firewalls already allow from the API server.
OPERATOR_WEBHOOK_PORT = 10250
# What Prometheus scrapes on the nodes themselves: the kubelet (and its cAdvisor) and node-exporter,
# which runs in the host's network namespace.
KUBELET_PORT = 10250
NODE_EXPORTER_PORT = 9100

# The Secrets this component writes (their values are Pulumi secrets).
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"  # key alertmanager.yaml
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"  # the key the operator reads from alertmanagerSpec.configSecret
REMOTE_WRITE_SECRET = "central-remote-write"  # keys username, password: a secondary's credentials at its primary
CENTRAL_AUTH_SECRET = "central-basic-auth"  # key auth: the primary's ingress-nginx basic-auth file
CENTRAL_TLS_SECRET = "central-telemetry-tls"
NULL_RECEIVER = "null"

# Pod labels, as the chart and the operator set them (used by the network policies).
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}  # set by the operator on Prometheus pods
ALERTMANAGER_POD = {"app.kubernetes.io/name": "alertmanager"}  # set by the operator on Alertmanager pods
TEMPO_POD = {"app.kubernetes.io/name": "tempo"}  # the grafana/tempo chart's name label (traces.py)
# templates/prometheus-operator/deployment.yaml: `app: <chart name>-operator` (no nameOverride here)
OPERATOR_POD = {"app": "kube-prometheus-stack-operator"}

# Security contexts. Prometheus and Alertmanager run as the chart's defaults (1000:2000, the owner of
# their volumes); everything else as `nobody`. The operator sets the container security context of
# the Prometheus, Alertmanager and config-reloader containers itself (read-only root file system,
# no privilege escalation, all capabilities dropped); the pod-level context comes from the values.
NOBODY = 65534


def restricted_pod(user: int, group: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": group, "fsGroup": group, "seccompProfile": {"type": "RuntimeDefault"}}


def sized(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    """Requests, and a memory limit above them (no CPU limit: policy `workload-resources`)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


# Prometheus's memory grows with the series it holds, so with the environment's cluster size.
PROMETHEUS_SIZE = {"dev": ("250m", "1Gi", "2Gi"), "test": ("500m", "2Gi", "4Gi"), "prod": ("1", "4Gi", "8Gi")}
OPERATOR_SIZE = ("100m", "128Mi", "256Mi")
ALERTMANAGER_SIZE = ("50m", "64Mi", "128Mi")
KUBE_STATE_METRICS_SIZE = ("50m", "128Mi", "256Mi")
NODE_EXPORTER_SIZE = ("50m", "32Mi", "64Mi")
WEBHOOK_JOB_SIZE = ("10m", "32Mi", "64Mi")
# The operator passes these to every config-reloader sidecar as flags and reads all four
# (templates/prometheus-operator/deployment.yaml: --config-reloader-{cpu,memory}-{request,limit}).
CONFIG_RELOADER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}


def disruption_budget(replicas: int) -> dict[str, Any]:
    """values.yaml `prometheus.podDisruptionBudget` / `alertmanager.podDisruptionBudget`: with two
    replicas or more, a node drain keeps one running (alerting survives maintenance)."""
    return {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}} if replicas >= 2 else {}


def retention_size(volume_gi: int) -> str:
    """About 90% of the volume: Prometheus deletes the oldest blocks before the volume fills (the
    write-ahead log and compaction need the rest)."""
    return f"{volume_gi * 9 // 10}GiB"


@dataclass(frozen=True, kw_only=True)
class MetricsArgs:
    monitoring: Monitoring
    site: Site
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The monitoring part's charts (kube-prometheus-stack), resolved by the loader."""
    remote_write_host: str | None = None
    """On a secondary site, its primary's telemetry host, where it remote-writes."""
    trusted_ca: str | None = None
    """The environment CA's certificate (PEM): remote-write verifies the primary's telemetry host with it."""
    receives_span_metrics: bool = False
    """The stack runs Tempo, whose metrics-generator remote-writes span metrics and service graphs here (traces.py)."""
    node_agents: ServiceNamespace | None = None
    """The node agents' namespace (node-exporter runs there)."""
    cert_manager: CertManager | None = None
    """The stack's cert-manager, when it runs one: it issues the operator webhook's certificate."""


REMOTE_WRITE_CA_KEY = "ca.crt"  # the environment CA, beside the credentials in REMOTE_WRITE_SECRET


def remote_write_url(hostname: str) -> str:
    return f"https://{hostname}{PROMETHEUS_REMOTE_WRITE_PATH}"


# --- Alertmanager's configuration ------------------------------------------------------------------
# Field names: the Alertmanager configuration file (prometheus.io/docs/alerting/latest/configuration/):
# route (receiver, group_by, group_wait, group_interval, repeat_interval, routes, matchers, continue),
# inhibit_rules (source_matchers, target_matchers, equal), receivers with webhook_configs (url,
# http_config.authorization {type, credentials} or http_config.basic_auth {username, password}),
# slack_configs (api_url, channel) and pagerduty_configs (routing_key).


def _receiver_config(receiver: Receiver, secrets: dict[str, str]) -> dict[str, Any]:
    """One receiver's entry with its secret values filled in (inside apply: plain strings here)."""
    if isinstance(receiver, WebhookReceiver):
        http_config: dict[str, Any]
        if receiver.bearer_token is not None:
            http_config = {"authorization": {"type": "Bearer", "credentials": secrets["bearer_token"]}}
        else:
            assert receiver.basic_auth is not None  # the model requires one of the two
            http_config = {"basic_auth": {"username": receiver.basic_auth.username, "password": secrets["password"]}}
        return {"name": receiver.name, "webhook_configs": [{"url": secrets["url"], "send_resolved": True, "http_config": http_config}]}
    if isinstance(receiver, SlackReceiver):
        return {
            "name": receiver.name,
            "slack_configs": [{"api_url": secrets["api_url"], "channel": receiver.channel, "send_resolved": True}],
        }
    if isinstance(receiver, PagerDutyReceiver):
        return {"name": receiver.name, "pagerduty_configs": [{"routing_key": secrets["routing_key"], "send_resolved": True}]}
    raise TypeError(f"unknown receiver kind {type(receiver).__name__}")


def _receiver_secrets(receiver: Receiver) -> dict[str, pulumi.Output[str]]:
    """The receiver's secret values as Pulumi secrets, by the name _receiver_config uses."""
    if isinstance(receiver, WebhookReceiver):
        found = {"url": receiver.url.output()}
        if receiver.bearer_token is not None:
            found["bearer_token"] = receiver.bearer_token.output()
        else:
            assert receiver.basic_auth is not None  # the model requires one of the two
            found["password"] = receiver.basic_auth.password.output()
        return found
    if isinstance(receiver, SlackReceiver):
        return {"api_url": receiver.api_url.output()}
    return {"routing_key": receiver.routing_key.output()}


def alertmanager_config(receivers: list[Receiver], secrets: list[dict[str, str]]) -> dict[str, Any]:
    """The whole alertmanager.yaml for `receivers` with their secret values `secrets` (same order).

    Alerts go to every receiver that lists their `severity` (a route per receiver that continues to
    the next); anything else, and the chart's always-firing Watchdog, goes to the null receiver. A
    critical alert silences the warnings of the same alert name and namespace.
    """
    routes: list[dict[str, Any]] = [{"receiver": NULL_RECEIVER, "matchers": ['alertname="Watchdog"']}]
    routes += [
        {"receiver": receiver.name, "matchers": [f'severity=~"{"|".join(receiver.severities)}"'], "continue": True}
        for receiver in receivers
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace", SITE_LABEL],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["alertname", "namespace"],
            },
            {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'], "equal": ["alertname", "namespace"]},
        ],
        "receivers": [{"name": NULL_RECEIVER}]
        + [_receiver_config(receiver, secret) for receiver, secret in zip(receivers, secrets, strict=True)],
    }


def alertmanager_yaml(receivers: list[Receiver]) -> pulumi.Output[str]:
    """alertmanager.yaml as a Pulumi secret: the receivers' secrets are resolved only inside it."""
    wanted = [_receiver_secrets(receiver) for receiver in receivers]
    resolved = pulumi.Output.all(*[pulumi.Output.all(**secrets) for secrets in wanted])
    return pulumi.Output.secret(
        resolved.apply(lambda values: yaml.safe_dump(alertmanager_config(receivers, list(values)), sort_keys=False))
    )


# --- chart values ----------------------------------------------------------------------------------


def chart_values(args: MetricsArgs, with_cert_manager: bool) -> dict[str, Any]:
    monitoring = args.monitoring
    full = monitoring.mode == "full"
    quay, k8s_registry = args.images.registry_for("quay.io"), args.images.registry_for("registry.k8s.io")
    nobody = restricted_pod(NOBODY, NOBODY)
    prometheus_spec: dict[str, Any] = {
        # Image tags are the pinned chart's; only the registry is the stack's approved one.
        "image": {"registry": quay},
        "replicas": monitoring.replicas,
        "retention": f"{monitoring.retention_days}d",
        "retentionSize": retention_size(monitoring.volume_gi),
        "storageSpec": {"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{monitoring.volume_gi}Gi"}},
        }}},
        # Every series this site sends or alerts on says where it came from (the central view).
        "externalLabels": {SITE_LABEL: args.identity.site, "environment": args.identity.environment},
        # External labels go only on what leaves Prometheus (remote-write, alerts), so this site's own
        # series would have no `site` and the dashboards' site selector could neither list nor pick
        # this site. The default scrape class's relabelings apply to every monitor's targets (the
        # Prometheus CRD's scrapeClasses; operator pkg/prometheus/promcfg.go appends them to each
        # PodMonitor's and ServiceMonitor's relabelings), so every scraped series carries the site.
        "scrapeClasses": [{
            "name": "site", "default": True,
            "relabelings": [{"action": "replace", "targetLabel": SITE_LABEL, "replacement": args.identity.site}],
        }],
        # Select every ServiceMonitor, PodMonitor, Probe, ScrapeConfig and PrometheusRule in every
        # namespace, not only the chart's (`release` label): with these false and the selectors left
        # empty, templates/prometheus/prometheus.yaml renders `{}` selectors (match all), and it
        # renders the empty namespace selectors as `{}` (all namespaces).
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        "securityContext": restricted_pod(1000, 2000),
        "resources": sized(*PROMETHEUS_SIZE[args.identity.environment]),
        # Replicas on different nodes where the cluster has them.
        "podAntiAffinity": "soft",
    }
    if args.remote_write_host:
        prometheus_spec["remoteWrite"] = [{
            "url": remote_write_url(args.remote_write_host),
            "basicAuth": {
                "username": {"name": REMOTE_WRITE_SECRET, "key": "username"},
                "password": {"name": REMOTE_WRITE_SECRET, "key": "password"},
            },
        }]
        if args.trusted_ca is not None:
            # RemoteWriteSpec.tlsConfig (SafeTLSConfig.ca: a key of a Secret in Prometheus's namespace).
            prometheus_spec["remoteWrite"][0]["tlsConfig"] = {"ca": {"secret": {"name": REMOTE_WRITE_SECRET, "key": REMOTE_WRITE_CA_KEY}}}
    if monitoring.central.hostname:
        # ingress-nginx sends only to pods carrying the ingress target label (components/services/
        # ingress.py); prometheusSpec.podMetadata labels go onto the Prometheus pods. Any site of
        # several may be (or become) the primary that receives, so each carries it; only the
        # receiving site's policy admits the ingress controller.
        prometheus_spec["podMetadata"] = {"labels": {INGRESS_TARGET_LABEL: "true"}}
    if receives_from_secondaries(args.site) or args.receives_span_metrics:
        # values.yaml prometheus.prometheusSpec.enableRemoteWriteReceiver: --web.enable-remote-write-receiver
        prometheus_spec["enableRemoteWriteReceiver"] = True

    webhooks: dict[str, Any] = {
        # The operator checks rules again when it loads them; with every object of the chart applied
        # in one pass, the webhook may be called before the operator serves it.
        "failurePolicy": "Ignore",
    }
    if with_cert_manager:
        # cert-manager issues the webhook's certificate (a self-signed CA the chart declares), so the
        # chart's certificate Jobs are not needed: values.yaml
        # prometheusOperator.admissionWebhooks.certManager.enabled ("Use certmanager to generate
        # webhook certs"), .patch.enabled (the Jobs that create and patch the certificate).
        webhooks.update({"certManager": {"enabled": True}, "patch": {"enabled": False}})
    else:
        webhooks.update({
            "patch": {
                "enabled": True,
                "image": {"registry": k8s_registry},
                "resources": sized(*WEBHOOK_JOB_SIZE),
                "securityContext": nobody,
            },
            "createSecretJob": {"securityContext": RESTRICTED_CONTAINER},
            "patchWebhookJob": {"securityContext": RESTRICTED_CONTAINER},
        })

    values: dict[str, Any] = {
        "fullnameOverride": FULLNAME,
        # values.yaml crds.enabled installs the CRDs (Pulumi applies them first); crds.upgradeJob is
        # a Helm-hook Job that re-applies them with kubectl, not needed when Pulumi applies them.
        "crds": {"enabled": True, "upgradeJob": {"enabled": False}},
        # The separate Grafana (namespace `grafana`) runs the dashboards; its sidecar loads the
        # chart's dashboard ConfigMaps, which this still creates (values.yaml grafana.forceDeployDashboards:
        # "Create dashboard configmap even if grafana deployment has been disabled").
        "grafana": {"enabled": False, "forceDeployDashboards": True},
        "prometheusOperator": {
            "image": {"registry": quay},
            "prometheusConfigReloader": {"image": {"registry": quay}, "resources": CONFIG_RELOADER_RESOURCES},
            # The operator's --thanos-default-base-image, which it gives any Thanos sidecar it adds.
            "thanosImage": {"registry": quay},
            "resources": sized(*OPERATOR_SIZE),
            "securityContext": nobody,
            "containerSecurityContext": RESTRICTED_CONTAINER,
            "admissionWebhooks": webhooks,
        },
        "prometheus": {"prometheusSpec": prometheus_spec, **disruption_budget(monitoring.replicas)},
        "alertmanager": {"enabled": full},
        "kube-state-metrics": {
            "fullnameOverride": "kube-state-metrics",
            "image": {"registry": k8s_registry},
            "resources": sized(*KUBE_STATE_METRICS_SIZE),
            "securityContext": {"enabled": True, **nobody},
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
        # node-exporter reads the node itself (host network and PID namespace, the root file system
        # read-only): it runs in the node agents' namespace, the one that admits that.
        "prometheus-node-exporter": {
            "fullnameOverride": "node-exporter",
            # values.yaml prometheus-node-exporter.namespaceOverride (the subchart's namespace)
            "namespaceOverride": NODE_AGENTS_NAMESPACE,
            "image": {"registry": quay},
            "resources": sized(*NODE_EXPORTER_SIZE),
            "securityContext": nobody,
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
        # The control plane's own metrics endpoints are not reachable: AKS manages it, and RKE2 binds
        # the scheduler, controller manager, kube-proxy and etcd metrics to 127.0.0.1. Scraping them
        # would only raise TargetDown alerts.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "kubeEtcd": {"enabled": False},
    }
    if full:
        values["alertmanager"].update({
            **disruption_budget(monitoring.replicas),
            "alertmanagerSpec": {
                "image": {"registry": quay},
                "replicas": monitoring.replicas,
                # The configuration is this component's Secret (receivers' secrets never pass
                # through chart values); the chart then creates none of its own. values.yaml
                # alertmanager.alertmanagerSpec.useExistingSecret ("the user will be responsible to
                # provide a secret with alertmanager configuration") and .configSecret (the Secret's
                # name; the operator reads its `alertmanager.yaml` key).
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_CONFIG_SECRET,
                "securityContext": restricted_pod(1000, 2000),
                "resources": sized(*ALERTMANAGER_SIZE),
                "podAntiAffinity": "soft",
            },
        })
    return values


# --- the component -------------------------------------------------------------------------------


class Metrics(pulumi.ComponentResource):
    """kube-prometheus-stack, Alertmanager's receivers and the cross-site view (module docstring)."""

    namespace: ServiceNamespace
    chart: k8s.helm.v4.Chart | None
    alertmanager_config: k8s.core.v1.Secret | None = None
    remote_write_secret: k8s.core.v1.Secret | None = None
    central_auth: k8s.core.v1.Secret | None = None
    central_ingress: k8s.networking.v1.Ingress | None = None
    summary: dict[str, Any]

    def __init__(self, name: str, args: MetricsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Metrics", name, None, opts)
        monitoring = args.monitoring
        child = pulumi.ResourceOptions(parent=self)

        self.namespace = ServiceNamespace(name, MONITORING_NAMESPACE, kubernetes_labels(args.identity, "monitoring"), child, internal=True)
        in_namespace = self.namespace.opts
        self._network_policies(args)

        secrets: list[pulumi.Resource] = []
        if monitoring.mode == "full":
            self.alertmanager_config = k8s.core.v1.Secret(
                f"{name}-alertmanager-config",
                metadata=self.namespace.metadata(ALERTMANAGER_CONFIG_SECRET),
                type="Opaque",
                string_data={ALERTMANAGER_CONFIG_KEY: alertmanager_yaml(list(monitoring.receivers))},
                opts=in_namespace,
            )
            secrets.append(self.alertmanager_config)

        central = monitoring.central
        # Every site of several holds the credentials it would remote-write with: a failover then
        # changes only where Prometheus writes, not which objects exist.
        if several_sites(args.site) and central.password is not None:
            self.remote_write_secret = k8s.core.v1.Secret(
                f"{name}-remote-write",
                metadata=self.namespace.metadata(REMOTE_WRITE_SECRET),
                type="Opaque",
                string_data={"username": CENTRAL_USERNAME, "password": central.password.output(),
                             **({REMOTE_WRITE_CA_KEY: args.trusted_ca} if args.trusted_ca is not None else {})},
                opts=in_namespace,
            )
            secrets.append(self.remote_write_secret)

        cert_manager = args.cert_manager
        node_agents = args.node_agents.namespace if args.node_agents is not None else None
        self.chart = pinned_chart(
            f"{name}-kube-prometheus-stack", catalogue.KUBE_PROMETHEUS_STACK, args.charts, MONITORING_NAMESPACE,
            chart_values(args, with_cert_manager=cert_manager is not None),
            pulumi.ResourceOptions(parent=self, depends_on=[
                self.namespace.namespace, *([node_agents] if node_agents is not None else []), *secrets,
                # the webhook's Issuer and Certificates need cert-manager's CRDs
                *([cert_manager] if cert_manager is not None else []),
            ]),
        )

        if receives_from_secondaries(args.site) and central.hostname and central.password is not None:
            self._central_receiver(name, central.hostname, central.password.output(), in_namespace)

        self.summary = {
            "chart": f"{catalogue.KUBE_PROMETHEUS_STACK.name} {catalogue.KUBE_PROMETHEUS_STACK.version}",
            "namespace": MONITORING_NAMESPACE,
            "mode": monitoring.mode,
            "retention": f"{monitoring.retention_days}d",
            "retentionSize": retention_size(monitoring.volume_gi),
            "volumeGi": monitoring.volume_gi,
            "replicas": monitoring.replicas,
            "alertmanager": {"receivers": [receiver.name for receiver in monitoring.receivers]} if monitoring.mode == "full" else None,
            "remoteWrite": remote_write_url(args.remote_write_host) if args.remote_write_host else None,
            "receives": remote_write_url(central.hostname) if self.central_ingress is not None else None,
        }
        self.register_outputs({"summary": self.summary})

    def _central_receiver(self, name: str, hostname: str, password: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
        """The primary's receiving end: an Ingress on its telemetry host for the remote-write path
        only, behind TLS and ingress-nginx basic auth (the htpasswd entry of the shared password)."""
        self.central_auth, self.central_ingress = central_receiver(
            name,
            self.namespace,
            ingress_name="central-remote-write",
            auth_secret=CENTRAL_AUTH_SECRET,
            tls_secret=CENTRAL_TLS_SECRET,
            hostname=hostname,
            path=PROMETHEUS_REMOTE_WRITE_PATH,
            service=PROMETHEUS_SERVICE,
            port=PROMETHEUS_PORT,
            password=password,
            opts=opts,
        )

    def _network_policies(self, args: MetricsArgs) -> None:
        """What the monitoring pods need beyond the namespace's baseline (default-deny, DNS, HTTPS out
        to the API server and the receivers, and each other)."""
        namespace = self.namespace
        # Prometheus scrapes every pod of the cluster, on whatever port its monitor names, and the
        # nodes: the kubelet and node-exporter (host network, so a node address, not a pod).
        namespace.policy("prometheus-scrape", {
            "podSelector": {"matchLabels": PROMETHEUS_POD},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"namespaceSelector": {}}]},
                {"to": ANYWHERE, "ports": tcp(KUBELET_PORT, NODE_EXPORTER_PORT)},
            ],
        })
        # The API server calls the operator's admission webhook; it has no pod address to select.
        namespace.policy("operator-webhook", {
            "podSelector": {"matchLabels": OPERATOR_POD},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": ANYWHERE, "ports": tcp(OPERATOR_WEBHOOK_PORT)}],
        })
        # Grafana queries Prometheus and reads Alertmanager's alerts and silences.
        namespace.policy("grafana-to-prometheus", {
            "podSelector": {"matchLabels": PROMETHEUS_POD},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [from_namespace(GRAFANA_NAMESPACE)], "ports": tcp(PROMETHEUS_PORT)}],
        })
        if args.monitoring.mode == "full":
            namespace.policy("grafana-to-alertmanager", {
                "podSelector": {"matchLabels": ALERTMANAGER_POD},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_namespace(GRAFANA_NAMESPACE)], "ports": tcp(ALERTMANAGER_PORT)}],
            })
        if args.receives_span_metrics:
            # Tempo's metrics-generator remote-writes span metrics and service graphs (traces.py).
            namespace.policy("tempo-to-prometheus", {
                "podSelector": {"matchLabels": PROMETHEUS_POD},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_namespace(TRACING_NAMESPACE, TEMPO_POD)], "ports": tcp(PROMETHEUS_PORT)}],
            })
        if receives_from_secondaries(args.site):
            # The secondaries' remote-write arrives through the platform ingress.
            namespace.policy("ingress-to-prometheus", {
                "podSelector": {"matchLabels": PROMETHEUS_POD},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [namespace_selector(catalogue.INGRESS_NAMESPACE)], "ports": tcp(PROMETHEUS_PORT)}],
            })
