"""Central logs for one site: Fluent Bit on every node, Loki for search, the `logs` bucket as archive.

`Logs` creates, when `services.logging.enabled`:

- the `logging` namespace (Pod Security restricted, default-deny, pods of the namespace may talk to
  each other) with Loki from the pinned grafana/loki chart in single-binary mode (one site's volume
  fits one binary; `fullnameOverride: loki`, so its gateway is `loki-gateway:80`, common.LOKI_URL).
  Chunks and the TSDB index go to the `logs` bucket (S3 or Azure Blob) with the credentials of
  `ObjectStorage.access_for("loki", "logging", "logs")`, read from that Secret into environment
  variables and expanded by Loki (`-config.expand-env=true`): no key is written into the values.
  An S3 endpoint's CA (`storage.ca_certificate`) is the Secret `loki-storage-ca` (`ObjectStorage.ca_for`), mounted
  for `http_config.ca_file` (Fluent Bit's archive output: `fluent-bit-storage-ca`, for `tls.ca_file`).
  The compactor deletes what is older than `retention_days`; the volume (`volume_gi`) holds the
  write-ahead log and the index cache only;
- Fluent Bit (pinned fluent/fluent-bit chart) as a DaemonSet in the node agents' namespace,
  tolerating every taint so it runs on every node (control plane and database nodes too). It tails
  the container logs (and, on RKE2, the API server's audit log) and ships every line, labelled
  `namespace`, `pod`, `container`, `site` and `environment`, to Loki, and the same lines as
  gzip-compressed objects under `<environment>-<site>/` in the `logs` bucket (the archive, kept
  `archive_days`). A secondary site also ships to its primary's Loki at
  `https://<primary telemetry host>/loki/api/v1/push` with basic auth (every site of several holds
  the shared password in a Secret, so a failover changes only where Fluent Bit ships);
- on a primary with secondaries, the receiving end: an Ingress on its telemetry host for the push
  path only, with TLS from the platform ClusterIssuer and ingress-nginx basic auth;
- on AKS, the API server's audit log (`kube-audit-admin`) through an Azure diagnostic setting into
  the storage account (the archive; `ObjectStorage.archive_audit_log`), since AKS writes it on no node;
- the network policies: Loki admits Grafana, Fluent Bit, the OpenTelemetry Collector and (on a
  receiving primary) the ingress controller; Loki and Fluent Bit reach the object storage.

Archive retention is the storage's lifecycle: on Azure a rule of the account's management policy
(components/storage/object_storage.py) cools and then deletes the archive; on S3 the storage
administrators set the rule that `summary["archive"]["lifecycle"]` states (docs/observability.md).

Fluent Bit is the one pod here that cannot run `restricted`: it reads the node's log files (hostPath
volumes, as root, which owns them) and keeps its read positions and buffers on the node, so it runs
in the node agents' namespace (common.node_agents_namespace) under the policy pack's exemption.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.chart_sources import PartCharts
from stacks.model import S3
from stacks.model.observability import CentralView, Logging
from stacks.model.site import Site

from ..charts import pinned_chart
from ..infrastructure.aks import AksCluster
from ..infrastructure.rancher import AUDIT_POLICY  # noqa: F401  (re-exported: what the audit log records)
from ..kit.images import ImageSource
from ..kit.namespaces import ServiceNamespace
from ..kit.options import present
from ..kit.network import ANYWHERE, KUBE_API_PORTS, from_namespace, tcp
from ..kit.security import RESTRICTED_CONTAINER
from ..labels import INGRESS_TARGET_LABEL, StackIdentity, kubernetes_labels
from ..storage import AZURE_ACCOUNT_KEY, AZURE_ACCOUNT_NAME, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, ObjectStorage, StorageAccess, StorageCa
# AKS: the API server's audit log without reads, sent by a diagnostic setting into the storage
# account, where Azure writes it to this container.
from ..storage.object_storage import AKS_AUDIT_CATEGORY, AKS_AUDIT_CONTAINER, log_archive_rule
from .common import (
    central_receiver,
    CENTRAL_USERNAME,
    GRAFANA_NAMESPACE,
    LOGGING_NAMESPACE,
    LOKI_PUSH_PATH,
    LOKI_URL,
    NODE_AGENTS_NAMESPACE,
    SITE_LABEL,
    TRACING_NAMESPACE,
    receives_from_secondaries,
)

LOKI_FULLNAME = "loki"  # fullnameOverride: Services loki (3100) and loki-gateway (80)
LOKI_GATEWAY_HOST = f"loki-gateway.{LOGGING_NAMESPACE}.svc"
LOKI_PORT = 3100  # the single binary's HTTP port
GATEWAY_PORT = 8080  # the gateway's nginx listens here behind the Service's port 80
FLUENT_BIT_FULLNAME = "fluent-bit"
FLUENT_BIT_POD_LABELS = {"app.kubernetes.io/name": "fluent-bit"}
FLUENT_BIT_METRICS_PORT = 2020
COLLECTOR_POD_LABELS = {"app.kubernetes.io/name": "opentelemetry-collector"}  # the chart's name label (traces.py)
NON_ROOT_ID = 10001  # the Loki image's user
# Loki's schema: TSDB index, schema v13 (the one Loki 3 requires for structured metadata).
SCHEMA_FROM = "2024-04-01"

# RKE2 writes the API server's audit log here on server (control-plane) nodes
# (`<data-dir>/server/logs/audit.log`, data dir /var/lib/rancher/rke2). Its default audit policy
# logs nothing (`level: None`), so the file exists but stays empty until the cluster config sets
# `audit-policy-file`: the RancherCluster puts components.infrastructure.rancher.AUDIT_POLICY on the
# control-plane nodes and points RKE2 at it (docs/observability.md).
RKE2_AUDIT_DIRECTORY = "/var/lib/rancher/rke2/server/logs"
RKE2_AUDIT_LOG = f"{RKE2_AUDIT_DIRECTORY}/audit.log"

# On the node (hostPath): the log files read, and Fluent Bit's read positions and buffers.
NODE_LOGS = "/var/log"
NODE_STATE = "/var/lib/fluent-bit"

CENTRAL_AUTH_SECRET = "central-logs-auth"  # htpasswd entry at a receiving primary
CENTRAL_TLS_SECRET = "central-logs-tls"
CENTRAL_PASSWORD_SECRET = "central-logs-push"  # a secondary's password at its primary
CENTRAL_CA_KEY = "ca.crt"  # the environment CA, in CENTRAL_PASSWORD_SECRET, mounted for `tls.ca_file`
CENTRAL_CA_DIRECTORY = "/fluent-bit/central-ca"

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_ID,
    "runAsGroup": NON_ROOT_ID,
    "fsGroup": NON_ROOT_ID,
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Root (UID 0, which owns the node's log files) with no capabilities, no privilege escalation, a
# read-only root file system and the runtime's seccomp profile: everything else of `restricted`.
FLUENT_BIT_CONTAINER = {
    "runAsUser": 0,
    "runAsGroup": 0,
    "runAsNonRoot": False,
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
LOKI_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
GATEWAY_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
FLUENT_BIT_RESOURCES = {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "384Mi"}}


@dataclass(frozen=True, kw_only=True)
class LogsArgs:
    logging: Logging
    central: CentralView
    """The cross-site view (`services.monitoring.central`): this site's telemetry host and the shared password."""
    site: Site
    identity: StackIdentity
    images: ImageSource
    charts: PartCharts
    """The logging part's charts (Loki, Fluent Bit), resolved by the loader."""
    audit_log_on_nodes: bool
    """The API server's audit log is a file on the control-plane nodes (RKE2), which Fluent Bit tails;
    AKS keeps it off the nodes and writes it to storage itself (`aks`)."""
    s3: S3 | None = None
    """The stack's S3 storage settings, which the archive output names; None on Azure Blob storage."""
    ships_to: str | None = None
    """On a secondary site, its primary's telemetry host, where it pushes its logs."""
    trusted_ca: str | None = None
    """The environment CA's certificate (PEM): the push to the primary verifies its telemetry host with it."""
    storage: ObjectStorage | None = None
    """The stack's object storage (the config requires one when logging is on)."""
    node_agents: ServiceNamespace | None = None
    """The node agents' namespace (common.node_agents_namespace), where Fluent Bit runs."""
    aks: AksCluster | None = None
    """The AKS cluster whose audit log goes to the archive (ObjectStorage.archive_audit_log)."""


