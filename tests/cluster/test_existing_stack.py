"""`pulumi up` through the project's own engine, of a minimal `kind: existing` stack pointed at the control plane
(its kubeconfig a Pulumi secret), once as dev and once as prod. The API server accepts every object; the
controllers and KWOK take the team's Deployment to Running pods within its quota; Pod Security refuses a
privileged pod in the team namespace; RBAC answers as each environment promises; a second `up` changes nothing
and `destroy` leaves nothing behind.

NetworkPolicies are only checked to exist: no CNI runs here, so nothing enforces them.
"""

from __future__ import annotations

import json

import pytest

from cluster_engine import ExistingStack, engine_environment

pytestmark = pytest.mark.cluster

PLATFORM_GROUP = "platform-operators"  # the model's default policy.platform_groups


def minimal_config(environment: str, team: str) -> dict:
    """One team with one worker and no chart-based service: with charts off (the charts tier is separate) nothing
    here needs a CRD or a webhook that only a chart installs. (APIs would need the ingress controller and
    cert-manager.)"""
    return {
        "complete-cluster:environment": environment,
        "complete-cluster:site": {"name": f"cluster-{environment}"},
        "complete-cluster:infrastructure": {"kind": "existing"},
        "complete-cluster:charts": {"source": "off"},
        "complete-cluster:services": {name: {"enabled": False} for name in (
            "ingress", "cert_manager", "postgres", "redis", "rabbitmq", "kafka", "monitoring", "logging", "tracing",
            "backup")},
        "complete-cluster:teams": [{
            "name": team, "groups": [f"{team}-developers"],
            "workloads": [{"kind": "worker", "name": "settlement-worker",
                           "image": f"registry.example.com/{team}/settlement-worker:2.14.0"}],
        }],
        "complete-cluster:policy": {"allowed_registries": ["registry.example.com"]},
    }


@pytest.fixture(scope="module")
def engine_env():
    return engine_environment()


def located(outputs: dict) -> list[str]:
    namespace = outputs["metadata"].get("namespace")
    return [outputs["kind"], outputs["metadata"]["name"], *(["-n", namespace] if namespace else [])]


PRIVILEGED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"},
                  "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0",
                                           "securityContext": {"privileged": True}}]}}


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_a_minimal_existing_stack_applies_admits_its_pods_grants_what_its_environment_promises_and_destroys(
        control_plane, engine_env, tmp_path, environment):
    team = f"shop-{environment}"
    stack = ExistingStack(tmp_path / "project", engine_env, f"cluster-{environment}", minimal_config(environment, team),
                          control_plane.kubeconfig)
    assert "secure" in stack.stack_file.read_text()  # the kubeconfig is stored encrypted, not as plain text

    stack("up", "--yes")
    kubernetes = [r["outputs"] for r in stack.resources() if r["type"].startswith("kubernetes:")]
    assert {o["kind"] for o in kubernetes} >= {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "Role",
                                               "RoleBinding", "ServiceAccount", "Deployment", "ClusterRoleBinding"}
    for outputs in kubernetes:  # each object the engine recorded is there
        control_plane.kubectl("get", *located(outputs))

    # Pods: admitted by Pod Security (restricted) and the team's quota, Running on the only untainted pool.
    labels = control_plane.get("namespace", team)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    enforced = f'restricted:{labels.get("pod-security.kubernetes.io/enforce-version", "latest")}'
    [worker] = control_plane.get("deployments", "-n", team)["items"]
    assert worker["status"].get("readyReplicas") == worker["spec"]["replicas"]
    pods = control_plane.get("pods", "-n", team)["items"]
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)
    assert all(p["spec"]["nodeName"].startswith("general-") for p in pods)
    [quota] = control_plane.get("resourcequotas", "-n", team)["items"]
    assert int(quota["status"]["used"]["pods"]) == len(pods) <= int(quota["status"]["hard"]["pods"])
    refused = control_plane.kubectl("apply", "-n", team, "-f", "-", input=json.dumps(PRIVILEGED_POD), check=False)
    assert refused.returncode != 0
    assert f'pods "privileged" is forbidden: violates PodSecurity "{enforced}": ' in refused.stderr
    assert 'privileged (container "app" must not set securityContext.privileged=true)' in refused.stderr
    assert {p["metadata"]["name"] for p in control_plane.get("networkpolicies", "-n", team)["items"]}  # present, not enforced

    # RBAC, as the API server's authorizer answers for a member of the team's group.
    member = control_plane.identity(f"{team}-member", f"{team}-developers")
    operator = control_plane.identity(f"{team}-operator", PLATFORM_GROUP)
    outsider = control_plane.identity(f"{team}-outsider", "contractors")
    dev = environment == "dev"
    assert control_plane.can_i("get", "deployments", namespace=team, identity=member)
    assert control_plane.can_i("create", "deployments", namespace=team, identity=member) is dev
    assert control_plane.can_i("create", "pods", subresource="exec", namespace=team, identity=member) is dev
    assert control_plane.can_i("get", "secrets", namespace=team, identity=member) is dev
    assert not control_plane.can_i("get", "pods", namespace="kube-system", identity=member)
    assert not control_plane.can_i("create", "namespaces", identity=member)
    assert not control_plane.can_i("create", "clusterroles", identity=member)
    assert not control_plane.can_i("get", "pods", namespace=team, identity=outsider)
    assert control_plane.can_i("create", "namespaces", identity=operator)
    admins = {(s["kind"], s["name"]) for b in control_plane.get("clusterrolebindings")["items"]
              if b["roleRef"]["name"] == "cluster-admin" for s in b.get("subjects") or []}
    assert admins == {("Group", "system:masters"), ("Group", PLATFORM_GROUP)}

    stack("up", "--yes", "--expect-no-changes")

    stack("destroy", "--yes")
    for outputs in kubernetes:
        left = control_plane.kubectl("get", *located(outputs), check=False)
        assert left.returncode != 0 and "NotFound" in left.stderr, f"{' '.join(located(outputs))} is left after destroy"
