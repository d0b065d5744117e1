"""Where each shared service's pods run and listen, so a workload that uses one gets egress to
exactly those pods. The services layer (components/services/) names and labels its instances with
the same functions, so the selectors here and the pods the operators create always agree."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.model.teams import DEFAULT_INSTANCE

from stacks import catalogue

__all__ = ["DEFAULT_INSTANCE", "KAFKA_CLIENT_SECRET", "KAFKA_NAMESPACE", "Endpoint", "endpoint", "connection_secret", "pod_labels", "postgres_cluster_name", "postgres_namespace"]

# Kafka is one platform cluster shared by teams (they declare topics), in its own namespace.
KAFKA_NAMESPACE = catalogue.KAFKA_NAMESPACE
# In each team namespace that uses Kafka: the team's client certificate of the internal CA, whose
# `ca.crt` is what the listener's certificate chains to (components/services/kafka.py).
KAFKA_CLIENT_SECRET = "kafka-client-tls"

PORTS = {
    "postgres": (5432,),
    # Clients ask the Sentinels for the master, then talk to it.
    "redis": (6379, 26379),
    "rabbitmq": (5671, 5672),
    # The cluster's TLS listener (components/services/kafka.py).
    "kafka": (9093,),
}


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None  # None: the team's own namespace
    pod_labels: dict[str, str]
    ports: tuple[int, ...]


def postgres_cluster_name(team: str, instance: str) -> str:
    # The Zalando operator requires a cluster's name to start with its teamId.
    return f"{team}-{instance}"


def postgres_namespace(team: str) -> str:
    """The team's data namespace, where its `postgresql` clusters run: Pod Security `baseline`
    there, because the operator cannot make Spilo pods `restricted` (components/services/postgres.py)."""
    return f"{team}-data"


def pod_labels(service: str, team: str, instance: str | None) -> dict[str, str]:
    """The labels the operator puts on every pod of the instance (and on no other pod)."""
    instance = instance or DEFAULT_INSTANCE[service]
    if service == "postgres":
        # Zalando: `cluster_labels` (application: spilo) and `cluster_name_label` (cluster-name).
        return {"application": "spilo", "cluster-name": postgres_cluster_name(team, instance)}
    if service == "redis":
        # Spotahome: Redis and Sentinel pods of a RedisFailover carry its name and part-of.
        return {"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "redis-failover"}
    if service == "rabbitmq":
        # RabbitMQ cluster operator: the RabbitmqCluster's name and part-of.
        return {"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "rabbitmq"}
    if service == "kafka":
        # Strimzi: every broker and controller pod of the Kafka cluster.
        return {"strimzi.io/cluster": instance, "strimzi.io/kind": "Kafka"}
    raise ValueError(f"unknown shared service {service}")


def endpoint(service: str, team: str, instance: str | None) -> Endpoint:
    namespace = KAFKA_NAMESPACE if service == "kafka" else postgres_namespace(team) if service == "postgres" else None
    return Endpoint(namespace, pod_labels(service, team, instance), PORTS[service])


def connection_secret(service: str, team: str, instance: str | None) -> str | None:
    """The Secret with the credentials for the instance, in the team's namespace (where the team's
    workloads can mount it), made by its operator (PostgreSQL, RabbitMQ) or by the services layer
    (Redis); None for Kafka, whose TLS listener clients trust through the cluster CA.

    PostgreSQL's clusters run in the team's data namespace (`postgres_namespace`), but the operator
    writes the owner role's Secret into the team namespace: the role is `<team>.app` and
    `enable_cross_namespace_secret` is on (components/services/postgres.py `owner_role`). Its keys
    are `username` (`<team>.app`) and `password`."""
    instance = instance or DEFAULT_INSTANCE[service]
    if service == "postgres":
        # The operator's secret_name_template `{username}.{cluster}.credentials.{tprkind}.{tprgroup}`
        # with the whole role name `<team>.app` as {username}.
        return f"{team}.app.{postgres_cluster_name(team, instance)}.credentials.postgresql.acid.zalan.do"
    if service == "rabbitmq":
        return f"{instance}-default-user"
    if service == "redis":
        return f"{instance}-auth"
    return None
