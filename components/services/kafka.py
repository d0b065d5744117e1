"""Kafka: Strimzi and the one shared KRaft cluster, with the topics teams declare."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import Kafka as KafkaSettings
from stacks.model.services import Services
from stacks.model.teams import Team
from stacks.shared_services import KAFKA_CLIENT_SECRET, SHARED_SERVICES, Endpoint
from stacks.naming import kafka_mirror_user, kafka_topic

from ..charts import pinned_chart
from ..kit.certificates import internal_certificate
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.network import namespace_selector
from ..kit.options import after
from ..kit.parts import SITE_LABEL, Alert, ConnectionSettings, ServicePart, Target, env_secret, env_value
from ..kit.placement import database_node_affinity, database_tolerations
from ..kit.security import resources
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from .instances import clients_of
from .kafka_mirror import (
    MIRROR,
    MIRROR_CLIENT_SECRET,
    MIRROR_SIZE,
    SITE_LISTENER_NAME,
    SITE_LISTENER_PORT,
    broker_host_template,
    mirror_spec,
    source_acls,
    target_acls,
)

KAFKA = SHARED_SERVICES["kafka"]
OPERATOR_SIZE = ("200m", "512Mi")
ENTITY_OPERATOR_SIZE = ("100m", "256Mi")
CONTROLLER_STORAGE_GI = 5  # KRaft metadata only
LISTENER = {"name": "tls", "port": KAFKA.ports[0], "type": "internal", "tls": True}
# The TLS listener presents a certificate of the cluster's internal CA (instead of Strimzi's own
# per-cluster CA), so clients in the team namespaces can trust it: each team that uses Kafka gets a
# client certificate of the same CA, whose Secret carries the CA's `ca.crt`
# (stacks/shared_services.py KAFKA_CLIENT_SECRET; connections.py hands it to the pods as PEMs).
LISTENER_CERTIFICATE_SECRET = f"{catalogue.KAFKA_CLUSTER}-listener-tls"
# Client authentication: the listener requires a client certificate of that same internal CA, and
# `authorization: simple` then allows each team's principal `User:CN=<team>` only what its KafkaUser's
# ACLs say. Strimzi's own `tls` authentication trusts only its clients CA (KafkaBrokerConfigurationBuilder
# configureAuthentication: `clients-ca.crt` of the trust bundle), and replacing that CA with ours means
# giving Strimzi the CA's private key (documentation/modules/security/proc-installing-your-own-ca-
# certificates.adoc), which stays with cert-manager instead. SCRAM would put each team's password Secret
# in this namespace, out of the team's reach. So the listener uses Strimzi's documented "customized
# TLS client authentication" (`type: custom`, `sasl: false`, a PEM truststore mounted from a Secret:
# documentation/api/...KafkaListenerAuthenticationCustom.adoc, Strimzi 1.2.0), with the CA certificate
# alone mounted from the listener certificate's Secret; the users are `tls-external`, whose principal is
# `CN=<KafkaUser name>` (user-operator KafkaUserModel.getUserName). Kafka's default principal mapping
# makes the DN `CN=<team>` of a certificate whose subject is only that common name. Strimzi's own
# components (broker replication, entity operators, exporter, Cruise Control, cluster operator) connect
# over the replication listener with the cluster CA and are super users Strimzi adds itself
# (KafkaBrokerConfigurationBuilder.withAuthorization), so they keep working.
CLIENT_CA_VOLUME = "internal-ca"
CLIENT_CA_PATH = f"/mnt/{CLIENT_CA_VOLUME}"  # Strimzi mounts additional volumes only under /mnt (TemplateUtils)
LISTENER_AUTHENTICATION = {
    "type": "custom",
    "sasl": False,
    "listenerConfig": {
        "ssl.client.auth": "required",
        "ssl.truststore.location": f"{CLIENT_CA_PATH}/ca.crt",
        "ssl.truststore.type": "PEM",
    },
}
# What a team's principal may do: produce to, consume from and describe its own declared topics (no
# Create: topics come from config, and auto-creation is off), and use consumer groups named
# `<team>.<anything>` (team names are DNS labels, so one team's prefix never covers another's).
TOPIC_OPERATIONS = ["Read", "Write", "Describe", "DescribeConfigs"]
GROUP_OPERATIONS = ["Read", "Describe"]


def listener_dns_names(cluster: str, namespace: str) -> list[str]:
    """Every name a client reaches the internal listener by: the bootstrap Service, and each broker
    through the headless brokers Service (`<pod>.<cluster>-kafka-brokers.<namespace>.svc`)."""
    names = []
    for suffix in (f"{namespace}.svc", f"{namespace}.svc.cluster.local"):
        names += [f"{cluster}-kafka-bootstrap.{suffix}", f"*.{cluster}-kafka-brokers.{suffix}"]
    return names
CLUSTER_LABEL = "strimzi.io/cluster"
# Prometheus metrics from Kafka's MBeans through Strimzi's JMX exporter (port 9404, scraped by the
# PodMonitor of components/observability/monitors.py). The rules are the generic ones of Strimzi's
# packaging/examples/metrics/kafka-metrics.yaml, which name e.g. ReplicaManager's
# UnderReplicatedPartitions `kafka_server_replicamanager_underreplicatedpartitions`.
METRICS_CONFIG_MAP = "kafka-metrics"
METRICS_CONFIG_KEY = "kafka-metrics-config.yml"
METRICS_RULES = """\
lowercaseOutputName: true
rules:
- pattern: kafka.(\\w+)<type=(.+), name=(.+)Percent\\w*><>MeanRate
  name: kafka_$1_$2_$3_percent
  type: GAUGE
