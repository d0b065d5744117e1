"""The registry of the pack's policies.

`SPECS` lists every policy as a pure `PolicySpec`; `pulumi_policies()` builds the pulumi-policy
objects for `__main__.py` (and for anything that drives pulumi-policy's analyzer service, such as
the offline review). `POLICIES` is the same list, built on first access.
"""

from __future__ import annotations

from functools import lru_cache

from .lib.spec import PolicySpec
from .rules import (
    aks,
    cost,
    images,
    ingress,
    network,
    pod_security,
    protection,
    rancher,
    rbac,
    resources,
    service_accounts,
    services,
    storage,
)

PACK_NAME = "complete-cluster"

SPECS: tuple[PolicySpec, ...] = (
    pod_security.POLICY,
    resources.POLICY,
    images.POLICY,
    rbac.POLICY,
    network.POLICY,
    service_accounts.POLICY,
    services.POLICY,
    ingress.POLICY,
    aks.POLICY,
    *storage.POLICIES,
    rancher.POLICY,
    protection.POLICY,
    cost.POLICY,
)

BY_NAME = {spec.name: spec for spec in SPECS}


@lru_cache(maxsize=1)
def _policies() -> tuple:
    from .wrappers import to_pulumi

    return tuple(to_pulumi(spec) for spec in SPECS)


def pulumi_policies() -> list:
    """The pack's policies as pulumi-policy `ResourceValidationPolicy`/`StackValidationPolicy`."""
    return list(_policies())


def __getattr__(name: str):
    if name == "POLICIES":
        return pulumi_policies()
    raise AttributeError(name)
