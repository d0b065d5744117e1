"""The top of the tree: one complete cluster for one stack, and the one place that maps a stack's
config to the components' narrow args.

Each component takes only what it uses: its own config section, the stack's identity (labels,
protection), where its images and charts come from, the facts the loader resolved about the other
sites, and the resources of the components it builds on. The functions below make those args from
a loaded stack; `CompleteCluster` creates the components in order and hands each the resources it
needs.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.loader import LoadedStack
from stacks.model import S3, Aks, Existing, Rancher, Render, StackConfig

from .access.fleet import FleetDeployer, FleetDeployerArgs, FleetReleases, FleetReleasesArgs
from .access.platform import PlatformAccess, PlatformAccessArgs
from .access.team import Team, TeamArgs
from .infrastructure.aks import AksCluster, AksClusterArgs
from .infrastructure.existing import ExistingCluster
from .infrastructure.rancher import SITE_ROLE_LABEL, RancherCluster, RancherClusterArgs
from .infrastructure.render import RenderTarget, RenderTargetArgs
from .kit.images import ImageSource
from .kit.parts import ConnectionSettings
from .labels import StackIdentity, cloud_tags, kubernetes_labels
from .observability import Observability, ObservabilityArgs
from .observability.grafana import GrafanaArgs
from .observability.logs import LogsArgs
from .observability.metrics import MetricsArgs
from .observability.monitors import MonitorsArgs
from .observability.rules import AlertRulesArgs
from .observability.traces import TracesArgs
from .services.backup import Backup, BackupArgs
from .services.cert_manager import CertManager, CertManagerArgs
from .services.harbor_config import HarborConfiguration, HarborConfigurationArgs
from .services.ingress import Ingress, IngressArgs, internal_annotations
from .services.kafka import Kafka, KafkaArgs, MirrorSource
from .services.postgres import PostgresOperator, PostgresOperatorArgs
from .services.rabbitmq import RabbitMQOperator, RabbitMQOperatorArgs
from .services.redis import RedisOperator, RedisOperatorArgs
from .services.registry import Registry, RegistryArgs
from .storage import ObjectStorage, ObjectStorageArgs

# --- what every component is told about the stack ---------------------------------------------------


def identity(config: StackConfig) -> StackIdentity:
    return StackIdentity(environment=config.environment, site=config.site.name)


def image_source(config: StackConfig) -> ImageSource:
    """The site's Harbor with its proxy-cache projects (a Rancher site that runs one), and the
    first approved registry (`policy.allowed_registries`)."""
    infrastructure, registry = config.infrastructure, config.services.registry
    on_site_harbor = isinstance(infrastructure, Rancher) and registry.enabled and bool(registry.hostname)
    return ImageSource(
        harbor=registry.hostname if on_site_harbor else None,
        mirrors=dict(infrastructure.registry_mirrors) if on_site_harbor and isinstance(infrastructure, Rancher) else {},
        approved=_approved_registry(config),
    )


def _approved_registry(config: StackConfig) -> str | None:
    """Where upstream images are pulled through: an AKS cluster's container registry (its cache rules
    mirror every upstream under the upstream's host name), else the first `policy.allowed_registries`."""
    if isinstance(config.infrastructure, Aks):
        return config.infrastructure.registry.login_server
    return config.policy.allowed_registries[0].rstrip("/") if config.policy.allowed_registries else None


def generates_passwords(config: StackConfig) -> bool:
    """Whether the program generates passwords into Secrets (Redis auth, Grafana's admin): only on
    clusters it deploys to. A render target writes Secrets to files in plain text, so there the
    services run without generated passwords (and workloads get no reference to one)."""
    return not isinstance(config.infrastructure, Render)


def connection_settings(config: StackConfig) -> ConnectionSettings:
    """How the stack's workloads connect to its instances: Redis has an auth Secret where the
    program generates passwords."""
    return ConnectionSettings(redis_password=generates_passwords(config))


# --- infrastructure and storage -------------------------------------------------------------------


def aks_args(config: StackConfig) -> AksClusterArgs:
    assert isinstance(config.infrastructure, Aks)
    return AksClusterArgs(cluster=config.infrastructure, environment=config.environment, site=config.site.name,
                          tags=cloud_tags(identity(config), config.ownership), upstream_registries=catalogue.upstream_registries())


def rancher_args(config: StackConfig) -> RancherClusterArgs:
    assert isinstance(config.infrastructure, Rancher) and isinstance(config.storage, S3)  # the model requires S3 on Rancher
    registry = config.services.registry
    return RancherClusterArgs(
        cluster=config.infrastructure, storage=config.storage, site=config.site, identity=identity(config), teams=list(config.teams),
        platform_groups=list(config.policy.platform_groups), harbor=registry.hostname if registry.enabled else None,
        trusted_ca=config.environment_ca(),
    )


