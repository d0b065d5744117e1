"""Object storage for the registry, backups, database WAL, log archive and etcd snapshots.

Two kinds: an Azure storage account the program creates (AKS stacks), or an S3-compatible endpoint
the storage administrators run, whose buckets the program only references (see docs/storage.md).

A render target (`infrastructure.kind: render`) writes every object to a file, Secrets in plain text, and
creates nothing outside Kubernetes. It keeps a stack's object storage as the cluster the manifests are for
sees it: an S3 endpoint and its buckets without the credentials, or an existing Azure storage account and
its containers (`account`, `resource_group`), as a site with pre-created storage has. The consumers' credential
Secrets are then named in the manifests, not written: the cluster holds them (docs/storage.md, *Render targets*).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, ValidationInfo, model_validator

from .base import CaCertificate, Secret, Strict, check

BUCKET_PURPOSES = ("registry", "backups", "postgres", "logs", "traces", "etcd_snapshots")

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Azure's naming rules (learn.microsoft.com, "Naming rules and restrictions for Azure resources"): a storage
# account is 3-24 lower-case letters and digits; a resource group 1-90 letters, digits, `_`, `-`, `.`, `(`, `)`,
# not ending in `.`.
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_AZURE_RESOURCE_GROUP = re.compile(r"^[\w().-]{0,89}[\w()-]$")
_AZURE_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


class Buckets(Strict):
    """Bucket (S3) or container (Azure Blob) names per purpose."""

    registry: str = "registry"
    """Harbor's images and charts."""
    backups: str = "backups"
    """Velero's backups."""
    postgres: str = "postgres"
    """PostgreSQL's WAL archive, base backups and logical backups."""
    logs: str = "logs"
    """The compliance archive of the logs."""
    traces: str = "traces"
    """Tempo's traces."""
    etcd_snapshots: str = "etcd-snapshots"
    """Rancher's etcd snapshots (on-premises sites)."""


def _bucket_problems(buckets: Buckets, pattern: re.Pattern, what: str) -> list[tuple[str, str]]:
    problems = []
    for purpose in BUCKET_PURPOSES:
        name = getattr(buckets, purpose)
        if not pattern.fullmatch(name):
            problems.append((f"buckets.{purpose}", f"`{name}` is not a valid {what} name"))
    names = [getattr(buckets, purpose) for purpose in BUCKET_PURPOSES]
    for purpose in BUCKET_PURPOSES:
        if names.count(getattr(buckets, purpose)) > 1:
            problems.append((f"buckets.{purpose}", "each purpose needs its own bucket; this name is used twice"))
    return problems


# The settings of an account the program creates; an existing account (`account`) keeps its own.
_CREATED_ACCOUNT_SETTINGS = ("replication", "soft_delete_days", "versioning")


class AzureBlob(Strict):
    """An Azure storage account with one blob container per purpose: created by the program in the AKS
    cluster's resource group, or on a render target an existing one the site created (`account`)."""

    kind: Literal["azure_blob"]
    replication: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"] = (
        "Standard_ZRS"
    )
    """The account's redundancy; prod needs a geo-redundant one (`G` in the name)."""
    soft_delete_days: int = Field(default=14, ge=1, le=365)
    """Days deleted blobs and containers (and, with versioning, previous versions) can be recovered."""
    versioning: bool = True
    """Keep previous versions of overwritten blobs, for `soft_delete_days`."""
    buckets: Buckets = Buckets()
    """A container per purpose, created in the account. A renamed container is a new, empty one
    (forces replacement; the container's name is its identity in Azure)."""
    account: str | None = None
    """An existing storage account, with the containers `buckets` names, which the program only names: a render
    target's (it creates nothing in Azure). None: the program creates the account (AKS stacks)."""
    resource_group: str | None = None
    """The resource group of the existing `account` (Velero's backup location names it)."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        problems = _bucket_problems(
            self.buckets, _AZURE_CONTAINER, "Azure blob container (3-63 lower-case letters, digits and single hyphens)"
        )
        if self.account is not None and not _AZURE_ACCOUNT.fullmatch(self.account):
            problems.append(("account", f"`{self.account}` is not a storage account name (3-24 lower-case letters and digits)"))
        if self.resource_group is not None and not _AZURE_RESOURCE_GROUP.fullmatch(self.resource_group):
            problems.append(("resource_group", f"`{self.resource_group}` is not a resource group name (1-90 letters, digits, "
                                               "'_', '-', '.', '(' and ')', not ending in '.')"))
        if (self.account is None) != (self.resource_group is None):
            missing = "resource_group" if self.resource_group is None else "account"
            problems.append((missing, "an existing storage account is named by `account` and `resource_group` together; set both"))
        if self.account is not None:
            problems += [(setting, f"is the existing account `{self.account}`'s own setting, which the program does not manage; "
                                   "remove it") for setting in _CREATED_ACCOUNT_SETTINGS if setting in self.model_fields_set]
        elif (info.context or {}).get("environment") == "prod" and "G" not in self.replication.split("_")[1]:
            problems.append(
                (
                    "replication",
                    "prod needs geo-redundant storage (Standard_GRS, Standard_RAGRS, Standard_GZRS or Standard_RAGZRS), not "
                    f"{self.replication}",
                )
            )
        check(problems)
        return self


class S3Credentials(Strict):
    """The site's S3 keys, given to each consumer in a Secret of its own and to Rancher for the etcd
    snapshots."""

    access_key_id: Secret
    """Forces replacement of the consumers' credential Secrets (Kubernetes Secrets are replaced when
    their data changes)."""
    secret_access_key: Secret
    """Forces replacement of the consumers' credential Secrets, as access_key_id."""


