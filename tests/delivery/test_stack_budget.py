"""The `stack-budget` policy: a stack whose estimated cost at maximum scale exceeds its budget fails,
and an estimate that does not match the resources is not trusted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from policies.lib.spec import Resource
from policies.pack import BY_NAME
from policies.rules.cost import budget_problems, cost_facts
from stacks.tools import cost
from stacks.tools import review as rv
from stacks.tools.cli import main as stacks_main
from stacks.loader import load
from stacks.tools.policy_config import pack_config

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ("generate the pack config with `python -m stacks policy-config STACK --output FILE` from this commit "
              "and pass it with --policy-pack-config")
POOL = "azure-native:containerservice:AgentPool"


@pytest.fixture(scope="module")
def prod(inventory):
    """prod's resources as the policy sees them, and the config the pack gets for them."""
    resources = [Resource(r.type, r.inputs, f"urn:{r.name}", r.name, r.options.get("protect")) for r in inventory("prod")]
    estimate = cost.estimate(load("prod"), "prod", inventory("prod")).to_json()
    return resources, BY_NAME["stack-budget"].with_defaults(pack_config(load("prod"), estimate)["stack-budget"])


def test_the_shipped_prod_estimate_is_within_budget(prod):
    resources, config = prod
    assert config["budgetMonthly"] == 20000 and config["estimate"]["monthlyMax"] < 20000
    assert budget_problems(resources, config) == []


def test_an_estimate_over_the_budget_fails_with_its_largest_items(prod):
    resources, config = prod
    config = {**config, "budgetMonthly": 5000}
    [(message, resource)] = budget_problems(resources, config)
    assert resource is None  # the stack as a whole
    assert message == (
        f"the estimated cost at maximum scale, USD {config['estimate']['monthlyMax']:,.2f} a month, exceeds the budget of USD 5,000.00 "
        "(largest: node pool `ai`: 0..25 × Standard_NC8as_T4_v3 USD 13,724.00, node pool `general`: 2..10 × Standard_D4ds_v5 USD 1,649.80, "
        "node pool `database`: 2..6 × Standard_E4ds_v5 USD 1,261.44); lower node pools' max_count or VM sizes, "
        "or raise policy.budget_monthly in the stack's config if the budget owner agrees"
    )


def test_a_pool_larger_than_the_estimate_is_reported(prod):
    resources, config = prod
    resources = copy.deepcopy(resources)
    ai = next(r for r in resources if r.type == POOL and r.name == "platform-aks-pool-ai")
    ai.props["maxCount"] = 60
    [(message, resource)] = budget_problems(resources, config)
    assert resource is ai
    assert (
        message
        == f"`{POOL}::platform-aks-pool-ai` differs from what the cost estimate priced (maxCount 25 in the estimate, 60 in the stack); "
           f"{REGENERATE}"
    )


def test_a_pool_the_estimate_does_not_know_is_reported(prod):
    resources, config = prod
    extra = Resource(POOL, {"vmSize": "Standard_NC8as_T4_v3", "minCount": 0, "maxCount": 40}, "urn:x", "platform-aks-pool-extra")
    [(message, resource)] = budget_problems([*resources, extra], config)
    assert (message, resource) == (
        f"`{POOL}::platform-aks-pool-extra` costs money but is not in the cost estimate, which was made for other resources; {REGENERATE}",
        extra,
    )


def test_unknown_values_during_preview_are_not_differences(prod):
    resources, config = prod
    resources = copy.deepcopy(resources)
    next(r for r in resources if r.type == POOL).props["vmSize"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert budget_problems(resources, config) == []


def test_a_budget_without_an_estimate_fails_closed(prod):
    resources, _ = prod
    config = BY_NAME["stack-budget"].with_defaults({"budgetMonthly": 100})
    assert budget_problems(resources, config) == [
        (f"the stack has a budget of USD 100.00 a month but the policy config carries no cost estimate; {REGENERATE}", None)
    ]
    assert budget_problems(resources, BY_NAME["stack-budget"].with_defaults({})) == []  # no budget: nothing to check


def test_a_blocking_unpriced_item_fails(prod):
    resources, config = prod
    config = copy.deepcopy(config)
    config["estimate"]["unpriced"].append({"resource": "", "what": "node pool `x`", "reason": "Standard_X has no price", "blocking": True})
    assert budget_problems(resources, config) == [("node pool `x` cannot be priced: Standard_X has no price", None)]


def test_cost_facts_read_pools_from_the_cluster_and_its_agent_pools(inventory):
    facts = cost_facts(inventory("prod"))
    assert facts["azure-native:containerservice:ManagedCluster::platform-aks-cluster"] == {"tier": "Standard"}
    assert facts["azure-native:containerservice:ManagedCluster::platform-aks-cluster/system"] == {
        "vmSize": "Standard_D4ds_v5",
        "minCount": 3,
        "maxCount": 5,
        "spot": False,
    }
    assert facts[f"{POOL}::platform-aks-pool-ai"] == {"vmSize": "Standard_NC8as_T4_v3", "minCount": 0, "maxCount": 25, "spot": False}
    assert cost_facts(inventory("dev"))[f"{POOL}::platform-aks-pool-ai"]["spot"] is True


# --- through the pack, as a preview runs it ----------------------------------------------------------


def _prod_with(tmp_path, mutate) -> Path:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    mutate(document["config"])
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_review_fails_a_stack_whose_node_pools_exceed_its_budget(tmp_path):
    def bigger(config):
        config["complete-cluster:infrastructure"]["node_pools"]["ai"]["max_count"] = 40

    result = rv.review("prod", _prod_with(tmp_path, bigger))
    budget = [v for v in result.violations if v.policy == "stack-budget"]
    assert [(v.enforcement, v.resource) for v in budget] == [("mandatory", None)]
    assert budget[0].message.startswith("the estimated cost at maximum scale, USD 26,017.51 a month, exceeds")
    assert "exceeds the budget of USD 20,000.00 (largest: node pool `ai`: 0..40 × Standard_NC8as_T4_v3 USD 21,958.40" in budget[0].message
    assert not result.passed


def test_a_stack_budget_can_be_raised_in_its_stack_file(tmp_path):
    def bigger_with_budget(config):
        config["complete-cluster:infrastructure"]["node_pools"]["ai"]["max_count"] = 40
        config["complete-cluster:policy"]["budget_monthly"] = 30000

    result = rv.review("prod", _prod_with(tmp_path, bigger_with_budget))
    assert [v for v in result.violations if v.policy == "stack-budget"] == []


def test_the_generated_pack_config_carries_budget_and_estimate(tmp_path, capsys):
    output = tmp_path / "prod.json"
    assert stacks_main(["policy-config", "prod", "--output", str(output)]) == 0
    entry = json.loads(output.read_text())["stack-budget"]
    assert entry["budgetMonthly"] == 20000 and entry["currency"] == "USD"
    assert entry["estimate"]["stack"] == "prod" and entry["estimate"]["facts"]
    base = json.loads((ROOT / "policies" / "config" / "prod.json").read_text())
    assert base["stack-budget"] == {"currency": "USD"}  # the environment's file has no budget of its own