- pattern: kafka.(\\w+)<type=(.+), name=(.+)Percent\\w*><>Value
  name: kafka_$1_$2_$3_percent
  type: GAUGE
- pattern: kafka.(\\w+)<type=(.+), name=(.+)PerSec\\w*, (.+)=(.+)><>Count
  name: kafka_$1_$2_$3_total
  type: COUNTER
  labels:
    "$4": "$5"
- pattern: kafka.(\\w+)<type=(.+), name=(.+)PerSec\\w*><>Count
  name: kafka_$1_$2_$3_total
  type: COUNTER
- pattern: kafka.(\\w+)<type=(.+), name=(.+), (.+)=(.+), (.+)=(.+)><>Value
  name: kafka_$1_$2_$3
  type: GAUGE
  labels:
    "$4": "$5"
    "$6": "$7"
- pattern: kafka.(\\w+)<type=(.+), name=(.+), (.+)=(.+)><>Value
  name: kafka_$1_$2_$3
  type: GAUGE
  labels:
    "$4": "$5"
- pattern: kafka.(\\w+)<type=(.+), name=(.+)><>Value
  name: kafka_$1_$2_$3
  type: GAUGE
- pattern: "kafka.server<type=raft-metrics><>(.+-total|.+-max):"
  name: kafka_server_raftmetrics_$1
  type: COUNTER
- pattern: "kafka.server<type=raft-metrics><>(.+):"
  name: kafka_server_raftmetrics_$1
  type: GAUGE
"""


def operator_values(images: ImageSource) -> dict[str, Any]:
    return {
        # The operator watches its own namespace, where the one cluster lives.
        "watchAnyNamespace": False,
        "watchNamespaces": [],
        "defaultImageRegistry": images.registry_for("quay.io"),
        "defaultImageRepository": "strimzi",
        "resources": resources(*OPERATOR_SIZE),
        "extraEnvs": [
            # Every pod the operator creates meets Pod Security `restricted`.
            {"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"},
            # The namespace's policies (below) decide who reaches the brokers, not generated ones
            # that would admit every namespace to the listener.
            {"name": "STRIMZI_NETWORK_POLICY_GENERATION", "value": "false"},
        ],
    }


def retention_ms(hours: int) -> str:
    return str(hours * 3600 * 1000)


def team_acls(team: Team) -> list[dict[str, Any]]:
    """The ACLs of a team's KafkaUser: exactly its topics, and its consumer groups by prefix."""
    topics = [
        {"resource": {"type": "topic", "name": f"{team.name}.{topic.name}", "patternType": "literal"}, "operations": TOPIC_OPERATIONS}
        for topic in team.topics
    ]
    groups = {"resource": {"type": "group", "name": f"{team.name}.", "patternType": "prefix"}, "operations": GROUP_OPERATIONS}
    return [*topics, groups]


