"""A stack's estimated monthly cost stays within its environment's budget (`stack-budget`).

The estimate is made outside the pack, by `stacks/tools/cost.py`, and reaches the policy through the
generated policy-pack config (`python -m stacks policy-config STACK`), because most of what it
needs is not in any resource: the price table (stacks/prices/), an on-premises site's machine pools
and chargeback rates, the working hours a dev cluster runs, the data expected in object storage.
One estimator then feeds the review, the merge-request comment and this policy, so they cannot
disagree.

A policy must not trust a number it cannot check, so the estimate carries the facts it priced
(each AKS node pool's VM size and node counts, each cluster's tier) and the policy compares them
with the resources it is given: a config generated for another commit, or edited by hand, is
reported instead of silently passing a larger node pool.

The budget applies to the estimate with every node pool at its maximum size: what the autoscalers
may spend without another review.
"""

from __future__ import annotations

from typing import Any

from ..lib.spec import PolicySpec, Resource
from ..lib.values import is_unknown, obj, seq

MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"

#: How the facts of one node pool are compared (the keys of a pool's facts).
POOL_FACTS = ("vmSize", "minCount", "maxCount", "spot")


def _pool_facts(props: dict) -> dict[str, Any]:
    count = props.get("count")
    return {
        "vmSize": props.get("vmSize"),
        "minCount": props.get("minCount", count),
        "maxCount": props.get("maxCount", count),
        "spot": props.get("scaleSetPriority") == "Spot",
    }


def cost_facts(resources: list) -> dict[str, dict[str, Any]]:
    """What decides the estimate, read from resources (anything with `type`, `name` and the
    engine's wire properties as `props` or `inputs`): per AKS node pool its VM size, node counts and
    priority, per cluster its tier. Keys are `type::name`, `/<pool>` appended for the pools a
    ManagedCluster declares itself."""
    facts: dict[str, dict[str, Any]] = {}
    for resource in resources:
        props = getattr(resource, "props", None)
        if props is None:
            props = getattr(resource, "inputs", None) or {}
        key = f"{resource.type}::{resource.name}"
        if resource.type == MANAGED_CLUSTER:
            facts[key] = {"tier": (obj(props.get("sku")) or {}).get("tier") or "Free"}
            for profile in seq(props.get("agentPoolProfiles")) or []:
                profile = obj(profile) or {}
                facts[f"{key}/{profile.get('name')}"] = _pool_facts(profile)
        elif resource.type == AGENT_POOL:
            facts[key] = _pool_facts(props)
    return facts


def _money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def _differences(priced: dict, actual: dict) -> list[str]:
    changed = []
    for name in sorted(set(priced) | set(actual)):
        mine, theirs = priced.get(name), actual.get(name)
        if is_unknown(theirs) or mine == theirs:
            continue
        changed.append(f"{name} {mine!r} in the estimate, {theirs!r} in the stack")
    return changed


def budget_problems(resources: list[Resource], config: dict) -> list[tuple[str, Resource | None]]:
    budget = config.get("budgetMonthly")
    if not budget:
        return []
    currency = config.get("currency") or "USD"
    estimate = config.get("estimate")
    regenerate = ("generate the pack config with `python -m stacks policy-config STACK --output FILE` from this commit "
                  "and pass it with --policy-pack-config")
    if not isinstance(estimate, dict) or not estimate:
        return [
            (
                f"the stack has a budget of {_money(budget, currency)} a month but the policy config carries no cost estimate; "
                f"{regenerate}",
                None,
            )
        ]

    problems: list[tuple[str, Resource | None]] = []
    priced = estimate.get("facts") or {}
    actual = cost_facts(resources)
    by_key = {f"{resource.type}::{resource.name}": resource for resource in resources}
    for key in sorted(set(priced) | set(actual)):
        owner = by_key.get(key.split("/", 1)[0])
        if key not in priced:
            problems.append(
                (f"`{key}` costs money but is not in the cost estimate, which was made for other resources; {regenerate}", owner)
            )
        elif key not in actual:
            problems.append(
                (
                    f"the cost estimate prices `{key}`, which this stack does not register: the estimate was made for other resources; "
                    f"{regenerate}",
                    None,
                )
            )
        else:
            changed = _differences(priced[key], actual[key])
            if changed:
                problems.append((f"`{key}` differs from what the cost estimate priced ({'; '.join(changed)}); {regenerate}", owner))

    for item in estimate.get("unpriced") or []:
        if item.get("blocking"):
            problems.append((f"{item.get('what')} cannot be priced: {item.get('reason')}", by_key.get(item.get("resource") or "")))

    maximum = float(estimate.get("monthlyMax") or 0)
    if maximum > budget:
        largest = sorted(estimate.get("lines") or [], key=lambda line: -float(line.get("monthlyMax") or 0))[:3]
        listed = ", ".join(f"{line.get('what')} {_money(float(line.get('monthlyMax') or 0), currency)}" for line in largest)
        problems.append(
            (
                f"the estimated cost at maximum scale, {_money(maximum, currency)} a month, exceeds the budget of "
                f"{_money(budget, currency)} (largest: {listed}); lower node pools' max_count or VM sizes, "
                "or raise policy.budget_monthly in the stack's config if the budget owner agrees",
                None,
            )
        )
    return problems


POLICY = PolicySpec(
    name="stack-budget",
    description="The stack's estimated monthly cost at maximum scale stays within its budget.",
    kind="stack",
    check=budget_problems,
    config_schema={
        "budgetMonthly": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "The stack's monthly budget (policy.budget_monthly); 0: no budget.",
        },
        "currency": {"type": "string", "default": "USD", "description": "Currency of the budget and the estimate."},
        "estimate": {
            "type": "object",
            "default": {},
            "description": "The cost estimate of python -m stacks cost STACK --json: monthlyMin, monthlyMax, lines, unpriced, facts.",
        },
    },
)
