"""The stack's object storage, and the credentials each consumer gets as a Kubernetes Secret.

Two kinds, chosen by `storage.kind`:

- `azure_blob` (AKS stacks): a StorageAccount in the AKS cluster's resource group (geo-redundant in
  prod by config, HTTPS only, TLS 1.2, no anonymous blob access, infrastructure encryption), its
  BlobServiceProperties (blob and container soft delete, versioning), lifecycle rules that expire
  old versions and the log archive (`log_archive_rule`), and one private BlobContainer per purpose.
  Protected in prod.
- `s3` (on-prem sites): the S3-compatible endpoint the storage administrators run. Its buckets are
  referenced, never created: bucket policy, versioning/object lock and cross-site replication are
  the storage team's (docs/storage.md lists what they provide). Only the Secrets below are created.

Consumers (Harbor, Velero, the PostgreSQL operator, log shipping) ask for access with

    access = storage.access_for(consumer, namespace, purpose, aliases=None) -> StorageAccess

- `consumer`: a name unique in the stack (`"velero"`, `"postgres-payments"`); the Secret is called
  `<consumer>-<purpose>-storage` (underscores in the purpose become hyphens).
- `namespace`: where the consumer runs. Pass the Namespace resource's `metadata.name` output so the
  Secret is created after the namespace.
- `purpose`: a bucket purpose (`registry`, `backups`, `postgres`, `logs`, `traces`, `etcd_snapshots`).
- `aliases`: extra keys the consumer's chart expects, each a copy of a canonical key, e.g.
  `{"REGISTRY_STORAGE_S3_ACCESSKEY": S3_ACCESS_KEY_ID}`.

The Secret's keys (every value a Pulumi secret: never plain text in state or outputs):

| kind | keys |
|---|---|
| s3 | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `cloud` (an AWS shared-credentials file) |
| azure_blob | `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_ACCESS_KEY`, `cloud` (the env file Velero's Azure plugin reads) |

Azure's `cloud` holds `AZURE_STORAGE_ACCOUNT_ACCESS_KEY=...` and `AZURE_CLOUD_NAME=AzurePublicCloud`.

On a render target (stacks/model/storage.py) the program has no credentials to give: an S3 endpoint without
`credentials`, or an existing Azure account whose key it never reads. There `access_for` writes no Secret
(`StorageAccess.secret` is None) and records what the cluster must hold instead (`held_secrets`: namespace,
name and keys of each), which the program exports beside the buckets (`objectStorage.credentialSecrets`).
The manifests name those Secrets exactly as on a cluster the program deploys to.

An S3 endpoint whose certificate an internal CA issued (`storage.ca_certificate`): `ca_for(consumer, namespace,
primary_ca=None) -> StorageCa | None` writes that CA (and a secondary's reader of the primary's buckets the primary's)
into a Secret `<consumer>-storage-ca` (key `ca.crt`, `primary-ca.crt`) in the consumer's namespace; the consumer mounts
it (`StorageCa.volume`, `.mount`) and names the file (`.file`) where its client reads a CA (docs/storage.md).

`StorageAccess` carries the rest, none of it secret: `kind`, `secret_name`, `secret` (the resource,
to depend on; None where the cluster holds it), `bucket`, `endpoint` (the S3 endpoint URL or `https://<account>.blob.core.windows.net`),
`region` (S3 region or Azure location), `path_style`, and for Azure `account` and `resource_group`.

Shared-key access stays enabled on the storage account: Harbor's registry storage driver and the
WAL archiving of the PostgreSQL operator's Spilo images authenticate to Blob storage with the
account key (workload identity is not supported by both), so the key is read from Azure
(`listStorageAccountKeys`) into the consumers' Secrets; rotating it is `pulumi up` after
regenerating key1 in Azure. Anonymous access stays off everywhere.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import monitor
from pulumi_azure_native import storage as azure_storage

from stacks.model import PROJECT, S3, AzureBlob
from stacks.model.storage import BUCKET_PURPOSES

from ..labels import LABEL_PREFIX

# Canonical keys of a consumer's Secret.
S3_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
S3_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
AZURE_ACCOUNT_NAME = "AZURE_STORAGE_ACCOUNT"
AZURE_ACCOUNT_KEY = "AZURE_STORAGE_ACCESS_KEY"
CLOUD_CREDENTIALS = "cloud"
"""A credentials file for SDKs that read one (Velero mounts this key)."""

AZURE_CLOUD = "AzurePublicCloud"

# The CA of an S3 endpoint's certificate (`storage.ca_certificate`) as each client gets it: a Secret
# `<consumer>-storage-ca` in its namespace (Harbor's chart takes only a Secret, `caBundleSecretName`, with the key
# `ca.crt`; one shape for every client), mounted read-only in STORAGE_CA_DIRECTORY, where the client's own setting
# names the file (`StorageCa`). The PEM is public: not a Pulumi secret.
STORAGE_CA_KEY = "ca.crt"
STORAGE_CA_PRIMARY_KEY = "primary-ca.crt"
"""The CA of the primary site's endpoint, beside this site's, for a client that also reads the primary's bucket."""
STORAGE_CA_VOLUME = "storage-ca"
STORAGE_CA_DIRECTORY = "/etc/storage-ca"


