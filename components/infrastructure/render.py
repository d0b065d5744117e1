"""No cluster: a Kubernetes provider that writes every object as YAML to a directory."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True, kw_only=True)
class RenderTargetArgs:
    directory: str
    """Where the manifests are written, relative to the project."""


class RenderTarget(pulumi.ComponentResource):
    """A Kubernetes provider in render mode: `pulumi up` writes manifests to `directory`
    (`0-crd/` for CustomResourceDefinitions, `1-manifest/` for everything else) and needs no cluster."""

    provider: k8s.Provider
    directory: pulumi.Output[str]

    def __init__(self, name: str, args: RenderTargetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:infrastructure:RenderTarget", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            render_yaml_to_directory=args.directory,
            # Server-side apply needs a live API server; rendering is purely client-side.
            enable_server_side_apply=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.directory = pulumi.Output.from_input(args.directory)
        self.register_outputs({"directory": self.directory})
