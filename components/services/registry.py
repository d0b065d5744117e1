"""Harbor: the site's image registry, with its images and charts in the stack's object storage.

What `Registry` creates, in the `harbor` namespace (Pod Security `restricted`, default-deny
networking that admits the ingress controller and Harbor's own components, DNS and HTTPS egress):

- the storage Secret from `ObjectStorage.access_for("harbor", ..., "registry")` with the keys the
  chart's registry storage driver reads (`REGISTRY_STORAGE_S3_ACCESSKEY`/`..._SECRETKEY` for S3,
  `AZURE_STORAGE_ACCESS_KEY` for Azure), and with an S3 endpoint's CA (`storage.ca_certificate`) the Secret
  `harbor-storage-ca` the registry trusts (`persistence.imageChartStorage.caBundleSecretName`);
- every secret Harbor would otherwise generate, generated once by Pulumi (`GeneratedPassword`s) and
  kept in Secrets the chart references: a client-side render (helm.v4.Chart) would draw new random
  values on every preview and rotate them on every `up`;
- the token-signing certificate core signs registry tokens with (and the registry checks them by),
  issued by cert-manager from the cluster's internal CA into the Secret the chart references, so its
  key never passes through Pulumi's state; ten years, renewed a year before it ends (core and the
  registry read it at start: they pick up a renewal when they restart);
- the pinned Harbor chart: exposed through an Ingress of class `nginx` at `services.registry.hostname`
  with its certificate from the cert-manager ClusterIssuer, images and charts in the `registry`
  bucket (served through Harbor, no redirects to the storage), restricted security contexts and
  resources for every container, Trivy off (its vulnerability database is downloaded from the
  internet), job logs in the database (no volume), and only Harbor's PostgreSQL and Redis on volumes.
  Protected in prod: its database holds the projects, users and artifact metadata.

On a secondary site Harbor runs on its own bucket and pulls the primary's images by a replication
rule; that rule, the robot account it uses and the proxy-cache projects are Harbor API objects the
chart cannot declare: components/services/harbor_config.py declares them with the Harbor provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import Registry as RegistrySettings
from stacks.model.services import Services
from stacks.model.teams import Team

from ..charts import pinned_chart
from ..kit.certificates import internal_certificate
from ..kit.generated import GeneratedPassword
from ..kit.images import ImageSource
from ..kit.namespaces import HardenedNamespace
from ..kit.options import present
from ..kit.network import allow_egress_outside_the_cluster, namespace_selector
from ..kit.parts import Alert, ServicePart, Target
from ..labels import StackIdentity, kubernetes_labels
from ..storage import S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, ObjectStorage, StorageAccess

NAMESPACE = "harbor"
TLS_SECRET = "harbor-tls"
REGISTRY_USER = "harbor_registry_user"
# The secrets the chart references instead of generating its own (keys as the chart expects them).
ADMIN_SECRET = "harbor-admin"
CORE_SECRET = "harbor-core-secrets"
JOBSERVICE_SECRET = "harbor-jobservice-secrets"
REGISTRY_SECRET = "harbor-registry-secrets"
TOKEN_SECRET = "harbor-token-signing"

RESTRICTED_CONTAINER = {
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


RESOURCES = {
    "core": _resources("100m", "256Mi", "512Mi"),
    "portal": _resources("50m", "64Mi", "128Mi"),
    "jobservice": _resources("100m", "128Mi", "512Mi"),
    "registry": _resources("100m", "256Mi", "1Gi"),
    "registryctl": _resources("50m", "64Mi", "256Mi"),
    "database": _resources("200m", "512Mi", "1Gi"),
    "database_init": _resources("50m", "64Mi", "128Mi"),
    "redis": _resources("100m", "128Mi", "512Mi"),
    "exporter": _resources("50m", "64Mi", "128Mi"),
}


def storage_values(access: StorageAccess) -> dict[str, Any]:
    """`persistence.imageChartStorage`: the registry bucket, credentials from the access Secret."""
    if access.kind == "s3":
        backend: dict[str, Any] = {
            "type": "s3",
            "s3": {
                "region": access.region,
                "bucket": access.bucket,
                "regionendpoint": access.endpoint,
                "secure": True,
                "v4auth": True,
                "existingSecret": access.secret_name,
            },
        }
    else:
        backend = {
            "type": "azure",
            "azure": {
                "accountname": access.account,
                "container": access.bucket,
                "realm": "core.windows.net",
                "existingSecret": access.secret_name,
            },
        }
    # Clients pull through Harbor, not by redirect to the bucket: nodes then need no route to the
    # object storage and the bucket stays private to Harbor.
    return {"disableredirect": True, **backend}


# Where Harbor's own images are published. Harbor cannot pull itself through itself (its proxy cache is Harbor), so
# a site without an approved registry besides its Harbor pulls these from docker.io: containerd asks the site's mirror
# (Harbor's `dockerhub` proxy cache) first and falls back to docker.io while Harbor is down (its first install, a
# restore). The generated policy config allows exactly this prefix then (`harbor_bootstrap_registries`), a named
# exemption whose reason is in policies/README.md.
HARBOR_UPSTREAM = "docker.io/goharbor"


def harbor_image(images: ImageSource, name: str) -> dict[str, str]:
    """Harbor's own image `goharbor/<name>` at the pinned tag: from the stack's approved registry when it has one
    (which mirrors upstream images under the upstream host name), else from docker.io (see HARBOR_UPSTREAM)."""
    prefix = f"{images.approved}/{HARBOR_UPSTREAM}" if images.approved else HARBOR_UPSTREAM
    return {"repository": f"{prefix}/{name}", "tag": catalogue.HARBOR_IMAGE_TAG}


def harbor_bootstrap_registries(harbor_enabled: bool, approved_registries: list[str]) -> list[str]:
    """The `workload-images` entries Harbor's own images need beyond the stack's registries: HARBOR_UPSTREAM when
    the stack runs Harbor and approves no other registry to take them from; none otherwise."""
    return [HARBOR_UPSTREAM] if harbor_enabled and not approved_registries else []


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    settings: RegistrySettings
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The registry part's charts (Harbor), resolved by the loader."""
    storage: ObjectStorage
    """The stack's object storage: images and charts go to its `registry` bucket."""
    issuer: pulumi.Resource
    """The internal CA's ClusterIssuer (cert-manager), which issues the token-signing certificate."""
    replicate_from: str | None = None
    """On a secondary site, the primary's Harbor (the source a pull replication rule names)."""
    trusted_ca: str | None = None
    """The environment CA's certificate (PEM), on a site of several: Harbor's core and jobservice
    trust it, so replication from the other site's Harbor verifies that site's certificate."""


