"""The one catalogue of pinned versions: Kubernetes policy levels, charts, operators and images.

Every component reads its versions from here, so an upgrade is one reviewed change to this file.
"""

import re
from dataclasses import dataclass

# Pod Security Admission: the level and the Kubernetes minor version whose definition of that
# level applies. Pinning the version keeps a cluster upgrade from silently tightening or
# loosening the standard; raise it together with the clusters' Kubernetes version.
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.33"
# The oldest Kubernetes minor a cluster may run: the platform's admission policy on team Ingresses is an
# admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, GA and served by default from 1.30
# (components/services/ingress_certificates.py); an older API server would not enforce it.
MIN_KUBERNETES_MINOR = 30

# Ingress: the IngressClass the platform's ingress-nginx serves, and the cert-manager
# ClusterIssuer that signs every Ingress certificate.
INGRESS_CLASS = "nginx"
CLUSTER_ISSUER = "platform-issuer"
# The ClusterIssuer of the cluster's own CA, for in-cluster service certificates (`<name>.<ns>.svc`),
# which an ACME CA cannot issue: every stack with cert-manager has it, whatever `platform-issuer` is.
INTERNAL_ISSUER = "platform-internal-ca"


# Helm charts: each chart-based component names its ChartRef here, so every chart version is
# pinned in this file. Every pin is a version whose chart files can be read and rendered here: the
# site's offline chart mirror (../shared/charts, its README names each chart's source commit) holds
# each at exactly this version, and the image tags and API versions below are read from those files
# (Chart.yaml appVersion, values.yaml, the CRDs). tests/components/test_chart_values.py checks every
# values key the program passes a chart against that chart's own files. Where a chart comes from
# (repository, OCI mirror, local directory, or not installed) is the stack's `charts` setting,
# resolved by stacks/chart_sources.py.
@dataclass(frozen=True)
class ChartRef:
    name: str
    version: str
    repository: str


# --- ingress, certificates and data services charts -----------------------------------------------
# Each chart's version was confirmed against the project's own release record (named per entry).
# Operators are pinned together with the custom-resource API versions they serve and the instance
# images they run, so an operator upgrade is reviewed together with what it changes downstream.

# kubernetes/ingress-nginx release `helm-chart-4.14.1` (controller v1.14.1, 2025-12-05). The
# project stopped development in March 2026; 4.14.1 is the last release line published with
# security fixes before retirement.
INGRESS_NGINX = ChartRef("ingress-nginx", "4.14.1", "https://kubernetes.github.io/ingress-nginx")
INGRESS_NAMESPACE = "ingress-nginx"  # the team namespaces admit ingress traffic from this namespace
# Grafana (observability): the grafana chart moved to grafana-community/helm-charts in January 2026
# (grafana/helm-charts is frozen at chart 10.5.15). Chart 12.11.1 (tag grafana-12.11.1, the newest
# release the mirror's source has; its Chart.yaml appVersion 13.2.0) runs Grafana 13.2.0, and its
# values.yaml pins the dashboard sidecar at quay.io/kiwigrid/k8s-sidecar 2.10.1. The images are
# pinned here so they come from the approved registry like every other chart's.
GRAFANA_CHART = ChartRef("grafana", "12.11.1", "https://grafana-community.github.io/helm-charts")
GRAFANA_IMAGE = "docker.io/grafana/grafana:13.2.0"
GRAFANA_SIDECAR_IMAGE = "quay.io/kiwigrid/k8s-sidecar:2.10.1"

# cert-manager v1.20.2 (release notes; quay.io/jetstack/cert-manager-controller:v1.20.2).
CERT_MANAGER = ChartRef("cert-manager", "v1.20.2", "https://charts.jetstack.io")
CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_API = "cert-manager.io/v1"

