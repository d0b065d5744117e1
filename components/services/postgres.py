"""PostgreSQL: the Zalando postgres-operator, and a `postgresql` cluster per database a team declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model.base import quantity_value
from stacks.model.services import Postgres as PostgresSettings
from stacks.model.services import Services
from stacks.model.teams import Database, Team, database_pods, database_storage_gi
from stacks.shared_services import SHARED_SERVICES, Endpoint, postgres_cluster_name, postgres_namespace
from stacks.sites import StandbySource

from ..access import rbac
from ..charts import pinned_chart
from ..kit.images import ImageSource, split_image
from ..kit.namespaces import HardenedNamespace, ServiceNamespace
from ..kit.network import ANYWHERE, KUBE_API_PORTS, tcp
from ..kit.options import after
from ..kit.parts import INSTANCE_LABEL, SITE_LABEL, Alert, ConnectionSettings, InstanceRow, ServicePart, Target, login_env
from ..kit.placement import database_node_affinity, database_tolerations
from ..kit.security import resources, restricted_container
from ..labels import LABEL_PREFIX, TEAM_LABEL, StackIdentity, kubernetes_labels
from ..storage import STORAGE_CA_KEY, STORAGE_CA_PRIMARY_KEY, ObjectStorage, StorageAccess, StorageCa
from .instances import clients_of, instance_network_policy

POSTGRES = SHARED_SERVICES["postgres"]
OPERATOR_SIZE = ("100m", "256Mi")
PATRONI_PORT = 8008
# The chart's objects, its ServiceAccount among them, are named `postgres-operator` whatever the
# release is called (`fullnameOverride`), so the policy config can name the account.
OPERATOR_NAME = "postgres-operator"
# The ServiceAccount the operator creates in every namespace with a cluster, for the Spilo pods
# (Patroni keeps its leader lock and member state through the API) and the logical backup jobs
# (which look up the replica to dump through the API). The chart's `podServiceAccount.name`.
POD_SERVICE_ACCOUNT = "postgres-pod"
DATABASE = "app"  # the database every cluster is created with
OWNER = "app"  # the role that owns it, as `<team>.app` (owner_role); its Secret: the shared services' postgres endpoint
# Spilo's postgres user and group; the data volume is group-writable for it.
SPILO_USER, SPILO_GROUP = 101, 103
BASE_BACKUP_SCHEDULE = "0 2 * * *"
# The operator runs every cluster's logical backup job with this Secret (in the cluster's
# namespace) as its environment; one name for all namespaces, as the operator's setting is global.
LOGICAL_BACKUP_SECRET = "postgres-logical-backup"
# The keys the logical backup job reads, as aliases of the object storage Secret's own keys.
LOGICAL_BACKUP_ALIASES = {"LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY": "AZURE_STORAGE_ACCESS_KEY"}
# The logical backup job's pod (one per cluster, daily), requests = limits.
LOGICAL_BACKUP_SIZE = ("250m", "512Mi")
# Why the data namespaces enforce Pod Security `baseline` (docs/services.md, Known limits).
POD_SECURITY_EXEMPTION = (
    "postgres-operator cannot set runAsNonRoot, seccomp or capabilities on database pods (zalando/postgres-operator#1745, #2223)"
)

# Client authentication: TLS and SCRAM for every network connection, no md5, nothing in clear.
PG_HBA = [
    "local all all trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
    "local replication standby trust",
    "hostssl replication standby all scram-sha-256",
    "hostnossl all all all reject",
    "hostssl all all all scram-sha-256",
]


def owner_role(team: str) -> str:
    """The owner role of a team's databases, in the operator's `<namespace>.<username>` form: with
    `enable_cross_namespace_secret` the operator writes the role's credentials Secret into the
    namespace before the first dot (the team namespace, where the workloads run) instead of the
    cluster's (`<team>-data`), as `<team>.app.<cluster>.credentials.postgresql.acid.zalan.do`
    (stacks/shared_services.py, the postgres endpoint's `secret`). The whole string is the PostgreSQL role name and the Secret's
    `username` (postgres-operator pkg/cluster/cluster.go `initRobotUsers`; docs/reference/cluster_manifest.md
    `users`)."""
    return f"{team}.{OWNER}"


def logical_backup_pod_labels(cluster: str) -> dict[str, str]:
    """The labels the operator gives the pods of a cluster's logical backup CronJob: the cluster's
    own labels with `application` replaced by `spilo-logical-backup` (postgres-operator
    pkg/cluster/k8sres.go `generateLogicalBackupJob`), so no database pod carries them."""
    return {"application": "spilo-logical-backup", "cluster-name": cluster}


def logical_backup_destination(backup: StorageAccess | None) -> dict[str, Any]:
    """Where the operator's logical backup jobs (pg_dumpall, daily) write: the `postgres` bucket,
    under `logical_backups/` next to the WAL archive; credentials come from LOGICAL_BACKUP_SECRET."""
    if backup is None:
        return {}
    destination: dict[str, Any] = {"logical_backup_cronjob_environment_secret": LOGICAL_BACKUP_SECRET}
    if backup.kind == "azure_blob":
        destination.update(
            logical_backup_provider="az",
            logical_backup_azure_storage_account_name=backup.account,
            logical_backup_azure_storage_container=backup.bucket,
        )
    else:
        destination.update(
            logical_backup_provider="s3",
            logical_backup_s3_bucket=backup.bucket,
            logical_backup_s3_endpoint=backup.endpoint,
            logical_backup_s3_region=backup.region,
            # The sites' S3-compatible endpoints encrypt at rest themselves.
            logical_backup_s3_sse="",
        )
    return destination


def operator_values(images: ImageSource, backup: StorageAccess | None = None) -> dict[str, Any]:
    registry, repository, tag = split_image(images.mirrored(catalogue.POSTGRES_OPERATOR_IMAGE))
    return {
        "fullnameOverride": OPERATOR_NAME,
        "podServiceAccount": {"name": POD_SERVICE_ACCOUNT},
        "image": {"registry": registry, "repository": repository, "tag": tag},
        "configTarget": "OperatorConfigurationCRD",
        # Patroni keeps its leader lock in ConfigMaps (Endpoints are deprecated from 1.33); pods' memory requests
        # equal their limits. Both are `configGeneral` keys: the chart writes that section at the top of the
        # OperatorConfiguration's `configuration`, where its CRD declares them (under `kubernetes` the API server
        # prunes them as unknown fields).
        "configGeneral": {"docker_image": images.mirrored(catalogue.SPILO_IMAGE), "enable_shm_volume": True,
                          "kubernetes_use_configmaps": True, "set_memory_request_to_limit": True},
        "configKubernetes": {
            "cluster_labels": {"application": "spilo"},
            "cluster_name_label": "cluster-name",
            "watched_namespace": "*",
            "enable_pod_antiaffinity": True,
            "enable_pod_disruption_budget": True,
            "enable_readiness_probe": True,
            # As far as the operator lets Spilo pods be restricted: no privilege, no escalation,
            # a fixed non-root user. (It cannot set runAsNonRoot, seccomp or drop capabilities;
            # docs/services.md.)
            "spilo_privileged": False,
            "spilo_allow_privilege_escalation": False,
            "spilo_runasuser": SPILO_USER,
            "spilo_runasgroup": SPILO_GROUP,
            "spilo_fsgroup": SPILO_GROUP,
            "storage_resize_mode": "pvc",
            # A role named `<namespace>.<user>` gets its credentials Secret in that namespace: the
            # apps' credentials land in the team namespace (owner_role).
            "enable_cross_namespace_secret": True,
        },
        "configLogicalBackup": {
            "logical_backup_docker_image": images.mirrored(catalogue.POSTGRES_LOGICAL_BACKUP_IMAGE),
            "logical_backup_cpu_request": LOGICAL_BACKUP_SIZE[0], "logical_backup_cpu_limit": LOGICAL_BACKUP_SIZE[0],
            "logical_backup_memory_request": LOGICAL_BACKUP_SIZE[1], "logical_backup_memory_limit": LOGICAL_BACKUP_SIZE[1],
            **logical_backup_destination(backup),
        },
        # The operator runs this image for any cluster that enables a pooler: from the stack's registry too.
        "configConnectionPooler": {"connection_pooler_image": images.mirrored(catalogue.POSTGRES_POOLER_IMAGE)},
        "configTeamsApi": {"enable_teams_api": False},
        "resources": resources(*OPERATOR_SIZE),
        # Chart 2.0.1 sets only the container's securityContext (templates/deployment.yaml; it has no pod-level
        # one), which alone meets `restricted`: runAsNonRoot and the seccomp profile on the one container.
        "securityContext": {**restricted_container(1000), "readOnlyRootFilesystem": True},
    }


def wal_archive_env(backup: StorageAccess, cluster: str, version: str, kept: int) -> list[dict[str, Any]]:
    """Spilo's WAL-G settings: continuous WAL archiving and daily base backups to the `postgres`
    bucket, so a cluster can be restored to any point in the kept window (`clone` with a timestamp).

    `backup` is the `StorageAccess` the object storage hands out for the team's namespace: its
    Secret holds the keys, everything else here is not secret."""

    def secret(variable: str, key: str | None = None) -> dict[str, Any]:
        return {"name": variable, "valueFrom": {"secretKeyRef": {"name": backup.secret_name, "key": key or variable}}}

    common = [
        {"name": "USE_WALG_BACKUP", "value": "true"},
        {"name": "USE_WALG_RESTORE", "value": "true"},
        {"name": "CLONE_USE_WALG_RESTORE", "value": "true"},
        {"name": "BACKUP_SCHEDULE", "value": BASE_BACKUP_SCHEDULE},
        {"name": "BACKUP_NUM_TO_RETAIN", "value": str(kept)},
    ]
    if backup.kind == "azure_blob":
        return [
            *common,
            secret("AZURE_STORAGE_ACCOUNT"),
            secret("AZURE_STORAGE_ACCESS_KEY"),
            {"name": "WALG_AZ_PREFIX", "value": f"azure://{backup.bucket}/spilo/{cluster}/{version}"},
        ]
    return [
        *common,
        secret("AWS_ACCESS_KEY_ID"),
        secret("AWS_SECRET_ACCESS_KEY"),
        {"name": "WAL_S3_BUCKET", "value": backup.bucket},
        {"name": "AWS_ENDPOINT", "value": backup.endpoint},
        {"name": "AWS_REGION", "value": backup.region},
        {"name": "AWS_S3_FORCE_PATH_STYLE", "value": "true" if backup.path_style else "false"},
    ]


def storage_ca_env(ca: StorageCa | None) -> list[dict[str, Any]]:
    """WAL-G's CA file for each archive Spilo reads or writes (its own: archive and clones; the primary's: a standby),
    from the mounted Secret (`storage_ca_volumes`). Spilo 4 configure_spilo.py `write_wale_environment` passes
    `WALG_S3_CA_CERT_FILE`, with the `CLONE_` and `STANDBY_` prefixes for those archives, into WAL-G's environment."""
    if ca is None:
        return []
    env = []
    if STORAGE_CA_KEY in ca.keys:
        env += [{"name": f"{prefix}WALG_S3_CA_CERT_FILE", "value": ca.file(STORAGE_CA_KEY)} for prefix in ("", "CLONE_")]
    if STORAGE_CA_PRIMARY_KEY in ca.keys:
        env.append({"name": "STANDBY_WALG_S3_CA_CERT_FILE", "value": ca.file(STORAGE_CA_PRIMARY_KEY)})
    return env


