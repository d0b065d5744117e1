"""Redis: the Spotahome redis-operator, and a `RedisFailover` per cache a team declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.services import Redis as RedisSettings
from stacks.model.services import Services
from stacks.model.teams import Cache, Team
from stacks.shared_services import SHARED_SERVICES, Endpoint
from stacks.naming import redis_statefulset

from ..charts import pinned_chart
from ..kit.generated import GeneratedPassword
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.options import after
from ..kit.parts import INSTANCE_LABEL, Alert, ConnectionSettings, InstanceRow, ServicePart, Target, env_secret, env_value
from ..kit.placement import database_node_selector, database_tolerations
from ..kit.security import resources, restricted_container, restricted_pod
from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from .instances import clients_of, instance_network_policy

REDIS = SHARED_SERVICES["redis"]
OPERATOR_SIZE = ("100m", "128Mi")
RUN_AS = 1000
# The redis_exporter sidecar the operator adds to every Redis pod (catalogue.REDIS_EXPORTER_IMAGE).
EXPORTER_IMAGE = catalogue.REDIS_EXPORTER_IMAGE
EXPORTER_SIZE = catalogue.REDIS_EXPORTER_SIZE


def operator_values(images: ImageSource) -> dict[str, Any]:
    repository, _, tag = images.mirrored(catalogue.REDIS_OPERATOR_IMAGE).rpartition(":")
    return {
        "image": {"repository": repository, "tag": tag},
        "resources": resources(*OPERATOR_SIZE),
        "securityContext": {**restricted_container(RUN_AS), "readOnlyRootFilesystem": True},
    }


def _max_memory(memory: str) -> str:
    """Three quarters of the container's memory for data, the rest for replication buffers and forks."""
    units = {"Mi": 2**20, "Gi": 2**30}
    number, unit = memory[:-2], memory[-2:]
    return f"{int(float(number) * units[unit] * 3 / 4 / 2**20)}mb"


@dataclass(frozen=True, kw_only=True)
class RedisArgs:
    team: Team
    cache: Cache
    settings: RedisSettings
    identity: StackIdentity
    images: ImageSource
    generate_password: bool
    """Generate the cache's password into a Secret (only on clusters the program deploys to: a
    render target writes Secrets to files in plain text)."""


class Redis(pulumi.ComponentResource):
    """A Spotahome `RedisFailover` named after the cache in the team's namespace: Redis pods of the
    declared size and version (requests = limits, an LRU cache bounded below its memory limit) and
    the Sentinels that elect their master, counts by environment, restricted pods on the database
    node pool; a generated password (a Secret `<cache>-auth`) on clusters the program deploys to;
    and the NetworkPolicy its pods need. Protected in prod."""

    failover: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Redis", name, None, opts)
        team, cache = args.team, args.cache
        service = args.settings
        cpu, memory = catalogue.INSTANCE_SIZES[cache.size]
        image = args.images.mirrored(catalogue.REDIS_IMAGES[cache.version or service.version])
        labels = {**kubernetes_labels(args.identity, "cache"), f"{LABEL_PREFIX}/team": team.name}
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        placement = {"tolerations": database_tolerations(), "nodeSelector": database_node_selector()}
        pod = {"securityContext": restricted_pod(RUN_AS, RUN_AS), "containerSecurityContext": restricted_container(RUN_AS)}
        spec: dict[str, Any] = {
            "redis": {
                "replicas": service.replicas,
                "image": image,
                "resources": resources(cpu, memory),
                "customConfig": [f"maxmemory {_max_memory(memory)}", "maxmemory-policy allkeys-lru"],
                # Requests = limits like the Redis container beside it, so the pod stays Guaranteed;
                # with auth the operator hands the exporter the password from the same Secret.
                "exporter": {
                    "enabled": True,
                    "image": args.images.mirrored(EXPORTER_IMAGE),
                    "imagePullPolicy": "IfNotPresent",
                    "resources": resources(*EXPORTER_SIZE),
                    "containerSecurityContext": {**restricted_container(RUN_AS), "readOnlyRootFilesystem": True},
                },
                **placement,
                **pod,
            },
            "sentinel": {
                "replicas": service.sentinels,
                "image": image,
                "resources": resources(*catalogue.SENTINEL_SIZE),
                "configCopy": {"containerSecurityContext": restricted_container(RUN_AS)},
                **placement,
                **pod,
            },
        }
        password_secret = None
        # Only real clusters get a password (generate_password); on every stack only the workloads
        # that declare the cache can reach it (NetworkPolicy).
        if args.generate_password:
            password = GeneratedPassword(f"{name}-password", 32, opts=child)
            secret_name = REDIS.endpoint(team.name, cache.name).secret
            assert secret_name is not None  # the Secret workloads reference (stacks/shared_services.py)
            password_secret = k8s.core.v1.Secret(
                f"{name}-auth",
                metadata={"name": secret_name, "namespace": team.name, "labels": labels},
                type="Opaque",
                string_data={"password": password.result},
                opts=child,
            )
            spec["auth"] = {"secretPath": secret_name}
        self.failover = k8s.apiextensions.CustomResource(
            f"{name}-failover",
            api_version=catalogue.REDIS_API,
            kind="RedisFailover",
            metadata={"name": cache.name, "namespace": team.name, "labels": labels},
            spec=spec,
            opts=after(child, password_secret, protected=args.identity.production),
        )
        instance_network_policy(
            f"{name}-network",
            {"name": f"{cache.name}-redis", "namespace": team.name, "labels": labels},
            REDIS.endpoint(team.name, cache.name).pod_labels,
            client_ports=REDIS.ports,
            peer_ports=REDIS.ports,
            clients=clients_of(team, "redis", cache.name),
            operator_namespace=catalogue.REDIS_OPERATOR_NAMESPACE,
            operator_ports=REDIS.ports,
            https_egress=False,
            opts=child,
        )
        self.register_outputs({"failover": cache.name})


