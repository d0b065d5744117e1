"""cert-manager, the platform's ClusterIssuer (ACME for public hosts, or the internal CA) and the
internal CA's own ClusterIssuer for in-cluster service certificates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import AcmeIssuer, InternalCaIssuer
from stacks.model.services import CertManager as CertManagerSettings
from stacks.model.services import Services
from stacks.model.teams import Team

from ..charts import pinned_chart
from ..kit.images import ImageSource
from ..labels import INGRESS_TARGET_LABEL, StackIdentity, kubernetes_labels
from ..kit.namespaces import ServiceNamespace
from ..kit.network import ANYWHERE, tcp
from ..kit.options import after
from ..kit.parts import Alert, ServicePart, Target
from ..kit.security import resources, restricted_container, restricted_pod
from . import ingress_certificates

CONTROLLER_SIZE = ("100m", "256Mi")
HELPER_SIZE = ("50m", "128Mi")
WEBHOOK_PORT = 10250
ROOT_SECRET = "platform-root-ca"
HOOK_ANNOTATIONS = ("helm.sh/hook", "helm.sh/hook-weight", "helm.sh/hook-delete-policy")
SELF_SIGNED = "platform-selfsigned"
IMAGES = {
    "image": "quay.io/jetstack/cert-manager-controller",
    "webhook": "quay.io/jetstack/cert-manager-webhook",
    "cainjector": "quay.io/jetstack/cert-manager-cainjector",
    "acmesolver": "quay.io/jetstack/cert-manager-acmesolver",
    "startupapicheck": "quay.io/jetstack/cert-manager-startupapicheck",
}


@dataclass(frozen=True, kw_only=True)
class CertManagerArgs:
    settings: CertManagerSettings
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The cert_manager part's charts (cert-manager), resolved by the loader."""


def chart_values(args: CertManagerArgs) -> dict[str, Any]:
    replicas = 2 if args.identity.production else 1
    pod, container = restricted_pod(), {**restricted_container(), "readOnlyRootFilesystem": True}
    values: dict[str, Any] = {
        "crds": {"enabled": True, "keep": True},
        # Not aggregated into the built-in `edit` and `admin` roles: whoever holds those (Rancher's project-member
        # inherits `edit`) would create Certificates and Issuers with any subject from any ClusterIssuer
        # (templates/rbac.yaml `-edit`: certificates, certificaterequests, issuers; components/services/ingress_certificates.py).
        "global": {"leaderElection": {"namespace": catalogue.CERT_MANAGER_NAMESPACE}, "rbac": {"aggregateClusterRoles": False}},
        "replicaCount": replicas,
        # The issuer of an Ingress that asks for a certificate without naming one (`kubernetes.io/tls-acme: "true"`;
        # an Ingress with neither that nor an issuer annotation gets none: v1.20.2 certificate-shim sync.go hasShimAnnotation).
        "ingressShim": {
            "defaultIssuerName": catalogue.CLUSTER_ISSUER,
            "defaultIssuerKind": "ClusterIssuer",
            "defaultIssuerGroup": "cert-manager.io",
        },
        "resources": resources(*CONTROLLER_SIZE),
        "securityContext": pod,
        "containerSecurityContext": container,
        "webhook": {
            "replicaCount": replicas,
            "resources": resources(*HELPER_SIZE),
            "securityContext": pod,
            "containerSecurityContext": container,
        },
        "cainjector": {
            "replicaCount": replicas,
            "resources": resources(*HELPER_SIZE),
            "securityContext": pod,
            "containerSecurityContext": container,
        },
        # The chart's startupapicheck (`cmctl check api`: a dry-run Certificate through the webhook, retried until
        # the webhook admits it) as a plain Job, which Pulumi waits for before the ClusterIssuers (they depend on the
        # chart): the webhook's Deployment is ready once it serves, which can be before the CA injector has put its
        # CA into the webhook configurations, and an issuer created then is refused (`x509: certificate signed by
        # unknown authority`; the cluster tier met it). The chart makes it a Helm hook, and helm.v4.Chart renders no
        # hooks (pulumi-kubernetes 4.25.0 helm/v4/chart.go DisableHooks), so its hook annotations are removed (a
        # null value deletes a chart default; values.yaml startupapicheck.jobAnnotations, .rbac.annotations,
        # .serviceAccount.annotations).
        "startupapicheck": {
            "enabled": True,
            "resources": resources(*HELPER_SIZE),
            "securityContext": pod,
            "containerSecurityContext": container,
            "jobAnnotations": dict.fromkeys(HOOK_ANNOTATIONS),
            "rbac": {"annotations": dict.fromkeys(HOOK_ANNOTATIONS)},
            "serviceAccount": {"annotations": dict.fromkeys(HOOK_ANNOTATIONS)},
        },
    }
    if args.settings.webhook_host:
        # values.yaml webhook.url.host: the webhook configurations call https://<host>/validate and /mutate,
        # and the webhook's serving certificate also names the host (templates/webhook-deployment.yaml).
        values["webhook"]["url"] = {"host": args.settings.webhook_host}
    for key, image in IMAGES.items():
        target = values if key == "image" else values.setdefault(key, {})
        target.setdefault("image", {})["repository"] = args.images.mirrored(image)
    return values