def storage_ca_volumes(ca: StorageCa) -> list[dict[str, Any]]:
    """The `postgresql` resource's `additionalVolumes` (operator 2.0.1 CRD: name, mountPath, targetContainers,
    volumeSource) that mount the CA Secret into the Spilo container, where WAL-G reads it."""
    volume = ca.volume()
    return [{"name": volume["name"], "mountPath": ca.mount()["mountPath"], "targetContainers": ["postgres"],
             "volumeSource": {"secret": volume["secret"]}}]


def wal_archive_path(bucket: str, cluster: str, version: str) -> str:
    """Where Spilo archives a cluster's WAL in an S3 bucket: `WAL_S3_BUCKET` set in the cluster's
    own env (wal_archive_env) leaves the operator's bucket scope suffix (the cluster's UID) out, so
    the path is the same for the cluster at the other site."""
    return f"s3://{bucket}/spilo/{cluster}/wal/{version}"


def standby_spec(standby: StandbySource, backup: StorageAccess, cluster: str, version: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `standby` section and the `STANDBY_` env of a cluster that follows the same cluster at the
    primary site from its WAL archive (the primary's `postgres` bucket, on the primary's endpoint),
    read with this site's credentials (docs/storage.md: the storage administrators grant read on the
    primary's buckets). The operator's documentation: copy the variables that reach the archive and
    prefix them with `STANDBY_`. Removing the section promotes the cluster (the failover)."""

    def secret(variable: str, key: str) -> dict[str, Any]:
        return {"name": variable, "valueFrom": {"secretKeyRef": {"name": backup.secret_name, "key": key}}}

    env = [
        {"name": "STANDBY_USE_WALG_RESTORE", "value": "true"},
        secret("STANDBY_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        secret("STANDBY_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        {"name": "STANDBY_AWS_ENDPOINT", "value": standby.storage_endpoint},
        {"name": "STANDBY_AWS_REGION", "value": standby.storage_region},
        {"name": "STANDBY_AWS_S3_FORCE_PATH_STYLE", "value": "true"},
    ]
    return {"s3_wal_path": wal_archive_path(standby.buckets["postgres"], cluster, version)}, env


@dataclass(frozen=True, kw_only=True)
class PostgresArgs:
    team: Team
    database: Database
    settings: PostgresSettings
    identity: StackIdentity
    backup: StorageAccess | None = None
    """The `StorageAccess` for the `postgres` bucket in the team's data namespace (components/storage),
    or None: no WAL archiving and no logical backups (stacks without object storage)."""
    standby: StandbySource | None = None
    """On a secondary site, the primary it follows: the cluster runs as a standby of the primary's."""
    storage_ca: StorageCa | None = None
    """The CA Secret in the data namespace of the S3 endpoints whose certificates an internal CA issued (this site's
    and, on a secondary, the primary's): WAL-G verifies them with it."""


class Postgres(pulumi.ComponentResource):
    """A Zalando `postgresql` cluster `<team>-<name>` in the team's data namespace: instances and volume
    by environment, the declared version and size (requests = limits), `scram-sha-256` passwords
    and TLS-only client authentication, on the database node pool (its taint tolerated, its label
    required), with WAL archiving, base and logical backups to object storage when the stack has
    it; and the NetworkPolicy its pods need. Protected in prod."""

    cluster: k8s.apiextensions.CustomResource
    cluster_name: str

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Postgres", name, None, opts)
        team, database = args.team, args.database
        service = args.settings
        self.cluster_name = postgres_cluster_name(team.name, database.name)
        version = database.version or service.version
        cpu, memory = catalogue.INSTANCE_SIZES[database.size]
        labels = {**kubernetes_labels(args.identity, "database"), f"{LABEL_PREFIX}/team": team.name}
        # Children order on the operator and the data namespace through the component's dependencies.
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        spec: dict[str, Any] = {
            "teamId": team.name,
            "numberOfInstances": service.instances,
            "postgresql": {
                "version": version,
                "parameters": {"password_encryption": "scram-sha-256", "ssl_min_protocol_version": "TLSv1.2"},
            },
            "volume": {"size": f"{database.volume_gi or service.volume_gi}Gi"},
            "resources": resources(cpu, memory),
            "users": {owner_role(team.name): []},
            "databases": {DATABASE: owner_role(team.name)},
            "patroni": {"pg_hba": PG_HBA},
            "tolerations": database_tolerations(),
            "nodeAffinity": database_node_affinity(),
            "spiloRunAsUser": SPILO_USER,
            "spiloRunAsGroup": SPILO_GROUP,
            "spiloFSGroup": SPILO_GROUP,
        }
        if args.backup is not None:
            spec["env"] = wal_archive_env(args.backup, self.cluster_name, version, service.base_backups_kept)
            spec["enableLogicalBackup"] = True
            spec["logicalBackupSchedule"] = service.logical_backup_schedule
            # A secondary site's cluster follows the primary's from its WAL archive (S3 sites only).
            if args.standby is not None and args.standby.storage_endpoint and "postgres" in args.standby.buckets:
                spec["standby"], standby_env = standby_spec(args.standby, args.backup, self.cluster_name, version)
                spec["env"] = [*spec["env"], *standby_env]
            if args.storage_ca is not None:
                spec["env"] = [*spec["env"], *storage_ca_env(args.storage_ca)]
                spec["additionalVolumes"] = storage_ca_volumes(args.storage_ca)
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=catalogue.POSTGRES_API,
            kind="postgresql",
            metadata={"name": self.cluster_name, "namespace": postgres_namespace(team.name), "labels": labels},
            spec=spec,
            opts=after(child, args.backup.secret if args.backup is not None else None,
                       args.storage_ca.secret if args.storage_ca is not None else None, protected=args.identity.production),
        )
        instance_network_policy(
            f"{name}-network",
            {"name": f"{self.cluster_name}-postgres", "namespace": postgres_namespace(team.name), "labels": labels},
            POSTGRES.endpoint(team.name, database.name).pod_labels,
            client_ports=POSTGRES.ports,
            peer_ports=(*POSTGRES.ports, PATRONI_PORT),
            clients=clients_of(team, "postgres", database.name),
            clients_namespace=team.name,
            operator_namespace=catalogue.POSTGRES_OPERATOR_NAMESPACE,
            operator_ports=(*POSTGRES.ports, PATRONI_PORT),
            # Patroni keeps its state through the API server; WAL-G ships to object storage.
            https_egress=True,
            opts=child,
        )
        if args.backup is not None:
            logical_backup_network_policies(
                f"{name}-logical-backup",
                self.cluster_name,
                postgres_namespace(team.name),
                POSTGRES.endpoint(team.name, database.name).pod_labels,
                labels,
                child,
            )
        self.register_outputs({"cluster": self.cluster_name})