# Zalando postgres-operator v2.0.1 (tag v2.0.1; the released postgres-operator-2.0.1.tgz, whose digest
# the repository's chart index records). Its `postgresql` CRD (acid.zalan.do/v1, crds/postgresqls.yaml)
# accepts PostgreSQL 14-18; its values.yaml runs Spilo 18 (spilo-18:4.1-p2), which runs every
# supported major version, and the operator and logical-backup images at v2.0.1.
POSTGRES_OPERATOR = ChartRef("postgres-operator", "2.0.1", "https://opensource.zalando.com/postgres-operator/charts/postgres-operator")
POSTGRES_OPERATOR_NAMESPACE = "postgres-operator"
POSTGRES_API = "acid.zalan.do/v1"
POSTGRES_VERSIONS = ("14", "15", "16", "17", "18")
POSTGRES_DEFAULT_VERSION = "17"
SPILO_IMAGE = "ghcr.io/zalando/spilo-18:4.1-p2"
POSTGRES_LOGICAL_BACKUP_IMAGE = "ghcr.io/zalando/postgres-operator/logical-backup:v2.0.1"
POSTGRES_OPERATOR_IMAGE = "ghcr.io/zalando/postgres-operator:v2.0.1"
# The PgBouncer image the operator runs for a cluster's connection pooler (the chart's values.yaml
# configConnectionPooler.connection_pooler_image, pgbouncer:v2.0.1 in the mirror's chart 2.0.1).
POSTGRES_POOLER_IMAGE = "ghcr.io/zalando/postgres-operator/pgbouncer:v2.0.1"

# Spotahome redis-operator chart 3.2.9 (app v1.2.4; charts/redisoperator/Chart.yaml in
# spotahome/redis-operator). Serves databases.spotahome.com/v1 RedisFailover.
REDIS_OPERATOR = ChartRef("redis-operator", "3.2.9", "https://spotahome.github.io/redis-operator")
REDIS_OPERATOR_NAMESPACE = "redis-operator"
REDIS_API = "databases.spotahome.com/v1"
REDIS_OPERATOR_IMAGE = "quay.io/spotahome/redis-operator:v1.2.4"
REDIS_IMAGES = {"7.2": "docker.io/library/redis:7.2.5-alpine", "7.4": "docker.io/library/redis:7.4.2-alpine"}
REDIS_DEFAULT_VERSION = "7.4"

# The RabbitMQ team publishes the cluster operator as a manifest, not a chart; the CloudPirates
# chart 0.6.5 (tag rabbitmq-cluster-operator-0.6.5 in CloudPirates-io/helm-charts; Chart.yaml
# appVersion 2.22.3, while its values.yaml runs ghcr.io/rabbitmq/cluster-operator 2.22.4 by digest)
# installs the upstream operator images. Serves rabbitmq.com/v1beta1 RabbitmqCluster (its CRD).
RABBITMQ_OPERATOR = ChartRef("rabbitmq-cluster-operator", "0.6.5", "oci://registry-1.docker.io/cloudpirates")
RABBITMQ_OPERATOR_NAMESPACE = "rabbitmq-system"
RABBITMQ_API = "rabbitmq.com/v1beta1"
RABBITMQ_IMAGES = {"4.1": "docker.io/library/rabbitmq:4.1.1-management", "4.3": "docker.io/library/rabbitmq:4.3.5-management"}
RABBITMQ_DEFAULT_VERSION = "4.1"

# Strimzi 1.2.0 (GitHub release 1.2.0): KRaft only, node pools, and only the kafka.strimzi.io/v1
# API (v1beta2 was removed in 1.0.0). Kafka 4.3.1 is among the versions it supports.
STRIMZI = ChartRef("strimzi-kafka-operator", "1.2.0", "https://strimzi.io/charts/")
KAFKA_NAMESPACE = "kafka"
KAFKA_API = "kafka.strimzi.io/v1"
# Fleet, which Rancher runs in its management cluster and on every cluster it manages (the program installs
# neither): its objects are checked against Fleet 0.16.1's CRDs (charts/fleet-crd, tests/components/test_fleet.py).
FLEET_API = "fleet.cattle.io/v1alpha1"
FLEET_VERSION = "0.16.1"
KAFKA_VERSION = "4.3.1"
KAFKA_CLUSTER = "events"

# The database node pool (kinds/aks.yaml, the Rancher sites' `database` machine pool): its label
# and taint, which every data-service instance selects and tolerates.
DATABASE_NODE_LABEL = ("nodeType", "database")
DATABASE_NODE_TAINT = {"key": "nodeType", "operator": "Equal", "value": "database", "effect": "NoSchedule"}

