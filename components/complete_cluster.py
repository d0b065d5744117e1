"""The top of the tree: one complete cluster for one stack."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.model import Aks, Existing, Render, StackConfig

from .access.platform import PlatformAccess
from .access.team import Team, TeamArgs
from .infrastructure.aks import AksCluster, AksClusterArgs
from .infrastructure.existing import ExistingCluster
from .infrastructure.rancher import RancherCluster, RancherClusterArgs
from .infrastructure.render import RenderTarget, RenderTargetArgs


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

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:CompleteCluster", name, None, opts)
        self.config = config
        self.infrastructure_kind = config.infrastructure.kind
        self.kubernetes = self._infrastructure(name, config)
        self.teams = self._access(name, config) if self.kubernetes is not None else {}
        self.register_outputs({"infrastructure": self.infrastructure_kind})

    def _access(self, name: str, config: StackConfig) -> dict[str, Team]:
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.kubernetes})
        PlatformAccess(f"{name}-platform-access", config, on_cluster)
        return {team.name: Team(f"team-{team.name}", TeamArgs(team=team, stack=config), on_cluster) for team in config.teams}

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