def storage_args(
    config: StackConfig, resource_group_name: pulumi.Input[str] | None = None, location: pulumi.Input[str] | None = None
) -> ObjectStorageArgs:
    """The stack's object storage; on Azure in the AKS cluster's resource group and region."""
    assert config.storage is not None
    logging = config.services.logging
    return ObjectStorageArgs(
        storage=config.storage, environment=config.environment, site=config.site.name, tags=cloud_tags(identity(config), config.ownership),
        labels=kubernetes_labels(identity(config), "object-storage"), resource_group_name=resource_group_name, location=location,
        log_archive_days=logging.archive_days if logging.enabled else None,
    )


# --- observability --------------------------------------------------------------------------------
# Each part's args from the stack alone; the Observability component adds what it creates itself
# (the node agents' namespace, the metrics chart and namespace) and CompleteCluster the resources
# of the other components.


def metrics_args(stack: LoadedStack) -> MetricsArgs:
    config, standby = stack.config, stack.other_sites.standby
    return MetricsArgs(
        monitoring=config.services.monitoring, site=config.site, identity=identity(config), images=image_source(config),
        charts=stack.charts.of("monitoring"), remote_write_host=standby.central_hostname if standby is not None else None,
        receives_span_metrics=config.services.tracing.enabled, trusted_ca=config.environment_ca(),
    )


def grafana_args(stack: LoadedStack) -> GrafanaArgs:
    config = stack.config
    return GrafanaArgs(services=config.services, teams=list(config.teams), identity=identity(config), images=image_source(config),
                       charts=stack.charts.of("monitoring"), generate_password=generates_passwords(config))


def monitors_args(stack: LoadedStack) -> MonitorsArgs:
    config = stack.config
    return MonitorsArgs(services=config.services, teams=list(config.teams), identity=identity(config))


def alert_rules_args(stack: LoadedStack) -> AlertRulesArgs:
    config = stack.config
    return AlertRulesArgs(
        services=config.services,
        teams=list(config.teams),
        site=config.site,
        secondary_sites=dict(stack.other_sites.secondaries),
        identity=identity(config),
        runbooks=config.services.monitoring.runbook_base_url,
    )


def logs_args(stack: LoadedStack) -> LogsArgs:
    config, standby = stack.config, stack.other_sites.standby
    return LogsArgs(
        logging=config.services.logging, central=config.services.monitoring.central, site=config.site, identity=identity(config),
        images=image_source(config), charts=stack.charts.of("logging"), audit_log_on_nodes=isinstance(config.infrastructure, Rancher),
        s3=config.storage if isinstance(config.storage, S3) else None, ships_to=standby.central_hostname if standby is not None else None,
        trusted_ca=config.environment_ca(),
    )


def traces_args(stack: LoadedStack) -> TracesArgs:
    config = stack.config
    return TracesArgs(tracing=config.services.tracing, logs_to_loki=config.services.logging.enabled,
                      metrics_to_prometheus=config.services.monitoring.enabled, identity=identity(config),
                      images=image_source(config), charts=stack.charts.of("tracing"))


# --- the complete cluster ---------------------------------------------------------------------------