def logical_backup_network_policies(
    name: str, cluster: str, namespace: str, database_labels: dict[str, str], labels: dict[str, str], opts: pulumi.ResourceOptions,
) -> None:
    """What the operator's logical backup job pods need in the default-deny data namespace, and no
    more: to the cluster's database pods on 5432 (pg_dumpall), and HTTPS out, which is both object
    storage (the dump's upload) and the API server (the job looks up a replica's address through
    it: logical-backup/dump.sh `get_pods`). The database pods admit them on 5432."""
    backup_pods = {"matchLabels": logical_backup_pod_labels(cluster)}
    database_pods = {"matchLabels": database_labels}
    k8s.networking.v1.NetworkPolicy(
        name,
        metadata={"name": f"{cluster}-logical-backup", "namespace": namespace, "labels": labels},
        spec={
            "podSelector": backup_pods,
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"podSelector": database_pods}], "ports": tcp(*POSTGRES.ports)},
                {"to": ANYWHERE, "ports": tcp(*KUBE_API_PORTS)},
            ],
        },
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-to-database",
        metadata={"name": f"{cluster}-from-logical-backup", "namespace": namespace, "labels": labels},
        spec={
            "podSelector": database_pods,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": backup_pods}], "ports": tcp(*POSTGRES.ports)}],
        },
        opts=opts,
    )