@dataclass(frozen=True, kw_only=True)
class KafkaArgs:
    settings: KafkaSettings
    teams: list[Team]
    """The teams whose `topics` the cluster holds, and whose workloads may use it."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The kafka part's charts (Strimzi), resolved by the loader."""
    team_namespaces: dict[str, k8s.core.v1.Namespace]
    issuer: pulumi.Resource
    """The internal CA's ClusterIssuer: the listener's and the teams' client certificates (the config
    refuses Kafka without cert-manager)."""
    mirror_for: list[str] = field(default_factory=list)
    """At a `mirrored` primary: its secondaries' site names, whose MirrorMaker 2 reads its cross-site listener."""
    mirror_from: MirrorSource | None = None
    """At a `mirrored` secondary: the primary it mirrors."""
    load_balancer_annotations: dict[str, str] = field(default_factory=dict)
    """What makes the cross-site listener's Services internal (the site's MetalLB pool; ingress.internal_annotations)."""


@dataclass(frozen=True)
class MirrorSource:
    site: str
    listener: str
    """The primary's cross-site listener host name."""


class Kafka(pulumi.ComponentResource):
    """Creates the `kafka` namespace (restricted, default-deny; its pods talk to each other, and
    the workloads that declare they use Kafka reach the TLS listener), the Strimzi chart at its
    pinned version (restricted pods), the KRaft `Kafka` cluster `events` with two `KafkaNodePool`s
    (controllers and brokers, sized from config, persistent volumes on the database node pool), and
    a `KafkaTopic` `<team>.<topic>` for every topic a team declares. The TLS listener requires a client
    certificate of the internal CA and authorizes with ACLs: each team whose workloads use Kafka gets a
    client certificate in its namespace and a `KafkaUser` allowed exactly its topics and its consumer
    groups. Cluster and node pools are protected in prod."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    cluster: k8s.apiextensions.CustomResource
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    topics: dict[str, k8s.apiextensions.CustomResource]
    users: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Kafka", name, None, opts)
        kafka = args.settings
        issuer = args.issuer
        child = pulumi.ResourceOptions(parent=self)
        namespace = catalogue.KAFKA_NAMESPACE
        cluster_name = catalogue.KAFKA_CLUSTER
        space = ServiceNamespace(name, namespace, kubernetes_labels(args.identity, "events"), child, internal=True)
        self.namespace = space.namespace
        clients = [
            {**namespace_selector(team.name), "podSelector": {"matchLabels": selector}}
            for team in args.teams
            for selector in clients_of(team, "kafka", cluster_name)
        ]
        if clients:
            space.policy("allow-clients", {
                "podSelector": {"matchLabels": KAFKA.endpoint("", cluster_name).pod_labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": clients, "ports": [{"protocol": "TCP", "port": port} for port in KAFKA.ports]}],
            })
        self.chart = pinned_chart(
            f"{name}-chart", catalogue.STRIMZI, args.charts, namespace, operator_values(args.images), after(child, self.namespace)
        )
        on_crds = after(child, self.namespace, self.chart)
        self.listener_certificate = internal_certificate(
            f"{name}-listener-certificate",
            space.metadata(LISTENER_CERTIFICATE_SECRET),
            LISTENER_CERTIFICATE_SECRET,
            {
                "dnsNames": listener_dns_names(cluster_name, namespace),
                "usages": ["server auth", "digital signature", "key encipherment"],
            },
            after(child, self.namespace, issuer),
        )
        listener = {
            **LISTENER,
            "authentication": LISTENER_AUTHENTICATION,
            "configuration": {
                "brokerCertChainAndKey": {"secretName": LISTENER_CERTIFICATE_SECRET, "certificate": "tls.crt", "key": "tls.key"}
            },
        }
        listeners = [listener]
        site_listener = kafka.site_listener
        self.site_listener_certificate: k8s.apiextensions.CustomResource | None = None
        if args.mirror_for and site_listener is not None:
            listeners.append(self._site_listener(name, space, site_listener.hostname, site_listener.peer_ranges, args, issuer, child))
        users = [team for team in args.teams if clients_of(team, "kafka", cluster_name)]
        self.client_certificates: dict[str, k8s.apiextensions.CustomResource] = {}
        for team in users:
            self.client_certificates[team.name] = internal_certificate(
                f"{name}-client-{team.name}",
                {
                    "name": KAFKA_CLIENT_SECRET,
                    "namespace": team.name,
                    "labels": {**space.labels, f"{LABEL_PREFIX}/team": team.name},
                },
                KAFKA_CLIENT_SECRET,
                # The subject is this common name alone, so the broker's principal is `User:CN=<team>`.
                {"commonName": team.name, "usages": ["client auth", "digital signature", "key encipherment"]},
                after(child, issuer, args.team_namespaces.get(team.name)),
            )
        stateful = after(on_crds, self.listener_certificate, protected=args.identity.production)
        pod = {"tolerations": database_tolerations(), "affinity": {"nodeAffinity": database_node_affinity()}}
        # The brokers (which alone serve the TLS listener) read the internal CA's certificate, and only
        # it, from the listener certificate's Secret. A node pool's `template.pod` replaces the Kafka
        # resource's whole (KafkaPool.processTemplate), so the volume is set here.
        trusting = {
            "pod": {**pod, "volumes": [{"name": CLIENT_CA_VOLUME, "secret": {
                "secretName": LISTENER_CERTIFICATE_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}],
            }}]},
            "kafkaContainer": {"volumeMounts": [{"name": CLIENT_CA_VOLUME, "mountPath": CLIENT_CA_PATH, "readOnly": True}]},
        }
        cluster_labels = {**space.labels, CLUSTER_LABEL: cluster_name}
        pools = {
            "controllers": (kafka.controllers, ["controller"], kafka.controller_size, CONTROLLER_STORAGE_GI, {"pod": pod}),
            "brokers": (kafka.brokers, ["broker"], kafka.broker_size, kafka.storage_gi, trusting),
        }
        self.node_pools = {}
        for pool, (replicas, roles, size, storage_gi, template) in pools.items():
            self.node_pools[pool] = k8s.apiextensions.CustomResource(
                f"{name}-{pool}",
                api_version=catalogue.KAFKA_API,
                kind="KafkaNodePool",
                metadata=space.metadata(pool, {CLUSTER_LABEL: cluster_name}),
                spec={
                    "replicas": replicas,
                    "roles": roles,
                    "storage": {"type": "jbod", "volumes": [
                        {"id": 0, "type": "persistent-claim", "size": f"{storage_gi}Gi", "deleteClaim": False, "kraftMetadata": "shared"},
                    ]},
                    "resources": resources(*catalogue.INSTANCE_SIZES[size]),
                    "template": template,
                },
                opts=stateful,
            )
        metrics = k8s.core.v1.ConfigMap(
            f"{name}-metrics", metadata=space.metadata(METRICS_CONFIG_MAP), data={METRICS_CONFIG_KEY: METRICS_RULES}, opts=space.opts,
        )
        replication = kafka.default_replication_factor
        min_insync = kafka.min_insync_replicas()
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=catalogue.KAFKA_API,
            kind="Kafka",
            metadata={**space.metadata(cluster_name), "labels": cluster_labels},
            spec={
                "kafka": {
                    "version": catalogue.KAFKA_VERSION,
                    "listeners": listeners,
                    "authorization": {"type": "simple"},
                    "config": {
                        "default.replication.factor": replication,
                        "min.insync.replicas": min_insync,
                        "offsets.topic.replication.factor": replication,
                        "transaction.state.log.replication.factor": replication,
                        "transaction.state.log.min.isr": min_insync,
                        # Topics are declared in config (KafkaTopic), never created by a typo.
                        "auto.create.topics.enable": False,
                    },
                    "metricsConfig": {
                        "type": "jmxPrometheusExporter",
                        "valueFrom": {"configMapKeyRef": {"name": METRICS_CONFIG_MAP, "key": METRICS_CONFIG_KEY}},
                    },
                },
                "entityOperator": {
                    "topicOperator": {"resources": resources(*ENTITY_OPERATOR_SIZE)},
                    "userOperator": {"resources": resources(*ENTITY_OPERATOR_SIZE)},
                },
            },
            # The brokers read each listener's certificate Secret.
            opts=after(stateful, *self.node_pools.values(), metrics, self.site_listener_certificate),
        )
        self.topics = {}
        for team in args.teams:
            for topic in team.topics:
                topic_name = kafka_topic(team.name, topic.name)
                replicas = topic.replicas or replication
                self.topics[topic_name] = k8s.apiextensions.CustomResource(
                    f"{name}-topic-{team.name}-{topic.name}",
                    api_version=catalogue.KAFKA_API,
                    kind="KafkaTopic",
                    metadata=space.metadata(topic_name, {CLUSTER_LABEL: cluster_name, f"{LABEL_PREFIX}/team": team.name}),
                    spec={
                        "partitions": topic.partitions,
                        "replicas": replicas,
                        "config": {
                            "retention.ms": retention_ms(topic.retention_hours),
                            "min.insync.replicas": kafka.min_insync_replicas(replicas),
                        },
                    },
                    opts=after(on_crds, self.cluster),
                )
        self.users = {}
        for team in users:
            self.users[team.name] = k8s.apiextensions.CustomResource(
                f"{name}-user-{team.name}",
                api_version=catalogue.KAFKA_API,
                kind="KafkaUser",
                metadata=space.metadata(team.name, {CLUSTER_LABEL: cluster_name, f"{LABEL_PREFIX}/team": team.name}),
                spec={
                    # The certificate is cert-manager's (above); the User Operator manages the ACLs only.
                    "authentication": {"type": "tls-external"},
                    "authorization": {"type": "simple", "acls": team_acls(team)},
                },
                opts=after(on_crds, self.cluster),
            )
        on_cluster = after(on_crds, self.cluster)
        for secondary in args.mirror_for:
            user = kafka_mirror_user(secondary)
            self.users[user] = self._user(name, space, user, {"type": "simple", "acls": source_acls(args.teams)}, on_cluster)
        self.mirror: k8s.apiextensions.CustomResource | None = None
        if args.mirror_from is not None and site_listener is not None and any(team.topics for team in args.teams):
            self.mirror = self._mirror(name, space, args, args.mirror_from, site_listener.peer_ranges, issuer, on_cluster)
        self.register_outputs({"cluster": cluster_name, "topics": sorted(self.topics), "users": sorted(self.users)})

    def _user(self, name: str, space: ServiceNamespace, user: str, authorization: dict[str, Any],
              opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """A `tls-external` KafkaUser: the certificate is cert-manager's; the User Operator manages the ACLs only."""
        return k8s.apiextensions.CustomResource(
            f"{name}-user-{user}",
            api_version=catalogue.KAFKA_API,
            kind="KafkaUser",
            metadata=space.metadata(user, {CLUSTER_LABEL: catalogue.KAFKA_CLUSTER}),
            spec={"authentication": {"type": "tls-external"}, "authorization": authorization},
            opts=opts,
        )

    def _site_listener(self, name: str, space: ServiceNamespace, hostname: str, peer_ranges: list[str], args: KafkaArgs,
                       issuer: pulumi.Resource, child: pulumi.ResourceOptions) -> dict[str, Any]:
        """The primary's cross-site listener: behind the site's load balancer, the brokers advertised by host name (its
        certificate, from the environment CA, names the bootstrap host and every broker's), the same client-certificate
        authentication as the in-cluster listener, and only the other sites' ranges admitted."""
        secret = f"{catalogue.KAFKA_CLUSTER}-site-listener-tls"
        self.site_listener_certificate = internal_certificate(
            f"{name}-site-listener-certificate", space.metadata(secret), secret,
            {"dnsNames": [hostname, f"*.{hostname}"], "usages": ["server auth", "digital signature", "key encipherment"]},
            after(child, self.namespace, issuer),
        )
        brokers = {**KAFKA.endpoint("", catalogue.KAFKA_CLUSTER).pod_labels, "strimzi.io/broker-role": "true"}
        space.policy("allow-other-sites", {
            "podSelector": {"matchLabels": brokers},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in peer_ranges],
                         "ports": [{"protocol": "TCP", "port": SITE_LISTENER_PORT}]}],
        })
        # The site's load-balancer pool, where it names one (an existing cluster may not).
        annotations = dict(args.load_balancer_annotations)
        pool = {"bootstrap": {"annotations": annotations}, "perBrokerAnnotationsTemplate": annotations} if annotations else {}
        return {
            "name": SITE_LISTENER_NAME,
            "port": SITE_LISTENER_PORT,
            "type": "loadbalancer",
            "tls": True,
            "authentication": LISTENER_AUTHENTICATION,
            "configuration": {
                "brokerCertChainAndKey": {"secretName": secret, "certificate": "tls.crt", "key": "tls.key"},
                "advertisedHostTemplate": broker_host_template(hostname),
                # Local: the client's own address reaches the brokers, so the policy above and the load balancer's
                # source ranges see the other site's nodes, not this site's (Kubernetes' Service externalTrafficPolicy).
                "externalTrafficPolicy": "Local",
                "loadBalancerSourceRanges": list(peer_ranges),
                **pool,
            },
        }

    def _mirror(self, name: str, space: ServiceNamespace, args: KafkaArgs, source: MirrorSource, peer_ranges: list[str],
                issuer: pulumi.Resource, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """At a secondary: the mirror's client certificate, its local KafkaUser, the one egress it needs beyond the
        namespace (the primary's listener), and the KafkaMirrorMaker2."""
        site, user = args.identity.site, kafka_mirror_user(args.identity.site)
        certificate = internal_certificate(
            f"{name}-mirror-certificate", space.metadata(MIRROR_CLIENT_SECRET), MIRROR_CLIENT_SECRET,
            {"commonName": user, "usages": ["client auth", "digital signature", "key encipherment"]},
            after(opts, issuer),
        )
        self.users[user] = self._user(name, space, user, {"type": "simple", "acls": target_acls(args.teams, source.site)}, opts)
        space.policy("allow-mirror-to-primary", {
            "podSelector": {"matchLabels": {"strimzi.io/cluster": MIRROR, "strimzi.io/kind": "KafkaMirrorMaker2"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in peer_ranges],
                        "ports": [{"protocol": "TCP", "port": SITE_LISTENER_PORT}]}],
        })
        return k8s.apiextensions.CustomResource(
            f"{name}-mirror",
            api_version=catalogue.KAFKA_API,
            kind="KafkaMirrorMaker2",
            metadata=space.metadata(MIRROR),
            spec=mirror_spec(
                args.teams, site=site, primary_site=source.site, primary_listener=source.listener,
                local_bootstrap=KAFKA.endpoint("", catalogue.KAFKA_CLUSTER).address, resources=resources(*MIRROR_SIZE),
            ),
            opts=after(opts, certificate, self.users[user]),
        )


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

