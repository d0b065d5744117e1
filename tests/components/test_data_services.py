"""Data services: each operator's chart at its pinned version, installed before its custom
resources, and each instance the teams declare with the settings config asks for; the workloads'
egress selectors match the pods the operators will create."""

from __future__ import annotations

import pytest

from stacks import catalogue

STACKS = ["local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
DATABASE_TOLERATION = [{"key": "nodeType", "operator": "Equal", "value": "database", "effect": "NoSchedule"}]
DATABASE_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "nodeType", "operator": "In", "values": ["database"]}]}]
    }
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CHARTS = {
    # chart resource -> (chart, version, repository, namespace)
    "platform-postgres-chart": (
        "postgres-operator",
        "2.0.1",
        "https://opensource.zalando.com/postgres-operator/charts/postgres-operator",
        "postgres-operator",
    ),
    "platform-redis-chart": ("redis-operator", "3.2.9", "https://spotahome.github.io/redis-operator", "redis-operator"),
    "platform-kafka-chart": ("strimzi-kafka-operator", "1.2.0", "https://strimzi.io/charts/", "kafka"),
}
# custom resource type -> the chart whose CRD it needs
OPERATOR_OF = {
    "kubernetes:acid.zalan.do/v1:postgresql": "platform-postgres-chart",
    "kubernetes:databases.spotahome.com/v1:RedisFailover": "platform-redis-chart",
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster": "platform-rabbitmq-chart",
    "kubernetes:kafka.strimzi.io/v1:Kafka": "platform-kafka-chart",
    "kubernetes:kafka.strimzi.io/v1:KafkaNodePool": "platform-kafka-chart",
    "kubernetes:kafka.strimzi.io/v1:KafkaTopic": "platform-kafka-chart",
    "kubernetes:kafka.strimzi.io/v1:KafkaUser": "platform-kafka-chart",
}


def same(resource_spec):
    return resource_spec["requests"] == resource_spec["limits"]


# --- operators ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_prod_installs_each_operator_chart_at_its_pinned_version(inventory, name):
    release = inventory("prod").named(name)
    chart, version, repository, namespace = CHARTS[name]
    assert release.type == "kubernetes:helm.sh/v4:Chart"
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"], release.inputs["namespace"]) == (
        chart, version, {"repo": repository}, namespace,
    )
    assert same(release.inputs["values"]["resources"])


def test_the_rabbitmq_operator_chart_comes_from_its_oci_repository(inventory):
    release = inventory("prod").named("platform-rabbitmq-chart")
    assert (release.inputs["chart"], release.inputs["version"]) == (
        "oci://registry-1.docker.io/cloudpirates/rabbitmq-cluster-operator",
        "0.6.5",
    )
    assert "repositoryOpts" not in release.inputs
    values = release.inputs["values"]
    assert values["msgTopologyOperator"] == {"enabled": False}
    assert values["clusterOperator"]["networkPolicy"] == {"enabled": False}
    assert same(values["clusterOperator"]["resources"])


def test_operator_pods_are_restricted_through_their_values(inventory):
    registrations = inventory("prod")
    postgres = registrations.named("platform-postgres-chart").inputs["values"]
    assert RESTRICTED_CONTAINER.items() <= postgres["securityContext"].items()
    redis = registrations.named("platform-redis-chart").inputs["values"]
    assert RESTRICTED_CONTAINER.items() <= redis["securityContext"].items()
    strimzi = registrations.named("platform-kafka-chart").inputs["values"]
    assert {"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"} in strimzi["extraEnvs"]


def test_an_oci_only_chart_is_pulled_by_reference(tmp_path):
    from stacks.chart_sources import chart_source, missing_charts
    from stacks.loader import load
    from stacks.model.charts import Charts

    assert chart_source(Charts(source="remote"), catalogue.RABBITMQ_OPERATOR) == {
        "chart": "oci://registry-1.docker.io/cloudpirates/rabbitmq-cluster-operator", "version": "0.6.5",
    }
    config = load("prod").model_copy(update={"charts": Charts(source="local", directory=str(tmp_path))})
    [problem] = [message for _, message in missing_charts(config, [catalogue.RABBITMQ_OPERATOR])]
    assert "`helm pull oci://registry-1.docker.io/cloudpirates/rabbitmq-cluster-operator --version 0.6.5`" in problem


