"""Every shipped stack file validates, evaluates, and gets what DESIGN.md says it gets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.loader import load, shipped_stacks
from stacks.model import Aks, Rancher, Render, SecretValue
from stacks.tools.schema import SCHEMA_FILE, render_schema

ROOT = Path(__file__).resolve().parents[2]
STACKS = ["dev", "local", "onprem-dc1", "onprem-dc2", "prod", "test"]


def test_the_six_stacks_ship():
    assert shipped_stacks() == STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_evaluates_under_mocks(inventory, stack):
    registrations = inventory(stack)
    root = registrations[0]
    assert (root.type, root.name, root.parent) == (
        "platform:index:CompleteCluster",
        "platform",
        f"pulumi:pulumi:Stack::complete-cluster-{stack}",
    )
    for registration in registrations[1:]:
        assert registration.parent is not None, f"{registration.name} has no parent"


@pytest.mark.parametrize(
    "stack, environment, infrastructure",
    [
        ("local", "dev", Render),
        ("dev", "dev", Aks),
        ("test", "test", Aks),
        ("prod", "prod", Aks),
        ("onprem-dc1", "prod", Rancher),
        ("onprem-dc2", "prod", Rancher),
    ],
)
def test_stack_environment_and_infrastructure(stack, environment, infrastructure):
    config = load(stack)
    assert config.environment == environment
    assert isinstance(config.infrastructure, infrastructure)


def test_regions_and_environment_differences():
    dev, test, prod = load("dev"), load("test"), load("prod")
    assert (dev.infrastructure.region, test.infrastructure.region, prod.infrastructure.region) == (
        "southeastasia",
        "centralindia",
        "centralindia",
    )
    assert prod.infrastructure.node_pools["ai"].min_count == 0 and prod.infrastructure.node_pools["ai"].max_count == 25
    assert dev.infrastructure.node_pools["ai"].gpu and dev.infrastructure.node_pools["ai"].spot
    assert not prod.infrastructure.api_server.public and prod.infrastructure.sku_tier == "Standard"
    assert (dev.policy.enforcement, test.policy.enforcement, prod.policy.enforcement) == ("advisory", "mandatory", "mandatory")
    assert {"redis", "kafka"} <= set(dev.services.enabled())
    assert {"monitoring", "logging", "tracing"} <= set(test.services.enabled())
    assert "logging" not in dev.services.enabled() and dev.services.monitoring.mode == "reduced"
    assert (test.services.monitoring.mode, prod.services.monitoring.mode) == ("full", "full")
    assert {"monitoring", "logging", "tracing", "backup"} <= set(prod.services.enabled())
    assert dev.services.monitoring.retention_days < test.services.monitoring.retention_days < prod.services.monitoring.retention_days
    assert test.services.logging.archive_days < prod.services.logging.archive_days


def test_profiles_layer_under_the_stack_file():
    prod = load("prod")
    # prod.yaml profile sets 2 postgres instances; kinds/aks.yaml the database pool's taint;
    # the stack file the pool bounds.
    assert prod.services.postgres.instances == 2
    assert prod.infrastructure.node_pools["database"].taints == ["nodeType=database:NoSchedule"]
    assert (prod.infrastructure.node_pools["database"].min_count, prod.infrastructure.node_pools["database"].max_count) == (2, 6)


def test_sites_name_their_roles():
    dc1, dc2 = load("onprem-dc1"), load("onprem-dc2")
    assert (dc1.site.role, dc1.site.primary) == ("primary", None)
    assert (dc2.site.role, dc2.site.primary) == ("secondary", "onprem-dc1")


def test_on_prem_credentials_are_secrets_and_never_shown():
    storage = load("onprem-dc1").storage
    assert isinstance(storage.credentials.access_key_id, SecretValue)
    assert storage.credentials.access_key_id.plaintext is None
    assert "v1:" not in repr(storage.credentials)
    assert storage.model_dump()["credentials"] == {"access_key_id": "[secret]", "secret_access_key": "[secret]"}


def test_local_renders_to_its_directory(inventory):
    provider = inventory("local").named("platform-render-kubernetes")
    assert provider.type == "pulumi:providers:kubernetes"
    assert provider.inputs["renderYamlToDirectory"] == "rendered/local"
    assert provider.parent == "platform:infrastructure:RenderTarget::platform-render"


def test_schema_is_current():
    assert SCHEMA_FILE.read_text() == render_schema(), "run `python -m stacks schema` and commit stacks/stack-config.schema.json"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_match_the_schema(stack):
    jsonschema = pytest.importorskip("jsonschema")
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))


def test_schema_rejects_an_unknown_section():
    jsonschema = pytest.importorskip("jsonschema")
    document = {"config": {"complete-cluster:environment": "dev", "complete-cluster:teamz": []}}
    with pytest.raises(jsonschema.ValidationError, match="teamz"):
        jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stacks", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_inventory_json_has_exactly_the_documented_keys():
    result = run_cli("inventory", "prod", "--json")
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)
    assert resources and all(set(item) == {"type", "name", "parent", "inputs", "options"} for item in resources)
    assert set(resources[0]["options"]) == {"protect", "retain_on_delete", "depends_on", "provider", "ignore_changes",
                                            "transforms"}


def test_cli_validate_all_shipped_stacks():
    result = run_cli("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{stack}: ok" for stack in STACKS]


def test_cli_validate_reports_every_problem_and_exits_1(tmp_path):
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text(
        "config:\n"
        "  complete-cluster:environment: prod\n"
        "  complete-cluster:site: {name: cin, role: secondary}\n"
        "  complete-cluster:infrastructure: {kind: render, dir: x}\n"
        "  complete-cluster:teams: [{nmae: a, groups: [g]}]\n"
    )
    result = run_cli("validate", str(broken))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{broken} has 5 problems:",
        "  - site.primary: a secondary site must name its primary site's stack (e.g. `onprem-dc1`)",
        "  - infrastructure.dir: unknown key (did you mean `directory`?)",
        "  - services.monitoring.receivers: prod alerts must reach someone: declare at least one receiver (webhook, slack or pagerduty)",
        "  - teams[0].name: is required",
        "  - teams[0].nmae: unknown key (did you mean `name`?)",
    ]


def test_cli_inventory_on_invalid_config_exits_1_without_output(tmp_path):
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  complete-cluster:environment: staging\n")
    result = run_cli("inventory", str(broken), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "environment: Input should be 'dev', 'test' or 'prod'" in result.stderr
