"""Fleet for the teams' releases at the Rancher sites (issue 19 item 3): ClusterGroups of the environment's sites
selected by the labels RancherCluster puts on them, a GitRepo per team into its namespace only as its deployer
account, that account in the Fleet agent's namespace with a Role in the team namespace alone; every Fleet object
checked against Fleet 0.16.1's CRDs (the chart mirror's fleet-crd) with a real OpenAPI validator."""

from __future__ import annotations

import copy

import pytest

from components.access import rbac
from stacks.loader import load
from tests.crds import custom_resource_kinds, mirror_crds, schema_problems

CLUSTER_GROUP = "kubernetes:fleet.cattle.io/v1alpha1:ClusterGroup"
GIT_REPO = "kubernetes:fleet.cattle.io/v1alpha1:GitRepo"
MANAGEMENT = "pulumi:providers:kubernetes::platform-rancher-management"
ENVIRONMENT_LABELS = {"app.kubernetes.io/part-of": "complete-cluster", "app.kubernetes.io/component": "cluster",
                      "complete-cluster/environment": "prod"}


def fleet_objects(registrations):
    return [r for r in registrations if r.type.startswith("kubernetes:fleet.cattle.io/")]


def test_the_cluster_groups_select_the_labels_rancher_puts_on_the_sites(inventory):
    registrations = inventory("onprem-dc1")
    groups = {r.inputs["metadata"]["name"]: r for r in registrations.of_type(CLUSTER_GROUP)}
    assert {name: g.inputs["spec"] for name, g in groups.items()} == {
        "prod-sites": {"selector": {"matchLabels": ENVIRONMENT_LABELS}},
        "prod-primary": {"selector": {"matchLabels": {**ENVIRONMENT_LABELS, "complete-cluster/site-role": "primary"}}},
    }
    # Both sites' clusters carry the environment's labels; only the primary the primary's.
    for stack, role in (("onprem-dc1", "primary"), ("onprem-dc2", "secondary")):
        cluster = inventory(stack).named("platform-rancher-cluster").inputs["labels"]
        assert ENVIRONMENT_LABELS.items() <= cluster.items()
        assert cluster["complete-cluster/site-role"] == role
    for group in groups.values():
        assert group.inputs["metadata"]["namespace"] == "fleet-default"
        assert group.options["provider"] == MANAGEMENT


def test_each_team_repository_deploys_into_its_namespace_only_at_the_sites_its_paths_belong_to(inventory):
    repos = {r.inputs["metadata"]["name"]: r for r in inventory("onprem-dc1").of_type(GIT_REPO)}
    assert {name: r.inputs["spec"] for name, r in repos.items()} == {
        "payments": {
            "repo": "https://git.example.com/payments/deploy.git", "branch": "main", "paths": ["services"],
            "targetNamespace": "payments", "serviceAccount": "fleet-payments", "targets": [{"clusterGroup": "prod-sites"}],
        },
        "payments-primary": {
            "repo": "https://git.example.com/payments/deploy.git", "branch": "main", "paths": ["batch"],
            "targetNamespace": "payments", "serviceAccount": "fleet-payments", "targets": [{"clusterGroup": "prod-primary"}],
        },
        "search": {
            "repo": "git@git.example.com:search/deploy.git", "revision": "v3.4.0", "paths": ["charts/indexer", "charts/search-api"],
            "targetNamespace": "search", "serviceAccount": "fleet-search", "targets": [{"clusterGroup": "prod-sites"}],
        },
    }
    for repo in repos.values():
        assert (repo.inputs["metadata"]["namespace"], repo.options["provider"]) == ("fleet-default", MANAGEMENT)
        # A promoted site takes the environment's objects over; the old primary's stack leaves them in place.
        assert repo.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}
        assert repo.options["retain_on_delete"] is True


def test_the_management_cluster_is_reached_with_rancher_s_kubeconfig_as_a_secret(inventory):
    provider = inventory("onprem-dc1").named("platform-rancher-management")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.parent == "platform:infrastructure:RancherCluster::platform-rancher"


def test_only_the_primary_writes_the_environments_fleet_objects_and_every_site_has_the_deployers(inventory):
    assert fleet_objects(inventory("onprem-dc1"))
    assert fleet_objects(inventory("onprem-dc2")) == []
    for stack in ("onprem-dc1", "onprem-dc2"):
        accounts = {r.inputs["metadata"]["name"]: r.inputs for r in inventory(stack).of_type("kubernetes:core/v1:ServiceAccount")
                    if r.name.endswith("-fleet-account")}
        assert set(accounts) == {"fleet-payments", "fleet-search"}
        for account in accounts.values():
            # Where Fleet's agent resolves a GitRepo's serviceAccount (fleet v0.16.1 helmdeployer getServiceAccount).
            assert account["metadata"]["namespace"] == "cattle-fleet-system"
            assert account["automountServiceAccountToken"] is False


