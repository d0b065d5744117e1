"""The Pulumi program: one CompleteCluster from a validated config, and the stack outputs."""

from __future__ import annotations

import pulumi

from stacks.model import Render, StackConfig

from . import outputs
from .complete_cluster import CompleteCluster


def build(config: StackConfig) -> CompleteCluster:
    cluster = CompleteCluster("platform", config)
    pulumi.export(outputs.ENVIRONMENT, config.environment)
    pulumi.export(outputs.SITE, config.site.name)
    pulumi.export(outputs.INFRASTRUCTURE, config.infrastructure.kind)
    if isinstance(config.infrastructure, Render):
        pulumi.export(outputs.RENDER_DIRECTORY, config.infrastructure.directory)
    if cluster.teams:
        pulumi.export(outputs.TEAM_NAMESPACES, {name: team.namespace_name for name, team in cluster.teams.items()})
    return cluster