METRICS_PORT = 9404  # Strimzi's JMX exporter (`tcp-prometheus`)
NODE_POOL_VOLUMES = (("spec", "storage", "size"), ("spec", "replicas"), ("spec", "storage", "class"))


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    """Every broker and controller pod of the one cluster."""
    cluster = catalogue.KAFKA_CLUSTER
    return [Target("kafka", f"{cluster}-kafka", catalogue.KAFKA_NAMESPACE, "PodMonitor", KAFKA.endpoint("").pod_labels, METRICS_PORT)]


def client_env(settings: ConnectionSettings, prefix: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The cluster's only listener is TLS with client certificates (above): the team's certificate
    Secret, as PEM strings (librdkafka's `ssl.ca.pem`, `ssl.certificate.pem`, `ssl.key.pem`; Java's
    `ssl.truststore.type=PEM` + `ssl.truststore.certificates`, `ssl.keystore.type=PEM` +
    `ssl.keystore.certificate.chain` + `ssl.keystore.key`)."""
    return [
        env_value(f"{prefix}_BOOTSTRAP_SERVERS", endpoint.address),
        env_value(f"{prefix}_SECURITY_PROTOCOL", "SSL"),
        # The CA the listener's certificate chains to.
        env_secret(f"{prefix}_SSL_CA_PEM", KAFKA_CLIENT_SECRET, "ca.crt"),
        env_secret(f"{prefix}_SSL_CERTIFICATE_PEM", KAFKA_CLIENT_SECRET, "tls.crt"),
        env_secret(f"{prefix}_SSL_KEY_PEM", KAFKA_CLIENT_SECRET, "tls.key"),
    ]


PART = ServicePart(
    service="kafka",
    component=Kafka,
    title="Kafka",
    label="Kafka",
    holds_data=True,
    health=("kafka", catalogue.KAFKA_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "KafkaUnderReplicatedPartitions",
            f"sum by ({SITE_LABEL}, namespace, pod) (kafka_server_replicamanager_underreplicatedpartitions) > 0",
            "warning",
            "kafka",
            "Broker {{ $labels.pod }} has under-replicated partitions",
            "{{ $value }} partitions led by this broker have fewer in-sync replicas than configured; another broker loss can lose "
            "data or availability.",
            "10m",
        ),
    ),
    client_env=client_env,
    # Strimzi 1.x serves only v1 (stacks/catalogue.py KAFKA_API); in KRaft the node pools own the brokers' volumes.
    volume_claims={
        "kubernetes:kafka.strimzi.io/v1beta2:KafkaNodePool": NODE_POOL_VOLUMES,
        "kubernetes:kafka.strimzi.io/v1:KafkaNodePool": NODE_POOL_VOLUMES,
    },
    stateful_types=(
        "kubernetes:kafka.strimzi.io/v1beta2:Kafka",
        "kubernetes:kafka.strimzi.io/v1:Kafka",
        "kubernetes:kafka.strimzi.io/v1:KafkaNodePool",
    ),
)
