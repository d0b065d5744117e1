"""Api, Worker and ScheduledJob: every pod passes Pod Security restricted by construction, and
each workload gets exactly the objects and network access it declares."""

from __future__ import annotations

import pytest

from components.complete_cluster import connection_settings
from components.program import shared_services_summary
from components.workloads.connections import connection_env, prefix
from components.workloads.pod import RUN_AS
from stacks.loader import load
from stacks.model.workloads import Uses
from stacks.shared_services import SHARED_SERVICES

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
    [
        ("team-payments-payments-api", "Deployment"),
        ("team-payments-settlement-worker", "Deployment"),
        ("team-payments-nightly-reconciliation", "CronJob"),
    ],
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
    assert sorted(objects) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
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
        (
            "team-payments-settlement-worker",
            {"app.kubernetes.io/name": "queue", "app.kubernetes.io/part-of": "rabbitmq"},
            None,
            [5671, 5672],
        ),
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


# --- connections to the shared services ----------------------------------------------------------


def container_env(inventory, stack: str, component: str) -> dict[str, dict]:
    """The app container's env of one workload, by variable name (each name once)."""
    objects = workload_objects_in(inventory(stack), component)
    kind = "CronJob" if "CronJob" in objects else "Deployment"
    [container] = pod_spec(kind, objects[kind])["containers"]
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names)), names
    return {entry["name"]: entry for entry in container["env"]}


def workload_objects_in(registrations, component: str) -> dict[str, dict]:
    key = next(f"{r.type}::{r.name}" for r in registrations if r.name == component)
    return {r.inputs["kind"]: r.inputs for r in registrations if r.parent == key}


def value(entry: dict) -> str:
    assert set(entry) == {"name", "value"}, entry
    return entry["value"]


def secret_ref(entry: dict) -> tuple[str, str]:
    assert set(entry) == {"name", "valueFrom"}, entry
    ref = entry["valueFrom"]["secretKeyRef"]
    assert set(ref) == {"name", "key"}
    return ref["name"], ref["key"]


def address(stack: str, section: str, key: str) -> tuple[str, str]:
    host, _, port = shared_services_summary(load(stack))[section][key]["address"].rpartition(":")
    return host, port


@pytest.mark.parametrize("stack", ["prod", "local"])
def test_postgres_users_get_the_address_and_the_owner_secret(inventory, stack):
    env = container_env(inventory, stack, "team-payments-payments-api")
    secret = SHARED_SERVICES["postgres"].endpoint("payments").secret
    assert (value(env["POSTGRES_HOST"]), value(env["POSTGRES_PORT"])) == address(stack, "databases", "payments/db")
    assert value(env["POSTGRES_HOST"]) == "payments-db.payments-data.svc" and value(env["POSTGRES_PORT"]) == "5432"
    assert value(env["POSTGRES_DATABASE"]) == "app"
    # Zalando's role Secret holds `username` and `password`.
    assert secret_ref(env["POSTGRES_USERNAME"]) == (secret, "username")
    assert secret_ref(env["POSTGRES_PASSWORD"]) == (secret, "password")


def test_rabbitmq_users_get_the_address_and_the_default_user_secret(inventory):
    env = container_env(inventory, "prod", "team-payments-settlement-worker")
    assert (
        (value(env["RABBITMQ_HOST"]), value(env["RABBITMQ_PORT"]))
        == address("prod", "queues", "payments/queue")
        == ("queue.payments.svc", "5671")
    )
    assert secret_ref(env["RABBITMQ_USERNAME"]) == ("queue-default-user", "username")
    assert secret_ref(env["RABBITMQ_PASSWORD"]) == ("queue-default-user", "password")
    # The same worker also declares postgres: both sets, nothing else.
    assert sorted(env) == sorted(
        ["RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD",
         "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DATABASE", "POSTGRES_USERNAME", "POSTGRES_PASSWORD"]
    )


