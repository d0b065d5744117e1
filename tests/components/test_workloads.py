"""Api, Worker and ScheduledJob: every pod passes Pod Security restricted by construction, and
each workload gets exactly the objects and network access it declares."""

from __future__ import annotations

import pytest

from components.workloads.pod import RUN_AS

TEAM = "platform:access:Team::team-payments"


def workload_objects(inventory, component: str) -> dict[str, dict]:
    """The Kubernetes objects under one workload component, keyed by kind."""
    registrations = inventory("local")
    key = next(f"{r.type}::{r.name}" for r in registrations if r.name == component)
    objects: dict[str, dict] = {}
    for registration in registrations:
        if registration.parent == key:
            assert registration.inputs["kind"] not in objects
            objects[registration.inputs["kind"]] = registration.inputs
    return objects


def pod_spec(kind: str, obj: dict) -> dict:
    return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else obj["spec"]["template"]["spec"]


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.parametrize(
    "component, kind",
    [("team-payments-payments-api", "Deployment"), ("team-payments-settlement-worker", "Deployment"), ("team-payments-nightly-reconciliation", "CronJob")],
)
def test_every_pod_is_restricted_with_requests_limits_and_its_own_account(inventory, component, kind):
    objects = workload_objects(inventory, component)
    spec = pod_spec(kind, objects[kind])
    assert spec["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    [container] = spec["containers"]
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert container["image"].startswith("registry.example.com/payments/") and not container["image"].endswith(":latest")
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]


def test_api_has_probes_service_tls_ingress_budget_and_autoscaler(inventory):
    objects = workload_objects(inventory, "team-payments-payments-api")
    assert sorted(objects) == ["Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]
    [container] = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert objects["Deployment"]["spec"]["template"]["metadata"]["labels"]["complete-cluster/ingress"] == "true"
    ingress = objects["Ingress"]
    assert ingress["spec"]["tls"] == [{"hosts": ["payments.local.example.com"], "secretName": "payments-api-tls"}]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "platform-issuer"}
    assert objects["Service"]["spec"]["type"] == "ClusterIP"
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], hpa["scaleTargetRef"]["name"]) == (2, 4, "payments-api")


def test_the_autoscaler_owns_the_replica_count(inventory):
    deployment = inventory("local").named("team-payments-payments-api-deployment")
    assert deployment.options["ignore_changes"] == ["spec.replicas"]


def test_worker_is_probed_on_its_health_port_and_serves_nothing(inventory):
    objects = workload_objects(inventory, "team-payments-settlement-worker")
    assert sorted(objects) == ["Deployment", "NetworkPolicy", "ServiceAccount"]
    [container] = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "health", "containerPort": 8081, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["port"] == "health"
    assert "complete-cluster/ingress" not in objects["Deployment"]["spec"]["template"]["metadata"]["labels"]


def test_scheduled_job_never_overlaps_and_has_a_deadline(inventory):
    cron = workload_objects(inventory, "team-search-weekly-reindex")["CronJob"]["spec"]
    assert (cron["schedule"], cron["concurrencyPolicy"]) == ("0 3 * * 0", "Forbid")
    job = cron["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"], job["template"]["spec"]["restartPolicy"]) == (14400, 2, "Never")


@pytest.mark.parametrize(
    "component, selector, namespace, ports",
    [
        # PostgreSQL runs in the team's data namespace (Pod Security baseline; components/services/postgres.py).
        ("team-payments-payments-api", {"application": "spilo", "cluster-name": "payments-db"}, "payments-data", [5432]),
        ("team-payments-settlement-worker", {"app.kubernetes.io/name": "queue", "app.kubernetes.io/part-of": "rabbitmq"}, None, [5671, 5672]),
        ("team-search-indexer", {"strimzi.io/cluster": "events", "strimzi.io/kind": "Kafka"}, "kafka", [9093]),
    ],
)
def test_egress_goes_to_exactly_the_declared_service(inventory, component, selector, namespace, ports):
    policy = workload_objects(inventory, component)["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Egress"]
    [rule] = policy["egress"]
    [peer] = rule["to"]
    assert peer["podSelector"] == {"matchLabels": selector}
    assert peer.get("namespaceSelector") == ({"matchLabels": {"kubernetes.io/metadata.name": namespace}} if namespace else None)
    assert rule["ports"] == [{"protocol": "TCP", "port": port} for port in ports]
    assert "ingress" not in policy


def test_each_workload_kind_adds_a_fixed_number_of_resources(inventory):
    registrations = inventory("local")
    counts = {}
    for component in ("team-payments-payments-api", "team-payments-settlement-worker", "team-payments-nightly-reconciliation"):
        key = next(f"{r.type}::{r.name}" for r in registrations if r.name == component)
        counts[component] = 1 + sum(r.parent == key for r in registrations)
    assert counts == {"team-payments-payments-api": 8, "team-payments-settlement-worker": 4, "team-payments-nightly-reconciliation": 4}
