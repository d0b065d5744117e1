"""Cluster-wide access for the platform team: the one reviewed cluster-admin binding."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..labels import StackIdentity, kubernetes_labels


@dataclass(frozen=True, kw_only=True)
class PlatformAccessArgs:
    platform_groups: list[str]
    """The directory groups of the platform operators (`policy.platform_groups`)."""
    identity: StackIdentity


class PlatformAccess(pulumi.ComponentResource):
    """Binds the configured platform-operator groups to `cluster-admin`. This is the only
    cluster-wide grant the program makes; teams get namespaced roles only."""

    binding: k8s.rbac.v1.ClusterRoleBinding

    def __init__(self, name: str, args: PlatformAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:PlatformAccess", name, None, opts)
        self.binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-operators",
            metadata={"name": "platform-operators", "labels": kubernetes_labels(args.identity, "access")},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in args.platform_groups],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