def test_the_postgres_operator_runs_spilo_without_privilege_and_patroni_on_configmaps(inventory):
    values = inventory("prod").named("platform-postgres-chart").inputs["values"]
    kubernetes = values["configKubernetes"]
    assert (kubernetes["spilo_privileged"], kubernetes["spilo_allow_privilege_escalation"], kubernetes["spilo_runasuser"]) == (
        False,
        False,
        101,
    )
    assert (values["configGeneral"]["kubernetes_use_configmaps"], values["configGeneral"]["set_memory_request_to_limit"]) == (True, True)
    assert kubernetes["enable_cross_namespace_secret"] is True
    assert (values["fullnameOverride"], values["podServiceAccount"]) == ("postgres-operator", {"name": "postgres-pod"})
    assert values["configGeneral"]["docker_image"] == "platformacr.azurecr.io/ghcr.io/zalando/spilo-18:4.1-p2"
    assert (values["image"]["registry"], values["image"]["repository"], values["image"]["tag"]) == (
        "platformacr.azurecr.io",
        "ghcr.io/zalando/postgres-operator",
        "v2.0.1",
    )


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1", "dev"])
def test_every_custom_resource_waits_for_its_operator_chart_and_uses_the_api_it_serves(inventory, stack):
    registrations = inventory(stack)
    custom = [r for r in registrations if r.type in OPERATOR_OF]
    assert custom
    for resource in custom:
        assert f"kubernetes:helm.sh/v4:Chart::{OPERATOR_OF[resource.type]}" in resource.options["depends_on"], resource.name
        assert resource.inputs["apiVersion"] == resource.type.split(":")[1]


def test_with_charts_off_the_instances_still_register_after_their_namespaces(local_without_charts):
    registrations = local_without_charts
    assert not registrations.of_type("kubernetes:helm.sh/v4:Chart")
    cluster = registrations.named("postgres-payments-db-cluster")
    # Its data namespace, and the team namespace its owner's credentials Secret lands in.
    assert sorted(cluster.options["depends_on"]) == [
        "kubernetes:core/v1:Namespace::postgres-payments-data-namespace",
        "kubernetes:core/v1:Namespace::team-payments-namespace",
    ]
    kafka = registrations.named("platform-kafka-cluster")
    assert "kubernetes:core/v1:Namespace::platform-kafka-namespace" in kafka.options["depends_on"]


# --- PostgreSQL ------------------------------------------------------------------------------------------


def test_prod_postgres_cluster_has_the_settings_config_asks_for(inventory):
    cluster = inventory("prod").named("postgres-payments-db-cluster")
    assert (cluster.type, cluster.inputs["apiVersion"], cluster.inputs["kind"]) == (
        "kubernetes:acid.zalan.do/v1:postgresql",
        "acid.zalan.do/v1",
        "postgresql",
    )
    assert (cluster.inputs["metadata"]["name"], cluster.inputs["metadata"]["namespace"]) == ("payments-db", "payments-data")
    spec = cluster.inputs["spec"]
    assert spec["teamId"] == "payments"
    assert spec["numberOfInstances"] == 2  # prod: at least a primary and a replica
    assert spec["volume"] == {"size": "50Gi"}
    assert spec["postgresql"]["version"] == "17"
    assert spec["postgresql"]["parameters"]["password_encryption"] == "scram-sha-256"
    assert spec["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}  # medium
    assert spec["tolerations"] == DATABASE_TOLERATION
    assert spec["nodeAffinity"] == DATABASE_AFFINITY
    assert (spec["users"], spec["databases"]) == ({"payments.app": []}, {"app": "payments.app"})
    assert not any("md5" in line or line.endswith(" trust") and line.startswith("host") for line in spec["patroni"]["pg_hba"])
    assert "hostnossl all all all reject" in spec["patroni"]["pg_hba"]
    assert cluster.options["protect"] is True


def test_prod_postgres_archives_wal_and_backs_up_to_blob_storage(inventory):
    registrations = inventory("prod")
    spec = registrations.named("postgres-payments-db-cluster").inputs["spec"]
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in spec["env"]}
    assert (env["USE_WALG_BACKUP"], env["USE_WALG_RESTORE"], env["BACKUP_NUM_TO_RETAIN"]) == ("true", "true", "7")
    assert env["WALG_AZ_PREFIX"] == "azure://postgres/spilo/payments-db/17"
    assert env["AZURE_STORAGE_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "postgres-payments-postgres-storage", "key": "AZURE_STORAGE_ACCESS_KEY"}
    }
    assert (spec["enableLogicalBackup"], spec["logicalBackupSchedule"]) == (True, "30 1 * * *")
    backup = registrations.named("platform-postgres-chart").inputs["values"]["configLogicalBackup"]
    assert (backup["logical_backup_provider"], backup["logical_backup_azure_storage_container"]) == ("az", "postgres")
    assert backup["logical_backup_cronjob_environment_secret"] == "postgres-logical-backup"
    copy = registrations.named("platform-postgres-payments-logical-backup")
    assert (copy.inputs["metadata"]["name"], copy.inputs["metadata"]["namespace"]) == ("postgres-logical-backup", "payments-data")
    storage = registrations.named("platform-storage-postgres-payments-postgres")
    assert (storage.inputs["metadata"]["name"], storage.inputs["metadata"]["namespace"]) == (
        "postgres-payments-postgres-storage",
        "payments-data",
    )
    assert "kubernetes:core/v1:Namespace::postgres-payments-data-namespace" in storage.options["depends_on"]


def test_onprem_postgres_archives_wal_to_the_sites_s3_endpoint(inventory):
    spec = inventory("onprem-dc1").named("postgres-payments-db-cluster").inputs["spec"]
    env = {item["name"]: item.get("value") for item in spec["env"]}
    assert (env["WAL_S3_BUCKET"], env["AWS_ENDPOINT"], env["AWS_S3_FORCE_PATH_STYLE"]) == (
        "dc1-postgres",
        "https://s3.dc1.example.com",
        "true",
    )


