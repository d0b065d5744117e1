"""ingress-nginx: the cluster's one ingress controller, with TLS by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.infrastructure import Aks, Existing, Infrastructure, Rancher, Render
from stacks.model.services import Ingress as IngressSettings
from stacks.model.services import Services
from stacks.model.teams import Team

from ..charts import pinned_chart
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.network import ANYWHERE, tcp
from ..kit.options import after
from ..kit.parts import SITE_LABEL, Alert, ServicePart, Target
from ..kit.security import resources, restricted_container, restricted_pod
from ..labels import INGRESS_TARGET_LABEL, StackIdentity, kubernetes_labels

# The controller listens on unprivileged ports, so it needs no NET_BIND_SERVICE capability and
# runs under Pod Security `restricted`; the Service still offers 80 and 443.
HTTP_PORT = 8080
HTTPS_PORT = 8443
WEBHOOK_PORT = 9443
CONTROLLER_SIZE = ("500m", "512Mi")
RUN_AS = 101  # the `www-data` user of the controller image

AZURE_INTERNAL = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}


def internal_annotations(infrastructure: Infrastructure) -> dict[str, str]:
    """What makes a LoadBalancer Service internal on this infrastructure: Azure's annotation on AKS,
    the declared MetalLB pool on a Rancher site, or on an existing cluster or a render target that names
    one (the stack's policy-pack config accepts the same, stacks/tools/policy_config.py); none otherwise."""
    if isinstance(infrastructure, Aks):
        return dict(AZURE_INTERNAL)
    if isinstance(infrastructure, (Rancher, Existing, Render)) and infrastructure.load_balancer is not None:
        return infrastructure.load_balancer.annotations()
    return {}


@dataclass(frozen=True, kw_only=True)
class IngressArgs:
    settings: IngressSettings
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The ingress part's charts (ingress-nginx), resolved by the loader."""
    internal_annotations: dict[str, str]
    """What makes the Service internal on this infrastructure (`internal_annotations`)."""
    certificates: pulumi.Resource | None = None
    """cert-manager's chart, which issues the admission webhook's certificate: the chart's Issuers and Certificates
    wait for its CRDs and webhook (the config requires cert-manager when the webhook is on)."""


def load_balancer_annotations(args: IngressArgs) -> dict[str, str]:
    """What makes the controller's LoadBalancer internal on this stack's infrastructure; none where
    the environment exposes it (dev)."""
    if not args.settings.internal_load_balancer:
        return {}
    return dict(args.internal_annotations)


def chart_values(args: IngressArgs) -> dict[str, Any]:
    ingress = args.settings
    registry = args.images.registry_for("registry.k8s.io")
    return {
        "controller": {
            "replicaCount": ingress.replicas,
            "ingressClass": catalogue.INGRESS_CLASS,
            "ingressClassResource": {
                "name": catalogue.INGRESS_CLASS,
                "enabled": True,
                "default": True,
                "controllerValue": "k8s.io/ingress-nginx",
            },
            "image": {"registry": registry},
            # TLS by default: HTTP is redirected, HSTS is sent, only TLS 1.2 and 1.3 are offered,
            # and Ingress annotations cannot inject raw NGINX configuration.
            "config": {
                "ssl-redirect": "true",
                "force-ssl-redirect": "true",
                "hsts": "true",
                "ssl-protocols": "TLSv1.2 TLSv1.3",
                "allow-snippet-annotations": "false",
                "server-tokens": "false",
            },
            "containerPort": {"http": HTTP_PORT, "https": HTTPS_PORT},
            "extraArgs": {"http-port": str(HTTP_PORT), "https-port": str(HTTPS_PORT)},
            "service": {
                "type": "LoadBalancer",
                "annotations": load_balancer_annotations(args),
                # Client addresses reach the pods (rate limits and logs see the real source).
                "externalTrafficPolicy": "Local",
            },
            "resources": resources(*CONTROLLER_SIZE),
            "podSecurityContext": restricted_pod(),
            "containerSecurityContext": {**restricted_container(RUN_AS), "runAsGroup": 82, "readOnlyRootFilesystem": False},
            "admissionWebhooks": {
                # values.yaml controller.admissionWebhooks.enabled: the ValidatingWebhookConfiguration
                # (stacks/model/services.py Ingress.admission_webhook). Its serving certificate comes from cert-manager
                # (`certManager.enabled`: the chart's self-signed Issuer, a CA Certificate and the webhook's Certificate
                # in the Secret the controller mounts, the CA put into the configuration's caBundle by cert-manager's CA
                # injector), not from the chart's `patch` Jobs: those are Helm hooks, and helm.v4.Chart renders no
                # hooks (pulumi-kubernetes 4.25.0 helm/v4/chart.go sets DisableHooks), so the Secret would never exist,
                # the controller's pods could not start, and the webhook, with no caBundle and `failurePolicy: Fail`,
                # would refuse every Ingress.
                "enabled": ingress.admission_webhook,
                "port": WEBHOOK_PORT,
                "certManager": {"enabled": ingress.admission_webhook},
            },
            "topologySpreadConstraints": [],
            # Prometheus metrics on 10254 (`metrics`), scraped by the PodMonitor of
            # components/observability/monitors.py; the chart's own ServiceMonitor stays off.
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        },
        "defaultBackend": {"enabled": False},
    }


class Ingress(pulumi.ComponentResource):
    """Creates the `ingress-nginx` namespace (restricted, default-deny), the ingress-nginx chart
    at its pinned version (the default `nginx` IngressClass, HTTPS enforced, a LoadBalancer that is
    internal where the environment says so), and network policies: clients reach the controller on
    its ports, the API server reaches its admission webhook, and the controller reaches only pods
    that serve traffic (labelled `complete-cluster/ingress`)."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Ingress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        space = ServiceNamespace(name, catalogue.INGRESS_NAMESPACE, kubernetes_labels(args.identity, "ingress"), child)
        self.namespace = space.namespace
        controller = {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}}
        space.policy("allow-clients", {
            "podSelector": controller,
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": ANYWHERE, "ports": tcp(HTTP_PORT, HTTPS_PORT)},
                {"from": ANYWHERE, "ports": tcp(WEBHOOK_PORT)},
            ],
        })
        space.policy("allow-backends", {
            "podSelector": controller,
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {INGRESS_TARGET_LABEL: "true"}}}]}],
        })
        self.chart = pinned_chart(
            f"{name}-chart",
            catalogue.INGRESS_NGINX,
            args.charts,
            catalogue.INGRESS_NAMESPACE,
            chart_values(args),
            after(child, self.namespace, args.certificates if args.settings.admission_webhook else None),
        )
        self.register_outputs({"namespace": catalogue.INGRESS_NAMESPACE})


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

METRICS_PORT = 10254  # the chart's `controller.metrics.port`
CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
ERROR_RATIO = 0.05  # of requests answered with a 5xx before IngressHighServerErrorRate


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    return [Target("ingress", "ingress-nginx-controller", catalogue.INGRESS_NAMESPACE, "PodMonitor", CONTROLLER_LABELS, METRICS_PORT)]


PART = ServicePart(
    service="ingress",
    component=Ingress,
    title="Ingress",
    label="ingress-nginx",
    holds_data=False,
    health=("ingress-nginx", catalogue.INGRESS_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "IngressHighServerErrorRate",
            f'sum by ({SITE_LABEL}, ingress, exported_namespace) (rate(nginx_ingress_controller_requests{{status=~"5.."}}[5m])) '
            f"/ sum by ({SITE_LABEL}, ingress, exported_namespace) (rate(nginx_ingress_controller_requests[5m])) > {ERROR_RATIO}",
            "warning",
            "ingress",
            "Ingress {{ $labels.exported_namespace }}/{{ $labels.ingress }} answers over 5% of requests with 5xx",
            "{{ $value | humanizePercentage }} of the requests through the ingress controller fail with a server error.",
            "10m",
        ),
    ),
)
