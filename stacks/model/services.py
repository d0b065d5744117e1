"""The shared services every environment runs, with their sizing."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, model_validator

from .. import catalogue

from .base import CaCertificate, Cidr, Secret, Strict, check, matching
from .observability import Hostname, Logging, Monitoring, Tracing
from .workloads import Schedule


def _text(value: object) -> object:
    """Numbers as written in YAML (`17`) are taken as text (`"17"`)."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _one_of(choices: tuple[str, ...], what: str) -> AfterValidator:
    """A string must be one of `choices` (`Annotated[str, AS_TEXT, _one_of(...)]`); the error lists them."""

    def _check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"`{value}` is not {what}; use one of {', '.join(choices)}")
        return value

    return AfterValidator(_check)


AS_TEXT = BeforeValidator(_text)
# What a data service's instances at a secondary site hold when it becomes the primary (docs/services.md "At a
# failover"). Only what is built is accepted: `rebuilt_empty` says nothing copies the data between the sites.
FAILOVER_MODES = ("rebuilt_empty",)
FailoverMode = Annotated[
    str, AS_TEXT, _one_of(FAILOVER_MODES, "a failover mode the program builds (nothing replicates this service between sites)"),
]
# Kafka alone is replicated between the sites: `mirrored` runs MirrorMaker 2 at each secondary (components/services/kafka.py).
KAFKA_FAILOVER_MODES = ("mirrored", "rebuilt_empty")
KafkaFailoverMode = Annotated[
    str, AS_TEXT, _one_of(KAFKA_FAILOVER_MODES, "a failover mode the program builds for Kafka"),
]
PostgresVersion = Annotated[
    str, AS_TEXT,
    _one_of(catalogue.POSTGRES_VERSIONS,
            f"a PostgreSQL major version that {catalogue.POSTGRES_OPERATOR.name} {catalogue.POSTGRES_OPERATOR.version} runs"),
]
RedisVersion = Annotated[
    str, AS_TEXT, _one_of(tuple(catalogue.REDIS_IMAGES), "a Redis version the catalogue pins (stacks/catalogue.py REDIS_IMAGES)")
]
RabbitMQVersion = Annotated[
    str, AS_TEXT, _one_of(tuple(catalogue.RABBITMQ_IMAGES), "a RabbitMQ version the catalogue pins (stacks/catalogue.py RABBITMQ_IMAGES)"),
]
InstanceSize = Annotated[
    str,
    AS_TEXT,
    _one_of(
        tuple(catalogue.INSTANCE_SIZES),
        "an instance size (" + ", ".join(f"{name}: {cpu} CPU, {memory}" for name, (cpu, memory) in catalogue.INSTANCE_SIZES.items()) + ")",
    ),
]


class Ingress(Strict):
    """ingress-nginx, the cluster's one IngressClass (`nginx`), behind a LoadBalancer Service."""

    enabled: bool = True
    """Run the ingress controller; without it no Ingress (APIs' hosts, Grafana, Harbor) is served."""
    replicas: int = Field(default=1, ge=1, le=10)
    """Controller pods."""
    internal_load_balancer: bool = True
    """The Service asks for an internal load balancer (the Azure annotation on AKS, the site's
    internal MetalLB pool on premises); off only where the policy allows public ones (dev)."""
    admission_webhook: bool = True
    """ingress-nginx's validating admission webhook (the chart's `controller.admissionWebhooks.enabled`):
    the API server asks the controller to test each Ingress's NGINX configuration before admitting it.
    Off only on a cluster whose API server cannot reach pods (a control plane outside the pod network,
    docs/cluster.md): a broken Ingress is then admitted and shows only in the controller's log. Its serving
    certificate comes from cert-manager (`services.cert_manager` must be enabled; docs/services.md)."""


