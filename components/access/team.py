"""A team's namespace: safe by construction, with access that follows the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.model.teams import Team as TeamSettings

from ..infrastructure.rancher import PROJECT_ANNOTATION
from ..kit.namespaces import HardenedNamespace
from ..kit.parts import ConnectionSettings
from ..kit.network import namespace_selector
from ..labels import INGRESS_TARGET_LABEL, TEAM_LABEL, StackIdentity, kubernetes_labels
from ..workloads.api import Api
from ..workloads.base import WorkloadArgs
from ..workloads.scheduled_job import ScheduledJob
from ..workloads.worker import Worker
from . import rbac

WORKLOAD_COMPONENTS = {"api": Api, "worker": Worker, "scheduled_job": ScheduledJob}



@dataclass(frozen=True, kw_only=True)
class TeamArgs:
    team: TeamSettings
    identity: StackIdentity
    connections: ConnectionSettings
    """How the team's workloads connect to the shared services they use."""
    project_id: pulumi.Input[str] | None = None
    """The team's Rancher project, `<cluster id>:<project id>`, on Rancher stacks (RancherCluster.projects)."""


class Team(pulumi.ComponentResource):
    """Creates the team namespace (Pod Security `restricted` enforced, audited and warned at the
    pinned version; on Rancher stacks also in the team's Rancher project, so the project's role
    bindings apply in it), its ResourceQuota and LimitRange, a default-deny NetworkPolicy with allows for
    DNS and the ingress controller, RoleBindings of the team's groups to the environment's role,
    and the team's declared workloads."""

    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]

    def __init__(self, name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:Team", name, None, opts)
        team, identity = args.team, args.identity
        labels = {**kubernetes_labels(identity, "team"), TEAM_LABEL: team.name}
        # On Rancher stacks the namespace joins the team's project (an Output: once Rancher has made it).
        annotations = {PROJECT_ANNOTATION: args.project_id} if args.project_id is not None else None
        space = HardenedNamespace(name, team.name, labels, pulumi.ResourceOptions(parent=self), annotations=annotations)
        self.namespace = space.namespace
        self.namespace_name = self.namespace.metadata.name
        # Everything else lives in the namespace, so it is created after it. The name is fixed
        # (team.name), so children use the plain string and order on the namespace explicitly,
        # which keeps evaluation cheap for stacks with many teams.
        child = space.opts
        meta = space.metadata
        quota = team.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("team-quota"),
            spec={
                "hard": {
                    "requests.cpu": quota.cpu,
                    "limits.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "limits.memory": quota.memory,
                    "requests.storage": quota.storage,
                    "pods": str(quota.pods),
                }
            },
            opts=child,
        )
        defaults = team.container_defaults
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("team-limits"),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": defaults.cpu_request, "memory": defaults.memory_request},
                        "default": {"cpu": defaults.cpu_limit, "memory": defaults.memory_limit},
                        "max": {"cpu": quota.cpu, "memory": quota.memory},
                    }
                ]
            },
            opts=child,
        )
        space.policy("allow-ingress-controller", {
            "podSelector": {"matchLabels": {INGRESS_TARGET_LABEL: "true"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [namespace_selector(catalogue.INGRESS_NAMESPACE)]}],
        })
        self._access(name, team, identity, meta, child)
        for workload in team.workloads:
            component = WORKLOAD_COMPONENTS[workload.kind]
            workload_args = WorkloadArgs(
                team=team.name, namespace=team.name, workload=workload, identity=identity, connections=args.connections
            )
            component(f"{name}-{workload.name}", workload_args, child)
        self.register_outputs({"namespace": self.namespace_name})

    def _access(
        self, name: str, team: TeamSettings, identity: StackIdentity, meta: Callable[[str], dict[str, Any]], child: pulumi.ResourceOptions
    ) -> None:
        role_name = rbac.role_name(identity.environment)
        k8s.rbac.v1.Role(f"{name}-role", metadata=meta(role_name), rules=rbac.team_rules(identity.environment), opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta(f"{role_name}-groups"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in team.groups],
            opts=child,
        )
