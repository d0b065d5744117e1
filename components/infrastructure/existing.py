"""A cluster that already exists, reached with a kubeconfig that is a Pulumi secret."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.model import Existing


class ExistingCluster(pulumi.ComponentResource):
    """A Kubernetes provider for a given kubeconfig (and optional context); the kubeconfig stays secret."""

    provider: k8s.Provider

    def __init__(self, name: str, args: Existing, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:infrastructure:ExistingCluster", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=args.kubeconfig.output(),
            context=args.context,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
