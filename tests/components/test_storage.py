"""Object storage: the Azure account of the AKS stacks (every hardening setting, protected in prod)
and the referenced S3 buckets of the on-prem sites, and the credential Secrets each consumer gets."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from components.complete_cluster import storage_args
from components.storage import (
    AZURE_ACCOUNT_KEY,
    AZURE_ACCOUNT_NAME,
    CLOUD_CREDENTIALS,
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    ObjectStorage,
    ObjectStorageArgs,
    storage_account_name,
)
from policies.evaluate import Evaluator
from stacks.tools.inventory import run_program
from stacks.loader import load
from stacks.model import S3, AzureBlob
from stacks.model.storage import placement_problems

STORAGE = "platform:storage:ObjectStorage::platform-storage"
ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
LIFECYCLE = "azure-native:storage:ManagementPolicy"
SECRET = "kubernetes:core/v1:Secret"


def children(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-storage-"): r for r in inventory(stack) if r.parent == STORAGE}


def aks_group(inventory, stack: str) -> str:
    return inventory(stack).named("platform-aks-pool-general").inputs["resourceGroupName"]


# --- Azure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, sku, days, protected", [
    ("dev", "Standard_LRS", 14, False),
    ("test", "Standard_ZRS", 14, False),
    ("prod", "Standard_RAGZRS", 30, True),
])
def test_the_azure_account_is_hardened_in_the_aks_resource_group(inventory, stack, sku, days, protected):
    resources = children(inventory, stack)
    account = resources["account"]
    group = aks_group(inventory, stack)
    assert account.type == ACCOUNT
    assert account.inputs == {
        "accountName": storage_account_name(*{"dev": ("dev", "sea"), "test": ("test", "cin"), "prod": ("prod", "cin")}[stack]),
        "resourceGroupName": group,
        "location": {"dev": "southeastasia"}.get(stack, "centralindia"),
        "kind": "StorageV2",
        "sku": {"name": sku},
        "accessTier": "Hot",
        "enableHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": True,
        "allowCrossTenantReplication": False,
        "isLocalUserEnabled": False,
        "encryption": {
            "keySource": "Microsoft.Storage",
            "requireInfrastructureEncryption": True,
            "services": {"blob": {"enabled": True, "keyType": "Account"}},
        },
        "tags": inventory(stack).named("platform-aks-rg").inputs["tags"],
    }
    assert account.options["protect"] is protected
    assert "azure-native:resources:ResourceGroup::platform-aks-rg" in account.options["depends_on"]

    service = resources["blob-service"]
    assert service.inputs == {
        "accountName": account.inputs["accountName"],
        "resourceGroupName": group,
        "blobServicesName": "default",
        "deleteRetentionPolicy": {"enabled": True, "days": days},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": days},
        "isVersioningEnabled": True,
    }
    assert service.options["protect"] is protected


@pytest.mark.parametrize("stack", ["dev", "test", "prod"])
def test_one_private_container_per_purpose_and_none_for_etcd(inventory, stack):
    containers = {r.name: r for r in children(inventory, stack).values() if r.type == CONTAINER}
    assert {c.inputs["containerName"] for c in containers.values()} == {"registry", "backups", "postgres", "logs", "traces"}
    for container in containers.values():
        assert container.inputs["publicAccess"] == "None"
        assert container.inputs["metadata"]["purpose"].replace("_", "-") == container.name.removeprefix("platform-storage-")
        assert container.options["protect"] is (stack == "prod")
        assert "azure-native:storage:BlobServiceProperties::platform-storage-blob-service" in container.options["depends_on"]


def test_previous_versions_expire_with_the_soft_delete_window(inventory):
    [policy] = [r for r in children(inventory, "prod").values() if r.type == LIFECYCLE]
    assert policy.inputs["managementPolicyName"] == "default"
    # The first rule; the log archive's rule follows it (tests/components/test_logs.py).
    assert policy.inputs["policy"]["rules"][0] == {
        "name": "expire-previous-versions", "enabled": True, "type": "Lifecycle",
        "definition": {"filters": {"blobTypes": ["blockBlob"]}, "actions": {"version": {"delete": {"daysAfterCreationGreaterThan": 30}}}},
    }
    assert [rule["name"] for rule in policy.inputs["policy"]["rules"]] == ["expire-previous-versions", "expire-log-archive"]


def test_prod_storage_passes_the_storage_and_protection_policies(inventory):
    prod = inventory("prod")
    evaluator = Evaluator({"all": ("mandatory", {}), "storage-account-hardening": (None, {"environment": "prod"})})
    for registration in [r for r in prod if r.type in (ACCOUNT, BLOB_SERVICE)]:
        assert [f for f in evaluator.resource(registration.type, registration.inputs) if f.policy.startswith("storage-")] == []
    # and a mutated account fails with the messages that say how to fix it
    account = dict(
        prod.named("platform-storage-account").inputs, minimumTlsVersion="TLS1_0", allowBlobPublicAccess=True, sku={"name": "Standard_LRS"}
    )
    messages = [f.message for f in evaluator.resource(ACCOUNT, account) if f.policy == "storage-account-hardening"]
    assert messages == [
        'storage account accepts TLS older than 1.2 (the default is TLS 1.0); set minimumTlsVersion: "TLS1_2"',
        "storage account allows anonymous public blob access; set allowBlobPublicAccess: false",
        "prod storage is not geo-redundant; set sku.name to one of Standard_GRS, Standard_RAGRS, Standard_GZRS, Standard_RAGZRS, "
        "StandardV2_GRS, StandardV2_GZRS",
    ]


def test_the_account_name_is_stable_and_valid():
    name = storage_account_name("prod", "cin")
    assert name == storage_account_name("prod", "cin") != storage_account_name("prod", "sea")
    assert re.fullmatch(r"[a-z0-9]{3,24}", name) and name.startswith("ccprodcin")
    assert len(storage_account_name("prod", "a-very-long-site-name-indeed")) == 24


# --- S3 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_s3_buckets_are_referenced_not_created(inventory, stack):
    resources = children(inventory, stack)
    assert {r.type for r in resources.values()} == {SECRET}
    assert not [r for r in inventory(stack) if r.type.startswith("azure-native:")]


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2", "prod"])
def test_each_consumer_gets_its_secret_in_its_namespace_and_nothing_in_plain_text(inventory, stack):
    secrets = {r.name.removeprefix("platform-storage-"): r for r in children(inventory, stack).values() if r.type == SECRET}
    expected = {"velero-backups": ("velero-backups-storage", "velero")}
    if stack.startswith("onprem"):
        expected["harbor-registry"] = ("harbor-registry-storage", "harbor")
    for role, (name, namespace) in expected.items():
        secret = secrets[role]
        assert (secret.inputs["metadata"]["name"], secret.inputs["metadata"]["namespace"], secret.inputs["type"]) == (
            name,
            namespace,
            "Opaque",
        )
        assert secret.inputs["metadata"]["labels"]["complete-cluster/consumer"] == role.split("-")[0]
        assert secret.inputs["stringData"] == "[secret]"
        # created after the consumer's namespace
        assert any(dep.startswith("kubernetes:core/v1:Namespace::") for dep in secret.options["depends_on"])
    # every consumer's Secret (PostgreSQL's too, through the same API) keeps its values secret
    assert all(secret.inputs["stringData"] == "[secret]" for secret in secrets.values())


# --- the access API ------------------------------------------------------------------------------


def _resolve(output):
    """(value, is_secret) of an Output under the mock runtime."""
    return _sync_await(output.future()), _sync_await(output.is_secret())


def _storage_program(stack: str, calls):
    config = load(stack)

    def program():
        storage = ObjectStorage("storage", storage_args(config, resource_group_name="rg-1", location="centralindia"))
        calls.append(storage)
        calls.append(storage.access_for("postgres-payments", "payments", "postgres"))
        calls.append(storage.access_for("harbor", "harbor", "registry", aliases={"REGISTRY_STORAGE_S3_ACCESSKEY": S3_ACCESS_KEY_ID}
                                        if config.storage.kind == "s3" else None))
        calls.append(storage.access_for("postgres-payments", "payments", "postgres"))  # asked twice: the same Secret

    return program


def test_s3_access_names_the_bucket_endpoint_and_secret_keys():
    calls: list = []
    registered = run_program(_storage_program("onprem-dc1", calls), "onprem-dc1")
    storage, postgres, harbor, again = calls
    assert again is postgres
    assert [r.name for r in registered if r.type == SECRET] == ["storage-postgres-payments-postgres", "storage-harbor-registry"]
    assert (postgres.kind, postgres.secret_name, postgres.bucket, postgres.region, postgres.path_style) == (
        "s3", "postgres-payments-postgres-storage", "dc1-postgres", "us-east-1", True)
    assert _resolve(pulumi.Output.from_input(postgres.endpoint))[0] == "https://s3.dc1.example.com"
    assert (postgres.account, postgres.resource_group) == (None, None)
    credentials = storage._credentials()
    assert set(credentials) == {S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, CLOUD_CREDENTIALS}
    values = {key: _resolve(value) for key, value in credentials.items()}
    assert all(secret for _, secret in values.values())
    key_id, secret_key = values[S3_ACCESS_KEY_ID][0], values[S3_SECRET_ACCESS_KEY][0]
    # offline the ciphertext stands in for the value: still only ever inside a secret
    assert key_id.startswith("v1:") and secret_key.startswith("v1:")
    assert values[CLOUD_CREDENTIALS][0] == f"[default]\naws_access_key_id={key_id}\naws_secret_access_key={secret_key}\n"


def test_azure_access_names_the_account_and_secret_keys():
    calls: list = []
    registered = run_program(_storage_program("prod", calls), "prod")
    storage, postgres, harbor, _ = calls
    account = [r for r in registered if r.type == ACCOUNT][0].inputs["accountName"]
    assert (postgres.kind, postgres.bucket, postgres.path_style, postgres.resource_group) == ("azure_blob", "postgres", False, "rg-1")
    assert _resolve(pulumi.Output.from_input(postgres.account))[0] == account
    assert _resolve(pulumi.Output.from_input(postgres.endpoint))[0] == f"https://{account}.blob.core.windows.net"
    assert harbor.secret_name == "harbor-registry-storage"
    values = {key: _resolve(value) for key, value in storage._credentials().items()}
    assert set(values) == {AZURE_ACCOUNT_NAME, AZURE_ACCOUNT_KEY, CLOUD_CREDENTIALS}
    assert all(secret for _, secret in values.values())
    assert values[AZURE_ACCOUNT_NAME][0] == account
    key = f"[key1 of {account}]"  # what listStorageAccountKeys answers offline
    assert values[AZURE_ACCOUNT_KEY][0] == key
    assert values[CLOUD_CREDENTIALS][0] == f"AZURE_STORAGE_ACCOUNT_ACCESS_KEY={key}\nAZURE_CLOUD_NAME=AzurePublicCloud\n"


def test_unknown_purposes_and_aliases_are_refused():
    config = load("onprem-dc1")
    errors: list[str] = []

    def program():
        storage = ObjectStorage("storage", storage_args(config))
        for purpose, aliases in (("images", None), ("registry", {"KEY": "AZURE_STORAGE_ACCESS_KEY"})):
            try:
                storage.access_for("x", "x", purpose, aliases)
            except ValueError as error:
                errors.append(str(error))

    run_program(program, "onprem-dc1")
    assert errors == [
        "unknown bucket purpose `images`; one of registry, backups, postgres, logs, traces, etcd_snapshots",
        "alias `KEY` names `AZURE_STORAGE_ACCESS_KEY`, not a key of s3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, cloud)",
    ]


# --- where storage may go --------------------------------------------------------------------------


def test_placement_rules():
    prod, dc1 = load("prod").storage, load("onprem-dc1").storage
    assert isinstance(prod, AzureBlob) and isinstance(dc1, S3)
    dc1_named = dc1.model_copy(update={"credentials": None})
    prod_existing = AzureBlob.model_validate({"kind": "azure_blob", "account": "ccprodcin0a1b2c3d", "resource_group": "platform-storage"})
    assert placement_problems(None, "render") == []
    assert placement_problems(prod, "aks") == placement_problems(dc1, "rancher") == placement_problems(dc1, "existing") == []
    # A render target: S3 without its credentials and an existing Azure account only (stacks/model/storage.py).
    assert placement_problems(dc1_named, "render") == placement_problems(prod_existing, "render") == []
    assert [path for path, _ in placement_problems(dc1, "render")] == ["storage.credentials"]
    assert [path for path, _ in placement_problems(prod, "render")] == ["storage.account"]
    # Everywhere else the credentials are given and the program creates the Azure account.
    assert [path for path, _ in placement_problems(dc1_named, "rancher")] == ["storage.credentials"]
    assert [path for path, _ in placement_problems(prod_existing, "aks")] == ["storage.account"]
    assert [path for path, _ in placement_problems(prod, "existing")] == ["storage.kind"]
    assert placement_problems(prod, "rancher") == []  # the Rancher rule names it (storage: needs S3)


def test_a_render_target_names_the_credential_secrets_the_cluster_holds():
    """No credentials on a render target: each consumer's Secret, and a copy under another name, is named and
    recorded for the cluster to hold; nothing is written, nothing is created in Azure, and the Azure consumers
    get the existing account and its resource group."""
    configs = (S3.model_validate({"kind": "s3", "endpoint": "https://s3.dc1.example.com", "buckets": {"backups": "dc1-backups"}}),
               AzureBlob.model_validate({"kind": "azure_blob", "account": "ccprodcin0a1b2c3d", "resource_group": "platform-storage"}))
    calls: list = []

    def program():
        for config in configs:
            storage = ObjectStorage(f"storage-{config.kind}", ObjectStorageArgs(storage=config, environment="prod", site="dc1", tags={},
                                                                                labels={}))
            velero = storage.access_for("velero", "velero", "backups")
            aliases = {"LOGICAL_BACKUP_KEY": AZURE_ACCOUNT_KEY} if config.kind == "azure_blob" else None
            postgres = storage.access_for("postgres-payments", "payments-data", "postgres", aliases=aliases)
            copy = storage.copy_of("copy", postgres, "logical-backup", "payments-data", {}, pulumi.ResourceOptions())
            calls.append((storage, velero, copy))

    registered = run_program(program, "onprem-dc1")
    assert [r for r in registered if r.type == SECRET or r.type.startswith("azure-native:")] == []
    (s3, s3_velero, s3_copy), (azure, azure_velero, azure_copy) = calls
    assert s3_copy is None and azure_copy is None and s3_velero.secret is None and s3_velero.credentials == {}
    assert [held.summary() for held in s3.held_secrets] == [
        {"namespace": "velero", "name": "velero-backups-storage", "keys": [S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, CLOUD_CREDENTIALS]},
        {"namespace": "payments-data", "name": "postgres-payments-postgres-storage",
         "keys": [S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, CLOUD_CREDENTIALS]},
        {"namespace": "payments-data", "name": "logical-backup", "keys": [S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, CLOUD_CREDENTIALS]},
    ]
    azure_keys = [AZURE_ACCOUNT_NAME, AZURE_ACCOUNT_KEY, CLOUD_CREDENTIALS]
    assert [held.summary()["keys"] for held in azure.held_secrets] == [azure_keys, [*azure_keys, "LOGICAL_BACKUP_KEY"],
                                                                       [*azure_keys, "LOGICAL_BACKUP_KEY"]]
    assert (s3_velero.bucket, s3_velero.region, _resolve(pulumi.Output.from_input(s3_velero.endpoint))[0]) == (
        "dc1-backups", "us-east-1", "https://s3.dc1.example.com")
    assert (azure_velero.account, azure_velero.resource_group, azure_velero.bucket) == ("ccprodcin0a1b2c3d", "platform-storage", "backups")
    assert _resolve(pulumi.Output.from_input(azure_velero.endpoint))[0] == "https://ccprodcin0a1b2c3d.blob.core.windows.net"


# --- docs/storage.md against the inventories --------------------------------------------------------

STORAGE_DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"
SHIPPED_STACKS = ("local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2")


def test_the_docs_component_table_names_the_stacks_that_register_each_component(inventory):
    """Each row of docs/storage.md's component table lists, in parentheses, exactly the shipped stacks whose
    inventory registers that component's type token."""
    rows = re.findall(r"^\| `\w+`[^|]*\| `([\w:]+)` \|[^|]*\|[^(|]*\(([^)]*)\) \|$", STORAGE_DOC.read_text(), re.MULTILINE)
    assert len(rows) == 3
    for type_token, listed in rows:
        registering = {stack for stack in SHIPPED_STACKS if inventory(stack).of_type(type_token)}
        assert set(listed.split(", ")) == registering, type_token


def test_the_docs_blob_containers_are_the_ones_each_azure_stack_creates(inventory):
    """docs/storage.md lists one private BlobContainer per purpose; every Azure stack creates exactly those."""
    listed = re.search(r"one private `BlobContainer` per purpose \(([^;)]*)", STORAGE_DOC.read_text().replace("\n  ", " "))
    assert listed
    documented = set(re.findall(r"`(\w+)`", listed.group(1)))
    for stack in ("dev", "test", "prod"):
        containers = inventory(stack).of_type("azure-native:storage:BlobContainer")
        assert {container.inputs["containerName"] for container in containers} == documented, stack
        assert all(container.inputs["publicAccess"] == "None" for container in containers), stack