def storage_account_name(environment: str, site: str) -> str:
    """A storage account name (3-24 lower-case letters and digits, unique in Azure) that stays the
    same for a stack, so the account is never replaced: `cc<environment><site>` and a hash."""
    readable = re.sub(r"[^a-z0-9]", "", f"{environment}{site}".lower())[:14]
    digest = hashlib.sha256(f"{PROJECT}/{environment}/{site}".encode()).hexdigest()[:8]
    return f"cc{readable}{digest}"


# Where Azure writes the AKS API server's audit log that a diagnostic setting sends to the account
# (components/observability/logs.py): container `insights-logs-<category>`.
AKS_AUDIT_CATEGORY = "kube-audit-admin"
AKS_AUDIT_CONTAINER = f"insights-logs-{AKS_AUDIT_CATEGORY}"
# The log archive is read rarely after its first month: cheaper storage from then on, when it is
# kept long enough for the cool tier's 30-day minimum to pay off.
ARCHIVE_COOL_AFTER_DAYS = 30


def log_archive_rule(logs_container: str, prefix: str, days: int) -> dict[str, Any]:
    """The lifecycle rule of the log archive: Fluent Bit's objects under `<prefix>/` in the logs
    container and AKS's audit log container, moved to the cool tier after 30 days (when kept over
    60) and deleted `days` after they were written."""
    actions: dict[str, Any] = {"delete": {"days_after_modification_greater_than": days}}
    if days > 2 * ARCHIVE_COOL_AFTER_DAYS:
        actions["tier_to_cool"] = {"days_after_modification_greater_than": ARCHIVE_COOL_AFTER_DAYS}
    return {
        "name": "expire-log-archive",
        "enabled": True,
        "type": "Lifecycle",
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{logs_container}/{prefix}/", f"{AKS_AUDIT_CONTAINER}/"]},
            "actions": {"base_blob": actions},
        },
    }


@dataclass(frozen=True)
class HeldSecret:
    """A credentials Secret the manifests name and the cluster holds (a render target's: module docstring)."""

    namespace: pulumi.Input[str]
    name: str
    keys: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "keys": list(self.keys)}


@dataclass(frozen=True)
class StorageCa:
    """The Secret holding the CA(s) an S3 client verifies the endpoint with, and where the client mounts it."""

    secret_name: str
    secret: k8s.core.v1.Secret
    keys: tuple[str, ...]
    """STORAGE_CA_KEY, and STORAGE_CA_PRIMARY_KEY where the primary's endpoint has a CA of its own."""

    def volume(self) -> dict[str, Any]:
        return {"name": STORAGE_CA_VOLUME, "secret": {"secretName": self.secret_name}}

    def mount(self) -> dict[str, Any]:
        return {"name": STORAGE_CA_VOLUME, "mountPath": STORAGE_CA_DIRECTORY, "readOnly": True}

    def file(self, key: str = STORAGE_CA_KEY) -> str:
        """The mounted path of one of the Secret's keys, which the client's config names."""
        return f"{STORAGE_CA_DIRECTORY}/{key}"


@dataclass(frozen=True)
class StorageAccess:
    """What a consumer needs to reach one bucket: the Secret in its namespace and where to go."""

    kind: Literal["s3", "azure_blob"]
    secret_name: str
    secret: k8s.core.v1.Secret | None
    """The Secret the program wrote; None where the cluster holds it (a render target)."""
    credentials: Mapping[str, pulumi.Input[str]]
    """The Secret's keys and values as the program gives them (empty where the cluster holds the Secret): a copy of the
    Secret elsewhere takes these, never the Secret's `string_data` output, which the provider does not return (it
    stores `data`), so a copy built from it differs from its state after a refresh and `pulumi preview --refresh`
    proposes replacing it."""
    bucket: str
    endpoint: pulumi.Input[str]
    region: pulumi.Input[str] | None
    """The S3 region, or the created Azure account's location (None for an existing Azure account: no consumer reads it)."""
    path_style: bool
    ca_certificate: str | None = None
    """The PEM CA that issued an S3 endpoint's certificate (`storage.ca_certificate`), if the stack names one."""
    account: pulumi.Input[str] | None = None
    resource_group: pulumi.Input[str] | None = None