@pytest.mark.parametrize("stack, instances, volume", [("local", 1, "5Gi"), ("test", 2, "10Gi")])
def test_postgres_instances_follow_the_environment(inventory, stack, instances, volume):
    cluster = inventory(stack).named("postgres-payments-db-cluster")
    assert (cluster.inputs["spec"]["numberOfInstances"], cluster.inputs["spec"]["volume"]["size"]) == (instances, volume)
    assert cluster.options["protect"] is False


def test_without_object_storage_there_is_no_wal_archiving(inventory):
    spec = inventory("local").named("postgres-payments-db-cluster").inputs["spec"]
    assert "env" not in spec and "enableLogicalBackup" not in spec


def test_postgres_pods_admit_exactly_the_declared_clients_their_peers_and_the_operator(inventory):
    policy = inventory("prod").named("postgres-payments-db-network").inputs
    assert (policy["metadata"]["name"], policy["metadata"]["namespace"]) == ("payments-db-postgres", "payments-data")
    spec = policy["spec"]
    own = {"matchLabels": {"application": "spilo", "cluster-name": "payments-db"}}
    assert spec["podSelector"] == own
    peers, operator, clients = spec["ingress"]
    assert peers == {"from": [{"podSelector": own}], "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 8008}]}
    assert operator["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "postgres-operator"}}}]
    team = {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}
    assert clients["from"] == [
        {"namespaceSelector": team, "podSelector": {"matchLabels": {"app.kubernetes.io/name": name, "complete-cluster/team": "payments"}}}
        for name in ("payments-api", "settlement-worker", "nightly-reconciliation")
    ]
    assert clients["ports"] == [{"protocol": "TCP", "port": 5432}]
    https = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    assert spec["egress"] == [
        {"to": [{"podSelector": own}], "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 8008}]},
        {"to": https, "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},  # Patroni's API server, WAL-G
    ]


def operator_user_secret(cluster) -> tuple[str, str]:
    """(namespace, name) of the Secret postgres-operator 2.0.1 writes for the cluster's one manifest
    role, as its code does: with `enable_cross_namespace_secret` a role `<ns>.<user>` gets its Secret in
    `<ns>` (pkg/cluster/cluster.go `initRobotUsers`), named by `secret_name_template`
    `{username}.{cluster}.credentials.{tprkind}.{tprgroup}` with `_` turned into `-`
    (pkg/cluster/util.go `credentialSecretNameForCluster`)."""
    [username] = cluster.inputs["spec"]["users"]
    namespace = username.split(".")[0] if "." in username else cluster.inputs["metadata"]["namespace"]
    return namespace, f"{username.replace('_', '-')}.{cluster.inputs['metadata']['name']}.credentials.postgresql.acid.zalan.do"


@pytest.mark.parametrize("stack", [stack for stack in STACKS if stack != "dev"])  # dev declares no database
def test_the_apps_credentials_land_in_the_team_namespace_under_the_name_workloads_use(inventory, stack):
    from stacks.loader import load
    from stacks.shared_services import SHARED_SERVICES

    registrations = inventory(stack)
    clusters = {r.inputs["metadata"]["name"]: r for r in registrations if r.type == "kubernetes:acid.zalan.do/v1:postgresql"}
    declared = {(team.name, database.name) for team in load(stack).teams for database in team.databases}
    assert clusters and len(clusters) == len(declared)
    for team, database in declared:
        cluster = clusters[f"{team}-{database}"]
        assert operator_user_secret(cluster) == (team, SHARED_SERVICES["postgres"].endpoint(team, database).secret)
        # The role that receives the Secret owns the database the apps use.
        assert cluster.inputs["spec"]["databases"] == {"app": f"{team}.app"}
    charts = registrations.of_type("kubernetes:helm.sh/v4:Chart")
    for chart in charts:
        if chart.name == "platform-postgres-chart":
            assert chart.inputs["values"]["configKubernetes"]["enable_cross_namespace_secret"] is True


def test_the_postgres_secret_name_is_the_one_shared_services_report():
    from components.program import shared_services_summary
    from stacks.loader import load

    databases = shared_services_summary(load("prod"))["databases"]
    assert databases["payments/db"] == {
        "address": "payments-db.payments-data.svc:5432",
        "secret": "payments.app.payments-db.credentials.postgresql.acid.zalan.do",
    }


def test_a_cluster_waits_for_the_team_namespace_that_receives_its_secret():
    import pulumi
    import pulumi_kubernetes as k8s

    from components.services.postgres import PostgresOperator
    from stacks.tools.inventory import run_program
    from components.complete_cluster import identity, image_source
    from components.services.postgres import PostgresOperatorArgs
    from stacks.loader import load_stack

    loaded = load_stack("local")
    config = loaded.config

    def program():
        team = k8s.core.v1.Namespace("team-payments", metadata={"name": "payments"})
        args = PostgresOperatorArgs(
            settings=config.services.postgres,
            teams=list(config.teams),
            identity=identity(config),
            images=image_source(config),
            charts=loaded.charts.of("postgres"),
            team_namespaces={"payments": team},
        )
        PostgresOperator("pg", args, pulumi.ResourceOptions())

    [cluster] = [r for r in run_program(program, "postgres") if r.type == "kubernetes:acid.zalan.do/v1:postgresql"]
    assert "kubernetes:core/v1:Namespace::team-payments" in cluster.options["depends_on"]


def test_logical_backup_jobs_reach_exactly_their_database_and_https(inventory):
    from components.services.postgres import logical_backup_pod_labels

    registrations = inventory("prod")
    backup_pods = {"matchLabels": {"application": "spilo-logical-backup", "cluster-name": "payments-db"}}
    database_pods = {"matchLabels": {"application": "spilo", "cluster-name": "payments-db"}}
    assert logical_backup_pod_labels("payments-db") == backup_pods["matchLabels"]
    egress = registrations.named("postgres-payments-db-logical-backup").inputs
    assert (egress["metadata"]["name"], egress["metadata"]["namespace"]) == ("payments-db-logical-backup", "payments-data")
    https = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    assert egress["spec"] == {
        "podSelector": backup_pods,
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": database_pods}], "ports": [{"protocol": "TCP", "port": 5432}]},
            # object storage, and the API server the job asks for a replica's address
            {"to": https, "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
        ],
    }
    ingress = registrations.named("postgres-payments-db-logical-backup-to-database").inputs
    assert (ingress["metadata"]["name"], ingress["metadata"]["namespace"]) == ("payments-db-from-logical-backup", "payments-data")
    assert ingress["spec"] == {
        "podSelector": database_pods,
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": backup_pods}], "ports": [{"protocol": "TCP", "port": 5432}]}],
    }
    # The database pods' own policy does not select the backup pods, nor they the database pods' policy.
    assert not backup_pods["matchLabels"].items() <= database_pods["matchLabels"].items()


def test_without_object_storage_there_is_no_logical_backup_policy(inventory):
    assert not [r for r in inventory("local") if "logical-backup" in r.name]


# --- the teams' data namespaces (PostgreSQL only) ---------------------------------------------------------

DATA_NAMESPACE = "kubernetes:core/v1:Namespace::postgres-payments-data-namespace"


def data_layer(resource) -> bool:
    """Not the monitoring layer's own scrape objects (its tests check those)."""
    return not (resource.parent or "").startswith("platform:observability:")


def in_namespace(registrations, namespace: str, kind: str):
    return {
        r.inputs["metadata"]["name"]: r
        for r in registrations
        if r.custom and r.inputs.get("kind") == kind and r.inputs["metadata"].get("namespace") == namespace and data_layer(r)
    }


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_data_namespaces_and_the_node_agents_relax_pod_security(inventory, stack):
    registrations = inventory(stack)
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"] for r in registrations if r.type == "kubernetes:core/v1:Namespace"}
    from stacks.loader import load

    with_databases = {f"{team.name}-data" for team in load(stack).teams if team.databases}
    for name, metadata in namespaces.items():
        levels = {mode: metadata["labels"][f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "audit", "warn")}
        versions = {metadata["labels"][f"pod-security.kubernetes.io/{mode}-version"] for mode in ("enforce", "audit", "warn")}
        assert versions == {catalogue.POD_SECURITY_VERSION}, name
        # node-exporter and the log agent read the node itself (components/observability/common.py).
        expected = "baseline" if name in with_databases else "privileged" if name == "node-agents" else "restricted"
        assert levels == {"enforce": expected, "audit": "restricted", "warn": "restricted"}, name
    # The team namespaces themselves stay restricted, and the databases live only in the data namespaces.
    assert {r.inputs["metadata"]["namespace"] for r in registrations if r.inputs.get("kind") == "postgresql"} == with_databases


def test_the_data_namespace_is_labelled_annotated_and_ordered_first(inventory):
    registrations = inventory("prod")
    namespace = registrations.named("postgres-payments-data-namespace")
    metadata = namespace.inputs["metadata"]
    assert metadata["name"] == "payments-data"
    assert {k: v for k, v in metadata["labels"].items() if k.startswith("pod-security.kubernetes.io/")} == {
        "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": catalogue.POD_SECURITY_VERSION,
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": catalogue.POD_SECURITY_VERSION,
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": catalogue.POD_SECURITY_VERSION,
    }
    assert metadata["labels"]["complete-cluster/team"] == "payments"
    assert metadata["annotations"] == {
        "complete-cluster/pod-security-exemption":
            "postgres-operator cannot set runAsNonRoot, seccomp or capabilities on database pods (zalando/postgres-operator#1745, #2223)",
    }
    inside = [
        r
        for r in registrations
        if r.custom
        and isinstance(r.inputs.get("metadata"), dict)
        and r.inputs["metadata"].get("namespace") == "payments-data"
        and data_layer(r)
    ]
    assert sorted(r.inputs["kind"] for r in inside) == [
        "NetworkPolicy",
        "NetworkPolicy",
        "NetworkPolicy",
        "NetworkPolicy",
        "NetworkPolicy",
        "ResourceQuota",
        "Role",
        "RoleBinding",
        "Secret",
        "Secret",
        "postgresql",
    ]
    for resource in inside:
        assert DATA_NAMESPACE in resource.options["depends_on"], resource.name


@pytest.mark.parametrize(
    "stack, hard",
    [
        # local: one xsmall instance with a 5Gi volume, no object storage (no logical backup job)
        (
            "local",
            {
                "requests.cpu": "100m",
                "limits.cpu": "100m",
                "requests.memory": "256Mi",
                "limits.memory": "256Mi",
                "requests.storage": "5Gi",
                "pods": "1",
            },
        ),
        # prod: two medium instances (1 CPU, 2Gi) with 50Gi each, plus the logical backup job (250m, 512Mi)
        (
            "prod",
            {
                "requests.cpu": "2250m",
                "limits.cpu": "2250m",
                "requests.memory": "4608Mi",
                "limits.memory": "4608Mi",
                "requests.storage": "100Gi",
                "pods": "3",
            },
        ),
    ],
)
def test_the_data_namespace_quota_is_exactly_the_declared_databases(inventory, stack, hard):
    quota = inventory(stack).named("postgres-payments-data-quota")
    assert (quota.inputs["metadata"]["name"], quota.inputs["metadata"]["namespace"]) == ("data-quota", "payments-data")
    assert quota.inputs["spec"] == {"hard": hard}


def test_the_data_namespace_denies_everything_but_dns_and_each_clusters_own_traffic(inventory):
    policies = in_namespace(inventory("prod"), "payments-data", "NetworkPolicy")
    assert sorted(policies) == [
        "allow-dns",
        "default-deny",
        "payments-db-from-logical-backup",
        "payments-db-logical-backup",
        "payments-db-postgres",
    ]
    assert policies["default-deny"].inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-dns"].inputs["spec"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        ],
    }


# --- Redis -----------------------------------------------------------------------------------------------


def test_prod_redis_failover_runs_sentinels_restricted_on_the_database_pool(inventory):
    registrations = inventory("prod")
    failover = registrations.named("redis-payments-cache-failover")
    assert (failover.inputs["apiVersion"], failover.inputs["kind"]) == ("databases.spotahome.com/v1", "RedisFailover")
    assert (failover.inputs["metadata"]["name"], failover.inputs["metadata"]["namespace"]) == ("cache", "payments")
    spec = failover.inputs["spec"]
    assert (spec["redis"]["replicas"], spec["sentinel"]["replicas"]) == (3, 3)
    assert spec["redis"]["image"] == "platformacr.azurecr.io/docker.io/library/redis:7.4.2-alpine"
    assert spec["redis"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}
    assert spec["sentinel"]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}
    assert spec["redis"]["customConfig"] == ["maxmemory 768mb", "maxmemory-policy allkeys-lru"]
    for part in ("redis", "sentinel"):
        assert spec[part]["tolerations"] == DATABASE_TOLERATION
        assert spec[part]["nodeSelector"] == {"nodeType": "database"}
        assert RESTRICTED_CONTAINER.items() <= spec[part]["containerSecurityContext"].items()
        assert spec[part]["securityContext"]["runAsNonRoot"] is True
    assert spec["auth"] == {"secretPath": "cache-auth"}
    secret = registrations.named("redis-payments-cache-auth")
    assert (secret.inputs["metadata"]["name"], secret.inputs["stringData"]) == ("cache-auth", "[secret]")
    assert failover.options["protect"] is True


def test_on_a_render_target_redis_has_no_generated_password(inventory):
    registrations = inventory("local")
    assert "auth" not in registrations.named("redis-search-cache-failover").inputs["spec"]
    assert not registrations.of_type("pulumi-python:dynamic/platform:GeneratedPassword")


# --- RabbitMQ --------------------------------------------------------------------------------------------


def test_prod_rabbitmq_cluster_has_the_settings_config_asks_for(inventory):
    registrations = inventory("prod")
    cluster = registrations.named("rabbitmq-payments-queue-cluster")
    assert (cluster.inputs["apiVersion"], cluster.inputs["kind"]) == ("rabbitmq.com/v1beta1", "RabbitmqCluster")
    assert (cluster.inputs["metadata"]["name"], cluster.inputs["metadata"]["namespace"]) == ("queue", "payments")
    spec = cluster.inputs["spec"]
    assert spec["replicas"] == 3
    assert spec["image"] == "platformacr.azurecr.io/docker.io/library/rabbitmq:4.1.1-management"
    assert same(spec["resources"])
    assert spec["persistence"] == {"storage": "10Gi"}
    assert spec["tolerations"] == DATABASE_TOLERATION
    assert spec["affinity"] == {"nodeAffinity": DATABASE_AFFINITY}
    assert spec["tls"] == {"secretName": "queue-tls", "disableNonTLSListeners": True}
    template = spec["override"]["statefulSet"]["spec"]["template"]["spec"]
    assert template["containers"] == [{"name": "rabbitmq", "securityContext": RESTRICTED_CONTAINER}]
    assert template["initContainers"][0]["securityContext"] == RESTRICTED_CONTAINER
    certificate = registrations.named("rabbitmq-payments-queue-certificate")
    assert certificate.inputs["spec"]["issuerRef"]["name"] == catalogue.INTERNAL_ISSUER  # .svc names: the internal CA
    assert "kubernetes:cert-manager.io/v1:ClusterIssuer::platform-cert-manager-internal-issuer" in certificate.options["depends_on"]
    assert cluster.options["protect"] is True


# --- Kafka -----------------------------------------------------------------------------------------------


def test_prod_kafka_is_kraft_with_node_pools_sized_from_config(inventory):
    registrations = inventory("prod")
    kafka = registrations.named("platform-kafka-cluster")
    assert (kafka.inputs["apiVersion"], kafka.inputs["kind"], kafka.inputs["metadata"]["name"], kafka.inputs["metadata"]["namespace"]) == (
        "kafka.strimzi.io/v1", "Kafka", "events", "kafka",
    )
    spec = kafka.inputs["spec"]["kafka"]
    assert spec["version"] == catalogue.KAFKA_VERSION
    # The listener presents a certificate of the internal CA, which clients trust (test below), and requires
    # theirs (tests/components/test_kafka_access.py).
    [listener] = spec["listeners"]
    assert {key: listener[key] for key in ("name", "port", "type", "tls", "configuration")} == {
        "name": "tls", "port": 9093, "type": "internal", "tls": True, "configuration": {
            "brokerCertChainAndKey": {"secretName": "events-listener-tls", "certificate": "tls.crt", "key": "tls.key"}}}
    assert "zookeeper" not in kafka.inputs["spec"] and "replicas" not in spec and "storage" not in spec
    config = spec["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"], config["offsets.topic.replication.factor"]) == (3, 2, 3)
    assert config["auto.create.topics.enable"] is False
    pools = {name: registrations.named(f"platform-kafka-{name}") for name in ("controllers", "brokers")}
    assert {name: (pool.inputs["spec"]["replicas"], pool.inputs["spec"]["roles"]) for name, pool in pools.items()} == {
        "controllers": (3, ["controller"]), "brokers": (3, ["broker"]),
    }
    for pool in pools.values():
        assert pool.inputs["metadata"]["labels"]["strimzi.io/cluster"] == "events"
        assert same(pool.inputs["spec"]["resources"])
        assert pool.inputs["spec"]["template"]["pod"]["tolerations"] == DATABASE_TOLERATION
        [volume] = pool.inputs["spec"]["storage"]["volumes"]
        assert (volume["type"], volume["deleteClaim"], volume["kraftMetadata"]) == ("persistent-claim", False, "shared")
        assert pool.options["protect"] is True
    [broker_volume] = pools["brokers"].inputs["spec"]["storage"]["volumes"]
    assert broker_volume["size"] == "20Gi"
    assert kafka.options["protect"] is True
    assert {f"kubernetes:kafka.strimzi.io/v1:KafkaNodePool::platform-kafka-{name}" for name in pools} <= set(kafka.options["depends_on"])


def test_dev_kafka_is_one_broker_and_one_controller(inventory):
    registrations = inventory("dev")
    assert registrations.named("platform-kafka-brokers").inputs["spec"]["replicas"] == 1
    assert registrations.named("platform-kafka-controllers").inputs["spec"]["replicas"] == 1
    assert registrations.named("platform-kafka-cluster").inputs["spec"]["kafka"]["config"]["min.insync.replicas"] == 1
    assert registrations.named("platform-kafka-cluster").options["protect"] is False


def test_teams_topics_are_kafka_topics_of_the_shared_cluster(inventory):
    registrations = inventory("prod")
    topic = registrations.named("platform-kafka-topic-search-documents")
    assert (topic.inputs["kind"], topic.inputs["metadata"]["name"], topic.inputs["metadata"]["namespace"]) == (
        "KafkaTopic",
        "search.documents",
        "kafka",
    )
    assert topic.inputs["metadata"]["labels"]["strimzi.io/cluster"] == "events"
    assert topic.inputs["spec"] == {
        "partitions": 12,
        "replicas": 3,
        "config": {"retention.ms": str(72 * 3600 * 1000), "min.insync.replicas": 2},
    }
    assert "kubernetes:kafka.strimzi.io/v1:Kafka::platform-kafka-cluster" in topic.options["depends_on"]


def test_only_the_workloads_that_use_kafka_reach_the_listener(inventory):
    policy = inventory("prod").named("platform-kafka-allow-clients").inputs["spec"]
    assert policy["podSelector"] == {"matchLabels": {"strimzi.io/cluster": "events", "strimzi.io/kind": "Kafka"}}
    [rule] = policy["ingress"]
    assert rule["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "search"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "indexer", "complete-cluster/team": "search"}},
    }]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9093}]


