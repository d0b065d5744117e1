"""Application teams: a namespace each, with quota and the directory groups that act for it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .. import catalogue
from ..shared_services import INSTANCE_SERVICES, SHARED_SERVICES

from .base import DnsLabel, GroupName, Quantity, Secret, Strict, check, matching, quantity_value
from .services import InstanceSize, PostgresVersion, RabbitMQVersion, RedisVersion, Services
from .services import Postgres as PostgresSettings
from .services import RabbitMQ as RabbitMQSettings
from .services import Redis as RedisSettings
from .workloads import Workload

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Quota(Strict):
    """The team namespace's ResourceQuota: totals over all its pods and claims."""

    cpu: Quantity = "4"
    """CPU the namespace's pods may request and limit in total (also one container's maximum)."""
    memory: Quantity = "8Gi"
    """Memory the namespace's pods may request and limit in total (also one container's maximum)."""
    pods: int = Field(default=50, ge=1)
    """Pods the namespace may run."""
    storage: Quantity = "50Gi"
    """Storage the namespace's volume claims may request in total."""


class ContainerDefaults(Strict):
    """The LimitRange defaults for containers that declare no requests or limits of their own."""

    cpu_request: Quantity = "100m"
    """Default CPU request."""
    memory_request: Quantity = "128Mi"
    """Default memory request."""
    cpu_limit: Quantity = "500m"
    """Default CPU limit."""
    memory_limit: Quantity = "512Mi"
    """Default memory limit."""


class Database(Strict):
    """A PostgreSQL cluster (Zalando `postgresql`) in the team's data namespace `<team>-data`, named
    `<team>-<name>`, with one database `app` owned by the role `<team>.app`. Instances and volume
    follow the environment (services.postgres) unless set here."""

    name: DnsLabel = SHARED_SERVICES["postgres"].default_instance
    """Forces replacement of the cluster: a renamed database is a new, empty one."""
    size: InstanceSize = "small"
    """CPU and memory of each pod (requests = limits)."""
    version: PostgresVersion | None = None
    """None: services.postgres.version."""
    volume_gi: int | None = Field(default=None, ge=1, le=4096)
    """None: services.postgres.volume_gi."""


class Cache(Strict):
    """A Redis failover (Spotahome `RedisFailover`) in the team's namespace: Redis pods and the
    Sentinels that elect their master, counts by environment (services.redis)."""

    name: DnsLabel = SHARED_SERVICES["redis"].default_instance
    """Forces replacement of the failover: a renamed cache is a new, empty one."""
    size: InstanceSize = "small"
    """CPU and memory of each Redis pod (requests = limits; the Sentinels are small and fixed)."""
    version: RedisVersion | None = None
    """None: services.redis.version."""


class Queue(Strict):
    """A RabbitMQ cluster (`RabbitmqCluster`) in the team's namespace, replicas by environment
    (services.rabbitmq)."""

    name: DnsLabel = SHARED_SERVICES["rabbitmq"].default_instance
    """Forces replacement of the cluster: a renamed queue is a new, empty one."""
    size: InstanceSize = "small"
    """CPU and memory of each pod (requests = limits)."""
    version: RabbitMQVersion | None = None
    """None: services.rabbitmq.version."""
    volume_gi: int | None = Field(default=None, ge=1, le=4096)
    """None: services.rabbitmq.volume_gi."""


