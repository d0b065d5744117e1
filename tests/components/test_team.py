"""Team namespaces: Pod Security labels, quota, limits, default-deny networking and RBAC per environment."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks import catalogue
from components.access import rbac
from stacks.tools.inventory import evaluate

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
FORBIDDEN_VERBS = {"bind", "escalate", "impersonate", "*"}


@pytest.fixture(scope="module")
def local_as(tmp_path_factory):
    """The local stack's registrations with its environment switched, evaluated once per environment."""
    base = yaml.safe_load((STACKS_DIR / "Pulumi.local.yaml").read_text())
    cache = {}

    def get(environment: str):
        if environment not in cache:
            document = copy.deepcopy(base)
            document["config"]["complete-cluster:environment"] = environment
            # The test/prod profiles turn on services that need object storage, which local lacks.
            services = document["config"]["complete-cluster:services"]
            for service in ("logging", "backup", "monitoring"):
                services[service] = {"enabled": False}
            path = tmp_path_factory.mktemp(environment) / "Pulumi.local.yaml"
            path.write_text(yaml.safe_dump(document))
            cache[environment] = evaluate("local", path)
        return cache[environment]

    return get


def team_resource(registrations, team: str, kind: str, role: str):
    name = f"team-{team}-{role}"
    [match] = [r for r in registrations if r.name == name]
    assert match.inputs["kind"] == kind
    return match


def test_namespace_enforces_pod_security_restricted_at_the_pinned_version(inventory):
    namespace = team_resource(inventory("local"), "payments", "Namespace", "namespace")
    labels = namespace.inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == catalogue.POD_SECURITY_VERSION
    assert namespace.inputs["metadata"]["name"] == "payments"