class CompleteCluster(pulumi.ComponentResource):
    """Infrastructure, shared services and access for one stack, composed from its config.

    Layers are created only when their component exists and the config asks for them; nothing
    here registers a stand-in for a layer that is not built yet.
    """

    kubernetes: k8s.Provider | None
    infrastructure_kind: str
    teams: dict[str, Team]
    render: RenderTarget | None = None
    aks: AksCluster | None = None
    rancher: RancherCluster | None = None
    storage: ObjectStorage | None = None
    registry: Registry | None = None
    harbor: HarborConfiguration | None = None
    backup: Backup | None = None
    ingress: Ingress | None = None
    cert_manager: CertManager | None = None
    postgres: PostgresOperator | None = None
    redis: RedisOperator | None = None
    rabbitmq: RabbitMQOperator | None = None
    kafka: Kafka | None = None
    observability: Observability | None = None

    def __init__(self, name: str, stack: LoadedStack, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:CompleteCluster", name, None, opts)
        config = stack.config
        self.stack = stack
        self.identity = identity(config)
        self.images = image_source(config)
        self.infrastructure_kind = config.infrastructure.kind
        self.kubernetes = self._infrastructure(name, config)
        self.teams = {}
        if self.kubernetes is not None:
            on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
            if config.storage is not None:
                self._storage_and_backup(name, stack, on_cluster)
            self.teams = self._access(name, config, on_cluster)
            self._shared_services(name, stack, on_cluster)
            if config.services.registry.enabled:
                self._registry(name, stack, on_cluster)
            if any(getattr(config.services, part).enabled for part in ("monitoring", "logging", "tracing")):
                self._observability(name, stack, on_cluster)
        self.register_outputs({"infrastructure": self.infrastructure_kind})

    def _infrastructure(self, name: str, config: StackConfig) -> k8s.Provider | None:
        child = pulumi.ResourceOptions(parent=self)
        infrastructure = config.infrastructure
        if isinstance(infrastructure, Render):
            self.render = RenderTarget(f"{name}-render", RenderTargetArgs(directory=infrastructure.directory), child)
            return self.render.provider
        if isinstance(infrastructure, Existing):
            return ExistingCluster(f"{name}-existing", infrastructure, child).provider
        if isinstance(infrastructure, Aks):
            self.aks = AksCluster(f"{name}-aks", aks_args(config), child)
            return self.aks.provider
        if isinstance(infrastructure, Rancher):
            self.rancher = RancherCluster(f"{name}-rancher", rancher_args(config), child)
            releasing = [team for team in config.teams if team.releases is not None]
            # The environment's Fleet objects are written by its primary site's stack (components/access/fleet.py).
            # (not on a new site's bootstrap `up`, which stops after the cluster)
            if releasing and config.site.role == "primary" and self.rancher.management is not None:
                releases = FleetReleasesArgs(teams=releasing, identity=self.identity,
                                             cluster_labels=self.rancher.environment_labels, site_role_label=SITE_ROLE_LABEL)
                on_management = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.rancher.management})
                FleetReleases(f"{name}-releases", releases, on_management)
            return self.rancher.provider
        return None

    def _access(self, name: str, config: StackConfig, on_cluster: pulumi.ResourceOptions) -> dict[str, Team]:
        PlatformAccess(
            f"{name}-platform-access",
            PlatformAccessArgs(platform_groups=list(config.policy.platform_groups), identity=self.identity),
            on_cluster,
        )
        # On Rancher stacks each team namespace joins the team's Rancher project.
        projects = self.rancher.projects if self.rancher is not None else {}
        connections = connection_settings(config)
        teams = {
            team.name: Team(
                f"team-{team.name}",
                TeamArgs(team=team, identity=self.identity, connections=connections,
                         project_id=projects[team.name].id if team.name in projects else None),
                on_cluster,
            )
            for team in config.teams
        }
        # Fleet's agent at each Rancher site deploys the team's releases as this account (components/access/fleet.py).
        for team in config.teams:
            if team.releases is not None and self.rancher is not None:
                FleetDeployer(f"team-{team.name}-fleet", FleetDeployerArgs(
                    team=team.name, identity=self.identity, namespace=teams[team.name].namespace,
                ), on_cluster)
        return teams

    def _storage_and_backup(self, name: str, stack: LoadedStack, on_cluster: pulumi.ResourceOptions) -> None:
        """Object storage, then Velero on it (the config requires storage for backups and Harbor)."""
        config, standby = stack.config, stack.other_sites.standby
        aks = self.aks
        storage = ObjectStorage(
            f"{name}-storage",
            storage_args(config, resource_group_name=aks.resource_group_name if aks is not None else None,
                         location=aks.resource_group.location if aks is not None else None),
            on_cluster,
        )
        self.storage = storage
        services = config.services
        if services.backup.enabled:
            self.backup = Backup(f"{name}-backup", BackupArgs(
                settings=services.backup, identity=self.identity, images=self.images, charts=stack.charts.of("backup"), storage=storage,
                on_aks=isinstance(config.infrastructure, Aks), standby=standby,
            ), on_cluster)

    def _registry(self, name: str, stack: LoadedStack, on_cluster: pulumi.ResourceOptions) -> None:
        """Harbor on the object storage, its token-signing certificate from the internal CA (the config requires
        storage and cert-manager for it), and its projects and replication in Harbor itself."""
        config, standby, services = stack.config, stack.other_sites.standby, stack.config.services
        assert self.storage is not None and self.cert_manager is not None  # the model's rules
        self.registry = Registry(f"{name}-registry", RegistryArgs(
            settings=services.registry, identity=self.identity, images=self.images, charts=stack.charts.of("registry"),
            storage=self.storage, issuer=self.cert_manager.internal_issuer,
            replicate_from=standby.registry_hostname if standby is not None else None, trusted_ca=config.environment_ca(),
        ), on_cluster)
        # Proxy-cache projects and replication between the sites, in Harbor itself, when there are any.
        in_harbor = HarborConfigurationArgs(
            registry=self.registry, settings=services.registry,
            mirrors=dict(config.infrastructure.registry_mirrors) if isinstance(config.infrastructure, Rancher) else {},
            secondaries=list(config.site.secondaries), standby=standby,
        )
        if in_harbor.declares_anything:
            self.harbor = HarborConfiguration(f"{name}-harbor", in_harbor, pulumi.ResourceOptions(parent=self))

    def _shared_services(self, name: str, stack: LoadedStack, on_cluster: pulumi.ResourceOptions) -> None:
        """Ingress and certificates, then the data services: each operator, and the instances the
        teams declare in their namespaces (created after those namespaces)."""
        config, charts = stack.config, stack.charts
        services, teams, identity, images = config.services, list(config.teams), self.identity, self.images
        namespaces = {team_name: team.namespace for team_name, team in self.teams.items()}
        if services.cert_manager.enabled:
            certificates = CertManagerArgs(
                settings=services.cert_manager, identity=identity, images=images, charts=charts.of("cert_manager")
            )
            self.cert_manager = CertManager(f"{name}-cert-manager", certificates, on_cluster)
        if services.ingress.enabled:
            ingress = IngressArgs(settings=services.ingress, identity=identity, images=images, charts=charts.of("ingress"),
                                  internal_annotations=internal_annotations(config.infrastructure),
                                  certificates=self.cert_manager.chart if self.cert_manager is not None else None)
            self.ingress = Ingress(f"{name}-ingress", ingress, on_cluster)
        # The internal CA's issuer signs the in-cluster services' certificates (RabbitMQ, Kafka).
        issuer = self.cert_manager.internal_issuer if self.cert_manager is not None else None
        if services.postgres.enabled:
            # WAL archiving and logical backups go to the stack's object storage, when it has one.
            # The databases run in their teams' data namespaces, which the operator component creates.
            # The owner's credentials Secret lands in the team namespace, so each cluster waits for it.
            postgres = PostgresOperatorArgs(
                settings=services.postgres,
                teams=teams,
                identity=identity,
                images=images,
                charts=charts.of("postgres"),
                storage=self.storage,
                team_namespaces=namespaces,
                standby=stack.other_sites.standby,
            )
            self.postgres = PostgresOperator(f"{name}-postgres", postgres, on_cluster)
        if services.redis.enabled:
            redis = RedisOperatorArgs(settings=services.redis, teams=teams, identity=identity, images=images, charts=charts.of("redis"),
                                      team_namespaces=namespaces, generate_passwords=generates_passwords(config))
            self.redis = RedisOperator(f"{name}-redis", redis, on_cluster)
        if services.rabbitmq.enabled:
            rabbitmq = RabbitMQOperatorArgs(
                settings=services.rabbitmq,
                teams=teams,
                identity=identity,
                images=images,
                charts=charts.of("rabbitmq"),
                team_namespaces=namespaces,
                issuer=issuer,
            )
            self.rabbitmq = RabbitMQOperator(f"{name}-rabbitmq", rabbitmq, on_cluster)
        if services.kafka.enabled:
            # The config refuses Kafka without cert-manager (stacks/model: clients authenticate with its CA's certificates).
            assert issuer is not None
            mirrored, standby = services.kafka.at_failover == "mirrored", stack.other_sites.standby
            kafka = KafkaArgs(settings=services.kafka, teams=teams, identity=identity, images=images, charts=charts.of("kafka"),
                              team_namespaces=namespaces, issuer=issuer,
                              # The loader resolved the other sites: a mirrored primary's secondaries, a mirrored secondary's primary.
                              mirror_for=list(stack.other_sites.secondaries.values()) if mirrored else [],
                              mirror_from=MirrorSource(standby.site, standby.kafka_listener)
                              if mirrored and standby is not None and standby.kafka_listener else None,
                              load_balancer_annotations=internal_annotations(config.infrastructure))
            self.kafka = Kafka(f"{name}-kafka", kafka, on_cluster)

    def _observability(self, name: str, stack: LoadedStack, on_cluster: pulumi.ResourceOptions) -> None:
        """Metrics, alerts, dashboards, logs and traces, after the services they watch."""
        services = stack.config.services
        watched = [
            self.storage,
            self.registry,
            self.backup,
            self.ingress,
            self.cert_manager,
            self.postgres,
            self.redis,
            self.rabbitmq,
            self.kafka,
        ]
        monitoring = services.monitoring.enabled
        args = ObservabilityArgs(
            identity=self.identity,
            metrics=replace(metrics_args(stack), cert_manager=self.cert_manager) if monitoring else None,
            monitors=replace(monitors_args(stack), service_components=[service for service in watched if service is not None],
                             team_components=self.teams) if monitoring else None,
            alert_rules=alert_rules_args(stack) if monitoring else None,
            grafana=grafana_args(stack) if monitoring else None,
            logs=replace(logs_args(stack), storage=self.storage, aks=self.aks) if services.logging.enabled else None,
            traces=replace(traces_args(stack), storage=self.storage, teams=self.teams) if services.tracing.enabled else None,
        )
        self.observability = Observability(f"{name}-observability", args, on_cluster)
