"""`python -m stacks parity`: the two on-prem sites agree on everything but their site-specific keys,
and a drifted team fails with each difference as `key: dc1 value != dc2 value`."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.tools.parity import DEFAULT_ALLOW, allowed, parity

ROOT = Path(__file__).resolve().parents[2]
DC2 = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-dc2.yaml").read_text())
TEAMS = "complete-cluster:teams"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stacks", "parity", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def drifted(tmp_path, mutate) -> Path:
    """A copy of the dc2 stack file, mutated, in a temporary directory."""
    document = copy.deepcopy(DC2)
    mutate(document["config"])
    path = tmp_path / "Pulumi.onprem-dc2.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_shipped_sites_are_in_parity(inventory):
    result = run_cli("onprem-dc1", "onprem-dc2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (
        f"onprem-dc1 and onprem-dc2 are in parity: config and {len(inventory('onprem-dc1'))} resources; site-specific: "
        f"{', '.join(DEFAULT_ALLOW)}\n"
    )


def test_a_drifted_quota_fails_with_each_difference(tmp_path):
    path = drifted(tmp_path, lambda config: config[TEAMS][1]["quota"].update(cpu="16"))
    result = run_cli("onprem-dc1", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"onprem-dc1 and onprem-dc2 drift in {len(lines) - 1} keys:"
    assert lines[1] == "  teams[search].quota.cpu: 8 != 16"
    assert "  inventory[kubernetes:core/v1:ResourceQuota::team-search-quota].inputs.spec.hard.requests.cpu: 8 != 16" in lines
    # Everything else it reports is the search team's namespace objects, which the quota shapes.
    assert all("::team-search-" in line for line in lines[2:])
    assert result.stderr == ""


def test_an_extra_team_fails_with_the_team_and_everything_it_registers(tmp_path):
    path = drifted(tmp_path, lambda config: config[TEAMS].append({"name": "billing", "groups": ["billing-developers"]}))
    differences, _ = parity("onprem-dc1", str(path))
    lines = [str(difference) for difference in differences]
    assert lines[0] == "teams[billing]: (absent) != (declared)"
    assert "inventory[rancher2:index/project:Project::platform-rancher-project-billing]: (absent) != (registered)" in lines
    assert (
        "inventory[rancher2:index/projectRoleTemplateBinding:ProjectRoleTemplateBinding::"
        "platform-rancher-project-billing-billing-developers]: "
        "(absent) != (registered)"
    ) in lines
    assert "inventory[kubernetes:core/v1:Namespace::team-billing-namespace]: (absent) != (registered)" in lines
    assert all("billing" in line for line in lines)


def test_a_changed_group_shows_in_config_and_in_the_rancher_binding(tmp_path):
    path = drifted(tmp_path, lambda config: config[TEAMS][0].update(groups=["payments-admins"]))
    lines = [str(difference) for difference in parity("onprem-dc1", str(path))[0]]
    assert lines[0] == 'teams[payments].groups: ["payments-developers"] != ["payments-admins"]'
    assert (
        "inventory[rancher2:index/projectRoleTemplateBinding:ProjectRoleTemplateBinding::"
        "platform-rancher-project-payments-payments-developers]: "
        "(registered) != (absent)"
    ) in lines


def test_a_drifted_infrastructure_setting_is_drift_too(tmp_path):
    path = drifted(tmp_path, lambda config: config["complete-cluster:infrastructure"].update(kubernetes_version="v1.33.6+rke2r1"))
    lines = [str(difference) for difference in parity("onprem-dc1", str(path))[0]]
    assert lines == [
        "infrastructure.kubernetes_version: v1.33.5+rke2r1 != v1.33.6+rke2r1",
        "inventory[rancher2:index/clusterV2:ClusterV2::platform-rancher-cluster].inputs.kubernetesVersion: v1.33.5+rke2r1 != "
        "v1.33.6+rke2r1",
    ]


def test_allowed_keys_are_not_drift(tmp_path):
    path = drifted(tmp_path, lambda config: config[TEAMS][1]["quota"].update(cpu="16"))
    result = run_cli("onprem-dc1", str(path), "--allow", "teams[search].quota", "--allow", "inventory[*::team-search-*]*")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("onprem-dc1 and onprem-dc2 are in parity")


def test_invalid_config_is_reported_not_compared(tmp_path):
    path = drifted(tmp_path, lambda config: config["complete-cluster:site"].pop("primary"))
    result = run_cli("onprem-dc1", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "site.primary: a secondary site must name its primary site's stack" in result.stderr


@pytest.mark.parametrize(
    "key, expected",
    [
        ("storage.buckets.logs", True),
        ("storage.bucketsx", False),
        ("site.secondaries", True),
        ("infrastructure.network.node_cidr", True),
        ("infrastructure.kubernetes_version", False),
        ("teams[search].quota.cpu", False),
    ],
)
def test_the_default_allow_list(key, expected):
    assert allowed(key, DEFAULT_ALLOW) is expected


def test_globs_treat_brackets_as_part_of_the_key():
    assert allowed("teams[search].groups", ["teams[*].groups"])
    assert not allowed("teams[s]", ["teams[search]"])
    assert allowed("inventory[kubernetes:core/v1:Namespace::team-search-namespace].inputs", ["inventory[*::team-search-*]*"])