def test_the_deployer_may_write_its_team_namespace_and_nothing_else(inventory):
    registrations = inventory("onprem-dc2")
    role = registrations.named("team-search-fleet-role").inputs
    binding = registrations.named("team-search-fleet-binding").inputs
    assert (role["metadata"]["namespace"], binding["metadata"]["namespace"]) == ("search", "search")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fleet-search", "namespace": "cattle-fleet-system"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-deployer"}
    assert role["rules"] == rbac.deployer_rules()
    granted = {(group, resource) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]}
    assert not {group for group, _ in granted} & {"rbac.authorization.k8s.io", "*"}
    assert not {resource for _, resource in granted} & {"networkpolicies", "resourcequotas", "limitranges", "namespaces", "*"}
    assert not {verb for rule in role["rules"] for verb in rule["verbs"]} & {"bind", "escalate", "impersonate", "*"}
    # No ClusterRole or ClusterRoleBinding for any deployer.
    assert not [r for r in registrations if "-fleet-" in r.name and r.type.endswith(("ClusterRole", "ClusterRoleBinding"))]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_stacks_without_rancher_have_no_fleet(inventory, stack):
    assert fleet_objects(inventory(stack)) == []
    assert not [r for r in inventory(stack) if r.name.endswith("-fleet-account")]


def test_every_fleet_object_matches_fleets_crds(inventory):
    objects = fleet_objects(inventory("onprem-dc1"))
    crds = mirror_crds(custom_resource_kinds({r.type for r in objects}))
    assert {kind for _, kind in crds} == {"ClusterGroup", "GitRepo"}
    assert [problem for r in objects for problem in schema_problems(r.inputs, crds)] == []


def test_the_crd_check_refuses_what_fleet_would(inventory):
    objects = {r.inputs["metadata"]["name"]: r.inputs for r in fleet_objects(inventory("onprem-dc1"))}
    crds = mirror_crds(custom_resource_kinds({r.type for r in fleet_objects(inventory("onprem-dc1"))}))
    repo = copy.deepcopy(objects["search"])
    repo["spec"]["targetNamespaces"] = ["search"]  # Fleet's field is targetNamespace
    repo["spec"]["paths"] = "charts/indexer"
    del repo["spec"]["repo"]
    group = copy.deepcopy(objects["prod-sites"])
    group["spec"]["selector"]["matchLabels"]["complete-cluster/environment"] = 1
    assert sorted(schema_problems(repo, crds)) == [
        "GitRepo fleet-default/search: spec.paths: 'charts/indexer' is not of type 'array'",
        "GitRepo fleet-default/search: spec: 'repo' is a required property",
        "GitRepo fleet-default/search: spec: Additional properties are not allowed ('targetNamespaces' was unexpected)",
    ]
    assert schema_problems(group, crds) == [
        "ClusterGroup fleet-default/prod-sites: spec.selector.matchLabels.complete-cluster/environment: 1 is not of type 'string'",
    ]


def test_a_private_repository_gets_its_credentials_as_a_secret_from_pulumi_secrets(tmp_path):
    import yaml

    from stacks.loader import STACKS_DIR
    from stacks.tools.inventory import evaluate

    document = yaml.safe_load((STACKS_DIR / "Pulumi.onprem-dc1.yaml").read_text())
    releases = document["config"]["complete-cluster:teams"][0]["releases"]
    # Any ciphertext of this stack's passphrase will do offline: the storage key's.
    ciphertext = document["config"]["complete-cluster:storage"]["credentials"]["access_key_id"]["secure"]
    releases["credentials"] = {"username": "fleet", "password": {"secure": ciphertext}}
    stack_file = tmp_path / "Pulumi.onprem-dc1.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    registrations = evaluate("onprem-dc1", stack_file)
    [secret] = [r for r in registrations if r.name == "platform-releases-credentials-payments"]
    assert (secret.inputs["type"], secret.inputs["metadata"]["namespace"]) == ("kubernetes.io/basic-auth", "fleet-default")
    assert secret.inputs["stringData"] == "[secret]"  # the password makes the whole map a Pulumi secret
    [repo] = [r for r in registrations if r.name == "platform-releases-repo-payments"]
    assert repo.inputs["spec"]["clientSecretName"] == "payments-git-credentials"
    assert load("onprem-dc1").teams[0].releases is not None
