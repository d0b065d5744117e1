"""Cluster-wide access for the platform team: the one reviewed cluster-admin binding."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.model import StackConfig

from ..labels import kubernetes_labels


class PlatformAccess(pulumi.ComponentResource):
    """Binds the configured platform-operator groups to `cluster-admin`. This is the only
    cluster-wide grant the program makes; teams get namespaced roles only."""

    binding: k8s.rbac.v1.ClusterRoleBinding

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:PlatformAccess", name, None, opts)
        self.binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-operators",
            metadata={"name": "platform-operators", "labels": kubernetes_labels(config, "access")},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in config.policy.platform_groups],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