class AcmeIssuer(Strict):
    """Certificates from an ACME CA (Let's Encrypt) through HTTP-01 challenges answered by the
    ingress controller, so the hosts must reach it from the internet."""

    kind: Literal["acme"]
    email: Annotated[str, matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an e-mail address")]
    """The ACME account's contact address (the CA's expiry and policy notices)."""
    server: str = "https://acme-v02.api.letsencrypt.org/directory"
    """The ACME directory: Let's Encrypt's production one by default."""


class EnvironmentCa(Strict):
    """The CA every site of an environment issues its certificates from (`platform-issuer` and
    `platform-internal-ca`), so each site's clients trust the others' hosts by one certificate:
    Fluent Bit and Prometheus shipping to the primary, Harbor replicating from it, containerd pulling
    through the site's Harbor, and the Harbor provider (docs/runbooks/disaster-recovery.md, *Trust
    between the sites*). Create it once per environment, outside the clusters, and keep its key offline
    besides this secret; cert-manager does not rotate it (renew before `notAfter` and set both again)."""

    certificate: CaCertificate
    """The CA certificate, PEM (public; e.g. `openssl x509 -in ca.crt`)."""
    private_key: Secret
    """The CA's private key, PEM, as a Pulumi secret
    (`pulumi config set --secret --path 'complete-cluster:services.cert_manager.issuer.ca.private_key' < ca.key`)."""


class InternalCaIssuer(Strict):
    """Certificates from the cluster's own CA: a self-signed root that cert-manager keeps in its
    namespace and rotates, or, with `ca`, the environment's CA shared by its sites; clients trust it
    by importing the root."""

    kind: Literal["internal_ca"]
    ca: EnvironmentCa | None = None
    """The environment's CA, shared by its sites; required on a site of several (a primary with
    secondaries, or a secondary), whose clients reach the other sites' hosts. None: a self-signed
    root of this cluster's own, which nothing outside it trusts."""
    common_name: str = "complete-cluster internal CA"
    """The root certificate's common name."""
    root_validity_days: int = Field(default=3650, ge=30, le=7300)
    """The root's lifetime (its Certificate's `duration`); cert-manager renews it a third of that
    (at most a year) before it ends."""


# A host name (RFC 1123 labels) with an optional port: what the chart writes after `https://`.
_WEBHOOK_HOST = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$"


class CertManager(Strict):
    """cert-manager and the `platform-issuer` ClusterIssuer every Ingress certificate comes from."""

    enabled: bool = True
    """Run cert-manager; without it Ingresses get no certificates and RabbitMQ listens without TLS."""
    issuer: Annotated[AcmeIssuer | InternalCaIssuer, Field(discriminator="kind")] = InternalCaIssuer(kind="internal_ca")
    """Where `platform-issuer`'s certificates come from: `acme` (public hosts) or `internal_ca`."""
    webhook_host: Annotated[str, matching(_WEBHOOK_HOST, "a host name with an optional port, such as `localhost:10250`")] | None = None
    """Where the API server calls cert-manager's webhook (the chart's `webhook.url.host`: it calls
    `https://<webhook_host>/validate` and `/mutate` instead of the webhook's Service), for a control plane
    that cannot reach pods (docs/cluster.md runs the webhook beside it); the webhook's serving
    certificate must name the host (its `--dynamic-serving-dns-names`). None: the Service, as usual."""


class Postgres(Strict):
    """The Zalando postgres-operator; teams declare their clusters (`teams[].databases`)."""

    enabled: bool = False
    """Run the operator; teams' `databases` need it."""
    instances: int = Field(default=1, ge=1, le=5)
    """Pods per cluster, by environment: 1 in dev, at least 2 in prod (a replica to fail over to)."""
    volume_gi: int = Field(default=10, ge=1)
    """Volume per pod unless the team's database sets its own."""
    version: PostgresVersion = catalogue.POSTGRES_DEFAULT_VERSION
    """PostgreSQL major version of clusters that set none."""
    logical_backup_schedule: Schedule = "30 1 * * *"
    """Cron schedule of each cluster's logical backup (the operator's dump job, to object storage)."""
    base_backups_kept: int = Field(default=7, ge=1, le=90)
    """Daily base backups kept with their WAL; point-in-time recovery reaches back that far."""

    @model_validator(mode="after")
    def _prod_has_a_replica(self, info: ValidationInfo):
        if (info.context or {}).get("environment") == "prod" and self.instances < 2:
            check(
                [("instances", f"prod runs at least 2 PostgreSQL instances per cluster (a replica to fail over to), not {self.instances}")]
            )
        return self


class Redis(Strict):
    """The Spotahome redis-operator; teams declare their caches (`teams[].caches`), each a
    RedisFailover of `replicas` Redis pods watched by `sentinels` Sentinels."""

    enabled: bool = False
    """Run the operator; teams' `caches` need it."""
    replicas: int = Field(default=1, ge=1, le=5)
    """Redis pods per cache: one master, the rest replicas."""
    sentinels: int = Field(default=3, ge=1, le=5)
    """Sentinel pods per cache, an odd number: they elect a new master by majority."""
    version: RedisVersion = catalogue.REDIS_DEFAULT_VERSION
    """Redis version of caches that set none."""
    at_failover: FailoverMode = "rebuilt_empty"
    """What the secondary's caches hold when it becomes the primary: `rebuilt_empty`. Each site's RedisFailovers
    are independent (the operator replicates within a cluster only), so teams refill their caches there."""

    @model_validator(mode="after")
    def _quorum(self):
        if self.sentinels % 2 == 0:
            check([("sentinels", f"Sentinels elect a new master by majority; run an odd number, not {self.sentinels}")])
        return self


class RabbitMQ(Strict):
    """The RabbitMQ cluster operator; teams declare their queues (`teams[].queues`)."""

    enabled: bool = False
    """Run the operator; teams' `queues` need it."""
    replicas: int = Field(default=1, ge=1, le=7)
    """Nodes per cluster, an odd number: quorum queues need a majority."""
    volume_gi: int = Field(default=10, ge=1)
    """Volume per node unless the team's queue sets its own."""
    version: RabbitMQVersion = catalogue.RABBITMQ_DEFAULT_VERSION
    """RabbitMQ version of clusters that set none."""
    at_failover: FailoverMode = "rebuilt_empty"
    """What the secondary's queues hold when it becomes the primary: `rebuilt_empty`. Each site's RabbitmqClusters
    are independent (no federation or shovel between sites), so messages not consumed at the old primary are lost
    and the applications declare their queues again."""

    @model_validator(mode="after")
    def _quorum(self):
        if self.replicas % 2 == 0:
            check([("replicas", f"quorum queues need a majority of nodes; run an odd number of replicas, not {self.replicas}")])
        return self


class KafkaSiteListener(Strict):
    """The cross-site listener (port 9094, TLS with a client certificate of the environment CA, behind the site's
    load balancer) the secondaries' MirrorMaker 2 reads the primary's topics through. The site's DNS resolves
    `hostname` to the bootstrap Service's load-balancer address and `broker-<node id>.<hostname>` to each broker's
    (docs/services.md, *Kafka between the sites*)."""

    hostname: Hostname
    """The bootstrap host name, e.g. `kafka.dc1.example.com`; the brokers are advertised as `broker-<node id>.<hostname>`."""
    peer_ranges: list[Cidr] = Field(min_length=1)
    """The other sites' addresses on the path between the sites: where their MirrorMaker 2 connects from (their nodes'
    range, `infrastructure.network.node_cidr` on Rancher) and where their listener's load-balancer addresses lie. Only
    these reach this site's listener, and this site's MirrorMaker reaches only these."""


class Kafka(Strict):
    """Strimzi and one shared KRaft cluster (`events` in namespace `kafka`); teams declare topics."""

    enabled: bool = False
    """Run Strimzi and the cluster; teams' `topics` need it."""
    brokers: int = Field(default=1, ge=1, le=15)
    """Broker pods (a node pool)."""
    controllers: int = Field(default=1, ge=1, le=5)
    """KRaft controller pods (a node pool), an odd number for quorum."""
    storage_gi: int = Field(default=20, ge=1)
    """Volume per broker."""
    default_replication_factor: int = Field(default=1, ge=1)
    """Replicas of a topic that sets none, at most `brokers`; `min.insync.replicas` follows from it."""
    broker_size: InstanceSize = "medium"
    """CPU and memory of each broker."""
    controller_size: InstanceSize = "small"
    """CPU and memory of each controller."""
    at_failover: KafkaFailoverMode = "rebuilt_empty"
    """What the secondary's topics hold when it becomes the primary. `mirrored`: MirrorMaker 2 at each secondary copies
    every team topic of the primary, under the same name, with the teams' consumer-group offsets, so the topics hold
    what the primary had up to the mirror's lag; needs `site_listener` and a site of several. `rebuilt_empty`: each
    site's cluster is independent, the topics exist there (from config) without the primary's messages."""
    site_listener: KafkaSiteListener | None = None
    """The listener the other sites' MirrorMaker 2 reaches this site's brokers by; required with `mirrored` (a
    secondary uses it once it is promoted)."""

    @model_validator(mode="after")
    def _replication_fits(self):
        problems = []
        if self.default_replication_factor > self.brokers:
            problems.append(
                ("default_replication_factor", f"cannot exceed the broker count ({self.default_replication_factor} > {self.brokers})")
            )
        if self.controllers % 2 == 0:
            problems.append(("controllers", f"KRaft controllers need an odd count for quorum, not {self.controllers}"))
        check(problems)
        return self

    def min_insync_replicas(self, replicas: int | None = None) -> int:
        """Writes acknowledged by all in-sync replicas survive one broker loss when there are 3+."""
        replicas = replicas or self.default_replication_factor
        return max(1, min(2, replicas - 1))


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


def _hostname(value: str) -> str:
    if value and not _HOSTNAME.fullmatch(value):
        raise ValueError(f"`{value}` is not a DNS host name such as `harbor.dc1.example.com` (lower-case, no scheme, no port)")
    return value


class Registry(Strict):
    """Harbor, the site's image registry: the one registry workload images may come from besides
    `policy.allowed_registries`, with its images and charts in the `registry` bucket."""

    enabled: bool = False
    """Run Harbor (needs `storage` and `hostname`)."""
    hostname: Annotated[str, AfterValidator(_hostname)] = ""
    """Harbor's host name (its Ingress, and the registry in image names), e.g. `harbor.dc1.example.com`."""
    replicas: int = Field(default=1, ge=1, le=5)
    """Replicas of the stateless parts (portal, core, registry, jobservice)."""
    database_volume_gi: int = Field(default=5, ge=1, le=1024)
    """Harbor's own PostgreSQL (projects, users, artifact metadata); images are in object storage."""
    replication_secret: Secret | None = None
    """The secret of the robot account `replication` the primary's Harbor grants pull access to and
    the secondaries' Harbors replicate with: the same value on every site of the environment
    (8-128 characters with an upper-case letter, a lower-case letter and a digit, as Harbor requires)."""


CsiDriver = Annotated[
    str,
    matching(
        r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        "a CSI driver name (at most 63 lower-case letters, digits, '-' and '.', e.g. `rbd.csi.ceph.com`)",
    ),
]

# Backups older than this are kept in prod at least (the compliance minimum for production data).
PROD_MIN_BACKUP_RETENTION_DAYS = 30


class Backup(Strict):
    """Velero: a daily backup of the cluster's objects and CSI snapshots of its volumes, kept
    `retention_days` in the `backups` bucket."""

    enabled: bool = False
    """Run Velero (needs `storage`)."""
    schedule: Schedule = "0 1 * * *"
    """Cron schedule of the backup (the Velero Schedule `daily`)."""
    retention_days: int = Field(default=7, ge=1, le=3650)
    """Days each backup is kept; at least 30 in prod."""
    snapshot_driver: CsiDriver | None = None
    """The CSI driver whose volumes are snapshotted (a VolumeSnapshotClass for it is labelled for
    Velero). AKS defaults to `disk.csi.azure.com`; on premises name the site's driver, or leave it
    unset when the storage team provides a labelled class."""

    @model_validator(mode="after")
    def _retention(self, info: ValidationInfo):
        minimum = PROD_MIN_BACKUP_RETENTION_DAYS
        if (info.context or {}).get("environment") == "prod" and self.retention_days < minimum:
            check(
                [
                    (
                        "retention_days",
                        f"prod keeps backups at least {minimum} days (the compliance minimum), not {self.retention_days}; raise "
                        "retention_days",
                    )
                ]
            )
        return self


class Services(Strict):
    """The shared services; each section's `enabled` says whether the stack runs it."""

    ingress: Ingress = Ingress()
    """ingress-nginx."""
    cert_manager: CertManager = CertManager()
    """cert-manager and the platform's issuer."""
    postgres: Postgres = Postgres()
    """PostgreSQL clusters for the teams' `databases`."""
    redis: Redis = Redis()
    """Redis failovers for the teams' `caches`."""
    rabbitmq: RabbitMQ = RabbitMQ()
    """RabbitMQ clusters for the teams' `queues`."""
    kafka: Kafka = Kafka()
    """The shared Kafka cluster for the teams' `topics`."""
    registry: Registry = Registry()
    """Harbor, the site's image registry."""
    backup: Backup = Backup()
    """Velero backups of the cluster."""
    monitoring: Monitoring = Monitoring()
    """Metrics, alerts and dashboards."""
    logging: Logging = Logging()
    """Central logs and their archive."""
    tracing: Tracing = Tracing()
    """Traces."""

    def enabled(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name).enabled]