def test_quota_and_limit_range_follow_config(inventory):
    quota = team_resource(inventory("local"), "payments", "ResourceQuota", "quota")
    assert quota.inputs["spec"]["hard"] == {
        "requests.cpu": "4", "limits.cpu": "4", "requests.memory": "8Gi", "limits.memory": "8Gi",
        "requests.storage": "50Gi", "pods": "50",
    }
    assert quota.inputs["metadata"]["namespace"] == "payments"
    assert "kubernetes:core/v1:Namespace::team-payments-namespace" in quota.options["depends_on"]
    limits = team_resource(inventory("local"), "payments", "LimitRange", "limits")
    [container] = limits.inputs["spec"]["limits"]
    assert container["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert container["default"] == {"cpu": "500m", "memory": "512Mi"}


def test_default_deny_covers_ingress_and_egress(inventory):
    deny = team_resource(inventory("local"), "search", "NetworkPolicy", "default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_dns_and_ingress_controller_are_the_only_allows(inventory):
    dns = team_resource(inventory("local"), "search", "NetworkPolicy", "allow-dns")
    [egress] = dns.inputs["spec"]["egress"]
    assert egress["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert egress["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    ingress = team_resource(inventory("local"), "search", "NetworkPolicy", "allow-ingress-controller")
    assert ingress.inputs["spec"]["policyTypes"] == ["Ingress"]
    assert ingress.inputs["spec"]["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]}
    ]
    policies = [
        r for r in inventory("local") if r.parent == "platform:access:Team::team-search" and r.inputs.get("kind") == "NetworkPolicy"
    ]
    assert len(policies) == 3


def grants(registrations, team: str) -> set[tuple[str, str]]:
    role = team_resource(registrations, team, "Role", "role")
    return {(resource, verb) for rule in role.inputs["rules"] for resource in rule["resources"] for verb in rule["verbs"]}


def test_dev_developers_edit_and_exec(local_as):
    granted = grants(local_as("dev"), "payments")
    assert {("deployments", "update"), ("pods/exec", "create"), ("pods/portforward", "create"), ("secrets", "create")} <= granted


@pytest.mark.parametrize("environment", ["test", "prod"])
def test_test_and_prod_are_view_only_without_exec(local_as, environment):
    granted = grants(local_as(environment), "payments")
    assert {verb for _, verb in granted} == {"get", "list", "watch"}
    assert not {resource for resource, _ in granted} & {"pods/exec", "pods/portforward", "pods/attach", "secrets"}


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
def test_no_team_grant_is_cluster_wide_wildcard_escalating_or_on_rbac(local_as, environment):
    registrations = local_as(environment)
    role = team_resource(registrations, "payments", "Role", "role")
    for rule in role.inputs["rules"]:
        assert not set(rule["verbs"]) & FORBIDDEN_VERBS
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "rbac.authorization.k8s.io" not in rule["apiGroups"]
    binding = team_resource(registrations, "payments", "RoleBinding", "binding")
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": rbac.role_name(environment)}
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "payments-developers"}]
    team_kinds = {r.inputs.get("kind") for r in registrations if (r.parent or "").startswith("platform:access:Team::")}
    assert not team_kinds & {"ClusterRole", "ClusterRoleBinding"}


def test_platform_operators_get_admin_through_one_binding(inventory):
    bindings = [r for r in inventory("local") if r.type == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"]
    assert [(b.name, b.inputs["roleRef"]["name"], b.inputs["subjects"][0]["name"]) for b in bindings] == [
        ("platform-platform-access-operators", "cluster-admin", "platform-operators")
    ]


def test_each_team_adds_a_fixed_set_of_resources(inventory):
    per_team = [r for r in inventory("local") if r.parent == "platform:access:Team::team-payments"]
    assert sorted(r.inputs["kind"] for r in per_team if r.custom) == [
        "LimitRange", "Namespace", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "ResourceQuota", "Role", "RoleBinding",
    ]
    assert sorted(r.type for r in per_team if not r.custom) == [
        "platform:workloads:Api",
        "platform:workloads:ScheduledJob",
        "platform:workloads:Worker",
    ]


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
def test_the_data_namespace_is_view_only_for_the_teams_groups_in_every_environment(local_as, environment):
    """The databases' namespace `<team>-data` (components/services/postgres.py): the team's groups
    read it as in test/prod's team namespace; even in dev no secrets, exec, attach or port-forward."""
    registrations = local_as(environment)
    [role] = [r for r in registrations if r.name == "postgres-payments-data-role"]
    [binding] = [r for r in registrations if r.name == "postgres-payments-data-binding"]
    assert (role.inputs["metadata"]["name"], role.inputs["metadata"]["namespace"]) == ("team-viewer", "payments-data")
    assert role.inputs["rules"] == rbac.team_rules("test")
    granted = {(resource, verb) for rule in role.inputs["rules"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert {verb for _, verb in granted} == {"get", "list", "watch"}
    assert not {resource for resource, _ in granted} & {"pods/exec", "pods/portforward", "pods/attach", "secrets"}
    assert binding.inputs["metadata"]["namespace"] == "payments-data"
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team-viewer"}
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "payments-developers"}]


def test_a_given_rancher_project_annotates_the_namespace_and_none_leaves_it_bare():
    """TeamArgs.project_id, as CompleteCluster passes it from its RancherCluster (the inventory tests
    of test_rancher.py cover the shipped sites)."""
    from components.access.team import Team, TeamArgs
    from components.complete_cluster import connection_settings, identity
    from stacks.tools.inventory import run_program
    from stacks.loader import load

    config = load("local")
    team = config.teams[0]
    for project_id, expected in (("c-m-abc12:p-def34", {"field.cattle.io/projectId": "c-m-abc12:p-def34"}), (None, None)):
        args = TeamArgs(team=team, identity=identity(config), connections=connection_settings(config), project_id=project_id)
        registered = run_program(lambda args=args: Team("team", args), "local")
        [namespace] = [r for r in registered if r.name == "team-namespace"]
        assert namespace.inputs["metadata"].get("annotations") == expected