class S3(Strict):
    """An S3-compatible endpoint that the storage administrators run (replicated across sites)."""

    kind: Literal["s3"]
    endpoint: HttpUrl
    """The endpoint's https URL."""
    region: str = "us-east-1"
    """The region clients sign requests for (most S3-compatible stores accept the default)."""
    path_style: bool = True
    """Address buckets as `<endpoint>/<bucket>` rather than `<bucket>.<host>`."""
    ca_certificate: CaCertificate | None = None
    """The CA that issued the endpoint's certificate, PEM, when it is not one the clients' images already trust (an
    internal CA). Every client verifies the endpoint with it: Velero's backup locations (`objectStorage.caCert`; for
    the read-only location on this site's backups, at its secondaries too), and from a Secret `<client>-storage-ca`
    mounted in their pods Loki (`http_config.ca_file`), Fluent Bit's archive (`tls.ca_file`), Tempo (`tls_ca_path`),
    PostgreSQL's WAL-G (`WALG_S3_CA_CERT_FILE`; a secondary's standby with the primary's CA) and Harbor's registry
    (`caBundleSecretName`); Rancher's etcd snapshots (`endpoint_ca`). Not the PostgreSQL operator's logical backup
    jobs, which mount nothing (docs/storage.md)."""
    credentials: S3Credentials | None = None
    """The site's S3 keys, as Pulumi secrets; required except on a render target, which writes no credentials."""
    buckets: Buckets = Buckets()
    """The buckets per purpose, which the storage administrators create; the program only names them."""

    @model_validator(mode="after")
    def _rules(self):
        problems = _bucket_problems(self.buckets, _S3_BUCKET, "S3 bucket (3-63 lower-case letters, digits, '.' and '-')")
        if self.endpoint.scheme != "https":
            problems.append(("endpoint", "object storage must be reached over https"))
        check(problems)
        return self


ObjectStorage = Annotated[AzureBlob | S3, Field(discriminator="kind")]


def placement_problems(storage: AzureBlob | S3 | None, infrastructure_kind: str) -> list[tuple[str, str]]:
    """Where a stack's object storage cannot go, as (key path, message) problems.

    - Rendering to a directory writes every Kubernetes object to a file, Secrets in plain text, and creates
      nothing outside Kubernetes: a render target's storage has no credentials (the consumers' Secrets are
      named, not written) and is an existing Azure account if it is one (module docstring).
    - Everywhere else the S3 credentials are given, and the storage account of `azure_blob` is created in
      the AKS cluster's resource group.
    """
    if storage is None:
        return []
    if infrastructure_kind == "render":
        if isinstance(storage, S3) and storage.credentials is not None:
            return [
                (
                    "storage.credentials",
                    "a render target writes Kubernetes Secrets to files in plain text, which would expose the object storage "
                    "credentials; remove `credentials` (the manifests name the consumers' credential Secrets, which the cluster "
                    "holds: docs/storage.md) or deploy to a cluster (`infrastructure.kind: existing`)",
                )
            ]
        if isinstance(storage, AzureBlob) and storage.account is None:
            return [
                (
                    "storage.account",
                    "a render target creates nothing in Azure; name the existing storage account with its containers "
                    "(`account` and `resource_group`) or deploy to AKS (`infrastructure.kind: aks`)",
                )
            ]
        return []
    if isinstance(storage, S3) and storage.credentials is None:
        return [
            (
                "storage.credentials",
                "the consumers get the site's S3 keys; set them as Pulumi secrets with `pulumi config set --secret --path "
                "'complete-cluster:storage.credentials.access_key_id' <key>` (and `secret_access_key`)",
            )
        ]
    if isinstance(storage, AzureBlob) and storage.account is not None:
        return [
            (
                "storage.account",
                f"with `infrastructure.kind: {infrastructure_kind}` the program creates the storage account itself; remove "
                "`account` and `resource_group` (an existing account is for render targets)",
            )
        ]
    # (a Rancher stack has its own rule: its etcd snapshots need S3)
    if storage.kind == "azure_blob" and infrastructure_kind not in ("aks", "rancher"):
        return [
            (
                "storage.kind",
                "an Azure storage account is created in the AKS cluster's resource group; with `infrastructure.kind: "
                f"{infrastructure_kind}` "
                "use `kind: s3` (an S3-compatible endpoint the storage administrators run)",
            )
        ]
    return []