def data_quota(settings: PostgresSettings, team: Team, backups: bool) -> dict[str, str]:
    """The data namespace's ResourceQuota: exactly the team's declared databases (every instance
    at its size, requests = limits, and its volume claims; the same sums config validation counts
    against the team's quota) plus, with backups, one logical backup job pod per cluster."""
    pods = [item for database in team.databases for item in database_pods(settings, database)]
    if backups:
        pods += [(1, *LOGICAL_BACKUP_SIZE)] * len(team.databases)
    cpu = sum(count * quantity_value(cpu) for count, cpu, _ in pods)
    memory = sum(count * quantity_value(memory) for count, _, memory in pods)
    storage = sum(database_storage_gi(settings, database) for database in team.databases)
    cpu_text = f"{cpu:g}" if cpu == int(cpu) else f"{round(cpu * 1000)}m"
    memory_text = f"{memory / 2**30:g}Gi" if memory % 2**30 == 0 else f"{memory / 2**20:g}Mi"
    return {
        "requests.cpu": cpu_text, "limits.cpu": cpu_text,
        "requests.memory": memory_text, "limits.memory": memory_text,
        "requests.storage": f"{storage}Gi",
        "pods": str(sum(count for count, _, _ in pods)),
    }


class DataNamespace(HardenedNamespace):
    """A team's data namespace `<team>-data`, for its `postgresql` clusters only, created under
    `opts`' parent: the hardened namespace (components/kit/namespaces.py) enforcing Pod Security
    `baseline` (audit and warn stay `restricted`, so the gap shows), annotated with the reason
    (POD_SECURITY_EXEMPTION); a ResourceQuota of exactly the declared databases (`data_quota`); and
    the team's groups bound to a view-only Role in every environment (`rbac.data_rules`). Each
    cluster adds its own policy (peers, the operator, the team's declared clients, HTTPS for Patroni
    and WAL-G).
    """

    def __init__(
        self, name: str, team: Team, settings: PostgresSettings, identity: StackIdentity, backups: bool, opts: pulumi.ResourceOptions
    ):
        labels = {**kubernetes_labels(identity, "database"), TEAM_LABEL: team.name}
        super().__init__(name, postgres_namespace(team.name), labels, opts, enforce="baseline",
                         annotations={f"{LABEL_PREFIX}/pod-security-exemption": POD_SECURITY_EXEMPTION})
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=self.metadata("data-quota"), spec={"hard": data_quota(settings, team, backups)}, opts=self.opts
        )
        k8s.rbac.v1.Role(f"{name}-role", metadata=self.metadata(rbac.DATA_ROLE_NAME), rules=rbac.data_rules(), opts=self.opts)
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=self.metadata(f"{rbac.DATA_ROLE_NAME}-groups"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": rbac.DATA_ROLE_NAME},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in team.groups],
            opts=self.opts,
        )


