"""What every workload component shares: labels, its ServiceAccount and its egress policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.workloads import Api, ScheduledJob, Worker
from stacks.shared_services import SHARED_SERVICES

from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from ..kit.parts import ConnectionSettings
from .connections import connection_env


@dataclass(frozen=True, kw_only=True)
class WorkloadArgs:
    team: str
    namespace: str
    """The team namespace's fixed name; ordering comes from the parent's depends_on."""
    workload: Api | Worker | ScheduledJob
    identity: StackIdentity
    connections: ConnectionSettings


class WorkloadComponent(pulumi.ComponentResource):
    """Base: creates the workload's own ServiceAccount (token automount off) and, when it uses
    shared services, a NetworkPolicy allowing egress to exactly those services' pods; `connections`
    holds the environment variables that connect its container to them."""

    service_account: k8s.core.v1.ServiceAccount

    def __init__(self, type_token: str, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None):
        super().__init__(type_token, name, None, opts)
        workload = args.workload
        self.selector = {
            "app.kubernetes.io/name": workload.name,
            f"{LABEL_PREFIX}/team": args.team,
        }
        self.labels = {
            **kubernetes_labels(args.identity, workload.kind.replace("_", "-")),
            **self.selector,
            f"{LABEL_PREFIX}/workload-kind": workload.kind,
        }
        # Children order on the team namespace through the component's own dependencies.
        self.child = pulumi.ResourceOptions(parent=self, depends_on=(opts.depends_on if opts else None))
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=self.meta(args),
            automount_service_account_token=False,
            opts=self.child,
        )
        # What makes pods waits for their ServiceAccount: a controller whose first pod comes before it is refused
        # (`serviceaccount "<name>" not found`) and retries with backoff (seen on the cluster tier's API server).
        self.with_account = pulumi.ResourceOptions.merge(self.child, pulumi.ResourceOptions(depends_on=[self.service_account]))
        self.connections = connection_env(args.connections, args.team, workload.uses) if workload.uses else None
        if workload.uses:
            self._egress(name, args)

    def meta(self, args: WorkloadArgs, suffix: str = "") -> dict[str, Any]:
        return {"name": f"{args.workload.name}{suffix}", "namespace": args.namespace, "labels": self.labels}

    def _egress(self, name: str, args: WorkloadArgs) -> None:
        rules = []
        for uses in args.workload.uses:
            target = SHARED_SERVICES[uses.service].endpoint(args.team, uses.instance)
            peer: dict[str, Any] = {"podSelector": {"matchLabels": target.pod_labels}}
            if not target.in_team_namespace:
                peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": target.namespace}}
            rules.append({"to": [peer], "ports": [{"protocol": "TCP", "port": port} for port in target.ports]})
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=self.meta(args, "-egress"),
            spec={"podSelector": {"matchLabels": self.selector}, "policyTypes": ["Egress"], "egress": rules},
            opts=self.child,
        )
