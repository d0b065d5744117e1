"""The environment variables that connect a workload to the shared services it declares in `uses`:
each instance's address as plain values, its credentials as references into the instance's
connection Secret (`endpoints.connection_secret`), never as values.

Names: `<SERVICE>_<FIELD>` for the team's default instance (the one `uses` means without
`instance`), and `<SERVICE>_<INSTANCE>_<FIELD>` for any other (upper case, `-` as `_`), so a workload
can use two instances of a service. docs/onboarding.md lists them.

The addresses come from `shared_services_summary` (components/services/operators.py), the same
data as the `sharedServices` stack output, so what a pod is given and what the stack reports agree.
"""

from __future__ import annotations

from typing import Any

from stacks.model import StackConfig

from ..services.operators import generates_passwords, shared_services_summary
from ..services.postgres import DATABASE
from .endpoints import DEFAULT_INSTANCE, KAFKA_CLIENT_SECRET, connection_secret

# Keys of the Secrets the operators write: Zalando postgres-operator's role Secret and the RabbitMQ
# cluster operator's `<cluster>-default-user` Secret both hold `username` and `password`; the
# Redis auth Secret of components/services/redis.py holds `password` (Redis has no user names).
USERNAME_KEY = "username"
PASSWORD_KEY = "password"
# The master group name the Spotahome operator configures in its Sentinels (clients ask the
# Sentinels for the master of this group).
REDIS_MASTER_NAME = "mymaster"
# Summary sections per service (shared_services_summary).
_SUMMARY_FIELD = {"postgres": "databases", "redis": "caches", "rabbitmq": "queues"}

_summary_cache: tuple[StackConfig, dict[str, Any]] | None = None


def _summary(stack: StackConfig) -> dict[str, Any]:
    """The stack's summary, computed once per stack config (every workload of every team asks)."""
    global _summary_cache
    if _summary_cache is None or _summary_cache[0] is not stack:
        _summary_cache = (stack, shared_services_summary(stack))
    return _summary_cache[1]


def prefix(service: str, instance: str) -> str:
    name = service if instance == DEFAULT_INSTANCE[service] else f"{service}_{instance}"
    return name.upper().replace("-", "_")


def _value(name: str, value: str | int) -> dict[str, Any]:
    return {"name": name, "value": str(value)}


def _secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _address(stack: StackConfig, service: str, team: str, instance: str) -> tuple[str, str]:
    host, _, port = _summary(stack)[_SUMMARY_FIELD[service]][f"{team}/{instance}"]["address"].rpartition(":")
    return host, port


def connection_env(stack: StackConfig, team: str, uses: list[Any]) -> list[dict[str, Any]]:
    """Container `env` entries for every service in `uses` (stacks.model.workloads.Uses), in order;
    a service and instance named twice counts once."""
    env: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for use in uses:
        instance = use.instance or DEFAULT_INSTANCE[use.service]
        if (use.service, instance) in seen:
            continue
        seen.add((use.service, instance))
        p = prefix(use.service, instance)
        if use.service == "kafka":
            env += [
                _value(f"{p}_BOOTSTRAP_SERVERS", _summary(stack)["kafka"]["bootstrap"]),
                # The cluster's only listener is TLS (components/services/kafka.py).
                _value(f"{p}_SECURITY_PROTOCOL", "SSL"),
            ]
            if stack.services.cert_manager.enabled:
                # The CA the listener's certificate chains to, as a PEM string: librdkafka's
                # `ssl.ca.pem`, Java's `ssl.truststore.type=PEM` + `ssl.truststore.certificates`.
                env.append(_secret(f"{p}_SSL_CA_PEM", KAFKA_CLIENT_SECRET, "ca.crt"))
            continue
        host, port = _address(stack, use.service, team, instance)
        secret = connection_secret(use.service, team, instance)
        if use.service in ("postgres", "rabbitmq"):
            env += [
                _value(f"{p}_HOST", host),
                _value(f"{p}_PORT", port),
                *([_value(f"{p}_DATABASE", DATABASE)] if use.service == "postgres" else []),
                _secret(f"{p}_USERNAME", secret, USERNAME_KEY),
                _secret(f"{p}_PASSWORD", secret, PASSWORD_KEY),
            ]
        elif use.service == "redis":
            env += [
                _value(f"{p}_SENTINEL_HOST", host),
                _value(f"{p}_SENTINEL_PORT", port),
                _value(f"{p}_MASTER_NAME", REDIS_MASTER_NAME),
            ]
            if generates_passwords(stack):  # the auth Secret components/services/redis.py makes
                env.append(_secret(f"{p}_PASSWORD", secret, PASSWORD_KEY))
    return env