@dataclass(frozen=True, kw_only=True)
class PostgresOperatorArgs:
    settings: PostgresSettings
    teams: list[Team]
    """The teams whose `databases` the operator runs."""
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The postgres part's charts (postgres-operator), resolved by the loader."""
    storage: ObjectStorage | None = None
    """The stack's object storage: WAL archiving and logical backups go to its `postgres` bucket."""
    team_namespaces: dict[str, k8s.core.v1.Namespace]
    """The team namespaces, which receive the owners' credentials Secrets."""
    standby: StandbySource | None = None
    """On a secondary site, the primary whose clusters these follow."""


class PostgresOperator(pulumi.ComponentResource):
    """Creates the `postgres-operator` namespace (restricted, default-deny, egress to the database
    pods it manages), the postgres-operator chart at its pinned version, a `DataNamespace`
    `<team>-data` for every team that declares databases, and a `Postgres` there for every
    database, each after the operator (its CRD), the data namespace and, when given
    (`team_namespaces`), the team namespace that receives the owner's credentials Secret.

    The databases do not run in the team namespace because it enforces Pod Security `restricted`,
    which the operator's Spilo pods cannot meet (POD_SECURITY_EXEMPTION); the team namespace keeps
    enforcing it, and only the database pods run at `baseline`."""

    namespace: k8s.core.v1.Namespace
    chart: k8s.helm.v4.Chart | None
    clusters: dict[str, Postgres]
    data_namespaces: dict[str, DataNamespace]

    def __init__(self, name: str, args: PostgresOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:PostgresOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        storage = args.storage
        space = ServiceNamespace(name, catalogue.POSTGRES_OPERATOR_NAMESPACE, kubernetes_labels(args.identity, "database-operator"), child)
        self.namespace = space.namespace
        space.policy("allow-databases", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"application": "spilo"}}}], "ports": [
                {"protocol": "TCP", "port": port} for port in (*POSTGRES.ports, PATRONI_PORT)
            ]}],
        })
        self.data_namespaces = {
            team.name: DataNamespace(f"postgres-{team.name}-data", team, args.settings, args.identity, storage is not None, child)
            for team in args.teams
            if team.databases
        }
        # Each data namespace gets the `postgres` bucket's credentials, and a copy under the one
        # name the logical backup jobs read.
        backups: dict[str, StorageAccess] = {}
        cas: dict[str, StorageCa | None] = {}
        # A standby reads the primary's archive at the primary's endpoint, verified with the CA its stack file names.
        primary_ca = args.standby.storage_ca_certificate if args.standby is not None and args.standby.storage_endpoint else None
        for team in args.teams:
            data = self.data_namespaces.get(team.name)
            if storage is None or data is None:
                continue
            backup = storage.access_for(
                f"postgres-{team.name}",
                data.namespace.metadata.name,
                "postgres",
                aliases=LOGICAL_BACKUP_ALIASES if storage.kind == "azure_blob" else None,
            )
            storage.copy_of(f"{name}-{team.name}-logical-backup", backup, LOGICAL_BACKUP_SECRET, data.namespace_name,
                            {**space.labels, f"{LABEL_PREFIX}/team": team.name}, after(child, data.namespace))
            backups[team.name] = backup
            cas[team.name] = storage.ca_for(f"postgres-{team.name}", data.namespace.metadata.name, primary_ca)
        any_backup = next(iter(backups.values()), None)
        self.chart = pinned_chart(
            f"{name}-chart",
            catalogue.POSTGRES_OPERATOR,
            args.charts,
            catalogue.POSTGRES_OPERATOR_NAMESPACE,
            operator_values(args.images, any_backup),
            after(child, self.namespace),
        )
        self.clusters = {}
        for team in args.teams:
            for database in team.databases:
                cluster = Postgres(
                    f"postgres-{team.name}-{database.name}",
                    PostgresArgs(
                        team=team,
                        database=database,
                        settings=args.settings,
                        identity=args.identity,
                        backup=backups.get(team.name),
                        standby=args.standby,
                        storage_ca=cas.get(team.name),
                    ),
                    # The operator writes the owner's Secret into the team namespace (owner_role).
                    after(child, self.chart, self.data_namespaces[team.name].namespace, args.team_namespaces.get(team.name)),
                )
                self.clusters[cluster.cluster_name] = cluster
        self.register_outputs({"clusters": sorted(self.clusters)})


