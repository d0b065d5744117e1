"""The top of the tree: one complete cluster for one stack."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.loader import LoadedStack
from stacks.model import Aks, Existing, Render, StackConfig
from stacks.sites import OtherSites

from .access.platform import PlatformAccess
from .access.team import Team, TeamArgs
from .infrastructure.aks import AksCluster, AksClusterArgs
from .infrastructure.existing import ExistingCluster
from .infrastructure.rancher import RancherCluster, RancherClusterArgs
from .infrastructure.render import RenderTarget, RenderTargetArgs
from .observability import Observability, ObservabilityArgs
from .services import backup as backup_service
from .services.cert_manager import CertManager
from .services.harbor_config import HarborConfiguration
from .services.ingress import Ingress
from .services.kafka import Kafka
from .services.postgres import PostgresOperator
from .services.rabbitmq import RabbitMQOperator
from .services.redis import RedisOperator
from .services import registry as registry_service
from .storage import ObjectStorage, ObjectStorageArgs
from .workloads.connections import ConnectionSettings


class CompleteCluster(pulumi.ComponentResource):
    """Infrastructure, shared services and access for one stack, composed from its config.

    Layers are created only when their component exists and the config asks for them; nothing
    here registers a stand-in for a layer that is not built yet.
    """

    kubernetes: k8s.Provider | None
    infrastructure_kind: str
    teams: dict[str, Team]
    aks: AksCluster | None = None
    rancher: RancherCluster | None = None
    storage: ObjectStorage | None = None
    registry: registry_service.Registry | None = None
    harbor: HarborConfiguration | None = None
    backup: backup_service.Backup | None = None
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
        self.config = config
        self.other_sites: OtherSites = stack.other_sites
        self.charts = stack.charts
        self.infrastructure_kind = config.infrastructure.kind
        self.kubernetes = self._infrastructure(name, config)
        if self.kubernetes is not None and config.storage is not None:
            self._storage_registry_and_backup(name, config)
        self.teams = self._access(name, config) if self.kubernetes is not None else {}
        if self.kubernetes is not None:
            self._shared_services(name, config)
        if self.kubernetes is not None and any(getattr(config.services, part).enabled for part in ("monitoring", "logging", "tracing")):
            self._observability(name, config)
        self.register_outputs({"infrastructure": self.infrastructure_kind})

    def _access(self, name: str, config: StackConfig) -> dict[str, Team]:
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
        PlatformAccess(f"{name}-platform-access", config, on_cluster)
        # On Rancher stacks each team namespace joins the team's Rancher project.
        projects = self.rancher.projects if self.rancher is not None else {}
        return {
            team.name: Team(f"team-{team.name}", TeamArgs(team=team, stack=config, project_id=projects[team.name].id if team.name in projects else None), on_cluster)
            for team in config.teams
        }

    def _storage_registry_and_backup(self, name: str, config: StackConfig) -> None:
        """Object storage, then Harbor and Velero on it (the config requires storage for both)."""
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
        aks = self.aks
        self.storage = ObjectStorage(
            f"{name}-storage",
            ObjectStorageArgs.from_stack(
                config,
                resource_group_name=aks.resource_group_name if aks is not None else None,
                location=aks.resource_group.location if aks is not None else None,
            ),
            on_cluster,
        )
        if config.services.registry.enabled:
            self.registry = registry_service.Registry(f"{name}-registry", registry_service.RegistryArgs(
                stack=config, storage=self.storage, standby=self.other_sites.standby, charts=self.charts.of("registry")), on_cluster)
            # Proxy-cache projects and replication between the sites, in Harbor itself.
            self.harbor = HarborConfiguration(f"{name}-harbor", config, self.registry, pulumi.ResourceOptions(parent=self), standby=self.other_sites.standby)
        if config.services.backup.enabled:
            self.backup = backup_service.Backup(f"{name}-backup", backup_service.BackupArgs(
                stack=config, storage=self.storage, standby=self.other_sites.standby, charts=self.charts.of("backup")), on_cluster)

    def _shared_services(self, name: str, config: StackConfig) -> None:
        """Ingress and certificates, then the data services: each operator, and the instances the
        teams declare in their namespaces (created after those namespaces)."""
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
        services = config.services
        namespaces = {team_name: team.namespace for team_name, team in self.teams.items()}
        if services.ingress.enabled:
            self.ingress = Ingress(f"{name}-ingress", config, self.charts.of("ingress"), on_cluster)
        if services.cert_manager.enabled:
            self.cert_manager = CertManager(f"{name}-cert-manager", config, self.charts.of("cert_manager"), on_cluster)
        if services.postgres.enabled:
            # WAL archiving and logical backups go to the stack's object storage, when it has one.
            # The databases run in their teams' data namespaces, which the operator component creates.
            # The owner's credentials Secret lands in the team namespace, so each cluster waits for it.
            self.postgres = PostgresOperator(f"{name}-postgres", config, self.charts.of("postgres"), getattr(self, "storage", None), on_cluster, team_namespaces=namespaces,
                                             standby=self.other_sites.standby)
        if services.redis.enabled:
            self.redis = RedisOperator(f"{name}-redis", config, self.charts.of("redis"), namespaces, on_cluster)
        if services.rabbitmq.enabled:
            issuer = self.cert_manager.internal_issuer if self.cert_manager is not None else None
            self.rabbitmq = RabbitMQOperator(f"{name}-rabbitmq", config, self.charts.of("rabbitmq"), namespaces, issuer, on_cluster)
        if services.kafka.enabled:
            internal_issuer = self.cert_manager.internal_issuer if self.cert_manager is not None else None
            self.kafka = Kafka(f"{name}-kafka", config, self.charts.of("kafka"), on_cluster, team_namespaces=namespaces, issuer=internal_issuer)

    def _observability(self, name: str, config: StackConfig) -> None:
        """Metrics, alerts, dashboards, logs and traces, after the services they watch."""
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
        watched = [self.storage, self.registry, self.backup, self.ingress, self.cert_manager, self.postgres, self.redis, self.rabbitmq, self.kafka]
        self.observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(stack=config, charts=self.charts, other_sites=self.other_sites, storage=self.storage, services=[service for service in watched if service is not None], teams=self.teams,
                              aks=self.aks),
            on_cluster,
        )

    def _infrastructure(self, name: str, config: StackConfig) -> k8s.Provider | None:
        child = pulumi.ResourceOptions(parent=self)
        infrastructure = config.infrastructure
        if isinstance(infrastructure, Render):
            self.render = RenderTarget(f"{name}-render", RenderTargetArgs(directory=infrastructure.directory), child)
            return self.render.provider
        if isinstance(infrastructure, Existing):
            return ExistingCluster(f"{name}-existing", infrastructure, child).provider
        if isinstance(infrastructure, Aks):
            self.aks = AksCluster(f"{name}-aks", AksClusterArgs.from_stack(config), child)
            return self.aks.provider
        if infrastructure.kind == "rancher":
            self.rancher = RancherCluster(f"{name}-rancher", RancherClusterArgs(stack=config), child)
            return self.rancher.provider
        return None


def connection_settings(config: StackConfig) -> ConnectionSettings:
    """How the stack's workloads connect to its instances: Redis has an auth Secret where the
    program generates passwords (not into a render target's files), and Kafka clients get the
    internal CA where cert-manager runs."""
    return ConnectionSettings(redis_password=not isinstance(config.infrastructure, Render), kafka_ca=config.services.cert_manager.enabled)
