"""The control plane itself answers: version and readiness, Pod Security admission, ResourceQuota admission,
scheduling onto the stack's tainted pools, and RBAC. Each test works in namespaces of its own.

These are the facts the program's tests in this tier build on; each assertion is the API server's or a
controller's answer, and fails when the behaviour is absent (no admission plugin, no controller, no taint).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from cluster_pools import stack_pools
from cluster_plane import POOLS_STACK, ControlPlane, cluster

pytestmark = pytest.mark.cluster

RESTRICTED_CONTEXT = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001,
                      "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
DATABASE_TOLERATION = {"key": "nodeType", "operator": "Equal", "value": "database", "effect": "NoSchedule"}


def namespace(plane: ControlPlane, name: str, labels: dict[str, str] | None = None) -> str:
    """A namespace, once the controller manager has given it the `default` ServiceAccount pods need."""
    plane.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
    plane.wait_until(f"ServiceAccount default in {name}",
                     lambda: plane.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    return name


def pod_spec(*, privileged: bool = False, tolerations: list[dict] | None = None,
             node_selector: dict[str, str] | None = None) -> dict:
    context = {"privileged": True} if privileged else RESTRICTED_CONTEXT
    container = {"name": "app", "image": "registry.example.com/app:1.0", "securityContext": context,
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}
    spec: dict = {"containers": [container]}
    if tolerations:
        spec["tolerations"] = tolerations
    if node_selector:
        spec["nodeSelector"] = node_selector
    return spec


def pod(name: str, ns: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": pod_spec(**spec)}


def deployment(name: str, ns: str, replicas: int, **spec) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod_spec(**spec)}}}


def events(plane: ControlPlane, ns: str, kind: str, reason: str) -> list[str]:
    found = plane.get("events", "-n", ns, "--field-selector", f"involvedObject.kind={kind},reason={reason}")
    return [e["message"] for e in found["items"]]


def test_the_api_server_is_the_pinned_version_ready_with_the_stacks_pools_as_ready_nodes(control_plane):
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert version["clientVersion"]["gitVersion"] == "v1.37.2"
    assert "readyz check passed" in control_plane.kubectl("get", "--raw", "/readyz?verbose").stdout

    nodes = control_plane.get("nodes")["items"]
    ready = {n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    assert ready == {n["metadata"]["name"] for n in nodes} == set(control_plane.nodes)
    # Each fake node keeps a Lease, the kubelet's heartbeat; without one the node lifecycle controller marks the
    # node Unknown after its grace period and every pod on it not ready.
    leases = {lease["metadata"]["name"] for lease in control_plane.get("leases", "-n", "kube-node-lease")["items"]
              if lease["spec"].get("renewTime")}
    assert leases == ready
    pools = {p["name"]: p for p in stack_pools(POOLS_STACK)}
    by_pool = {n["metadata"]["labels"]["agentpool"]: n for n in nodes}
    assert set(by_pool) == set(pools)
    database = by_pool["database"]
    assert {"key": "nodeType", "value": "database", "effect": "NoSchedule"} in database["spec"]["taints"]
    assert database["metadata"]["labels"]["nodeType"] == "database"
    assert database["status"]["allocatable"]["memory"] == pools["database"]["capacity"]["memory"]


def test_pod_security_refuses_a_privileged_pod_in_a_restricted_namespace_with_its_own_message(control_plane):
    restricted = namespace(control_plane, "psa-restricted", {"pod-security.kubernetes.io/enforce": "restricted"})
    unlabelled = namespace(control_plane, "psa-unlabelled")

    refused = control_plane.apply(pod("privileged", restricted, privileged=True), check=False)
    assert refused.returncode != 0
    assert 'pods "privileged" is forbidden: violates PodSecurity "restricted:latest": ' in refused.stderr
    assert 'privileged (container "app" must not set securityContext.privileged=true)' in refused.stderr

    # The same pod where no level is enforced, and a restricted pod in the restricted namespace: admitted.
    control_plane.apply(pod("privileged", unlabelled, privileged=True))
    control_plane.apply(pod("restricted", restricted))


def test_a_privileged_deployment_is_accepted_with_a_warning_and_its_replicaset_cannot_create_pods(control_plane):
    ns = namespace(control_plane, "psa-deployment", {"pod-security.kubernetes.io/enforce": "restricted"})
    accepted = control_plane.apply(deployment("privileged", ns, 1, privileged=True))
    # PSA checks templates only to warn; it enforces on the pods the ReplicaSet controller creates.
    assert 'would violate PodSecurity "restricted:latest"' in accepted.stderr
    refusals = control_plane.wait_until(
        "the ReplicaSet's FailedCreate event",
        lambda: [m for m in events(control_plane, ns, "ReplicaSet", "FailedCreate") if "violates PodSecurity" in m])
    assert 'privileged (container "app" must not set securityContext.privileged=true)' in refusals[0]
    assert control_plane.get("pods", "-n", ns)["items"] == []


def test_resource_quota_admission_stops_pods_beyond_the_quota(control_plane):
    ns = namespace(control_plane, "quota")
    control_plane.apply({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": ns},
                         "spec": {"hard": {"pods": "2"}}})
    control_plane.wait_until("the quota controller's status for quota/pods",
                             lambda: control_plane.get("resourcequota", "pods", "-n", ns).get("status", {}).get("hard"))
    control_plane.apply(deployment("five", ns, 5))
    refusals = control_plane.wait_until(
        "the ReplicaSet's exceeded-quota event",
        lambda: [m for m in events(control_plane, ns, "ReplicaSet", "FailedCreate") if "exceeded quota: pods" in m])
    assert "requested: pods=1, used: pods=2, limited: pods=2" in refusals[0]
    assert len(control_plane.get("pods", "-n", ns)["items"]) == 2
    direct = control_plane.apply(pod("one-more", ns), check=False)
    assert direct.returncode != 0 and 'exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2' in direct.stderr


def test_pods_with_the_database_toleration_land_on_the_tainted_pool_and_pods_without_it_stay_pending(control_plane):
    ns = namespace(control_plane, "placement")
    selector = {"nodeType": "database"}
    control_plane.apply(pod("database", ns, tolerations=[DATABASE_TOLERATION], node_selector=selector),
                        pod("untolerated", ns, node_selector=selector), pod("plain", ns))

    def phase(name: str) -> tuple[str, str]:
        found = control_plane.get("pod", name, "-n", ns)
        return found["status"].get("phase", ""), found["spec"].get("nodeName", "")

    database = control_plane.wait_until("the database pod Running", lambda: phase("database")[0] == "Running" and phase("database"))
    assert database[1].startswith("database-")
    plain = control_plane.wait_until("the plain pod Running", lambda: phase("plain")[0] == "Running" and phase("plain"))
    assert plain[1].startswith("general-")  # every other pool is tainted

    def unschedulable() -> str:
        conditions = control_plane.get("pod", "untolerated", "-n", ns)["status"].get("conditions", [])
        return next((c["message"] for c in conditions if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"), "")

    # The scheduler's reasons, by node: the general nodes lack the label, the database node's taint is not
    # tolerated (it counts among the tainted nodes).
    message = control_plane.wait_until("the scheduler's Unschedulable condition", unschedulable)
    assert "didn't match Pod's node affinity/selector" in message and "had untolerated taint(s)" in message
    assert phase("untolerated") == ("Pending", "")


def test_rbac_answers_per_binding_for_identities_and_impersonation(control_plane):
    team_a, team_b = namespace(control_plane, "rbac-team-a"), namespace(control_plane, "rbac-team-b")
    control_plane.apply(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "developers", "namespace": team_a},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-a-developers"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "rbac-test-operators"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "rbac-test-operators"}]},
    )
    try:
        check_rbac_answers(control_plane, team_a, team_b)
    finally:  # later tests count who is bound to cluster-admin
        control_plane.kubectl("delete", "clusterrolebinding", "rbac-test-operators")


def check_rbac_answers(control_plane: ControlPlane, team_a: str, team_b: str) -> None:
    member = control_plane.identity("alice", "team-a-developers")
    operator = control_plane.identity("olivia", "rbac-test-operators")
    outsider = control_plane.identity("mallory", "contractors")

    assert control_plane.can_i("create", "deployments", namespace=team_a, identity=member)
    assert not control_plane.can_i("create", "deployments", namespace=team_b, identity=member)
    assert not control_plane.can_i("create", "namespaces", identity=member)
    assert control_plane.can_i("create", "namespaces", identity=operator)
    assert not control_plane.can_i("get", "pods", namespace=team_a, identity=outsider)
    # Impersonation from the admin: the same answers for the same user and groups.
    assert control_plane.can_i("create", "deployments", namespace=team_a, as_user="someone", as_groups=("team-a-developers",))
    assert not control_plane.can_i("create", "deployments", namespace=team_b, as_user="someone", as_groups=("team-a-developers",))

    # And the requests themselves: allowed where bound, refused by RBAC elsewhere.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    control_plane.apply({**config_map, "metadata": {"name": "settings", "namespace": team_a}}, identity=member)
    refused = control_plane.apply({**config_map, "metadata": {"name": "settings", "namespace": team_b}}, identity=member, check=False)
    assert refused.returncode != 0
    assert 'User "alice" cannot patch resource "configmaps" in API group "" in the namespace "rbac-team-b"' in refused.stderr


def test_a_cert_manager_webhook_pod_is_ready_only_once_the_api_server_can_call_the_webhook_on_the_host(control_plane):
    """KWOK would make any pod Ready at once; cert-manager's webhook pod waits until the API server can call the
    webhook `scripts/cluster cert-manager` runs on the host for it (scripts/cluster.d/stages/cert-manager-webhook.yaml),
    so that Pulumi's await on the chart's Deployment holds what needs the webhook. As in a first `up`, the host webhook
    starts before the chart's Role that lets it keep its CA exists: it has no serving certificate, and its pod stays
    Running and not Ready; with the Role it answers, but the pod stays not Ready until the webhook configuration
    carries its CA (the CA injector's work, done here by the test, which starts none)."""
    ns, release = namespace(control_plane, "webhook-readiness"), "readiness-cert-manager"
    labels = {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook",
              "app.kubernetes.io/instance": release}

    def webhook_pod(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": pod_spec()}

    def status(name: str) -> tuple[str, str]:
        found = control_plane.get("pod", name, "-n", ns)["status"]
        return found.get("phase", ""), next((c["status"] for c in found.get("conditions", []) if c["type"] == "Ready"), "")

    def stays_not_ready(why: str, healthy: bool) -> None:
        for _ in range(4):  # two seconds
            assert answers(healthz) is healthy and status("webhook-0") == ("Running", "False"), why
            time.sleep(0.5)

    control_plane.apply(webhook_pod("webhook-0"))
    control_plane.wait_until("the webhook pod Running", lambda: status("webhook-0")[0] == "Running")
    assert status("webhook-0") == ("Running", "False")

    served = cluster("cert-manager", str(control_plane.dir), "--release", release, "--namespace", ns, "--without-ca-injector",
                     timeout=3 * 3600)
    assert served.returncode == 0, served.stderr

    def started() -> list[str]:  # once the pod is scheduled, as a kubelet would start its container
        state = json.loads((control_plane.dir / "state.json").read_text())
        return [p["health"] for p in state["processes"] if p["name"] == f"cert-manager-webhook:{release}"]

    [healthz] = control_plane.wait_until("the host webhook started", started)
    # The chart's webhook configuration, calling the host; it matches no resource, so it admits nothing else.
    configuration = f"{release}-webhook"
    control_plane.apply({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": configuration, "labels": labels},
        "webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {"url": f"https://{served.stdout.strip()}/validate"},
                      "rules": [{"apiGroups": ["readiness.example.com"], "apiVersions": ["v1"], "operations": ["CREATE"],
                                 "resources": ["nothings"]}],
                      "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"]}]})
    try:
        stays_not_ready("the host webhook has no serving certificate", healthy=False)
        # The chart's Role for the webhook's CA Secret (templates/webhook-rbac.yaml, `webhook:dynamic-serving`).
        secrets = {"apiGroups": [""], "resources": ["secrets"]}
        control_plane.apply(
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "dynamic-serving", "namespace": ns},
             "rules": [{**secrets, "resourceNames": [f"{release}-webhook-ca"], "verbs": ["get", "list", "watch", "update"]},
                       {**secrets, "verbs": ["create"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "dynamic-serving", "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dynamic-serving"},
             "subjects": [{"kind": "ServiceAccount", "name": f"{release}-webhook", "namespace": ns}]})
        control_plane.wait_until("the host webhook answering", lambda: answers(healthz), timeout=90)
        stays_not_ready("the webhook configuration does not hold the webhook's CA yet", healthy=True)
        ca = control_plane.get("secret", f"{release}-webhook-ca", "-n", ns)["data"]["ca.crt"]
        control_plane.kubectl("patch", "validatingwebhookconfiguration", configuration, "--type=json",
                              "-p", json.dumps([{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ca}]))
        control_plane.wait_until("the webhook pod Ready", lambda: status("webhook-0") == ("Running", "True"))
        # A pod that comes later (a rollout) is marked too.
        control_plane.apply(webhook_pod("webhook-1"))
        control_plane.wait_until("the later webhook pod Ready", lambda: status("webhook-1") == ("Running", "True"))
        annotations = [control_plane.get("pod", name, "-n", ns)["metadata"]["annotations"] for name in ("webhook-0", "webhook-1")]
        assert annotations == [{"complete-cluster.test/served-on-host": "true"}] * 2
    finally:  # cluster-scoped: later tests apply whole stacks
        control_plane.kubectl("delete", "validatingwebhookconfiguration", configuration, check=False)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
