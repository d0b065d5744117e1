"""The environment variables that connect a workload to the shared services it declares in `uses`:
each instance's address as plain values, its credentials as references into the instance's
connection Secret, never as values. Addresses and Secrets are the instances' endpoints
(stacks/shared_services.py), the same the `sharedServices` stack output reports.

Names: `<SERVICE>_<FIELD>` for the team's default instance (the one `uses` means without
`instance`), and `<SERVICE>_<INSTANCE>_<FIELD>` for any other (upper case, `-` as `_`), so a workload
can use two instances of a service. docs/onboarding.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.model.workloads import Uses
from stacks.shared_services import KAFKA_CLIENT_SECRET, SHARED_SERVICES

from ..services.postgres import DATABASE

# Keys of the Secrets the operators write: Zalando postgres-operator's role Secret and the RabbitMQ
# cluster operator's `<cluster>-default-user` Secret both hold `username` and `password`; the
# Redis auth Secret of components/services/redis.py holds `password` (Redis has no user names).
USERNAME_KEY = "username"
PASSWORD_KEY = "password"
# The master group name the Spotahome operator configures in its Sentinels (clients ask the
# Sentinels for the master of this group).
REDIS_MASTER_NAME = "mymaster"


@dataclass(frozen=True)
class ConnectionSettings:
    """What the stack decides about its instances' credentials."""

    redis_password: bool
    """The Redis instances have an auth Secret (the program generates passwords only on clusters it
    deploys to, not into a render target's files)."""
    kafka_ca: bool
    """Kafka's listener chains to the cluster's internal CA, whose PEM each team's client certificate
    Secret carries (the stack runs cert-manager)."""


def prefix(service: str, instance: str) -> str:
    name = service if instance == SHARED_SERVICES[service].default_instance else f"{service}_{instance}"
    return name.upper().replace("-", "_")


def _value(name: str, value: str | int) -> dict[str, Any]:
    return {"name": name, "value": str(value)}


def _secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def connection_env(settings: ConnectionSettings, team: str, uses: list[Uses]) -> list[dict[str, Any]]:
    """Container `env` entries for every service in `uses`, in order; a service and instance named
    twice counts once."""
    env: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for use in uses:
        service = SHARED_SERVICES[use.service]
        instance = use.instance or service.default_instance
        if (use.service, instance) in seen:
            continue
        seen.add((use.service, instance))
        p = prefix(use.service, instance)
        endpoint = service.endpoint(team, instance)
        if use.service == "kafka":
            env += [
                _value(f"{p}_BOOTSTRAP_SERVERS", endpoint.address),
                # The cluster's only listener is TLS (components/services/kafka.py).
                _value(f"{p}_SECURITY_PROTOCOL", "SSL"),
            ]
            if settings.kafka_ca:
                # The CA the listener's certificate chains to, as a PEM string: librdkafka's
                # `ssl.ca.pem`, Java's `ssl.truststore.type=PEM` + `ssl.truststore.certificates`.
                env.append(_secret(f"{p}_SSL_CA_PEM", KAFKA_CLIENT_SECRET, "ca.crt"))
            continue
        secret = endpoint.secret
        assert secret is not None  # every instance teams declare has one (stacks/shared_services.py)
        if use.service in ("postgres", "rabbitmq"):
            env += [
                _value(f"{p}_HOST", endpoint.host),
                _value(f"{p}_PORT", endpoint.port),
                *([_value(f"{p}_DATABASE", DATABASE)] if use.service == "postgres" else []),
                _secret(f"{p}_USERNAME", secret, USERNAME_KEY),
                _secret(f"{p}_PASSWORD", secret, PASSWORD_KEY),
            ]
        elif use.service == "redis":
            env += [
                _value(f"{p}_SENTINEL_HOST", endpoint.host),
                _value(f"{p}_SENTINEL_PORT", endpoint.port),
                _value(f"{p}_MASTER_NAME", REDIS_MASTER_NAME),
            ]
            if settings.redis_password:  # the auth Secret components/services/redis.py makes
                env.append(_secret(f"{p}_PASSWORD", secret, PASSWORD_KEY))
    return env
