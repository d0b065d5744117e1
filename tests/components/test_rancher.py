"""RancherCluster: what the onprem-dc1 and onprem-dc2 inventories register on the Rancher server,
with exact wire values, secrets kept secret, and the pack's Rancher rule passing under prod.json."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import settings
from pulumi.runtime.sync_await import _sync_await

from components.infrastructure.rancher import registration_flags
from policies import enforcement
from policies.evaluate import Evaluator
from stacks.tools.inventory import evaluate
from stacks.loader import load

ROOT = Path(__file__).resolve().parents[2]
SITES = ("onprem-dc1", "onprem-dc2")
COMPONENT = "platform:infrastructure:RancherCluster::platform-rancher"
RANCHER = "pulumi:providers:rancher2::platform-rancher-rancher2"
CLUSTER = "rancher2:index/clusterV2:ClusterV2"
PRINCIPAL = "activedirectory_group://CN={},OU=Groups,DC=example,DC=com"


def mine(registrations):
    """The component's own resources: (type, name), sorted (resources that wait for an id, such as
    the project bindings, register in whichever order those ids arrive)."""
    return sorted((r.type, r.name) for r in registrations if r.parent == COMPONENT)


def cluster(registrations):
    [found] = [r for r in registrations if r.type == CLUSTER]
    return found


@pytest.fixture(scope="module")
def outputs():
    """A stack's outputs after evaluation: name -> (value, is secret)."""
    cache = {}

    def get(stack: str):
        if stack not in cache:
            evaluate(stack)
            values = {}
            for name, value in settings.ROOT.get().outputs.items():
                output = pulumi.Output.from_input(value)
                values[name] = (_sync_await(output.future()), _sync_await(output.is_secret()))
            cache[stack] = values
        return cache[stack]

    return get


# --- the tree ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SITES)
def test_the_component_registers_the_rancher_resources_of_a_site(inventory, stack):
    assert mine(inventory(stack)) == sorted([
        ("pulumi:providers:rancher2", "platform-rancher-rancher2"),
        ("rancher2:index/cloudCredential:CloudCredential", "platform-rancher-etcd-s3"),
        ("rancher2:index/configMapV2:ConfigMapV2", "platform-rancher-audit-policy"),
        (CLUSTER, "platform-rancher-cluster"),
        ("rancher2:index/clusterSync:ClusterSync", "platform-rancher-sync"),
        ("rancher2:index/project:Project", "platform-rancher-project-payments"),
        ("rancher2:index/project:Project", "platform-rancher-project-search"),
        ("rancher2:index/clusterRoleTemplateBinding:ClusterRoleTemplateBinding", "platform-rancher-owner-platform-operators"),
        ("pulumi:providers:kubernetes", "platform-rancher-kubernetes"),
        ("pulumi:providers:kubernetes", "platform-rancher-management"),
        ("rancher2:index/projectRoleTemplateBinding:ProjectRoleTemplateBinding", "platform-rancher-project-payments-payments-developers"),
        ("rancher2:index/projectRoleTemplateBinding:ProjectRoleTemplateBinding", "platform-rancher-project-search-search-developers"),
    ])
    component = inventory(stack).named("platform-rancher")
    assert (component.type, component.parent) == ("platform:infrastructure:RancherCluster", "platform:index:CompleteCluster::platform")


@pytest.mark.parametrize("stack", SITES)
def test_every_rancher_resource_goes_through_the_sites_rancher_provider(inventory, stack):
    for registration in inventory(stack):
        if registration.type.startswith("rancher2:"):
            assert registration.options["provider"] == RANCHER, registration.name


def test_the_rancher_provider_takes_the_server_and_no_token(inventory):
    provider = inventory("onprem-dc1").named("platform-rancher-rancher2")
    # The API token comes from RANCHER_TOKEN_KEY in the provider's environment, never from the program.
    assert provider.inputs == {"apiUrl": "https://rancher.example.com", "bootstrap": "false", "insecure": "false"}


# --- object storage credential -------------------------------------------------------------------