# Harbor's chart mounts this Secret's `ca.crt` into the trust store of core, jobservice, registry and
# trivy (chart 1.18 values.yaml `caBundleSecretName`, templates/_helpers.tpl `harbor.caBundleVolume`).
CA_BUNDLE_SECRET = "environment-ca"


class Registry(pulumi.ComponentResource):
    """Harbor at `services.registry.hostname` (module docstring)."""

    namespace: k8s.core.v1.Namespace
    access: StorageAccess
    chart: k8s.helm.v4.Chart | None
    hostname: str
    url: str
    admin_password: pulumi.Output[str]
    """The initial password of Harbor's `admin`; a secret."""
    replicate_from: str | None
    """The primary's Harbor on a secondary site (what a pull replication rule would name), else None."""
    secrets: dict[str, k8s.core.v1.Secret]
    """The Secrets the chart references, by name (the token-signing one is cert-manager's)."""
    token_certificate: k8s.apiextensions.CustomResource
    """The cert-manager Certificate whose Secret (`harbor-token-signing`) holds the token-signing key."""
    values: dict[str, Any]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Registry", name, None, opts)
        storage = args.storage
        registry = args.settings
        self.hostname = registry.hostname
        self.url = f"https://{registry.hostname}"
        labels = kubernetes_labels(args.identity, "registry")
        child = pulumi.ResourceOptions(parent=self)

        self.replicate_from = args.replicate_from
        space = HardenedNamespace(name, NAMESPACE, labels, child)
        self.namespace = space.namespace
        in_namespace = space.opts
        space.policy("allow-egress", allow_egress_outside_the_cluster(storage.egress_ports()))
        # The ingress controller reaches Harbor, and Harbor's components talk to each other (core,
        # registry, database, redis, jobservice).
        space.policy(
            "allow-ingress",
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [namespace_selector(catalogue.INGRESS_NAMESPACE), {"podSelector": {}}]}],
            },
        )
        space.policy("allow-internal-egress", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": {}}]}]})

        # The chart's S3 driver reads its own key names; its Azure driver reads AZURE_STORAGE_ACCESS_KEY,
        # a canonical key of the access Secret.
        aliases = (
            {"REGISTRY_STORAGE_S3_ACCESSKEY": S3_ACCESS_KEY_ID, "REGISTRY_STORAGE_S3_SECRETKEY": S3_SECRET_ACCESS_KEY}
            if storage.kind == "s3"
            else None
        )
        self.access = storage.access_for("harbor", self.namespace.metadata.name, "registry", aliases=aliases)

        secrets = self._secrets(name, labels, in_namespace, args.issuer)
        self.secrets = dict(zip((ADMIN_SECRET, CORE_SECRET, JOBSERVICE_SECRET, REGISTRY_SECRET), secrets["resources"], strict=True))
        self.token_certificate = secrets["certificate"]
        self.values = self._values(args, secrets["database"])
        trust: list[pulumi.Resource] = []
        if args.trusted_ca is not None:
            trust.append(k8s.core.v1.Secret(
                f"{name}-environment-ca", metadata={"name": CA_BUNDLE_SECRET, "namespace": NAMESPACE, "labels": labels},
                type="Opaque", string_data={"ca.crt": args.trusted_ca}, opts=in_namespace,
            ))
            self.values["caBundleSecretName"] = CA_BUNDLE_SECRET
        # An S3 endpoint whose certificate an internal CA issued (`storage.ca_certificate`): chart 1.18.3 mounts the
        # Secret's `ca.crt` into the registry and registryctl containers at /harbor_cust_cert/custom-ca-bundle.crt
        # (templates/registry/registry-dpl.yaml), which the images add to their trust store at start.
        storage_ca = storage.ca_for("harbor", self.namespace.metadata.name)
        if storage_ca is not None:
            trust.append(storage_ca.secret)
            self.values["persistence"]["imageChartStorage"]["caBundleSecretName"] = storage_ca.secret_name
        production = args.identity.production
        self.chart = pinned_chart(
            f"{name}-harbor", catalogue.HARBOR_CHART, args.charts, self.namespace.metadata.name, self.values,
            pulumi.ResourceOptions(
                parent=self, protect=production,
                depends_on=[self.namespace, *present(self.access.secret), *secrets["resources"], *trust, self.token_certificate],
            ),
        )
        self.register_outputs({"url": self.url, "replicate_from": self.replicate_from})

    def _secrets(self, name: str, labels: dict[str, str], opts: pulumi.ResourceOptions, issuer: pulumi.Resource) -> dict[str, Any]:
        """Passwords generated once and kept in state, and the token-signing certificate cert-manager issues."""
        child = pulumi.ResourceOptions(parent=self)

        def password(role: str, length: int, with_bcrypt: bool = False) -> GeneratedPassword:
            # Harbor's admin password policy wants upper- and lower-case letters and a digit.
            return GeneratedPassword(f"{name}-{role}", length, classes=("upper", "lower", "digit"), with_bcrypt=with_bcrypt, opts=child)

        admin = password("admin-password", 24)
        self.admin_password = pulumi.Output.secret(admin.result)
        registry_password = password("registry-password", 24, with_bcrypt=True)
        generated = {
            "secretKey": password("secret-key", 16),  # Harbor's encryption key: exactly 16 characters
            "core": password("core-secret", 16),
            "xsrf": password("xsrf-key", 32),
            "jobservice": password("jobservice-secret", 16),
            "http": password("registry-http-secret", 16),
            "database": password("database-password", 24),
        }
        token_certificate = internal_certificate(
            f"{name}-token-certificate",
            {"name": TOKEN_SECRET, "namespace": NAMESPACE, "labels": labels},
            TOKEN_SECRET,
            {
                "commonName": "harbor-token-issuer",
                "duration": f"{10 * 365 * 24}h",
                "renewBefore": f"{365 * 24}h",
                "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Always"},
                "usages": ["digital signature", "key encipherment"],
            },
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[issuer])),
        )

        def secret(role: str, secret_name: str, data: dict[str, Any]) -> k8s.core.v1.Secret:
            return k8s.core.v1.Secret(
                f"{name}-{role}",
                metadata={"name": secret_name, "namespace": NAMESPACE, "labels": labels},
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
                opts=opts,
            )

        resources = [
            secret("admin", ADMIN_SECRET, {"HARBOR_ADMIN_PASSWORD": admin.result}),
            secret(
                "core-secrets",
                CORE_SECRET,
                {
                    "secretKey": generated["secretKey"].result,
                    "secret": generated["core"].result,
                    "CSRF_KEY": generated["xsrf"].result,
                },
            ),
            secret("jobservice-secrets", JOBSERVICE_SECRET, {"JOBSERVICE_SECRET": generated["jobservice"].result}),
            secret(
                "registry-secrets",
                REGISTRY_SECRET,
                {
                    "REGISTRY_HTTP_SECRET": generated["http"].result,
                    "REGISTRY_PASSWD": registry_password.result,
                    # htpasswd with a bcrypt hash made once: Helm's `htpasswd` would salt anew on every render.
                    "REGISTRY_HTPASSWD": pulumi.Output.concat(REGISTRY_USER, ":", registry_password.bcrypt_hash),
                },
            ),
        ]
        return {"resources": resources, "certificate": token_certificate, "database": pulumi.Output.secret(generated["database"].result)}

    def _values(self, args: RegistryArgs, database_password: pulumi.Output[str]) -> dict[str, Any]:
        registry = args.settings
        replicas = registry.replicas
        image = lambda name: harbor_image(args.images, name)  # noqa: E731
        return {
            "externalURL": self.url,
            "expose": {
                "type": "ingress",
                "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": TLS_SECRET}},
                "ingress": {
                    "hosts": {"core": registry.hostname},
                    "className": catalogue.INGRESS_CLASS,
                    "controller": "default",
                    "annotations": {
                        "cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER,
                        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                        # Image layers are uploaded in one request; no body size limit.
                        "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                    },
                },
            },
            "persistence": {
                "enabled": True,
                "resourcePolicy": "keep",
                "persistentVolumeClaim": {
                    "database": {"size": f"{registry.database_volume_gi}Gi"},
                    "redis": {"size": "1Gi"},
                },
                "imageChartStorage": storage_values(self.access),
            },
            "existingSecretAdminPassword": ADMIN_SECRET,
            "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
            "existingSecretSecretKey": CORE_SECRET,
            "containerSecurityContext": RESTRICTED_CONTAINER,
            "core": {
                "replicas": replicas,
                "image": image("harbor-core"),
                "resources": RESOURCES["core"],
                "existingSecret": CORE_SECRET,
                "existingXsrfSecret": CORE_SECRET,
                "existingXsrfSecretKey": "CSRF_KEY",
                "secretName": TOKEN_SECRET,
            },
            "portal": {"replicas": replicas, "image": image("harbor-portal"), "resources": RESOURCES["portal"]},
            "jobservice": {
                "replicas": replicas,
                "image": image("harbor-jobservice"),
                "resources": RESOURCES["jobservice"],
                "existingSecret": JOBSERVICE_SECRET,
                "existingSecretKey": "JOBSERVICE_SECRET",
                "jobLoggers": ["database"],
            },
            "registry": {
                "replicas": replicas,
                "registry": {"image": image("registry-photon"), "resources": RESOURCES["registry"]},
                "controller": {"image": image("harbor-registryctl"), "resources": RESOURCES["registryctl"]},
                "existingSecret": REGISTRY_SECRET,
                "existingSecretKey": "REGISTRY_HTTP_SECRET",
                "credentials": {"username": REGISTRY_USER, "existingSecret": REGISTRY_SECRET},
            },
            "trivy": {"enabled": False},
            "database": {
                "type": "internal",
                "internal": {
                    "image": image("harbor-db"),
                    "password": database_password,
                    "resources": RESOURCES["database"],
                    # The database's one init container (`data-permissions-ensurer`); chart 1.18.3's values.yaml still
                    # lists `initContainer.migrator`, which no template reads.
                    "initContainer": {"permissions": {"resources": RESOURCES["database_init"]}},
                },
            },
            "redis": {"type": "internal", "internal": {"image": image("redis-photon"), "resources": RESOURCES["redis"]}},
            "exporter": {"image": image("harbor-exporter"), "resources": RESOURCES["exporter"]},
            # Metrics on 8001 from core, registry, jobservice and the exporter, scraped by the
            # ServiceMonitor of components/observability/monitors.py (the chart's own stays off).
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        }


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

METRICS_PORT = 8001  # the chart's `metrics.{core,registry,jobservice,exporter}.port`
METRICS_PORT_NAME = "http-metrics"  # the chart's Service port name without internal TLS
CHART_LABELS = {"app": "harbor"}


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    """Harbor's core, registry, jobservice and exporter each serve metrics behind a Service port
    named `http-metrics`; one ServiceMonitor over the chart's Services finds them all."""
    return [Target("registry", "harbor", NAMESPACE, "ServiceMonitor", CHART_LABELS, METRICS_PORT, endpoint={"port": METRICS_PORT_NAME})]


PART = ServicePart(
    service="registry",
    component=Registry,
    title="Harbor",
    label="Harbor registry",
    holds_data=True,
    health=("harbor", NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "HarborComponentDown",
            "harbor_up == 0",
            "critical",
            "registry",
            "Harbor {{ $labels.component }} is down",
            "The Harbor exporter reports the component unhealthy; pulls through the registry or its proxy cache may fail.",
            "10m",
        ),
    ),
    object_storage="images",
)
