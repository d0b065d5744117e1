"""Object storage for the registry, backups, database WAL, log archive and etcd snapshots.

Two kinds: an Azure storage account the program creates (AKS stacks), or an S3-compatible endpoint
the storage administrators run, whose buckets the program only references (see docs/storage.md).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, ValidationInfo, model_validator

from .base import CaCertificate, Secret, Strict, check

BUCKET_PURPOSES = ("registry", "backups", "postgres", "logs", "traces", "etcd_snapshots")

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
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


class AzureBlob(Strict):
    """An Azure storage account with one blob container per purpose."""

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

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        problems = _bucket_problems(
            self.buckets, _AZURE_CONTAINER, "Azure blob container (3-63 lower-case letters, digits and single hyphens)"
        )
        if (info.context or {}).get("environment") == "prod" and "G" not in self.replication.split("_")[1]:
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
    internal CA): Velero's backup locations verify the endpoint with it (`objectStorage.caCert`), at this site and, for
    the read-only location on this site's backups, at its secondaries."""
    credentials: S3Credentials
    """The site's S3 keys, as Pulumi secrets."""
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

    - Rendering to a directory writes every Kubernetes object to a file, Secrets in plain text; the
      storage credentials the services get as Secrets would leave Pulumi's secrets. A render stack
      has no storage (and so none of the services that need it).
    - The storage account of `azure_blob` lives in the AKS cluster's resource group.
    """
    if storage is None:
        return []
    if infrastructure_kind == "render":
        return [
            (
                "storage",
                "a render target writes Kubernetes Secrets to files in plain text, which would expose the object storage "
                "credentials; remove `storage` (and the services that need it) or deploy to a cluster (`infrastructure.kind: existing`)",
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
