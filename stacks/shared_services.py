"""The shared services teams use, in one table: what each is called, what a team declares for it,
where its instances run and listen, and where their credentials are.

Everything that names a shared service's instances reads this table: the model (the instance list a
team declares, the instance `uses` means when it names none), the components (the operators'
instances, a workload's egress policy and connection variables), the `sharedServices` stack output
and the review's diagram. The names are the operators' own (each row says where they come from), so
the addresses here and the objects the operators create always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from collections.abc import Callable

from . import catalogue

SharedServiceName = Literal["postgres", "redis", "rabbitmq", "kafka"]


@dataclass(frozen=True)
class Endpoint:
    """Where one instance of a shared service is, as a workload of a team reaches it."""

    namespace: str
    """Where the instance's pods run."""
    in_team_namespace: bool
    """The pods run in the team's own namespace (the team's egress needs no namespace selector)."""
    host: str
    """The in-cluster host name clients connect to."""
    port: int
    """The port of `host` clients connect to first (PostgreSQL, the Sentinels, the TLS listeners)."""
    ports: tuple[int, ...]
    """Every port clients reach on the instance's pods."""
    pod_labels: dict[str, str]
    """The labels the operator puts on every pod of the instance (and on no other pod)."""
    secret: str | None
    """The Secret with the instance's credentials in the team's namespace; None: none (Kafka's
    clients trust its TLS listener through the cluster's CA)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SharedService:
    """One row of the table."""

    name: SharedServiceName
    """The `services` section and the `uses.service` value."""
    team_field: str
    """What a team declares for it: the instance list (`databases`, `caches`, `queues`) or, for the
    one shared Kafka cluster, its topics."""
    default_instance: str
    """The instance a workload's `uses` means when it names none."""
    shared_cluster: bool
    """One platform instance that every team uses (Kafka) rather than instances per team."""
    ports: tuple[int, ...]
    _endpoint: Callable[[SharedService, str, str], Endpoint]

    def endpoint(self, team: str, instance: str | None = None) -> Endpoint:
        """Where `instance` (default: the default instance) of a workload of `team` is."""
        return self._endpoint(self, team, instance or self.default_instance)


def postgres_cluster_name(team: str, instance: str) -> str:
    # The Zalando operator requires a cluster's name to start with its teamId.
    return f"{team}-{instance}"


def postgres_namespace(team: str) -> str:
    """The team's data namespace, where its `postgresql` clusters run: Pod Security `baseline`
    there, because the operator cannot make Spilo pods `restricted` (components/services/postgres.py)."""
    return f"{team}-data"


def _postgres(service: SharedService, team: str, instance: str) -> Endpoint:
    cluster = postgres_cluster_name(team, instance)
    namespace = postgres_namespace(team)
    return Endpoint(
        namespace=namespace, in_team_namespace=False, host=f"{cluster}.{namespace}.svc", port=5432, ports=service.ports,
        # Zalando: `cluster_labels` (application: spilo) and `cluster_name_label` (cluster-name).
        pod_labels={"application": "spilo", "cluster-name": cluster},
        # The operator writes the owner role's Secret into the team namespace: the role is `<team>.app`
        # and `enable_cross_namespace_secret` is on (components/services/postgres.py `owner_role`); its
        # keys are `username` and `password`. The name is its secret_name_template
        # `{username}.{cluster}.credentials.{tprkind}.{tprgroup}` with `<team>.app` as {username}.
        secret=f"{team}.app.{cluster}.credentials.postgresql.acid.zalan.do",
    )


def _redis(service: SharedService, team: str, instance: str) -> Endpoint:
    return Endpoint(
        # Clients ask the Sentinels (the `rfs-<name>` Service) for the master, then talk to it.
        namespace=team, in_team_namespace=True, host=f"rfs-{instance}.{team}.svc", port=26379, ports=service.ports,
        # Spotahome: Redis and Sentinel pods of a RedisFailover carry its name and part-of.
        pod_labels={"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "redis-failover"},
        secret=f"{instance}-auth",  # made by components/services/redis.py, key `password`
    )


def _rabbitmq(service: SharedService, team: str, instance: str) -> Endpoint:
    return Endpoint(
        namespace=team, in_team_namespace=True, host=f"{instance}.{team}.svc", port=5671, ports=service.ports,
        # RabbitMQ cluster operator: the RabbitmqCluster's name and part-of.
        pod_labels={"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "rabbitmq"},
        secret=f"{instance}-default-user",  # the operator's, keys `username` and `password`
    )


def _kafka(service: SharedService, team: str, instance: str) -> Endpoint:
    namespace = catalogue.KAFKA_NAMESPACE
    return Endpoint(
        # The cluster's TLS listener behind Strimzi's bootstrap Service (components/services/kafka.py).
        namespace=namespace, in_team_namespace=False, host=f"{instance}-kafka-bootstrap.{namespace}.svc", port=9093, ports=service.ports,
        # Strimzi: every broker and controller pod of the Kafka cluster.
        pod_labels={"strimzi.io/cluster": instance, "strimzi.io/kind": "Kafka"},
        secret=None,
    )


SHARED_SERVICES: dict[str, SharedService] = {
    service.name: service
    for service in (
        SharedService("postgres", "databases", "db", False, (5432,), _postgres),
        SharedService("redis", "caches", "cache", False, (6379, 26379), _redis),
        SharedService("rabbitmq", "queues", "queue", False, (5671, 5672), _rabbitmq),
        SharedService("kafka", "topics", catalogue.KAFKA_CLUSTER, True, (9093,), _kafka),
    )
}
"""The shared services by name, in the order the summary and the diagram list them."""

INSTANCE_SERVICES = tuple(service for service in SHARED_SERVICES.values() if not service.shared_cluster)
"""The services whose instances teams declare by name (not the one shared Kafka cluster)."""

# In each team namespace that uses Kafka: the team's client certificate of the internal CA, whose
# `ca.crt` is what the listener's certificate chains to (components/services/kafka.py).
KAFKA_CLIENT_SECRET = "kafka-client-tls"