TopicName = Annotated[
    str, matching(r"^(?=.{1,200}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "a topic name (lower-case letters, digits, '.' and '-')")
]


class Topic(Strict):
    """A Kafka topic on the shared cluster (`KafkaTopic`), named `<team>.<name>` there."""

    name: TopicName
    """Forces replacement of the topic: a renamed topic is a new, empty one."""
    partitions: int = Field(default=3, ge=1, le=1000)
    """Partitions: how many consumers of a group read it in parallel."""
    replicas: int | None = Field(default=None, ge=1)
    """None: services.kafka.default_replication_factor."""
    retention_hours: int = Field(default=168, ge=1, le=87600)
    """How long messages are kept (`retention.ms`)."""


# A repository Fleet's gitjob clones: https (optionally with credentials) or ssh (`ssh://` or scp-like
# `git@host:path`); no credentials in the URL itself, since the GitRepo is readable in Rancher.
_GIT_URL = re.compile(r"^(https://[A-Za-z0-9.-]+(:[0-9]+)?/\S+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]+)?/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$")
_REPO_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class GitCredentials(Strict):
    """Basic-auth credentials for a private HTTPS repository: Fleet's `clientSecretName` Secret
    (`kubernetes.io/basic-auth`) in the Rancher management cluster's `fleet-default` namespace."""

    username: str = Field(min_length=1)
    """The account (or token name) the repository host expects."""
    password: Secret
    """A Pulumi secret (a password or access token): `pulumi config set --secret --path
    'complete-cluster:teams[<i>].releases.credentials.password' <token> --stack <stack>`."""


class Releases(Strict):
    """The team's own releases (Helm charts, manifests, kustomizations in its repository), kept in sync
    on the environment's Rancher sites by Fleet, into the team namespace only (docs/fleet.md)."""

    repo: str
    """The team's git repository: `https://host/path` or `git@host:path` / `ssh://git@host/path`."""
    branch: str | None = None
    """The branch Fleet follows; give `branch` or `revision`, not both."""
    revision: str | None = None
    """A tag or commit Fleet deploys; give `branch` or `revision`, not both."""
    paths: list[str] = Field(min_length=1)
    """Directories of the repository Fleet deploys at every site of the environment (relative, `/`-separated)."""
    primary_only_paths: list[str] = []
    """Directories deployed only at the site whose role is `primary` (work that must run at one site,
    such as scheduled jobs that write); they move with the role at a failover."""
    credentials: GitCredentials | None = None
    """For a private HTTPS repository; None: the repository is public (or reached by ssh with Fleet's
    default client secret)."""

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        if not _GIT_URL.match(self.repo):
            # (the value is not repeated: it may hold a password)
            problems.append(("repo", "must be a git URL Fleet can clone, with no credentials in it: https://host/path or "
                                     "git@host:path (use `credentials` for a private HTTPS repository)"))
        if (self.branch is None) == (self.revision is None):
            problems.append(("branch", "give exactly one of `branch` (followed) or `revision` (a tag or commit)"))
        for field in ("paths", "primary_only_paths"):
            for index, path in enumerate(getattr(self, field)):
                if not _REPO_PATH.match(path) or ".." in path.split("/"):
                    problems.append((f"{field}[{index}]", f"`{path}` must be a relative directory of the repository "
                                                          "(letters, digits, `.`, `_`, `-`, separated by `/`; no `..`)"))
        for index, path in enumerate(self.primary_only_paths):
            if path in self.paths:
                problems.append((f"primary_only_paths[{index}]",
                                 f"`{path}` is also in `paths`; deploy it at every site or at the primary only"))
        if self.credentials is not None and not self.repo.startswith("https://"):
            problems.append(("credentials", "basic-auth credentials are for an https:// repository; an ssh repository uses a key"))
        check(problems)
        return self


class Team(Strict):
    """An application team: its namespace, quota, access, workloads and shared-service instances."""

    name: DnsLabel
    """The team's namespace (and `<name>-data` for its databases). Forces replacement of everything
    the team has: its namespaces, workloads and instances."""
    groups: list[GroupName] = Field(min_length=1)
    """Directory groups whose members act for the team, as the cluster's authenticator names them. On
    AKS: Entra ID group object IDs (GUIDs; `az ad group show --group <name> --query id`), since
    tokens carry object IDs, not names. On Rancher: group names, which `group_principal` turns into
    the directory's principal IDs; a changed group forces replacement of its project role binding.
    On an existing cluster or a render target: whatever its authenticator puts in `groups`."""
    quota: Quota = Quota()
    """The namespace's totals; the team's workloads at peak and its instances must fit."""
    container_defaults: ContainerDefaults = ContainerDefaults()
    """Requests and limits of containers that set none."""
    workloads: list[Workload] = []
    """APIs, workers and scheduled jobs, in the team's namespace."""
    databases: list[Database] = []
    """PostgreSQL clusters (services.postgres)."""
    caches: list[Cache] = []
    """Redis failovers (services.redis)."""
    queues: list[Queue] = []
    """RabbitMQ clusters (services.rabbitmq)."""
    topics: list[Topic] = []
    """Topics on the shared Kafka cluster (services.kafka)."""
    releases: Releases | None = None
    """The team's own releases from its git repository, deployed by Fleet at the environment's Rancher
    sites (Rancher infrastructure only)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMESPACES or name.startswith("kube-"):
            raise ValueError(f"`{name}` is reserved by Kubernetes; choose another team name")
        return name

    @model_validator(mode="after")
    def _workloads_fit(self):
        problems = []
        seen: set[str] = set()
        for index, workload in enumerate(self.workloads):
            if workload.name in seen:
                problems.append((f"workloads[{index}].name", f"workload `{workload.name}` is declared twice in this team"))
            seen.add(workload.name)
        for field in ("databases", "caches", "queues", "topics"):
            names: set[str] = set()
            for index, instance in enumerate(getattr(self, field)):
                if instance.name in names:
                    problems.append((f"{field}[{index}].name", f"`{instance.name}` is declared twice in this team's {field}"))
                names.add(instance.name)
        # At peak (APIs at max_replicas) the namespace must still admit every pod: the quota
        # caps requests and limits alike, so both totals must fit.
        for resource in ("cpu", "memory"):
            for bound in ("request", "limit"):
                total = sum(
                    workload.peak_pods() * quantity_value(getattr(workload.resources, f"{resource}_{bound}")) for workload in self.workloads
                )
                allowed = getattr(self.quota, resource)
                if total > quantity_value(allowed):
                    problems.append(
                        (
                            f"quota.{resource}",
                            f"{allowed} is below the {bound}s of this team's workloads at peak ({_format(total, resource)}); raise the "
                            "quota or shrink the workloads",
                        )
                    )
        pods = sum(workload.peak_pods() for workload in self.workloads)
        if pods > self.quota.pods:
            problems.append(("quota.pods", f"{self.quota.pods} is below the pods this team's workloads run at peak ({pods})"))
        check(problems)
        return self


def _format(total: float, resource: str) -> str:
    if resource == "cpu":
        return f"{round(total * 1000)}m"
    return f"{total / 2**20:g}Mi"


# --- the teams' service instances against the stack's services -------------------------------------

# (pods, cpu, memory) per pod kind an instance runs, requests = limits; and the GiB its volume claims take.

def database_pods(settings: PostgresSettings, database: Database) -> list[tuple[int, str, str]]:
    cpu, memory = catalogue.INSTANCE_SIZES[database.size]
    return [(settings.instances, cpu, memory)]


def cache_pods(settings: RedisSettings, cache: Cache) -> list[tuple[int, str, str]]:
    cpu, memory = catalogue.INSTANCE_SIZES[cache.size]
    # Each Redis pod also runs the metrics exporter sidecar.
    return [
        (settings.replicas, cpu, memory),
        (settings.replicas, *catalogue.REDIS_EXPORTER_SIZE),
        (settings.sentinels, *catalogue.SENTINEL_SIZE),
    ]


def queue_pods(settings: RabbitMQSettings, queue: Queue) -> list[tuple[int, str, str]]:
    cpu, memory = catalogue.INSTANCE_SIZES[queue.size]
    return [(settings.replicas, cpu, memory)]


def database_storage_gi(settings: PostgresSettings, database: Database) -> int:
    return settings.instances * (database.volume_gi or settings.volume_gi)


def queue_storage_gi(settings: RabbitMQSettings, queue: Queue) -> int:
    return settings.replicas * (queue.volume_gi or settings.volume_gi)


def instance_pods(services: Services, instance: Database | Cache | Queue) -> list[tuple[int, str, str]]:
    """(pods, cpu, memory) per pod kind an instance runs in the team namespace, requests = limits."""
    if isinstance(instance, Database):
        return database_pods(services.postgres, instance)
    if isinstance(instance, Cache):
        return cache_pods(services.redis, instance)
    return queue_pods(services.rabbitmq, instance)


def instance_storage_gi(services: Services, instance: Database | Cache | Queue) -> int:
    """The volume claims an instance makes, in GiB (Redis keeps none)."""
    if isinstance(instance, Database):
        return database_storage_gi(services.postgres, instance)
    if isinstance(instance, Queue):
        return queue_storage_gi(services.rabbitmq, instance)
    return 0


def service_instance_problems(stack) -> list[tuple[str, str]]:
    """Teams' instances against the stack: the service runs, `uses` names an instance that exists,
    topics fit the brokers, and instances fit the team quota next to the workloads."""
    problems = []
    services = stack.services
    for t, team in enumerate(stack.teams):
        key = f"teams[{t}]"
        for service in SHARED_SERVICES.values():
            field = service.team_field
            if getattr(team, field) and not getattr(services, service.name).enabled:
                problems.append(
                    (f"{key}.{field}", f"this stack does not run {service.name}; enable services.{service.name} or remove them")
                )
        for j, topic in enumerate(team.topics):
            replicas = topic.replicas or services.kafka.default_replication_factor
            if services.kafka.enabled and replicas > services.kafka.brokers:
                where = "replicas" if topic.replicas else "name"
                problems.append(
                    (
                        f"{key}.topics[{j}].{where}",
                        f"the replication factor cannot exceed the Kafka broker count ({replicas} > {services.kafka.brokers}); "
                        "lower `replicas` or raise services.kafka.brokers",
                    )
                )
        for w, workload in enumerate(team.workloads):
            for u, uses in enumerate(workload.uses):
                if not getattr(services, uses.service).enabled:
                    continue  # reported with the workloads
                service = SHARED_SERVICES[uses.service]
                instance = uses.instance or service.default_instance
                implicit = "" if uses.instance else f" (no `instance` given, so `{instance}`)"
                if service.shared_cluster:
                    if instance != service.default_instance:
                        cluster = service.default_instance
                        problems.append((f"{key}.workloads[{w}].uses[{u}].instance",
                                         f"Kafka is the one shared cluster `{cluster}`; remove `instance` or set it to `{cluster}`"))
                    continue
                field = service.team_field
                declared = [item.name for item in getattr(team, field)]
                if instance not in declared:
                    listed = ", ".join(f"`{name}`" for name in declared) or "none"
                    problems.append(
                        (
                            f"{key}.workloads[{w}].uses[{u}].instance",
                            f"team `{team.name}` declares no {uses.service} instance `{instance}`{implicit}; "
                            f"its {field}: {listed}. Declare it under {key}.{field} or name one that exists",
                        )
                    )
        problems += _quota_problems(stack, key, team)
    return problems


def _quota_problems(stack, key: str, team: Team) -> list[tuple[str, str]]:
    """The first instance (per resource) that takes the team past its quota, with the workloads at
    peak counted first. Instances run requests = limits, workloads are counted at their limits."""
    problems = []
    totals = {
        resource: sum(
            workload.peak_pods() * quantity_value(getattr(workload.resources, f"{resource}_limit")) for workload in team.workloads
        )
        for resource in ("cpu", "memory")
    }
    storage = 0.0
    reported: set[str] = set()
    for service in INSTANCE_SERVICES:
        field = service.team_field
        if not getattr(stack.services, service.name).enabled:
            continue  # reported as a service the stack does not run
        for j, instance in enumerate(getattr(team, field)):
            pods = instance_pods(stack.services, instance)
            for resource in ("cpu", "memory"):
                totals[resource] += sum(count * quantity_value(cpu if resource == "cpu" else memory) for count, cpu, memory in pods)
                allowed = getattr(team.quota, resource)
                if resource not in reported and totals[resource] > quantity_value(allowed):
                    reported.add(resource)
                    size_cpu, size_memory = catalogue.INSTANCE_SIZES[instance.size]
                    problems.append(
                        (
                            f"{key}.{field}[{j}].size",
                            f"`{instance.size}` ({size_cpu} CPU, {size_memory} per pod, {pods[0][0]} pods) takes the team to "
                            f"{_format(totals[resource], resource)} {resource} with its workloads at peak, beyond quota.{resource} "
                            f"({allowed}); "
                            "choose a smaller size or raise the quota",
                        )
                    )
            storage += instance_storage_gi(stack.services, instance) * 2**30
            if "storage" not in reported and storage > quantity_value(team.quota.storage):
                reported.add("storage")
                problems.append(
                    (
                        f"{key}.{field}[{j}].volume_gi",
                        f"the team's volumes come to {storage / 2**30:g}Gi with this one, beyond quota.storage ({team.quota.storage}); "
                        "choose a smaller volume or raise the quota",
                    )
                )
    return problems