# --- the workloads' egress reaches pods the operators will create ---------------------------------------


def operator_pods(resource) -> tuple[str, dict[str, str]] | None:
    """(namespace, labels) of the pods an operator creates for a custom resource, by each operator's
    documented labelling (not by the program's own helpers)."""
    meta = resource.inputs["metadata"]
    kind = resource.inputs["kind"]
    if kind == "postgresql":
        return meta["namespace"], {"application": "spilo", "cluster-name": meta["name"], "spilo-role": "master"}
    if kind == "RedisFailover":
        return meta["namespace"], {
            "app.kubernetes.io/component": "redis",
            "app.kubernetes.io/name": meta["name"],
            "app.kubernetes.io/part-of": "redis-failover",
        }
    if kind == "RabbitmqCluster":
        return meta["namespace"], {
            "app.kubernetes.io/component": "rabbitmq",
            "app.kubernetes.io/name": meta["name"],
            "app.kubernetes.io/part-of": "rabbitmq",
        }
    if kind == "Kafka":
        return meta["namespace"], {
            "strimzi.io/cluster": meta["name"],
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": f"{meta['name']}-kafka",
        }
    return None


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_egress_rule_selects_pods_of_an_instance_that_exists(inventory, stack):
    registrations = inventory(stack)
    pods = [
        p
        for p in (
            operator_pods(r)
            for r in registrations
            if r.type.startswith("kubernetes:") and r.inputs.get("kind") in ("postgresql", "RedisFailover", "RabbitmqCluster", "Kafka")
        )
        if p
    ]
    egress = [
        r
        for r in registrations
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and (r.parent or "").startswith("platform:workloads:")
    ]
    assert egress or stack.startswith("onprem"), "the stack's workloads declare no services to check"
    for policy in egress:
        for rule in policy.inputs["spec"]["egress"]:
            [peer] = rule["to"]
            namespace = (
                peer.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name", policy.inputs["metadata"]["namespace"])
            )
            selector = peer["podSelector"]["matchLabels"]
            matches = [labels for pod_namespace, labels in pods if pod_namespace == namespace and selector.items() <= labels.items()]
            assert matches, f"{stack}: {policy.name} selects {selector} in {namespace}, which no instance's pods carry"


