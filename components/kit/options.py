"""Resource options for ordering and protection."""

from __future__ import annotations

import pulumi


def present(*resources: pulumi.Resource | None) -> list[pulumi.Resource]:
    """The resources that exist, for `depends_on` (a storage credentials Secret is None where the cluster holds it)."""
    return [r for r in resources if r is not None]


def after(opts: pulumi.ResourceOptions, *resources: pulumi.Resource | None, protected: bool = False) -> pulumi.ResourceOptions:
    """Options for a resource created after `resources` (operator charts, namespaces): custom
    resources need their operator's CRDs, and everything needs its namespace. `protected`: the
    resource is stateful and the stack is prod (policy `stateful-protection`)."""
    extra = pulumi.ResourceOptions(depends_on=[r for r in resources if r is not None])
    if protected:
        extra.protect = True
    return pulumi.ResourceOptions.merge(opts, extra)