@dataclass(frozen=True, kw_only=True)
class RedisOperatorArgs:
    settings: RedisSettings
    teams: list[Team]
    """The teams whose `caches` the operator runs."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The redis part's charts (redis-operator), resolved by the loader."""
    team_namespaces: dict[str, k8s.core.v1.Namespace]
    generate_passwords: bool
    """Generate each cache's password (RedisArgs.generate_password)."""


class RedisOperator(pulumi.ComponentResource):
    """Creates the `redis-operator` namespace (restricted, default-deny, egress to the Redis pods
    it manages), the redis-operator chart at its pinned version, and a `Redis` for every cache the
    teams declare, each after the operator (its CRD) and the team's namespace."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    caches: dict[str, Redis]

    def __init__(self, name: str, args: RedisOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:RedisOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        space = ServiceNamespace(name, catalogue.REDIS_OPERATOR_NAMESPACE, kubernetes_labels(args.identity, "cache-operator"), child)
        self.namespace = space.namespace
        space.policy("allow-caches", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "redis-failover"}}}],
                "ports": [{"protocol": "TCP", "port": port} for port in REDIS.ports],
            }],
        })
        self.chart = pinned_chart(
            f"{name}-chart",
            catalogue.REDIS_OPERATOR,
            args.charts,
            catalogue.REDIS_OPERATOR_NAMESPACE,
            operator_values(args.images),
            after(child, self.namespace),
        )
        self.caches = {}
        for team in args.teams:
            for cache in team.caches:
                cache_args = RedisArgs(team=team, cache=cache, settings=args.settings, identity=args.identity, images=args.images,
                                       generate_password=args.generate_passwords)
                self.caches[f"{team.name}/{cache.name}"] = Redis(
                    f"redis-{team.name}-{cache.name}", cache_args, after(child, self.chart, args.team_namespaces.get(team.name)),
                )
        self.register_outputs({"caches": sorted(self.caches)})


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

EXPORTER_PORT = 9121  # the redis_exporter sidecar beside every Redis
REDIS_ROLE_LABEL = ("app.kubernetes.io/component", "redis")  # Spotahome: Redis pods, not Sentinels
# The master group name the Spotahome operator configures in its Sentinels (clients ask the
# Sentinels for the master of this group).
MASTER_NAME = "mymaster"


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    """The exporter beside each Redis (not the Sentinels) of every failover the teams declare."""
    key, value = REDIS_ROLE_LABEL
    return [
        Target(
            "redis",
            f"{cache.name}-redis",
            team.name,
            "PodMonitor",
            {**REDIS.endpoint(team.name, cache.name).pod_labels, key: value},
            EXPORTER_PORT,
            f"{team.name}/{cache.name}",
            team.name,
        )
        for team in teams
        for cache in team.caches
    ]


def dashboard_instances(team: Team) -> list[InstanceRow]:
    """Spotahome names a failover's Redis StatefulSet `rfr-<name>`."""
    return [(f"redis {cache.name}", team.name, redis_statefulset(cache.name)) for cache in team.caches]


def client_env(settings: ConnectionSettings, prefix: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    """Clients ask the Sentinels for the master; the auth Secret (made above) holds `password`,
    Redis has no user names."""
    env = [
        env_value(f"{prefix}_SENTINEL_HOST", endpoint.host),
        env_value(f"{prefix}_SENTINEL_PORT", endpoint.port),
        env_value(f"{prefix}_MASTER_NAME", MASTER_NAME),
    ]
    if settings.redis_password and endpoint.secret is not None:
        env.append(env_secret(f"{prefix}_PASSWORD", endpoint.secret, "password"))
    return env


PART = ServicePart(
    service="redis",
    component=RedisOperator,
    title="Redis",
    label="Redis",
    holds_data=True,
    health=("redis-operator", catalogue.REDIS_OPERATOR_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "RedisDown",
            "redis_up == 0",
            "critical",
            "redis",
            "Redis in {{ $labels.pod }} ({{ $labels." + INSTANCE_LABEL + " }}) is down",
            "The exporter beside Redis cannot reach it.",
            "5m",
        ),
    ),
    instances=dashboard_instances,
    client_env=client_env,
    volume_claims={
        "kubernetes:databases.spotahome.com/v1:RedisFailover": (
            ("spec", "redis", "storage", "persistentVolumeClaim", "spec", "resources", "requests", "storage"),
            ("spec", "redis", "replicas"),
            ("spec", "redis", "storage", "persistentVolumeClaim", "spec", "storageClassName"),
        ),
    },
    stateful_types=("kubernetes:databases.spotahome.com/v1:RedisFailover",),
)