@dataclass(frozen=True, kw_only=True)
class ObjectStorageArgs:
    """The stack's storage config, and for Azure where the AKS cluster put its resource group."""

    storage: AzureBlob | S3
    environment: Literal["dev", "test", "prod"]
    site: str
    tags: dict[str, str]
    labels: dict[str, str]
    resource_group_name: pulumi.Input[str] | None = None
    """The AKS resource group (azure_blob only)."""
    location: pulumi.Input[str] | None = None
    """The AKS region (azure_blob only)."""
    log_archive_days: int | None = None
    """How long the log archive is kept (azure_blob: a lifecycle rule deletes it then); None: no archive."""


class ObjectStorage(pulumi.ComponentResource):
    """The buckets of one stack (module docstring): created in Azure, or referenced on S3, and the
    per-consumer credential Secrets handed out by `access_for`."""

    kind: str
    buckets: dict[str, str]
    """Bucket (S3) or container (Azure) name per purpose."""
    endpoint: pulumi.Output[str]
    endpoint_port: int
    """The TCP port consumers reach the storage on (for their egress network policies)."""
    region: pulumi.Input[str] | None
    account: azure_storage.StorageAccount | None = None
    """The account the program created (None on S3 and for an existing account)."""
    account_name: pulumi.Input[str] | None = None
    """The Azure account's name, created or existing (None on S3)."""
    held_secrets: list[HeldSecret]
    """The credentials Secrets the cluster holds, where the program writes none (module docstring)."""
    blob_service: azure_storage.BlobServiceProperties | None = None
    containers: dict[str, azure_storage.BlobContainer]
    accesses: dict[tuple[str, str], StorageAccess]

    def __init__(self, name: str, args: ObjectStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:storage:ObjectStorage", name, None, opts)
        self._name = name
        self._args = args
        config = args.storage
        self.kind = config.kind
        self.buckets = config.buckets.model_dump()
        self.containers = {}
        self.accesses = {}
        self.held_secrets = []
        if isinstance(config, AzureBlob) and config.account is not None:
            # An existing account (a render target's): named, never created or read (stacks/model/storage.py).
            self.account_name = config.account
            self.endpoint = pulumi.Output.from_input(f"https://{config.account}.blob.core.windows.net")
            self.endpoint_port = 443
            self.region = None
        elif isinstance(config, AzureBlob):
            self._azure(name, args, config)
        else:
            # Referenced, not created: the endpoint's administrators own the buckets (docs/storage.md).
            self.endpoint = pulumi.Output.from_input(str(config.endpoint).rstrip("/"))
            self.endpoint_port = config.endpoint.port or 443
            self.region = config.region
        self.register_outputs({"kind": self.kind, "buckets": self.buckets, "endpoint": self.endpoint})

    def _azure(self, name: str, args: ObjectStorageArgs, config: AzureBlob) -> None:
        if args.resource_group_name is None or args.location is None:
            raise ValueError("azure_blob storage needs the AKS cluster's resource group and region")
        production = args.environment == "prod"
        stateful = pulumi.ResourceOptions(parent=self, protect=production)
        group = args.resource_group_name
        self.account = azure_storage.StorageAccount(
            f"{name}-account",
            account_name=storage_account_name(args.environment, args.site),
            resource_group_name=group,
            location=args.location,
            kind="StorageV2",
            sku={"name": config.replication},
            access_tier="Hot",
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            # The consumers authenticate with the account key (module docstring).
            allow_shared_key_access=True,
            allow_cross_tenant_replication=False,
            is_local_user_enabled=False,
            encryption={
                "key_source": "Microsoft.Storage",
                # A second, platform-managed layer of encryption at rest; only settable at creation.
                "require_infrastructure_encryption": True,
                "services": {"blob": {"enabled": True, "key_type": "Account"}},
            },
            tags=args.tags,
            opts=stateful,
        )
        account_name = self.account.name
        self.account_name = account_name
        self.blob_service = azure_storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=account_name,
            resource_group_name=group,
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": config.soft_delete_days},
            container_delete_retention_policy={"enabled": True, "days": config.soft_delete_days},
            is_versioning_enabled=config.versioning,
            opts=stateful,
        )
        rules = []
        if config.versioning:
            # Versions of overwritten or deleted blobs are kept as long as soft-deleted blobs, then go.
            rules.append({
                "name": "expire-previous-versions",
                "enabled": True,
                "type": "Lifecycle",
                "definition": {
                    "filters": {"blob_types": ["blockBlob"]},
                    "actions": {"version": {"delete": {"days_after_creation_greater_than": config.soft_delete_days}}},
                },
            })
        if args.log_archive_days:
            rules.append(log_archive_rule(self.buckets["logs"], f"{args.environment}-{args.site}", args.log_archive_days))
        if rules:
            # An account has one management policy (`default`); every lifecycle rule is in it.
            azure_storage.ManagementPolicy(
                f"{name}-lifecycle",
                account_name=account_name,
                resource_group_name=group,
                management_policy_name="default",
                policy={"rules": rules},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.blob_service]),
            )
        # AKS runs etcd itself: an Azure stack takes no etcd snapshots, so that purpose gets no container.
        for purpose in (p for p in BUCKET_PURPOSES if p != "etcd_snapshots"):
            self.containers[purpose] = azure_storage.BlobContainer(
                f"{name}-{purpose.replace('_', '-')}",
                account_name=account_name,
                resource_group_name=group,
                container_name=self.buckets[purpose],
                public_access="None",
                metadata={"purpose": purpose},
                opts=pulumi.ResourceOptions(parent=self, protect=production, depends_on=[self.blob_service]),
            )
        self.endpoint = pulumi.Output.concat("https://", account_name, ".blob.core.windows.net")
        self.endpoint_port = 443
        self.region = args.location
        keys = azure_storage.list_storage_account_keys_output(
            resource_group_name=group, account_name=account_name, opts=pulumi.InvokeOutputOptions(parent=self),
        )
        first_key: pulumi.Output[str] = keys.keys.apply(lambda found: found[0].value)
        self._account_key: pulumi.Output[str] = pulumi.Output.secret(first_key)

    def egress_ports(self, *extra: int) -> list[int]:
        """The ports a consumer's egress policy opens: HTTPS, the endpoint's port and `extra`, each once."""
        return sorted({443, self.endpoint_port, *extra})

    def archive_audit_log(self, name: str, cluster_id: pulumi.Input[str]) -> monitor.DiagnosticSetting:
        """The AKS API server's audit log (`kube-audit-admin`) into this account, where Azure writes
        it to the container `insights-logs-kube-audit-admin`, kept by the log archive's lifecycle
        rule (components/observability/logs.py). A second diagnostic setting of the cluster beside
        its Log Analytics one (components/infrastructure/aks.py): the account exists only after the
        cluster, in its resource group. azure_blob only."""
        if self.account is None:
            raise ValueError("the AKS audit log goes to an Azure storage account; this stack's storage is S3")
        return monitor.DiagnosticSetting(
            f"{name}-audit-archive",
            name="kube-audit-to-archive",
            resource_uri=cluster_id,
            storage_account_id=self.account.id,
            logs=[{"category": AKS_AUDIT_CATEGORY, "enabled": True}],
            opts=pulumi.ResourceOptions(parent=self),
        )

    @property
    def writes_credentials(self) -> bool:
        """Whether the program has the credentials to write into the consumers' Secrets (module docstring)."""
        config = self._args.storage
        return config.credentials is not None if isinstance(config, S3) else config.account is None

    def _credential_keys(self) -> tuple[str, ...]:
        if self.kind == "s3":
            return (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, CLOUD_CREDENTIALS)
        return (AZURE_ACCOUNT_NAME, AZURE_ACCOUNT_KEY, CLOUD_CREDENTIALS)

    def _credentials(self) -> dict[str, pulumi.Output[str]]:
        """The canonical Secret keys, each a Pulumi secret."""
        config = self._args.storage
        if isinstance(config, S3):
            assert config.credentials is not None  # writes_credentials
            key_id = config.credentials.access_key_id.output()
            secret_key = config.credentials.secret_access_key.output()
            return {
                S3_ACCESS_KEY_ID: key_id,
                S3_SECRET_ACCESS_KEY: secret_key,
                CLOUD_CREDENTIALS: pulumi.Output.secret(pulumi.Output.format(
                    "[default]\naws_access_key_id={0}\naws_secret_access_key={1}\n", key_id, secret_key)),
            }
        assert self.account is not None
        key = self._account_key
        return {
            AZURE_ACCOUNT_NAME: pulumi.Output.secret(self.account.name),
            AZURE_ACCOUNT_KEY: key,
            CLOUD_CREDENTIALS: pulumi.Output.secret(pulumi.Output.format(
                "AZURE_STORAGE_ACCOUNT_ACCESS_KEY={0}\nAZURE_CLOUD_NAME={1}\n", key, AZURE_CLOUD)),
        }

    def access_for(
        self, consumer: str, namespace: pulumi.Input[str], purpose: str, aliases: Mapping[str, str] | None = None
    ) -> StorageAccess:
        """A Secret with the credentials in `namespace`, and where the `purpose` bucket is (module docstring)."""
        if purpose not in BUCKET_PURPOSES:
            raise ValueError(f"unknown bucket purpose `{purpose}`; one of {', '.join(BUCKET_PURPOSES)}")
        if (consumer, purpose) in self.accesses:
            return self.accesses[(consumer, purpose)]
        keys = self._credential_keys()
        for alias, canonical in (aliases or {}).items():
            if canonical not in keys:
                raise ValueError(f"alias `{alias}` names `{canonical}`, not a key of {self.kind} credentials ({', '.join(keys)})")
        secret_name = f"{consumer}-{purpose.replace('_', '-')}-storage"
        data: dict[str, pulumi.Input[str]] = {}
        secret = None
        if self.writes_credentials:
            credentials = self._credentials()
            data = {**credentials, **{alias: credentials[canonical] for alias, canonical in (aliases or {}).items()}}
            secret = k8s.core.v1.Secret(
                f"{self._name}-{consumer}-{purpose.replace('_', '-')}",
                metadata={"name": secret_name, "namespace": namespace,
                          "labels": {**self._args.labels, f"{LABEL_PREFIX}/consumer": consumer}},
                type="Opaque",
                string_data=data,
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            self.held_secrets.append(HeldSecret(namespace, secret_name, (*keys, *(aliases or {}))))
        access = StorageAccess(
            kind=self.kind,  # type: ignore[arg-type]
            secret_name=secret_name,
            secret=secret,
            credentials=data,
            bucket=self.buckets[purpose],
            endpoint=self.endpoint,
            region=self.region,
            path_style=isinstance(self._args.storage, S3) and self._args.storage.path_style,
            ca_certificate=self._args.storage.ca_certificate if isinstance(self._args.storage, S3) else None,
            account=self.account_name,
            resource_group=self._resource_group(),
        )
        self.accesses[(consumer, purpose)] = access
        return access

    def ca_for(self, consumer: str, namespace: pulumi.Input[str], primary_ca: str | None = None) -> StorageCa | None:
        """The Secret `<consumer>-storage-ca` in `namespace` with the endpoint's CA (`storage.ca_certificate`) under
        STORAGE_CA_KEY and, given `primary_ca` (the primary site's endpoint's CA, for a client that reads its bucket
        too), that under STORAGE_CA_PRIMARY_KEY; None when neither is named (the clients' images trust the endpoint)."""
        config = self._args.storage
        own = config.ca_certificate if isinstance(config, S3) else None
        data = {key: pem for key, pem in ((STORAGE_CA_KEY, own), (STORAGE_CA_PRIMARY_KEY, primary_ca)) if pem is not None}
        if not data:
            return None
        name = f"{consumer}-storage-ca"
        secret = k8s.core.v1.Secret(
            f"{self._name}-{consumer}-ca",
            metadata={"name": name, "namespace": namespace, "labels": {**self._args.labels, f"{LABEL_PREFIX}/consumer": consumer}},
            type="Opaque",
            string_data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return StorageCa(name, secret, tuple(data))

    def _resource_group(self) -> pulumi.Input[str] | None:
        config = self._args.storage
        if isinstance(config, AzureBlob):
            return config.resource_group if config.account is not None else self._args.resource_group_name
        return None

    def copy_of(self, name: str, access: StorageAccess, secret_name: str, namespace: pulumi.Input[str], labels: dict[str, str],
                opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
        """A copy of `access`'s credentials under another name in `namespace`, for a consumer that reads a fixed
        name; where the cluster holds the credentials (module docstring), it holds the copy too (None)."""
        if access.secret is None:
            self.held_secrets.append(HeldSecret(namespace, secret_name, tuple(self._credential_keys_of(access))))
            return None
        return k8s.core.v1.Secret(
            name, metadata={"name": secret_name, "namespace": namespace, "labels": labels}, type="Opaque",
            string_data=access.credentials, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[access.secret])),
        )

    def _credential_keys_of(self, access: StorageAccess) -> tuple[str, ...]:
        """The keys of the Secret `access` names (the canonical keys and its aliases)."""
        return next(held.keys for held in self.held_secrets if held.name == access.secret_name)
