"""How the CrossGuard policy pack is applied to this stack, and what the stack may cost."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import GroupName, Strict


class Chargeback(Strict):
    """What the data centre charges per month for the machines of an on-premises site (its internal
    price list): a site's machines have no public price, so the cost estimate prices its machine
    pools with these rates, in the stack's `currency`."""

    per_node: float = Field(default=0, ge=0)
    """Per machine."""
    per_vcpu: float = Field(default=0, ge=0)
    """Per vCPU of a machine."""
    per_memory_gi: float = Field(default=0, ge=0)
    """Per GiB of a machine's memory."""
    per_disk_gi: float = Field(default=0, ge=0)
    """Per GiB of a machine's disk, and of a volume claim."""


class Policy(Strict):
    """How the policy pack treats the stack (`python -m stacks policy-config STACK` writes its config)."""

    enforcement: Literal["advisory", "mandatory"] = "mandatory"
    """The pack's enforcement level for every policy: `mandatory` violations stop a preview or update,
    `advisory` ones are reported."""
    allowed_registries: list[str] = Field(default_factory=list)
    """Registries workload images may come from, besides the site's own Harbor."""
    platform_groups: list[GroupName] = Field(default_factory=lambda: ["platform-operators"])
    """Directory groups bound to `cluster-admin` (the one cluster-wide grant), as the platform operators.
    On AKS: Entra ID group object IDs (GUIDs; `az ad group show --group <name> --query id`), since
    tokens carry object IDs, not names, so the default name must be replaced there. On Rancher: group
    names, resolved through `infrastructure.group_principal`. Elsewhere: as the authenticator names them."""
    budget_monthly: float | None = Field(default=None, gt=0)
    """The most the stack may cost per month with every node pool at its maximum size, in
    `currency`; the `stack-budget` policy fails above it (python -m stacks cost STACK shows the
    estimate). None: no budget."""
    currency: Literal["USD"] = "USD"
    """The currency of the budget and the chargeback rates: the price table (stacks/prices/) is in USD."""
    chargeback: Chargeback | None = None
    """Monthly rates for on-premises machines (Rancher sites); required to estimate such a site."""
    object_storage_gb: int = Field(default=100, ge=0)
    """The data the estimate assumes in the stack's object storage (Azure Blob is billed per GB stored)."""