def archive_prefix(identity: StackIdentity) -> str:
    """Where one cluster's archive goes inside the `logs` bucket: `<environment>-<site>`."""
    return f"{identity.environment}-{identity.site}"


def collects_audit_log(args: LogsArgs) -> bool:
    """Fluent Bit tails the audit log where the nodes hold it (RKE2); AKS keeps it off the nodes."""
    return args.logging.audit_logs and args.audit_log_on_nodes


def s3_lifecycle_rule(bucket: str, prefix: str, days: int) -> str:
    """The rule the S3 administrators set on the `logs` bucket (module docstring)."""
    return f"expire objects under `{prefix}/` in bucket `{bucket}` {days} days after creation"


def _host(endpoint: pulumi.Input[str]) -> pulumi.Output[str]:
    """`s3.dc1.example.com[:port]` of `https://s3.dc1.example.com[:port]`."""
    return pulumi.Output.from_input(endpoint).apply(lambda url: url.split("://", 1)[-1].rstrip("/"))


def _env_from_secret(secret: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """Environment variables read from keys of one Secret: (variable, key) pairs."""
    return [{"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for variable, key in pairs]


def storage_env(access: StorageAccess) -> list[dict[str, Any]]:
    """The object storage credentials as environment variables, from the consumer's Secret."""
    if access.kind == "s3":
        return _env_from_secret(access.secret_name, (S3_ACCESS_KEY_ID, S3_ACCESS_KEY_ID), (S3_SECRET_ACCESS_KEY, S3_SECRET_ACCESS_KEY))
    return _env_from_secret(access.secret_name, (AZURE_ACCOUNT_NAME, AZURE_ACCOUNT_NAME), (AZURE_ACCOUNT_KEY, AZURE_ACCOUNT_KEY))


# --- Loki ----------------------------------------------------------------------------------------


def loki_storage(access: StorageAccess, ca: StorageCa | None = None) -> dict[str, Any]:
    """`loki.storage` of the chart: the `logs` bucket, credentials as `${VAR}` references Loki
    expands from its environment; with `ca`, the endpoint verified with the mounted CA file (`http_config.ca_file`, Loki
    3.6 pkg/storage/chunk/client/aws/s3_storage_client.go "Path to the trusted CA file that signed the SSL certificate
    of the S3 endpoint"; chart 7.3.0 templates/_helpers.tpl `loki.lokiStorageConfig.s3` writes `http_config` as given)."""
    storage: dict[str, Any] = {
        "type": "s3" if access.kind == "s3" else "azure",
        "bucketNames": {"chunks": access.bucket, "ruler": access.bucket, "admin": access.bucket},
    }
    if access.kind == "s3":
        storage["s3"] = {
            "endpoint": _host(access.endpoint),
            "region": access.region,
            "s3ForcePathStyle": access.path_style,
            "insecure": False,
            "accessKeyId": f"${{{S3_ACCESS_KEY_ID}}}",
            "secretAccessKey": f"${{{S3_SECRET_ACCESS_KEY}}}",
        }
        if ca is not None:
            storage["s3"]["http_config"] = {"ca_file": ca.file()}
    else:
        storage["azure"] = {
            "accountName": f"${{{AZURE_ACCOUNT_NAME}}}",
            "accountKey": f"${{{AZURE_ACCOUNT_KEY}}}",
            "useManagedIdentity": False,
            "useFederatedToken": False,
        }
    return storage


def loki_chart_image(image: str) -> dict[str, str]:
    """An image as the Loki chart's `loki.baseImage` takes it: the whole reference in `repository`, no `registry`.

    The chart puts `registry` in front of `repository` only when the repository's first segment has no `.`
    (templates/_helpers.tpl at 7.3.0), taking a dotted first segment for a registry host. A mirror path that keeps
    the upstream host (`platformacr.azurecr.io/docker.io/grafana/loki`, the approved registry's `<upstream>/...`
    layout) split into registry and repository would lose its registry and pull from Docker Hub."""
    repository, _, tag = image.rpartition(":")
    return {"registry": "", "repository": repository, "tag": tag}


def loki_values(args: LogsArgs, access: StorageAccess, ca: StorageCa | None = None) -> dict[str, Any]:
    logging = args.logging
    # The ingress controller reaches only pods labelled as its targets. Any site of several may be
    # (or become) the primary that receives its secondaries' pushes, so the gateway carries the
    # label at each of them; Loki's own policy admits the controller only where it receives.
    gateway_labels = {INGRESS_TARGET_LABEL: "true"} if args.central.hostname else {}
    store = "s3" if access.kind == "s3" else "azure"
    return {
        "fullnameOverride": LOKI_FULLNAME,
        "deploymentMode": "SingleBinary",
        "loki": {
            "image": loki_chart_image(args.images.mirrored(catalogue.LOKI_IMAGE)),
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "schemaConfig": {
                "configs": [
                    {
                        "from": SCHEMA_FROM,
                        "store": "tsdb",
                        "object_store": store,
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
            "storage": loki_storage(access, ca),
            # Retention is the compactor's: it deletes chunks and index entries past the period.
            "compactor": {
                "working_directory": "/var/loki/compactor",
                "compaction_interval": "10m",
                "retention_enabled": True,
                "retention_delete_delay": "2h",
                "delete_request_store": store,
            },
            "limits_config": {
                "retention_period": f"{logging.retention_days * 24}h",
                "allow_structured_metadata": True,
                "volume_enabled": True,
            },
            "analytics": {"reporting_enabled": False},
            "podSecurityContext": RESTRICTED_POD,
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
        "singleBinary": {
            "replicas": 1,
            "persistence": {"enabled": True, "size": f"{logging.volume_gi}Gi", "enableStatefulSetAutoDeletePVC": False},
            "resources": LOKI_RESOURCES,
            # ${VAR} references in the config are filled from the credentials Secret.
            "extraArgs": ["-config.expand-env=true"],
            "extraEnv": storage_env(access),
            "extraVolumes": [ca.volume()] if ca is not None else [],
            "extraVolumeMounts": [ca.mount()] if ca is not None else [],
        },
        # Neither Loki nor its gateway talks to the API server (the rules sidecar is off).
        "serviceAccount": {"create": True, "automountServiceAccountToken": False},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "gateway": {
            "enabled": True,
            "replicas": 1,
            "image": loki_chart_image(args.images.mirrored(catalogue.LOKI_GATEWAY_IMAGE)),
            "resources": GATEWAY_RESOURCES,
            "podLabels": gateway_labels,
            "podSecurityContext": {**RESTRICTED_POD, "runAsUser": 101, "runAsGroup": 101, "fsGroup": 101},
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
        # Memcached caches, the canary DaemonSet, the Helm test pod, the rules sidecar, MinIO and the
        # ruler are not needed for one site's search and would each be another pod to secure.
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},
        "minio": {"enabled": False},
        "ruler": {"enabled": False},
    }


# --- Fluent Bit ----------------------------------------------------------------------------------


def _section(kind: str, settings: Sequence[tuple[str, str | int]]) -> str:
    width = max(len(key) for key, _ in settings)
    return "\n".join([f"[{kind}]", *(f"    {key.ljust(width)} {value}" for key, value in settings)])


def fluent_bit_config(args: LogsArgs, access: StorageAccess, central_host: str | None, ca: StorageCa | None = None) -> dict[str, str]:
    """The chart's `config` sections (Fluent Bit's classic format)."""
    environment, site = args.identity.environment, args.identity.site
    prefix = archive_prefix(args.identity)
    service = _section("SERVICE", [
        ("Daemon", "Off"),
        ("Flush", 5),
        ("Log_Level", "info"),
        ("Parsers_File", "/fluent-bit/etc/parsers.conf"),
        ("HTTP_Server", "On"),
        ("HTTP_Listen", "0.0.0.0"),
        ("HTTP_Port", FLUENT_BIT_METRICS_PORT),
        ("Health_Check", "On"),
        # Chunks wait on the node's disk while an output is unreachable (Loki restarting, the
        # primary's site down), bounded per output by storage.total_limit_size.
        ("storage.path", f"{NODE_STATE}/buffers"),
        ("storage.sync", "normal"),
        ("storage.backlog.mem_limit", "16M"),
    ])
    inputs = [_section("INPUT", [
        ("Name", "tail"),
        ("Tag", "kube.*"),
        ("Path", f"{NODE_LOGS}/containers/*.log"),
        ("multiline.parser", "cri, docker"),
        ("DB", f"{NODE_STATE}/containers.db"),
        ("DB.locking", "true"),
        ("Mem_Buf_Limit", "32MB"),
        ("Skip_Long_Lines", "On"),
        ("Refresh_Interval", 10),
        ("storage.type", "filesystem"),
    ])]
    if collects_audit_log(args):
        inputs.append(_section("INPUT", [
            ("Name", "tail"),
            ("Tag", "audit.kube-apiserver"),
            ("Path", RKE2_AUDIT_LOG),
            ("Parser", "json"),
            ("DB", f"{NODE_STATE}/audit.db"),
            ("DB.locking", "true"),
            ("Mem_Buf_Limit", "16MB"),
            ("Skip_Long_Lines", "On"),
            ("storage.type", "filesystem"),
        ]))
    filters = [
        _section("FILTER", [
            ("Name", "kubernetes"),
            ("Match", "kube.*"),
            ("Kube_Tag_Prefix", "kube.var.log.containers."),
            ("Merge_Log", "On"),
            ("Keep_Log", "Off"),
            ("K8S-Logging.Parser", "On"),
            ("K8S-Logging.Exclude", "On"),
            ("Labels", "Off"),
            ("Annotations", "Off"),
        ]),
        # Every record says where it came from, in the archive too.
        _section("FILTER", [("Name", "modify"), ("Match", "*"), ("Add", f"{SITE_LABEL} {site}"), ("Add", f"environment {environment}")]),
    ]
    fixed = f"{SITE_LABEL}={site}, environment={environment}"
    kube_labels = (f"job=kubernetes, {fixed}, namespace=$kubernetes['namespace_name'], "
                   "pod=$kubernetes['pod_name'], container=$kubernetes['container_name']")
    audit_labels = f"job=kube-audit, {fixed}"

    def loki(match: str, labels: str, host: str, port: int, extra: Sequence[tuple[str, str | int]]) -> str:
        return _section("OUTPUT", [
            ("Name", "loki"),
            ("Match", match),
            ("Host", host),
            ("Port", port),
            ("Uri", LOKI_PUSH_PATH),
            ("Labels", labels),
            ("Remove_Keys", f"kubernetes, {SITE_LABEL}, environment"),
            ("Line_Format", "json"),
            *extra,
            ("Retry_Limit", "no_limits"),
            ("storage.total_limit_size", "1G"),
        ])

    outputs = [loki("kube.*", kube_labels, LOKI_GATEWAY_HOST, 80, [])]
    if collects_audit_log(args):
        outputs.append(loki("audit.*", audit_labels, LOKI_GATEWAY_HOST, 80, []))
    if central_host:
        central = [("tls", "On"), ("tls.verify", "On"), ("HTTP_User", CENTRAL_USERNAME), ("HTTP_Passwd", "${CENTRAL_PASSWORD}")]
        if args.trusted_ca is not None:
            central.insert(2, ("tls.ca_file", f"{CENTRAL_CA_DIRECTORY}/{CENTRAL_CA_KEY}"))
        outputs.append(loki("kube.*", kube_labels, central_host, 443, central))
        if collects_audit_log(args):
            outputs.append(loki("audit.*", audit_labels, central_host, 443, central))
    outputs.append(archive_output(args.s3, access, prefix, ca))
    return {
        "service": service,
        "inputs": "\n\n".join(inputs),
        "filters": "\n\n".join(filters),
        "outputs": "\n\n".join(outputs),
    }


def archive_output(s3: S3 | None, access: StorageAccess, prefix: str, ca: StorageCa | None = None) -> str:
    """The archive: gzip-compressed objects of newline-delimited JSON under `<prefix>/` in the `logs`
    bucket, one object per tag kind and up to 10 minutes or 50 MB of lines. The credentials are the
    environment's (the AWS variables for S3, `${VAR}` references for Azure). With `ca`, the S3 output verifies the
    endpoint with the mounted CA file: Fluent Bit 5.1.1 plugins/out_s3/s3.c builds its client TLS from the output's
    `tls.verify` and `tls.ca_file` (the plugin is FLB_IO_TLS, so it takes the `tls.*` properties)."""
    if s3 is not None:
        tls = [("tls.verify", "On"), ("tls.ca_file", ca.file())] if ca is not None else []
        return _section("OUTPUT", [
            ("Name", "s3"),
            ("Match", "*"),
            ("bucket", access.bucket),
            ("region", s3.region),
            ("endpoint", str(s3.endpoint).rstrip("/")),
            ("s3_key_format", f"/{prefix}/$TAG[0]/%Y/%m/%d/%H%M%S-$UUID.gz"),
            ("compression", "gzip"),
            ("use_put_object", "On"),
            ("total_file_size", "50M"),
            ("upload_timeout", "10m"),
            ("store_dir", f"{NODE_STATE}/s3"),
            *tls,
            ("Retry_Limit", 10),
        ])
    return _section("OUTPUT", [
        ("Name", "azure_blob"),
        ("Match", "*"),
        ("account_name", f"${{{AZURE_ACCOUNT_NAME}}}"),
        ("shared_key", f"${{{AZURE_ACCOUNT_KEY}}}"),
        ("container_name", access.bucket),
        ("path", prefix),
        ("blob_type", "blockblob"),
        ("compress_blob", "On"),
        ("auto_create_container", "Off"),
        ("tls", "On"),
        ("Retry_Limit", 10),
    ])


def fluent_bit_values(args: LogsArgs, access: StorageAccess, central_host: str | None, with_password: bool = False,
                      ca: StorageCa | None = None) -> dict[str, Any]:
    """The chart's values; `central_host`: the primary's telemetry host a secondary ships to;
    `with_password`: the central password is in the environment (every site of several); `ca`: the S3 endpoint's CA,
    mounted for the archive's output."""
    repository, _, tag = args.images.mirrored(catalogue.FLUENT_BIT_IMAGE).rpartition(":")
    volumes = [
        {"name": "varlog", "hostPath": {"path": NODE_LOGS, "type": "Directory"}},
        {"name": "state", "hostPath": {"path": NODE_STATE, "type": "DirectoryOrCreate"}},
    ]
    mounts = [
        {"name": "varlog", "mountPath": NODE_LOGS, "readOnly": True},
        {"name": "state", "mountPath": NODE_STATE},
    ]
    if collects_audit_log(args):
        # Only control-plane nodes hold the file; elsewhere the directory stays empty.
        volumes.append({"name": "audit", "hostPath": {"path": RKE2_AUDIT_DIRECTORY, "type": "DirectoryOrCreate"}})
        mounts.append({"name": "audit", "mountPath": RKE2_AUDIT_DIRECTORY, "readOnly": True})
    if ca is not None:
        volumes.append(ca.volume())
        mounts.append(ca.mount())
    env = storage_env(access)
    if with_password or central_host:
        env += _env_from_secret(CENTRAL_PASSWORD_SECRET, ("CENTRAL_PASSWORD", "password"))
        if args.trusted_ca is not None:
            items = [{"key": CENTRAL_CA_KEY, "path": CENTRAL_CA_KEY}]
            volumes.append({"name": "central-ca", "secret": {"secretName": CENTRAL_PASSWORD_SECRET, "items": items}})
            mounts.append({"name": "central-ca", "mountPath": CENTRAL_CA_DIRECTORY, "readOnly": True})
    return {
        "kind": "DaemonSet",
        "fullnameOverride": FLUENT_BIT_FULLNAME,
        "image": {"repository": repository, "tag": tag},
        "testFramework": {"enabled": False},
        "serviceAccount": {"create": True},
        "rbac": {"create": True, "nodeAccess": False},
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": FLUENT_BIT_CONTAINER,
        "resources": FLUENT_BIT_RESOURCES,
        # Every node, whatever its taints: control plane, database pool, spot nodes.
        "tolerations": [{"operator": "Exists"}],
        "priorityClassName": "system-node-critical",
        "env": env,
        "daemonSetVolumes": volumes,
        "daemonSetVolumeMounts": mounts,
        "config": fluent_bit_config(args, access, central_host, ca),
    }


# --- the component -------------------------------------------------------------------------------


class Logs(pulumi.ComponentResource):
    """Loki, Fluent Bit and the log archive of one site (module docstring)."""

    namespace: ServiceNamespace
    loki_access: StorageAccess
    agent_access: StorageAccess
    loki: k8s.helm.v4.Chart | None
    fluent_bit: k8s.helm.v4.Chart | None
    central_password: k8s.core.v1.Secret | None = None
    central_auth: k8s.core.v1.Secret | None = None
    central_ingress: k8s.networking.v1.Ingress | None = None
    audit_setting: pulumi.CustomResource | None = None
    summary: dict[str, Any]

    def __init__(self, name: str, args: LogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:Logs", name, None, opts)
        storage, agents = args.storage, args.node_agents
        logging = args.logging
        if storage is None:
            raise ValueError("central logging keeps its chunks and archive in object storage; the stack has none (configure `storage`)")
        assert agents is not None, "Fluent Bit runs in the node agents' namespace, which the Observability component creates first"
        child = pulumi.ResourceOptions(parent=self)

        self.namespace = ServiceNamespace(
            f"{name}-loki", LOGGING_NAMESPACE, kubernetes_labels(args.identity, "logging"), child, internal=True
        )
        in_namespace = self.namespace.opts
        self.loki_access = storage.access_for("loki", self.namespace.namespace.metadata.name, "logs")
        loki_ca = storage.ca_for("loki", self.namespace.namespace.metadata.name)
        self.loki = pinned_chart(
            f"{name}-loki", catalogue.LOKI_CHART, args.charts, self.namespace.namespace.metadata.name,
            loki_values(args, self.loki_access, loki_ca),
            # Loki's StatefulSet claims its volume: in prod it is protected, with the chart (policy stateful-protection).
            pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(
                depends_on=present(self.loki_access.secret, loki_ca.secret if loki_ca else None), protect=args.identity.production)),
        )

        central_host = args.ships_to
        central = args.central
        agents_opts = pulumi.ResourceOptions(parent=self, depends_on=[agents.namespace])
        self.agent_access = storage.access_for("fluent-bit", agents.namespace.metadata.name, "logs")
        agent_ca = storage.ca_for("fluent-bit", agents.namespace.metadata.name)
        agent_secrets: list[pulumi.Resource] = present(self.agent_access.secret, agent_ca.secret if agent_ca else None)
        # Every site of a multi-site environment holds the shared password, so the Fluent Bit release
        # differs between the roles only in where it ships (its outputs), as a failover changes it.
        if central.hostname and central.password is not None:
            self.central_password = k8s.core.v1.Secret(
                f"{name}-central-push",
                metadata=agents.metadata(CENTRAL_PASSWORD_SECRET),
                type="Opaque",
                string_data={"username": CENTRAL_USERNAME, "password": central.password.output(),
                             **({CENTRAL_CA_KEY: args.trusted_ca} if args.trusted_ca is not None else {})},
                opts=agents_opts,
            )
            agent_secrets.append(self.central_password)
        if self.central_password is None:
            central_host = None
        self.fluent_bit = pinned_chart(
            f"{name}-fluent-bit", catalogue.FLUENT_BIT_CHART, args.charts, agents.namespace.metadata.name,
            fluent_bit_values(args, self.agent_access, central_host, with_password=self.central_password is not None, ca=agent_ca),
            pulumi.ResourceOptions(parent=self, depends_on=[agents.namespace, *agent_secrets]),
        )

        if receives_from_secondaries(args.site) and central.hostname and central.password is not None:
            self._central_receiver(name, central.hostname, central.password.output(), in_namespace)
        self._network_policies(storage.endpoint_port, agents)

        if logging.audit_logs and args.aks is not None and storage.account is not None:
            # AKS keeps the API server's audit log off the nodes; Azure writes it into the account.
            self.audit_setting = storage.archive_audit_log(name, args.aks.cluster.id)

        prefix = archive_prefix(args.identity)
        archive_bucket = self.agent_access.bucket
        if storage.kind == "s3":
            lifecycle: dict[str, Any] = {
                "by": "the storage administrators",
                "rule": s3_lifecycle_rule(archive_bucket, prefix, logging.archive_days),
            }
        else:
            rule = log_archive_rule(archive_bucket, prefix, logging.archive_days)
            actions = rule["definition"]["actions"]["base_blob"]
            lifecycle = {
                "by": "the storage account's management policy", "rule": rule["name"],
                "deleteAfterDays": logging.archive_days,
                "coolAfterDays": actions["tier_to_cool"]["days_after_modification_greater_than"] if "tier_to_cool" in actions else None,
            }
        self.summary = {
            "charts": {ref.name: ref.version for ref, _ in args.charts.sources},
            "namespace": LOGGING_NAMESPACE,
            "loki": {
                "url": LOKI_URL,
                "mode": "SingleBinary",
                "bucket": self.loki_access.bucket,
                "retentionDays": logging.retention_days,
                "volumeGi": logging.volume_gi,
            },
            "agent": {"namespace": NODE_AGENTS_NAMESPACE, "kind": "DaemonSet", "tolerates": "every taint"},
            "archive": {
                "bucket": archive_bucket,
                "prefix": f"{prefix}/",
                "days": logging.archive_days,
                "compression": "gzip",
                "lifecycle": lifecycle,
            },
            "auditLog": (
                None
                if not logging.audit_logs
                else {"source": RKE2_AUDIT_LOG, "to": "loki and archive"}
                if collects_audit_log(args)
                else {"source": f"diagnostic setting {AKS_AUDIT_CATEGORY}", "to": f"storage account container {AKS_AUDIT_CONTAINER}"}
                if self.audit_setting is not None
                else None
            ),
            "shipsTo": f"https://{central_host}{LOKI_PUSH_PATH}" if central_host else None,
            "receives": f"https://{central.hostname}{LOKI_PUSH_PATH}" if self.central_ingress is not None else None,
        }
        self.register_outputs({"summary": self.summary})

    def _central_receiver(self, name: str, hostname: str, password: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
        """The primary's receiving end for its secondaries' logs: the push path only, behind TLS and
        ingress-nginx basic auth (the htpasswd entry of the shared password)."""
        self.central_auth, self.central_ingress = central_receiver(
            name, self.namespace, ingress_name="central-logs-push", auth_secret=CENTRAL_AUTH_SECRET, tls_secret=CENTRAL_TLS_SECRET,
            hostname=hostname, path=LOKI_PUSH_PATH, service=f"{LOKI_FULLNAME}-gateway", port=80, password=password, opts=opts,
        )

    def _network_policies(self, storage_port: int, agents: ServiceNamespace) -> None:
        """What Loki and Fluent Bit need beyond their namespaces' baselines (default-deny, DNS, HTTPS
        out to the API server, and for Loki each other)."""
        clients = [from_namespace(GRAFANA_NAMESPACE), from_namespace(NODE_AGENTS_NAMESPACE, FLUENT_BIT_POD_LABELS),
                   from_namespace(TRACING_NAMESPACE, COLLECTOR_POD_LABELS)]
        self.namespace.policy("allow-loki-clients", {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": clients, "ports": tcp(GATEWAY_PORT, LOKI_PORT)}],
        })
        if self.central_ingress is not None:
            # The secondaries' pushes arrive through the ingress controller, at the gateway only.
            self.namespace.policy("allow-central-push", {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_namespace(catalogue.INGRESS_NAMESPACE)], "ports": tcp(GATEWAY_PORT)}],
            })
        if storage_port not in KUBE_API_PORTS:
            self.namespace.policy("allow-object-storage", {
                "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": ANYWHERE, "ports": tcp(storage_port)}],
            })
        # Fluent Bit: to Loki's gateway, and to the archive (HTTPS is the namespace's baseline).
        agents.policy("fluent-bit-to-loki", {
            "podSelector": {"matchLabels": FLUENT_BIT_POD_LABELS},
            "policyTypes": ["Egress"],
            "egress": [{"to": [from_namespace(LOGGING_NAMESPACE)], "ports": tcp(GATEWAY_PORT, LOKI_PORT)}],
        })
        if storage_port not in KUBE_API_PORTS:
            agents.policy(
                "fluent-bit-to-object-storage",
                {
                    "podSelector": {"matchLabels": FLUENT_BIT_POD_LABELS},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": ANYWHERE, "ports": tcp(storage_port)}],
                },
            )
