"""The policy-pack config for one stack: its environment's file, plus what the stack's own config
decides (allowed registries, platform groups, enforcement, its budget) and its cost estimate.

`pulumi preview --policy-pack policies --policy-pack-config <file>` and `python -m stacks review`
use the same generated file, so a registry added to a stack is allowed by the pack too:

    .venv/bin/python -m stacks policy-config prod --output .state/policy-prod.json
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from components.services.ingress import internal_annotations
from components.services.postgres import POD_SERVICE_ACCOUNT
from components.services.registry import harbor_bootstrap_registries

from ..loader import STACKS_DIR
from ..model import StackConfig
from ..shared_services import postgres_namespace


def spilo_service_accounts(config: StackConfig) -> list[str]:
    """`namespace/name` of the ServiceAccount the Spilo pods and logical backup jobs run as, in every
    data namespace of the stack (for the policy pack's `workload-token-automount` exemptions)."""
    if not config.services.postgres.enabled:
        return []
    return [f"{postgres_namespace(team.name)}/{POD_SERVICE_ACCOUNT}" for team in config.teams if team.databases]

POLICY_CONFIG_DIR = STACKS_DIR.parent / "policies" / "config"


def environment_config_file(environment: str) -> Path:
    return POLICY_CONFIG_DIR / f"{environment}.json"


def _entry(config: dict[str, Any], policy: str) -> dict[str, Any]:
    """A policy's entry as an object (an entry may be just an enforcement level string)."""
    entry = config.get(policy, {})
    if isinstance(entry, str):
        entry = {"enforcementLevel": entry}
    config[policy] = entry
    return entry


def pack_config(config: StackConfig, estimate: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pack config for a stack; `estimate` is its cost estimate (`stacks.tools.cost.Estimate.to_json()`),
    which the `stack-budget` policy compares with `policy.budget_monthly`."""
    generated = copy.deepcopy(json.loads(environment_config_file(config.environment).read_text()))
    generated["all"] = config.policy.enforcement
    # Harbor's own images cannot come through Harbor: on a site approving no other registry they come from docker.io,
    # and only their prefix is allowed (components/services/registry.py; the reason is in policies/README.md).
    harbor = harbor_bootstrap_registries(config.services.registry.enabled, config.policy.allowed_registries)
    _entry(generated, "workload-images")["allowedRegistries"] = [*config.allowed_registries(), *harbor]
    _entry(generated, "rbac-least-privilege")["platformGroups"] = list(config.policy.platform_groups)
    # Spilo's pods keep their API token (Patroni holds its leader lock through the API); the account
    # exists once per data namespace, so the stack's own list is added to the environment's.
    automount = _entry(generated, "workload-token-automount")
    automount["exemptServiceAccounts"] = [*automount.get("exemptServiceAccounts", []), *spilo_service_accounts(config)]
    # The site's own load balancer pool (infrastructure.load_balancer) makes a LoadBalancer internal there.
    exposure = _entry(generated, "service-exposure")
    exposure["internalLoadBalancerAnnotations"] = {
        **exposure.get("internalLoadBalancerAnnotations", {}), **internal_annotations(config.infrastructure)
    }
    budget = _entry(generated, "stack-budget")
    budget["currency"] = config.policy.currency
    if config.policy.budget_monthly is not None:
        budget["budgetMonthly"] = config.policy.budget_monthly
    if estimate is not None:
        budget["estimate"] = estimate
    return generated


def render(config: StackConfig, estimate: dict[str, Any] | None = None) -> str:
    return json.dumps(pack_config(config, estimate), indent=2) + "\n"
