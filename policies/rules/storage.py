"""Azure storage accounts are hardened and keep deleted data for a while.

Storage accounts accept HTTPS only (Azure's default since 2019 when unset), TLS 1.2 or newer (the
API's default is TLS 1.0, so it must be set), no anonymous blob access (default off), and in prod
a geo-redundant SKU. Blob services keep deleted blobs and containers (soft delete) for at least
`minRetentionDays`.
"""

from __future__ import annotations

from ..lib.spec import ENVIRONMENT, PolicySpec
from ..lib.values import Undecided, flag, is_unknown, num, obj, text

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
GEO_REDUNDANT = ("Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS", "StandardV2_GRS", "StandardV2_GZRS")


def _check(messages: list, ok, message: str) -> None:
    try:
        if not ok():
            messages.append(message)
    except Undecided:
        pass


def storage_account_problems(type_token: str, props: dict, config: dict) -> list[str]:
    messages: list[str] = []
    _check(
        messages,
        lambda: flag(props.get("enableHttpsTrafficOnly")) is not False,
        "storage account accepts plain HTTP; set enableHttpsTrafficOnly: true",
    )
    _check(
        messages,
        lambda: text(props.get("minimumTlsVersion")) in ("TLS1_2", "TLS1_3"),
        'storage account accepts TLS older than 1.2 (the default is TLS 1.0); set minimumTlsVersion: "TLS1_2"',
    )
    _check(
        messages,
        lambda: flag(props.get("allowBlobPublicAccess")) is not True,
        "storage account allows anonymous public blob access; set allowBlobPublicAccess: false",
    )
    if config.get("environment", "prod") == "prod":
        _check(
            messages,
            lambda: text((obj(props.get("sku")) or {}).get("name")) in GEO_REDUNDANT,
            f"prod storage is not geo-redundant; set sku.name to one of {', '.join(GEO_REDUNDANT)}",
        )
    return messages


def _retention_ok(policy, minimum: float) -> bool:
    policy = obj(policy)
    if not policy or flag(policy.get("enabled")) is not True:
        return False
    days = policy.get("days")
    if is_unknown(days):
        raise Undecided
    return days is not None and days is not True and days is not False and days >= minimum


def blob_soft_delete_problems(type_token: str, props: dict, config: dict) -> list[str]:
    minimum = config.get("minRetentionDays", 7)
    messages: list[str] = []
    for key, what in (("deleteRetentionPolicy", "blobs"), ("containerDeleteRetentionPolicy", "containers")):
        _check(
            messages,
            lambda key=key: _retention_ok(props.get(key), minimum),
            f"deleted {what} are not kept; set {key}: {{enabled: true, days: {num(minimum)}}} (or more days)",
        )
    return messages


POLICIES = (
    PolicySpec(
        name="storage-account-hardening",
        description="Storage accounts use HTTPS and TLS 1.2+, forbid public blob access, and are geo-redundant in prod.",
        kind="resource",
        check=storage_account_problems,
        applies_to=lambda t: t == STORAGE_ACCOUNT,
        config_schema={"environment": ENVIRONMENT},
    ),
    PolicySpec(
        name="storage-blob-soft-delete",
        description="Blob services keep deleted blobs and containers (soft delete).",
        kind="resource",
        check=blob_soft_delete_problems,
        applies_to=lambda t: t == BLOB_SERVICE,
        config_schema={
            "minRetentionDays": {
                "type": "integer",
                "minimum": 1,
                "maximum": 365,
                "default": 7,
                "description": "Minimum soft-delete retention for blobs and containers, in days.",
            }
        },
    ),
)