# --- what the rest of the platform knows of it (components/kit/parts.py) ---------------------------

# A replica this far behind its primary's WAL (bytes: four 16 MiB segments) is lagging.
REPLICATION_LAG_BYTES = 64 * 1024 * 1024


def monitor_targets(services: Services, teams: list[Team]) -> list[Target]:
    """Patroni's REST API in every Spilo pod of every cluster the teams declare."""
    return [
        Target(
            "postgres",
            f"{postgres_cluster_name(team.name, database.name)}-patroni",
            postgres_namespace(team.name),
            "PodMonitor",
            POSTGRES.endpoint(team.name, database.name).pod_labels,
            PATRONI_PORT,
            f"{team.name}/{database.name}",
            team.name,
        )
        for team in teams
        for database in team.databases
    ]


def dashboard_instances(team: Team) -> list[InstanceRow]:
    """Zalando names a cluster's StatefulSet after the cluster."""
    return [(f"postgres {db.name}", postgres_namespace(team.name), postgres_cluster_name(team.name, db.name)) for db in team.databases]


def client_env(settings: ConnectionSettings, prefix: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The address, the database, and the owner role's credentials from its Secret (the endpoint's)."""
    return login_env(prefix, endpoint, {"DATABASE": DATABASE})


PART = ServicePart(
    service="postgres",
    component=PostgresOperator,
    title="Postgres",
    label="PostgreSQL",
    holds_data=True,
    health=("postgres-operator", catalogue.POSTGRES_OPERATOR_NAMESPACE),
    targets=monitor_targets,
    alerts=(
        Alert(
            "PostgresReplicationLag",
            f"max by ({SITE_LABEL}, namespace, {INSTANCE_LABEL}) (patroni_xlog_location) "
            f"- on ({SITE_LABEL}, namespace, {INSTANCE_LABEL}) group_right () "
            f"(patroni_xlog_replayed_location and on ({SITE_LABEL}, namespace, pod) (patroni_replica == 1)) > {REPLICATION_LAG_BYTES}",
            "warning",
            "postgres",
            "Replica {{ $labels.pod }} of {{ $labels." + INSTANCE_LABEL + " }} lags its leader",
            "The replica has replayed {{ $value | humanize1024 }}B less WAL than the leader has written; a failover now loses or "
            "delays that much.",
            "10m",
        ),
        Alert(
            "PostgresDown",
            "patroni_postgres_running == 0",
            "critical",
            "postgres",
            "PostgreSQL is not running in {{ $labels.pod }} ({{ $labels." + INSTANCE_LABEL + " }})",
            "Patroni reports its PostgreSQL stopped for 5 minutes.",
            "5m",
        ),
    ),
    instances=dashboard_instances,
    client_env=client_env,
    volume_claims={
        "kubernetes:acid.zalan.do/v1:postgresql": (
            ("spec", "volume", "size"),
            ("spec", "numberOfInstances"),
            ("spec", "volume", "storageClass"),
        ),
    },
    stateful_types=("kubernetes:acid.zalan.do/v1:postgresql",),
    object_storage="WAL archive",
)
