"""The pack config generated per stack carries the stack's registries, groups and enforcement."""

from __future__ import annotations

import json

import pytest

from stacks.tools.cli import main
from stacks.loader import load
from stacks.tools.policy_config import environment_config_file, pack_config

AKS_PLATFORM_GROUP = "524ddefa-7c3f-4871-b6b1-885bfff8e545"  # an Entra ID object ID: AKS tokens carry those


@pytest.mark.parametrize(
    "stack, enforcement, registries, platform_group",
    [
        ("dev", "advisory", ["platformdevacr.azurecr.io"], AKS_PLATFORM_GROUP),
        ("prod", "mandatory", ["platformacr.azurecr.io"], AKS_PLATFORM_GROUP),
        # Harbor's own images cannot come through Harbor: only their docker.io prefix is added (policies/README.md).
        ("onprem-dc1", "mandatory", ["harbor.dc1.example.com", "docker.io/goharbor"], "platform-operators"),
        ("local", "advisory", ["registry.example.com"], "platform-operators"),
    ],
)
def test_stack_decisions_reach_the_pack(stack, enforcement, registries, platform_group):
    config = load(stack)
    generated = pack_config(config)
    assert generated["all"] == enforcement
    assert generated["workload-images"]["allowedRegistries"] == registries
    assert generated["rbac-least-privilege"]["platformGroups"] == [platform_group]
    # Everything else is the environment's file, untouched.
    base = json.loads(environment_config_file(config.environment).read_text())
    assert generated["pod-security"] == base["pod-security"]
    assert set(generated) == set(base)


def test_cli_writes_the_file_for_preview(tmp_path, capsys):
    output = tmp_path / "policy" / "prod.json"
    assert main(["policy-config", "prod", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["workload-images"]["allowedRegistries"] == ["platformacr.azurecr.io"]


def test_cli_on_invalid_config_exits_1(tmp_path, capsys):
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  complete-cluster:environment: staging\n")
    assert main(["policy-config", str(broken)]) == 1
    assert "environment: Input should be 'dev', 'test' or 'prod'" in capsys.readouterr().err