# Instance sizes teams choose from: CPU and memory per pod, requests equal to limits (Guaranteed QoS).
INSTANCE_SIZES = {
    "xsmall": ("100m", "256Mi"),  # development only
    "small": ("500m", "1Gi"),
    "medium": ("1", "2Gi"),
    "large": ("2", "4Gi"),
    "xlarge": ("4", "8Gi"),
}


# --- metrics and alerting chart --------------------------------------------------------------------
# kube-prometheus-stack 88.5.3 (release tag kube-prometheus-stack-88.5.3 in
# prometheus-community/helm-charts; Chart.yaml appVersion v0.93.1, the Prometheus operator; its
# values.yaml runs Prometheus v3.14.0 and Alertmanager v0.34.0). It installs the operator with its
# CRDs, Prometheus, Alertmanager, kube-state-metrics 8.4.0 and node-exporter 4.56.1 (subcharts).
# Image tags are the chart's own for this version; components/observability/metrics.py overrides
# only their registry (the stack's approved one), as for ingress-nginx.
KUBE_PROMETHEUS_STACK = ChartRef("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
# The API of the operator's ServiceMonitor, PodMonitor and PrometheusRule (its CRDs come with the chart).
PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"


# --- storage, registry and backup charts ---------------------------------------------------------
# Versions confirmed in each chart repository's index.yaml (goharbor/harbor-helm, vmware-tanzu/helm-charts).

# Harbor 2.14.3 (the chart's appVersion); its images are named here so they come from the approved registry.
HARBOR_CHART = ChartRef(name="harbor", version="1.18.3", repository="https://helm.goharbor.io")
HARBOR_IMAGE_TAG = "v2.14.3"
# Velero 1.16.2, with the object-store plugins of the same release line (plugin 1.12.x <-> Velero 1.16.x).
VELERO_CHART = ChartRef(name="velero", version="10.1.1", repository="https://vmware-tanzu.github.io/helm-charts")
VELERO_IMAGE = "docker.io/velero/velero:v1.16.2"
VELERO_PLUGIN_IMAGES = {
    "s3": "docker.io/velero/velero-plugin-for-aws:v1.12.2",
    "azure_blob": "docker.io/velero/velero-plugin-for-microsoft-azure:v1.12.2",
}
# Sentinels only watch and vote: one small fixed size for every cache.
SENTINEL_SIZE = ("100m", "128Mi")
# The redis_exporter sidecar the operator adds to every Redis pod (metrics on 9121, scraped by the
# PodMonitor of components/observability/monitors.py). v1.91.0: oliver006/redis_exporter release
# (prometheus-community chart prometheus-redis-exporter-6.31.0 moved to it, 2026-09-07); quay.io is
# where the operator's own default exporter image comes from. Its size counts in the team's quota.
REDIS_EXPORTER_IMAGE = "quay.io/oliver006/redis_exporter:v1.91.0"
REDIS_EXPORTER_SIZE = ("50m", "64Mi")


# --- logs and traces charts ----------------------------------------------------------------------
# Each version confirmed against its project's release record; the images are the charts' own
# application versions, named here so they come from the approved registry.

# grafana/loki chart 7.3.0 (release tag helm-loki-7.3.0, the latest stable chart tag on 2026-10-01;
# appVersion 3.6.12), single-binary mode. The chart's development continues in
# grafana-community/helm-charts; moving there is a reviewed change of repository and values.
LOKI_CHART = ChartRef("loki", "7.3.0", "https://grafana.github.io/helm-charts")
LOKI_IMAGE = "docker.io/grafana/loki:3.6.12"
# The Loki gateway (nginx, unprivileged, UID 101): a fixed patch release instead of the chart's
# moving minor tag.
LOKI_GATEWAY_IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.29.8-alpine"
# fluent/fluent-bit chart 0.58.1 (release tag fluent-bit-0.58.1; Chart.yaml appVersion 5.1.1, the
# image tag its values.yaml defaults to).
FLUENT_BIT_CHART = ChartRef("fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts")
FLUENT_BIT_IMAGE = "docker.io/fluent/fluent-bit:5.1.1"
# grafana/tempo chart 1.24.4 (single binary; appVersion Tempo 2.9.0), deployed through 2026-10. Later
# Tempo charts moved to grafana-community/helm-charts with Tempo 3's configuration.
TEMPO_CHART = ChartRef("tempo", "1.24.4", "https://grafana.github.io/helm-charts")
TEMPO_IMAGE = "docker.io/grafana/tempo:2.9.0"
# open-telemetry/opentelemetry-collector chart 0.170.0 (release tag opentelemetry-collector-0.170.0;
# Chart.yaml appVersion 0.158.0, the image tag its values.yaml defaults to). The contrib distribution
# carries the probabilistic sampler; since collector v0.144.0 the OTLP exporters are named `otlp_grpc`
# and `otlp_http` (opentelemetry-collector#14403, #14397).
OTEL_COLLECTOR_CHART = ChartRef("opentelemetry-collector", "0.170.0", "https://open-telemetry.github.io/opentelemetry-helm-charts")
OTEL_COLLECTOR_IMAGE = "docker.io/otel/opentelemetry-collector-contrib:0.158.0"


# --- which part installs which charts ----------------------------------------------------------------
# The one declaration of the charts each part of the platform installs (a part is a `services`
# section; its charts are installed when it is enabled). The loader checks these (a local chart
# directory must hold each) and resolves their sources once (stacks/chart_sources.py); a component
# installs a chart only through its part's resolved sources, which refuse a chart not declared here.
PART_CHARTS: dict[str, tuple[ChartRef, ...]] = {
    "ingress": (INGRESS_NGINX,),
    "cert_manager": (CERT_MANAGER,),
    "postgres": (POSTGRES_OPERATOR,),
    "redis": (REDIS_OPERATOR,),
    "rabbitmq": (RABBITMQ_OPERATOR,),
    "kafka": (STRIMZI,),
    "registry": (HARBOR_CHART,),
    "backup": (VELERO_CHART,),
    "monitoring": (KUBE_PROMETHEUS_STACK, GRAFANA_CHART),
    "logging": (LOKI_CHART, FLUENT_BIT_CHART),
    "tracing": (TEMPO_CHART, OTEL_COLLECTOR_CHART),
}


# --- where the images come from ---------------------------------------------------------------------
# Charts whose images the program keeps as the chart names them and only moves to the stack's
# registry (`ImageSource.registry_for`): chart -> the upstream registries of those images, as each
# chart's values.yaml at the pinned version names them.
CHART_IMAGE_REGISTRIES: dict[str, tuple[str, ...]] = {
    INGRESS_NGINX.name: ("registry.k8s.io",),  # controller, admission webhook patch
    CERT_MANAGER.name: ("quay.io",),  # quay.io/jetstack/cert-manager-*
    KUBE_PROMETHEUS_STACK.name: ("quay.io", "registry.k8s.io"),  # operator, Prometheus, Alertmanager; kube-state-metrics, webhook patch
    STRIMZI.name: ("quay.io",),  # defaultImageRegistry: quay.io (operator, Kafka)
    RABBITMQ_OPERATOR.name: ("ghcr.io", "docker.io"),  # cluster and topology operators; the RabbitMQ image
    HARBOR_CHART.name: ("docker.io",),  # docker.io/goharbor/*
}


def upstream_registries() -> tuple[str, ...]:
    """Every registry an image of the platform is published on: the hosts of the images pinned in
    this file and of the charts' own images. A stack's registry mirrors each of them (an ACR cache
    rule per upstream on AKS, a Harbor proxy-cache project on premises)."""
    pinned: list[str] = []
    for value in list(globals().values()):
        for image in value.values() if isinstance(value, dict) else (value,):
            if isinstance(image, str) and re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)+/[^\s:]+:[^\s/]+$", image):
                pinned.append(image.split("/", 1)[0])
    charts = [registry for registries in CHART_IMAGE_REGISTRIES.values() for registry in registries]
    return tuple(sorted(set(pinned) | set(charts)))


# Every namespace the platform itself runs in (tests/stacks/test_naming.py holds this list to the
# namespaces the shipped stacks' inventories create): a team cannot be named like one of them.
PLATFORM_NAMESPACES = (
    INGRESS_NAMESPACE, CERT_MANAGER_NAMESPACE, POSTGRES_OPERATOR_NAMESPACE, REDIS_OPERATOR_NAMESPACE, RABBITMQ_OPERATOR_NAMESPACE,
    KAFKA_NAMESPACE, "monitoring", "grafana", "logging", "tracing", "node-agents", "velero", "harbor",
)