@pytest.mark.parametrize("stack, site", [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")])
def test_the_cloud_credential_carries_the_sites_s3_keys_as_secrets(inventory, stack, site):
    credential = inventory(stack).named("platform-rancher-etcd-s3")
    assert credential.inputs == {
        "name": f"prod-{site}-etcd-s3",
        "description": f"Object storage of {site} for the etcd snapshots of prod-{site}",
        "s3CredentialConfig": {
            "accessKey": "[secret]",
            "secretKey": "[secret]",
            "defaultEndpoint": f"s3.{site}.example.com",
            "defaultRegion": "us-east-1",
            "defaultBucket": f"{site}-etcd-snapshots",
        },
    }


# --- the cluster ---------------------------------------------------------------------------------


def test_the_primary_cluster_has_every_setting(inventory):
    registered = cluster(inventory("onprem-dc1"))
    harbor = ["https://harbor.dc1.example.com"]
    assert registered.name == "platform-rancher-cluster"
    assert registered.inputs == {
        "name": "prod-dc1",
        "kubernetesVersion": "v1.33.5+rke2r1",
        "labels": {
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/part-of": "complete-cluster",
            "app.kubernetes.io/component": "cluster",
            "complete-cluster/environment": "prod",
            "complete-cluster/site": "dc1",
            "complete-cluster/site-role": "primary",
        },
        "defaultPodSecurityAdmissionConfigurationTemplateName": "rancher-restricted",
        "enableNetworkPolicy": True,
        "localAuthEndpoint": {"enabled": True},
        "rkeConfig": {
            "machineGlobalConfig": "cluster-cidr: 10.42.0.0/16\ncni: canal\nservice-cidr: 10.43.0.0/16\n",
            "etcd": {
                "snapshotScheduleCron": "0 */6 * * *",
                "snapshotRetention": 28,
                "s3Config": {
                    "bucket": "dc1-etcd-snapshots",
                    "endpoint": "s3.dc1.example.com",
                    "folder": "prod-dc1",
                    "region": "us-east-1",
                    "retention": 28,
                    "cloudCredentialName": "cattle-global-data:cc-prod-dc1-etcd-s3",
                },
            },
            "registries": {
                "mirrors": [
                    {"hostname": "docker.io", "endpoints": harbor, "rewrites": {"^(.*)$": "dockerhub/$1"}},
                    {"hostname": "ghcr.io", "endpoints": harbor, "rewrites": {"^(.*)$": "ghcr/$1"}},
                    {"hostname": "quay.io", "endpoints": harbor, "rewrites": {"^(.*)$": "quay/$1"}},
                    {"hostname": "registry.k8s.io", "endpoints": harbor, "rewrites": {"^(.*)$": "k8s/$1"}},
                ],
                # containerd verifies the site's Harbor with the environment CA (test_site_trust.py).
                "configs": [{"hostname": "harbor.dc1.example.com", "caBundle": load("onprem-dc1").environment_ca()}],
            },
            "upgradeStrategy": {
                "controlPlaneConcurrency": "1",
                "workerConcurrency": "1",
                "workerDrainOptions": {"enabled": True, "deleteEmptyDirData": True, "ignoreDaemonSets": True, "timeout": 600},
            },
            # The API server's audit policy on every control-plane node, and RKE2 pointed at it.
            "machineSelectorFiles": [{
                "machineLabelSelector": {"matchLabels": {"rke.cattle.io/control-plane-role": "true"}},
                "fileSources": [{"configmap": {"name": "prod-dc1-audit-policy", "items": [
                    {"key": "audit-policy.yaml", "path": "/etc/rancher/rke2/audit-policy.yaml", "permissions": "0600"}]}}],
            }],
            "machineSelectorConfigs": [{
                "machineLabelSelector": {"matchLabels": {"rke.cattle.io/control-plane-role": "true"}},
                "config": "audit-policy-file: /etc/rancher/rke2/audit-policy.yaml\n",
            }],
        },
    }
    assert registered.options["protect"] is True
    assert sorted(registered.options["depends_on"]) == ["rancher2:index/cloudCredential:CloudCredential::platform-rancher-etcd-s3",
                                                        "rancher2:index/configMapV2:ConfigMapV2::platform-rancher-audit-policy"]


def test_the_audit_policy_is_authorised_for_its_cluster_and_records_writes_without_contents(inventory):
    import yaml

    source = inventory("onprem-dc1").named("platform-rancher-audit-policy").inputs
    assert (source["clusterId"], source["namespace"], source["name"]) == ("local", "fleet-default", "prod-dc1-audit-policy")
    assert source["annotations"] == {"rke.cattle.io/object-authorized-for-clusters": "prod-dc1"}
    policy = yaml.safe_load(source["data"]["audit-policy.yaml"])
    assert policy["kind"] == "Policy" and policy["rules"][-1] == {"level": "Metadata"}  # never Request/RequestResponse: no Secret data
    assert {"level": "None", "verbs": ["get", "list", "watch"]} in policy["rules"]


def test_the_secondary_cluster_differs_only_where_the_site_does(inventory):
    dc1, dc2 = cluster(inventory("onprem-dc1")).inputs, cluster(inventory("onprem-dc2")).inputs
    assert dc2["name"] == "prod-dc2"
    assert dc2["labels"]["complete-cluster/site-role"] == "secondary"
    assert dc2["annotations"] == {"complete-cluster/standby-for": "onprem-dc1"} and "annotations" not in dc1
    assert dc2["rkeConfig"]["machineGlobalConfig"] == "cluster-cidr: 10.52.0.0/16\ncni: canal\nservice-cidr: 10.53.0.0/16\n"
    assert dc2["rkeConfig"]["etcd"]["s3Config"] == {
        "bucket": "dc2-etcd-snapshots",
        "endpoint": "s3.dc2.example.com",
        "folder": "prod-dc2",
        "region": "us-east-1",
        "retention": 28,
        "cloudCredentialName": "cattle-global-data:cc-prod-dc2-etcd-s3",
    }
    # The secondary pulls through its own Harbor, so it keeps working without the primary's site.
    assert {tuple(mirror["endpoints"]) for mirror in dc2["rkeConfig"]["registries"]["mirrors"]} == {("https://harbor.dc2.example.com",)}
    same = {key for key in dc1 if key not in ("name", "labels")} - {"rkeConfig"}
    assert {key: dc1[key] for key in same} == {key: dc2[key] for key in same}
    assert dc1["rkeConfig"]["upgradeStrategy"] == dc2["rkeConfig"]["upgradeStrategy"]
    assert cluster(inventory("onprem-dc2")).options["protect"] is True


def test_an_etcd_restore_is_one_config_change(tmp_path):
    import yaml

    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    document["config"]["complete-cluster:infrastructure"]["etcd_snapshots"] = {
        "restore": {"snapshot": "prod-dc1-etcd-snapshot-cp-1-1767225600-s3", "generation": 1}
    }
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    rke = cluster(evaluate("onprem-dc1", path)).inputs["rkeConfig"]
    assert rke["etcdSnapshotRestore"] == {"name": "prod-dc1-etcd-snapshot-cp-1-1767225600-s3", "generation": 1, "restoreRkeConfig": "none"}
    assert rke["etcd"]["snapshotRetention"] == 28  # the schedule and retention stay


def test_without_a_registry_there_are_no_mirrors(tmp_path):
    import yaml

    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    document["config"]["complete-cluster:services"]["registry"] = {"enabled": False}
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    assert "registries" not in cluster(evaluate("onprem-dc1", path)).inputs["rkeConfig"]


# --- waiting for the nodes, and the Kubernetes provider ------------------------------------------


@pytest.mark.parametrize("stack, site", [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")])
def test_the_layers_wait_for_an_active_cluster_and_reach_it_with_a_secret_kubeconfig(inventory, stack, site):
    registrations = inventory(stack)
    sync = registrations.named("platform-rancher-sync")
    assert sync.inputs == {"clusterId": f"c-m-prod-{site}", "stateConfirm": 3}
    provider = registrations.named("platform-rancher-kubernetes")
    assert provider.inputs == {"kubeconfig": "[secret]", "enableServerSideApply": "true"}
    assert provider.options["depends_on"] == ["rancher2:index/clusterSync:ClusterSync::platform-rancher-sync"]
    namespaces = [r for r in registrations if r.type == "kubernetes:core/v1:Namespace"]
    # The team namespaces, and the shared services' own namespaces, all on the site's cluster.
    assert {"payments", "search"} <= {r.inputs["metadata"]["name"] for r in namespaces}
    assert {r.options["provider"] for r in namespaces} == {"pulumi:providers:kubernetes::platform-rancher-kubernetes"}


# --- projects and directory groups ---------------------------------------------------------------


@pytest.mark.parametrize("stack, site", [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")])
def test_each_team_gets_a_project_with_its_directory_groups_read_only_in_prod(inventory, stack, site):
    registrations = inventory(stack)
    for team in ("payments", "search"):
        project = registrations.named(f"platform-rancher-project-{team}")
        assert project.inputs == {
            "name": team,
            "clusterId": f"c-m-prod-{site}",
            "description": f"Team {team}",
            "labels": {"complete-cluster/team": team},
        }
        binding = registrations.named(f"platform-rancher-project-{team}-{team}-developers")
        assert binding.inputs == {
            "projectId": f"c-m-prod-{site}:p-{team}",
            "roleTemplateId": "read-only",
            "groupPrincipalId": PRINCIPAL.format(f"{team}-developers"),
        }
    owner = registrations.named("platform-rancher-owner-platform-operators")
    assert owner.inputs == {
        "clusterId": f"c-m-prod-{site}",
        "roleTemplateId": "cluster-owner",
        "groupPrincipalId": PRINCIPAL.format("platform-operators"),
    }


@pytest.mark.parametrize("stack, site", [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")])
def test_each_team_namespace_joins_its_teams_project(inventory, stack, site):
    """Rancher applies a project's role bindings in the namespaces annotated with its
    `<cluster id>:<project id>`; the namespace waits for the project it names."""
    registrations = inventory(stack)
    for team in ("payments", "search"):
        namespace = registrations.named(f"team-{team}-namespace")
        assert namespace.inputs["metadata"]["annotations"] == {"field.cattle.io/projectId": f"c-m-prod-{site}:p-{team}"}
        assert namespace.options["depends_on"] == [f"rancher2:index/project:Project::platform-rancher-project-{team}"]
        # Still the team's own namespace: its name, labels and Pod Security stay as everywhere.
        assert namespace.inputs["metadata"]["name"] == team
        assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    annotated = [
        r.name
        for r in registrations.of_type("kubernetes:core/v1:Namespace")
        if "field.cattle.io/projectId" in r.inputs["metadata"].get("annotations", {})
    ]
    assert sorted(annotated) == ["team-payments-namespace", "team-search-namespace"]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_namespaces_off_rancher_name_no_project(inventory, stack):
    for namespace in inventory(stack).of_type("kubernetes:core/v1:Namespace"):
        assert "field.cattle.io/projectId" not in namespace.inputs["metadata"].get("annotations", {}), namespace.name


def test_dev_teams_are_project_members(tmp_path):
    import yaml

    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    document["config"]["complete-cluster:environment"] = "dev"
    document["config"]["complete-cluster:site"] = {"name": "dc1"}
    del document["config"]["complete-cluster:services"]["monitoring"]  # dev pages nobody: no receivers
    document["config"]["complete-cluster:services"]["kafka"]["at_failover"] = "rebuilt_empty"  # one site: nothing to mirror
    path = tmp_path / "Pulumi.lab.yaml"
    path.write_text(yaml.safe_dump(document))
    registrations = evaluate("lab", path)
    [binding] = [r for r in registrations if r.name == "platform-rancher-project-payments-payments-developers"]
    assert binding.inputs["roleTemplateId"] == "project-member"
    assert cluster(registrations).options["protect"] is False


# --- node registration ---------------------------------------------------------------------------


def test_registration_flags_give_each_pool_its_roles_labels_and_taints():
    pools = load("onprem-dc1").infrastructure.machine_pools
    assert {name: registration_flags(pool) for name, pool in pools.items()} == {
        "control": "--etcd --controlplane",
        "workers": "--worker",
        "database": "--worker --label nodeType=database --taint nodeType=database:NoSchedule",
    }


HOSTILE_LABELS = {
    "nodeType": "database; touch {marker}",
    "zone": "$(touch {marker})",
    "rack": "`touch {marker}`",
    "owner": "a' ; touch {marker} ; echo 'b",
    "note": "x\ntouch {marker}",
}


def test_registration_flags_cannot_run_a_command_on_the_node(tmp_path):
    """The node command as the VM automation runs it (Rancher's `curl ... | sudo sh -s - --server ...`,
    here with a stand-in agent script that records its arguments), with label values that would run a
    command on the node if pasted unquoted (issue 18 item 5). The model refuses such labels; the
    flags are quoted even so, so this pool is built past the model's validation."""
    from stacks.model.infrastructure import MachinePool

    marker = tmp_path / "ran"
    labels = {key: value.format(marker=marker) for key, value in HOSTILE_LABELS.items()}
    pool = MachinePool.model_construct(quantity=1, roles=["worker"], labels=labels, taints=["nodeType=database:NoSchedule"])
    agent = tmp_path / "system-agent-install.sh"
    received = tmp_path / "arguments"
    agent.write_text(f'for argument in "$@"; do printf "%s\\0" "$argument"; done > {received}\n')
    command = f"cat {agent} | sh -s - --server https://rancher.example.com {registration_flags(pool)}"
    subprocess.run(["sh", "-c", command], check=True, timeout=10)
    assert not marker.exists()
    expected = ["--server", "https://rancher.example.com", "--worker"]
    for key, value in sorted(labels.items()):
        expected += ["--label", f"{key}={value}"]
    assert received.read_text().split("\0")[:-1] == [*expected, "--taint", "nodeType=database:NoSchedule"]


@pytest.mark.parametrize("stack, site", [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")])
def test_stack_outputs_for_operations(outputs, stack, site):
    values = outputs(stack)
    assert values["clusterName"] == (f"prod-{site}", False)
    assert values["nodeRegistration"] == ({
        "control": "[registration command] --etcd --controlplane",
        "workers": "[registration command] --worker",
        "database": "[registration command] --worker --label nodeType=database --taint nodeType=database:NoSchedule",
    }, True)
    assert values["nodePools"] == ({
        "control": {"quantity": 3, "roles": ["etcd", "controlplane"], "cpu": 4, "memory_gi": 8, "disk_gi": 100},
        "workers": {"quantity": 3, "roles": ["worker"], "cpu": 8, "memory_gi": 32, "disk_gi": 100},
        "database": {"quantity": 2, "roles": ["worker"], "cpu": 8, "memory_gi": 64, "disk_gi": 100},
    }, False)
    assert values["etcdSnapshots"] == (
        {
            "endpoint": f"s3.{site}.example.com",
            "bucket": f"{site}-etcd-snapshots",
            "folder": f"prod-{site}",
            "schedule": "0 */6 * * *",
            "retention": 28,
        },
        False,
    )


def test_the_secondary_exports_what_it_stands_by_for(outputs):
    assert outputs("onprem-dc1")["siteRole"] == ("primary", False)
    assert "standby" not in outputs("onprem-dc1")
    assert outputs("onprem-dc2")["siteRole"] == ("secondary", False)
    assert outputs("onprem-dc2")["standby"] == ({
        "stack": "onprem-dc1",
        "site": "dc1",
        "storage_endpoint": "https://s3.dc1.example.com",
        "storage_region": "us-east-1",
        "buckets": {"registry": "dc1-registry", "backups": "dc1-backups", "postgres": "dc1-postgres", "logs": "dc1-logs",
                    "traces": "dc1-traces", "etcd_snapshots": "dc1-etcd-snapshots"},
        "registry_hostname": "harbor.dc1.example.com",
        "central_hostname": "telemetry.dc1.example.com",
        "kafka_listener": "kafka.dc1.example.com",
    }, False)


# --- secrets and policy --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SITES)
def test_no_ciphertext_or_key_reaches_an_input(inventory, stack):
    config = load(stack)
    ciphertexts = {config.storage.credentials.access_key_id.ciphertext, config.storage.credentials.secret_access_key.ciphertext}
    text = repr([r.inputs for r in inventory(stack)])
    assert not any(ciphertext in text for ciphertext in ciphertexts)
    assert "tokenKey" not in text and "accessKey': 'v1:" not in text


@pytest.mark.parametrize("stack", SITES)
def test_the_packs_rancher_rule_passes_under_prod_config(inventory, stack):
    evaluator = Evaluator(enforcement.load(str(ROOT / "policies" / "config" / "prod.json")))
    registered = cluster(inventory(stack))
    assert evaluator.resource(registered.type, registered.inputs) == []
    for registration in inventory(stack):
        if registration.parent == COMPONENT:
            assert evaluator.resource(registration.type, registration.inputs) == [], registration.name


def test_the_rancher_rule_would_catch_a_weakened_cluster(inventory):
    import copy

    evaluator = Evaluator(enforcement.load(str(ROOT / "policies" / "config" / "prod.json")))
    weakened = copy.deepcopy(cluster(inventory("onprem-dc1")).inputs)
    weakened["rkeConfig"]["etcd"]["snapshotRetention"] = 7
    weakened["rkeConfig"]["machineGlobalConfig"] = "cni: flannel\n"
    assert [finding.message for finding in evaluator.resource(CLUSTER, weakened)] == [
        "etcd snapshot retention is not set or below 10; set rkeConfig.etcd.snapshotRetention to 10 or more",
        'the CNI in rkeConfig.machineGlobalConfig does not enforce NetworkPolicies; use "canal", "calico" or "cilium"',
    ]


# --- a new site's first `up` ---------------------------------------------------------------------


def _bootstrapping(tmp_path, stack: str) -> Path:
    """`stack`'s file with `infrastructure.bootstrap: true` (a new site's first `up`)."""
    import yaml

    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    document["config"]["complete-cluster:infrastructure"]["bootstrap"] = True
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("stack", SITES)
def test_a_new_sites_first_up_waits_for_no_node(inventory, tmp_path, stack):
    """Nodes register with the `nodeRegistration` output, which exists once `up` has finished: the first
    `up` registers only what the rancher2 provider creates without nodes, and outputs the commands."""
    registrations = evaluate(stack, _bootstrapping(tmp_path, stack))
    assert sorted((r.type, r.name) for r in registrations) == sorted([
        ("platform:index:CompleteCluster", "platform"),
        ("platform:infrastructure:RancherCluster", "platform-rancher"),
        ("pulumi:providers:rancher2", "platform-rancher-rancher2"),
        ("rancher2:index/cloudCredential:CloudCredential", "platform-rancher-etcd-s3"),
        ("rancher2:index/configMapV2:ConfigMapV2", "platform-rancher-audit-policy"),
        (CLUSTER, "platform-rancher-cluster"),
    ])
    # The provider's ClusterV2 create waits for `Updated` (active) only when Rancher provisions machine
    # pools itself (resource_rancher2_cluster_v2.go); a custom cluster has none, so it returns at `Created`.
    bootstrapped = cluster(registrations)
    assert "machinePools" not in bootstrapped.inputs["rkeConfig"]
    # The second `up` (without `bootstrap`) keeps that same cluster: nothing about it changes.
    assert bootstrapped.inputs == cluster(inventory(stack)).inputs
    assert bootstrapped.options == cluster(inventory(stack)).options
    values = {name: pulumi.Output.from_input(value) for name, value in settings.ROOT.get().outputs.items()}
    registration = values["nodeRegistration"]
    assert _sync_await(registration.is_secret())
    assert set(_sync_await(registration.future())) == set(load(stack).infrastructure.machine_pools)


def test_bootstrap_is_a_yes_or_no(tmp_path):
    import yaml

    from stacks.loader import ConfigError

    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    document["config"]["complete-cluster:infrastructure"]["bootstrap"] = "first"
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as raised:
        load("onprem-dc1", path)
    assert [path for path, _ in raised.value.problems] == ["infrastructure.bootstrap"]


def test_rke2_verifies_the_snapshot_endpoint_with_the_ca_the_stack_file_names(inventory, sites_with_storage_cas):
    """`storage.ca_certificate` is the etcd snapshots' `endpointCa` (the PEM; Rancher hands it to RKE2); without it, none."""
    cas, with_ca = sites_with_storage_cas
    assert cluster(with_ca("onprem-dc2")).inputs["rkeConfig"]["etcd"]["s3Config"]["endpointCa"] == cas["onprem-dc2"]
    assert "endpointCa" not in cluster(inventory("onprem-dc2")).inputs["rkeConfig"]["etcd"]["s3Config"]