def acme_issuer(issuer: AcmeIssuer) -> dict[str, Any]:
    return {
        "acme": {
            "email": issuer.email,
            "server": issuer.server,
            "privateKeySecretRef": {"name": f"{catalogue.CLUSTER_ISSUER}-account-key"},
            "solvers": [{
                "http01": {
                    "ingress": {
                        "ingressClassName": catalogue.INGRESS_CLASS,
                        # The team namespaces admit the ingress controller only to pods with this
                        # label; the short-lived solver pods answer the challenge there.
                        "podTemplate": {"metadata": {"labels": {INGRESS_TARGET_LABEL: "true"}}},
                    }
                }
            }],
        }
    }


class CertManager(pulumi.ComponentResource):
    """Creates the `cert-manager` namespace (restricted, default-deny), the cert-manager chart at
    its pinned version (CRDs kept on uninstall, ingress-shim defaulting to the platform issuer), and
    the ClusterIssuer `platform-issuer` every Ingress uses: an ACME account with HTTP-01 solvers
    through the ingress controller, or the internal CA. The internal CA (a self-signed issuer, a root
    CA Certificate kept in the namespace, and the CA ClusterIssuer `platform-internal-ca` signing
    with it) exists on every stack: in-cluster services (RabbitMQ's TLS listener) need certificates
    for `.svc` names, which no ACME CA issues. With the environment CA (`issuer.ca`, the sites of
    an environment) the root is that CA's key pair in a Secret instead of a self-signed Certificate,
    so every site's certificates verify with the one CA certificate the other sites' clients hold.
    And the ValidatingAdmissionPolicy `platform-ingress-certificates` with its binding: in team namespaces an
    Ingress names no issuer but `platform-issuer` and sets no certificate identity (ingress_certificates)."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    issuer: k8s.apiextensions.CustomResource
    internal_issuer: k8s.apiextensions.CustomResource
    ingress_policy: k8s.admissionregistration.v1.ValidatingAdmissionPolicy

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:CertManager", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        space = ServiceNamespace(
            name, catalogue.CERT_MANAGER_NAMESPACE, kubernetes_labels(args.identity, "certificates"), child, internal=True
        )
        self.namespace = space.namespace
        issuer = args.settings.issuer
        space.policy("allow-webhook", {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "webhook"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": ANYWHERE, "ports": tcp(WEBHOOK_PORT)}],
        })
        if isinstance(issuer, AcmeIssuer):
            # The ACME server over HTTPS (allow-kube-api), and the HTTP-01 self-check over HTTP.
            space.policy("allow-acme-self-check", {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "controller"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": ANYWHERE, "ports": tcp(80)}],
            })
        self.chart = pinned_chart(
            f"{name}-chart",
            catalogue.CERT_MANAGER,
            args.charts,
            catalogue.CERT_MANAGER_NAMESPACE,
            chart_values(args),
            after(child, self.namespace),
        )
        on_crds = after(child, self.namespace, self.chart)
        meta = lambda resource_name: {"name": resource_name, "labels": space.labels}  # noqa: E731 - cluster-scoped
        internal = issuer if isinstance(issuer, InternalCaIssuer) else InternalCaIssuer(kind="internal_ca")
        # The internal CA, on every stack: the environment's, shared by its sites, or a self-signed root.
        root: pulumi.Resource
        if internal.ca is not None:
            # cert-manager's CA issuer reads `tls.crt` and `tls.key` (a kubernetes.io/tls Secret); the key stays a secret.
            root = k8s.core.v1.Secret(
                f"{name}-root-ca", metadata=space.metadata(ROOT_SECRET), type="kubernetes.io/tls",
                string_data={"tls.crt": internal.ca.certificate, "tls.key": internal.ca.private_key.output()},
                opts=after(child, self.namespace),
            )
        else:
            self_signed = k8s.apiextensions.CustomResource(
                f"{name}-self-signed", api_version=catalogue.CERT_MANAGER_API, kind="ClusterIssuer",
                metadata=meta(SELF_SIGNED), spec={"selfSigned": {}}, opts=on_crds,
            )
            root = k8s.apiextensions.CustomResource(
                f"{name}-root-ca", api_version=catalogue.CERT_MANAGER_API, kind="Certificate",
                metadata=space.metadata(ROOT_SECRET),
                spec={
                    "isCA": True,
                    "commonName": internal.common_name,
                    "secretName": ROOT_SECRET,
                    "duration": f"{internal.root_validity_days * 24}h",
                    # Renewed a year (or a third of its life) before it expires.
                    "renewBefore": f"{min(365, internal.root_validity_days // 3) * 24}h",
                    "privateKey": {"algorithm": "ECDSA", "size": 384, "rotationPolicy": "Always"},
                    "issuerRef": {"name": SELF_SIGNED, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
                opts=after(on_crds, self_signed),
            )
        # A CA ClusterIssuer reads its key pair from cert-manager's own namespace.
        ca = {"ca": {"secretName": ROOT_SECRET}}
        self.internal_issuer = k8s.apiextensions.CustomResource(
            f"{name}-internal-issuer", api_version=catalogue.CERT_MANAGER_API, kind="ClusterIssuer",
            metadata=meta(catalogue.INTERNAL_ISSUER), spec=ca, opts=after(on_crds, root),
        )
        self.issuer = k8s.apiextensions.CustomResource(
            f"{name}-issuer", api_version=catalogue.CERT_MANAGER_API, kind="ClusterIssuer",
            metadata=meta(catalogue.CLUSTER_ISSUER),
            spec=acme_issuer(issuer) if isinstance(issuer, AcmeIssuer) else ca,
            opts=on_crds if isinstance(issuer, AcmeIssuer) else after(on_crds, root),
        )
        # What cert-manager may issue for an Ingress in a team namespace (ingress_certificates), enforced by the API server.
        self.ingress_policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-ingress-policy", metadata=meta(ingress_certificates.POLICY_NAME), spec=ingress_certificates.policy_spec(), opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-ingress-policy-binding", metadata=meta(ingress_certificates.POLICY_NAME), spec=ingress_certificates.binding_spec(),
            opts=after(child, self.ingress_policy),
        )
        self.register_outputs({"issuer": catalogue.CLUSTER_ISSUER, "internalIssuer": catalogue.INTERNAL_ISSUER})


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

METRICS_PORT = 9402  # the controller's `http-metrics`
CONTROLLER_LABELS = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
CERTIFICATE_MIN_DAYS = 14  # before expiry, for CertificateExpiringSoon


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    # cert-manager labels each certificate's series with the Certificate's own `namespace` and `name`
    # (v1.20 pkg/metrics); honoring its labels keeps that `namespace` instead of renaming it
    # `exported_namespace` under the controller pod's (Prometheus honor_labels).
    return [
        Target("cert_manager", "cert-manager-controller", catalogue.CERT_MANAGER_NAMESPACE, "PodMonitor", CONTROLLER_LABELS, METRICS_PORT,
               endpoint={"honorLabels": True})
    ]


PART = ServicePart(
    service="cert_manager",
    component=CertManager,
    title="CertManager",
    label="cert-manager",
    holds_data=False,
    health=("cert-manager", catalogue.CERT_MANAGER_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "CertificateExpiringSoon",
            f"certmanager_certificate_expiration_timestamp_seconds - time() < {CERTIFICATE_MIN_DAYS} * 86400",
            "warning",
            "cert_manager",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in under 14 days",
            "cert-manager renews well before this; a certificate this close to expiry means renewal is failing.",
            "1h",
        ),
        Alert(
            "CertificateNotReady",
            'certmanager_certificate_ready_status{condition="False"} == 1',
            "warning",
            "cert_manager",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
            "cert-manager cannot issue or renew the certificate.",
            "30m",
        ),
    ),
)
