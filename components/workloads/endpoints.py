"""Where each shared service's pods run and listen, so a workload that uses one gets egress to
exactly those pods. The services layer names its instances with the same functions."""

from __future__ import annotations

from dataclasses import dataclass

# The instance a workload means when it names none.
DEFAULT_INSTANCE = {"postgres": "db", "redis": "cache", "rabbitmq": "queue", "kafka": "events"}
# Kafka is one platform cluster shared by teams (they declare topics), in its own namespace.
KAFKA_NAMESPACE = "kafka"


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None  # None: the team's own namespace
    pod_labels: dict[str, str]
    ports: tuple[int, ...]


def postgres_cluster_name(team: str, instance: str) -> str:
    # The Zalando operator requires a cluster's name to start with its teamId.
    return f"{team}-{instance}"


def endpoint(service: str, team: str, instance: str | None) -> Endpoint:
    instance = instance or DEFAULT_INSTANCE[service]
    if service == "postgres":
        return Endpoint(None, {"application": "spilo", "cluster-name": postgres_cluster_name(team, instance)}, (5432,))
    if service == "redis":
        # Clients ask the sentinels for the master, then talk to it.
        return Endpoint(None, {"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "redis-failover"}, (6379, 26379))
    if service == "rabbitmq":
        return Endpoint(None, {"app.kubernetes.io/name": instance, "app.kubernetes.io/part-of": "rabbitmq"}, (5671, 5672))
    if service == "kafka":
        return Endpoint(KAFKA_NAMESPACE, {"strimzi.io/cluster": instance, "strimzi.io/kind": "Kafka"}, (9093,))
    raise ValueError(f"unknown shared service {service}")
