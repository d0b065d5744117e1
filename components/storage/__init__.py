"""Object storage for the shared services: `ObjectStorage`, and `StorageAccess` for each consumer."""

from .object_storage import (
    AZURE_ACCOUNT_KEY,
    AZURE_ACCOUNT_NAME,
    CLOUD_CREDENTIALS,
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    STORAGE_CA_KEY,
    STORAGE_CA_PRIMARY_KEY,
    ObjectStorage,
    ObjectStorageArgs,
    StorageAccess,
    StorageCa,
    storage_account_name,
)

__all__ = [
    "AZURE_ACCOUNT_KEY", "AZURE_ACCOUNT_NAME", "CLOUD_CREDENTIALS", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "STORAGE_CA_KEY",
    "STORAGE_CA_PRIMARY_KEY", "ObjectStorage", "ObjectStorageArgs", "StorageAccess", "StorageCa", "storage_account_name",
]