def test_the_postgres_component_archives_to_whatever_storage_access_it_is_given():
    """The component on its own, with a stand-in for components/storage's StorageAccess."""
    from types import SimpleNamespace

    import pulumi

    from components.complete_cluster import identity
    from components.services.postgres import Postgres, PostgresArgs
    from stacks.tools.inventory import run_program
    from stacks.loader import load

    stack = load("onprem-dc1")
    team = stack.teams[0]
    access = SimpleNamespace(
        kind="s3",
        secret_name="db-storage",
        secret=None,
        bucket="dc1-postgres",
        endpoint="https://s3.dc1.example.com",
        region="us-east-1",
        path_style=True,
    )

    def program():
        args = PostgresArgs(
            team=team, database=team.databases[0], settings=stack.services.postgres, identity=identity(stack), backup=access
        )
        Postgres("pg", args, pulumi.ResourceOptions())

    # By type and name: the SDK registers children as their inputs resolve, so their order is not fixed.
    registered = run_program(program, "postgres")
    assert len(registered) == 5, [(r.type, r.name) for r in registered]
    [component] = [r for r in registered if r.type == "platform:services:Postgres"]
    [cluster] = [r for r in registered if r.type == "kubernetes:acid.zalan.do/v1:postgresql"]
    policies = {r.inputs["metadata"]["name"]: r for r in registered if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    backup_egress, backup_ingress = policies.pop("payments-db-logical-backup"), policies.pop("payments-db-from-logical-backup")
    [policy] = policies.values()
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in cluster.inputs["spec"]["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "db-storage", "key": "AWS_SECRET_ACCESS_KEY"}}
    assert (env["WAL_S3_BUCKET"], env["AWS_REGION"], env["USE_WALG_BACKUP"]) == ("dc1-postgres", "us-east-1", "true")
    assert cluster.inputs["spec"]["enableLogicalBackup"] is True
    assert (component.type, policy.type) == ("platform:services:Postgres", "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert [backup_egress.inputs["metadata"]["name"], backup_ingress.inputs["metadata"]["name"]] == [
        "payments-db-logical-backup",
        "payments-db-from-logical-backup",
    ]
    assert cluster.options["protect"] is True  # onprem-dc1 is prod


def test_a_secondary_sites_databases_are_standbys_of_the_primarys_wal_archive(inventory):
    def spec(stack):
        return inventory(stack).named("postgres-payments-db-cluster").inputs["spec"]

    standby = spec("onprem-dc2")
    assert standby["standby"] == {"s3_wal_path": "s3://dc1-postgres/spilo/payments-db/wal/17"}
    env = {item["name"]: item for item in standby["env"]}
    # The primary's endpoint, this site's credentials (granted read on the primary's bucket).
    assert env["STANDBY_AWS_ENDPOINT"]["value"] == "https://s3.dc1.example.com" and env["STANDBY_USE_WALG_RESTORE"]["value"] == "true"
    assert env["STANDBY_AWS_ACCESS_KEY_ID"]["valueFrom"] == env["AWS_ACCESS_KEY_ID"]["valueFrom"]
    # It still archives its own WAL, to its own bucket: after a promotion it is the primary's archive.
    assert env["WAL_S3_BUCKET"]["value"] == "dc2-postgres"
    # The primary's clusters (and a single-site prod on AKS) are not standbys of anything.
    for stack in ("onprem-dc1", "prod"):
        assert "standby" not in spec(stack) and not [
            name for name in (item["name"] for item in spec(stack)["env"]) if name.startswith("STANDBY_")
        ]
    # The standby reads exactly where the primary writes: WAL_S3_BUCKET without the operator's UID suffix.
    primary = {item["name"]: item.get("value") for item in spec("onprem-dc1")["env"]}
    assert standby["standby"]["s3_wal_path"] == f"s3://{primary['WAL_S3_BUCKET']}/spilo/payments-db/wal/17"


def test_kafka_clients_trust_the_listener_through_the_internal_ca(inventory):
    registrations = inventory("prod")
    listener = registrations.named("platform-kafka-listener-certificate").inputs
    assert (listener["metadata"]["namespace"], listener["spec"]["secretName"]) == ("kafka", "events-listener-tls")
    assert listener["spec"]["issuerRef"]["name"] == catalogue.INTERNAL_ISSUER
    # The bootstrap Service and every broker behind the headless Service, short and full names.
    assert listener["spec"]["dnsNames"] == [
        "events-kafka-bootstrap.kafka.svc", "*.events-kafka-brokers.kafka.svc",
        "events-kafka-bootstrap.kafka.svc.cluster.local", "*.events-kafka-brokers.kafka.svc.cluster.local",
    ]
    assert (
        "kubernetes:cert-manager.io/v1:Certificate::platform-kafka-listener-certificate"
        in registrations.named("platform-kafka-cluster").options["depends_on"]
    )
    # Exactly the teams whose workloads use Kafka get a client certificate (and with it ca.crt) in their namespace.
    from stacks.loader import load

    users = {team.name for team in load("prod").teams if any(u.service == "kafka" for w in team.workloads for u in w.uses)}
    clients = {r.inputs["metadata"]["namespace"]: r for r in registrations if r.name.startswith("platform-kafka-client-")}
    assert set(clients) == users and users
    for team, client in clients.items():
        assert (client.inputs["spec"]["secretName"], client.inputs["spec"]["commonName"]) == ("kafka-client-tls", team)
        assert client.inputs["spec"]["issuerRef"]["name"] == catalogue.INTERNAL_ISSUER
        assert f"kubernetes:core/v1:Namespace::team-{team}-namespace" in client.options["depends_on"]


def test_wal_g_verifies_each_archive_it_reads_with_its_endpoints_ca(inventory, sites_with_storage_cas):
    """`storage.ca_certificate`: Spilo mounts a Secret with the site's CA (and a secondary's standby the primary's, from
    the primary's stack file) and WAL-G reads each through `WALG_S3_CA_CERT_FILE` with Spilo's prefixes (none: the
    archive, `CLONE_`: a clone, `STANDBY_`: the primary's archive a standby follows). A site without one mounts none."""
    _, with_ca = sites_with_storage_cas
    volumes = [{"name": "storage-ca", "mountPath": "/etc/storage-ca", "targetContainers": ["postgres"],
                "volumeSource": {"secret": {"secretName": "postgres-payments-storage-ca"}}}]
    expected = {
        "onprem-dc1": {"WALG_S3_CA_CERT_FILE": "/etc/storage-ca/ca.crt", "CLONE_WALG_S3_CA_CERT_FILE": "/etc/storage-ca/ca.crt"},
        "onprem-dc2": {"WALG_S3_CA_CERT_FILE": "/etc/storage-ca/ca.crt", "CLONE_WALG_S3_CA_CERT_FILE": "/etc/storage-ca/ca.crt",
                       "STANDBY_WALG_S3_CA_CERT_FILE": "/etc/storage-ca/primary-ca.crt"},
    }
    for stack, env in expected.items():
        registered = with_ca(stack)
        spec = registered.named("postgres-payments-db-cluster").inputs["spec"]
        assert {e["name"]: e["value"] for e in spec["env"] if e["name"].endswith("WALG_S3_CA_CERT_FILE")} == env
        assert spec["additionalVolumes"] == volumes
        secret = registered.named("platform-storage-postgres-payments-ca")
        assert secret.inputs["metadata"]["namespace"] == "payments-data"  # its data (a Pulumi secret here): the render tier
        assert "kubernetes:core/v1:Secret::platform-storage-postgres-payments-ca" in (
            registered.named("postgres-payments-db-cluster").options["depends_on"])
    shipped = inventory("onprem-dc2").named("postgres-payments-db-cluster").inputs["spec"]
    assert "additionalVolumes" not in shipped and not [e for e in shipped["env"] if "CA_CERT" in e["name"]]