def test_redis_users_get_the_sentinels_and_on_clusters_the_auth_secret(inventory):
    env = container_env(inventory, "prod", "team-search-search-api")
    assert (
        (value(env["REDIS_SENTINEL_HOST"]), value(env["REDIS_SENTINEL_PORT"]))
        == address("prod", "caches", "search/cache")
        == ("rfs-cache.search.svc", "26379")
    )
    assert value(env["REDIS_MASTER_NAME"]) == "mymaster"
    name, key = secret_ref(env["REDIS_PASSWORD"])
    assert (name, key) == (SHARED_SERVICES["redis"].endpoint("search").secret, "password")
    # The referenced Secret is one the program makes, in the workload's namespace, with that key.
    [auth] = [
        r
        for r in inventory("prod").of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"] == {**r.inputs["metadata"], "name": name, "namespace": "search"}
    ]
    assert auth.name == "redis-search-cache-auth" and auth.inputs["stringData"] == "[secret]"


def test_on_a_render_target_redis_has_no_password_to_reference(inventory):
    env = container_env(inventory, "local", "team-search-search-api")
    assert sorted(env) == ["REDIS_MASTER_NAME", "REDIS_SENTINEL_HOST", "REDIS_SENTINEL_PORT"]
    # ...because the render target's caches get no auth Secret at all.
    assert not [
        r
        for r in inventory("local").of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == SHARED_SERVICES["redis"].endpoint("search").secret
    ]


def test_kafka_users_get_the_tls_bootstrap_address(inventory):
    env = container_env(inventory, "prod", "team-search-indexer")
    assert (
        value(env["KAFKA_BOOTSTRAP_SERVERS"])
        == shared_services_summary(load("prod"))["kafka"]["bootstrap"]
        == "events-kafka-bootstrap.kafka.svc:9093"
    )
    assert value(env["KAFKA_SECURITY_PROTOCOL"]) == "SSL"
    # The CA the listener's certificate chains to, and the team's client certificate and key the listener
    # requires, from the team's client certificate Secret.
    assert env["KAFKA_SSL_CA_PEM"]["valueFrom"] == {"secretKeyRef": {"name": "kafka-client-tls", "key": "ca.crt"}}
    assert env["KAFKA_SSL_CERTIFICATE_PEM"]["valueFrom"] == {"secretKeyRef": {"name": "kafka-client-tls", "key": "tls.crt"}}
    assert env["KAFKA_SSL_KEY_PEM"]["valueFrom"] == {"secretKeyRef": {"name": "kafka-client-tls", "key": "tls.key"}}
    assert sorted(env) == [
        "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CA_PEM", "KAFKA_SSL_CERTIFICATE_PEM", "KAFKA_SSL_KEY_PEM",
    ]


@pytest.mark.parametrize("stack", ["dev", "test", "prod", "onprem-dc1", "onprem-dc2", "local"])
def test_no_credential_is_ever_a_plain_value(inventory, stack):
    for registration in inventory(stack):
        if not registration.name.startswith("team-") or registration.inputs.get("kind") not in ("Deployment", "CronJob"):
            continue
        [container] = pod_spec(registration.inputs["kind"], registration.inputs)["containers"]
        for entry in container["env"]:
            if entry["name"].endswith(("_PASSWORD", "_USERNAME", "_KEY_PEM")):
                assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], (registration.name, entry)


def test_another_instance_gets_its_own_names_and_a_repeat_counts_once():
    stack = connection_settings(load("prod"))
    # `db` is the team's default database instance, named or not; any other instance is in the names.
    assert prefix("postgres", "db") == "POSTGRES" and prefix("postgres", "orders") == "POSTGRES_ORDERS"
    assert prefix("redis", "session-store") == "REDIS_SESSION_STORE"
    names = [
        entry["name"] for entry in connection_env(stack, "payments", [Uses(service="postgres", instance="db"), Uses(service="postgres")])
    ]
    assert names == ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DATABASE", "POSTGRES_USERNAME", "POSTGRES_PASSWORD"]
    assert connection_env(stack, "payments", [Uses(service="kafka"), Uses(service="kafka")]) == [
        {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "events-kafka-bootstrap.kafka.svc:9093"},
        {"name": "KAFKA_SECURITY_PROTOCOL", "value": "SSL"},
        {"name": "KAFKA_SSL_CA_PEM", "valueFrom": {"secretKeyRef": {"name": "kafka-client-tls", "key": "ca.crt"}}},
        {"name": "KAFKA_SSL_CERTIFICATE_PEM", "valueFrom": {"secretKeyRef": {"name": "kafka-client-tls", "key": "tls.crt"}}},
        {"name": "KAFKA_SSL_KEY_PEM", "valueFrom": {"secretKeyRef": {"name": "kafka-client-tls", "key": "tls.key"}}},
    ]
