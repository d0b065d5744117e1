"""`python -m stacks diff A B`: how two stacks' config and inventories differ."""

from __future__ import annotations

import json

import pytest

from stacks.tools.cli import main as stacks_main
from stacks.tools.diff import diff, render


@pytest.fixture(scope="module")
def test_prod():
    return diff("test", "prod")


def test_config_differences_of_test_and_prod(test_prod):
    config = {d.key: (d.left, d.right) for d in test_prod.config}
    assert config["environment"] == ("test", "prod")
    assert config["infrastructure.sku_tier"] == ("Free", "Standard")
    assert config["infrastructure.api_server.public"] == (True, False)
    assert config["infrastructure.node_pools.ai.vm_size"] == ("Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3")
    assert config["infrastructure.node_pools.ai.max_count"] == (2, 25)
    assert config["storage.replication"] == ("Standard_ZRS", "Standard_RAGZRS")
    assert config["policy.budget_monthly"] == (3500, 20000)
    assert "site.name" not in config  # both cin: the same
    assert "infrastructure.region" not in config


def test_inventory_differences_of_test_and_prod(test_prod):
    assert "azure-native:authorization:ManagementLockAtResourceGroupLevel::platform-aks-lock" in test_prod.only_right
    assert test_prod.only_left == []
    general = {d.key: (d.left, d.right) for d in test_prod.changed["azure-native:containerservice:AgentPool::platform-aks-pool-general"]}
    assert general["inputs.minCount"] == (0, 2) and general["inputs.maxCount"] == (5, 10)
    assert general["inputs.availabilityZones"][1] == ["1", "2", "3"]
    cluster = {d.key: d for d in test_prod.changed["azure-native:containerservice:ManagedCluster::platform-aks-cluster"]}
    assert (cluster["inputs.sku.tier"].left, cluster["inputs.sku.tier"].right) == ("Free", "Standard")
    assert (cluster["options.protect"].left, cluster["options.protect"].right) == (False, True)


def test_a_stack_does_not_differ_from_itself():
    assert diff("onprem-dc1", "onprem-dc1").empty


def test_the_cli_lists_the_differences(capsys):
    assert stacks_main(["diff", "test", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test -> prod\nconfig (")
    assert "  environment: test != prod\n" in out
    assert "  infrastructure.node_pools.ai.max_count: 2 != 25\n" in out
    assert "  + azure-native:authorization:ManagementLockAtResourceGroupLevel::platform-aks-lock  (only in prod)\n" in out
    assert "  ~ azure-native:containerservice:AgentPool::platform-aks-pool-ai\n" in out
    assert stacks_main(["diff", "test", "prod", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"key": "infrastructure.sku_tier", "test": "Free", "prod": "Standard"} in data["config"]
    assert data["onlyIn"]["test"] == []


def test_the_limit_shortens_long_resources(test_prod):
    short, full = render(test_prod, limit=1), render(test_prod, limit=0)
    assert "more (--limit 0 shows all)" in short and "more (--limit 0 shows all)" not in full
    assert len(full.splitlines()) > len(short.splitlines())


def test_invalid_config_exits_1(tmp_path, capsys):
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  complete-cluster:environment: staging\n")
    assert stacks_main(["diff", "test", str(broken)]) == 1
    assert "environment: Input should be 'dev', 'test' or 'prod'" in capsys.readouterr().err
