"""The stack-file schema describes every field that has a docstring, and says which fields force a
replacement when they change.

The docstrings are read here from the model's source (attribute docstrings: a string right after a
field), independently of pydantic, and compared with what the committed schema file says.

Which changes replace a resource was decided from the providers themselves (docs/architecture.md):
pulumi-kubernetes replaces an object whose `metadata.name` or `.namespace` changes, a RoleBinding
whose `roleRef` changes and a Secret whose data changes (provider/pkg/provider/diff.go
`forceNewProperties`); azure-native replaces a resource whose name (part of its ID) or `location`
changes, and what its `forceNewMap` lists (provider/pkg/gen/replacement.go: a ManagedCluster's
`dnsPrefix`, `podCidr`, `serviceCidr`, `dnsServiceIP`; an AgentPool's `vmSize`; a RoleAssignment's
`principalId`); rancher2's ClusterV2 `name` and the role template bindings' principals are
`ForceNew` in terraform-provider-rancher2's schema.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

from pydantic import BaseModel

from stacks import model
from stacks.model import StackConfig
from stacks.tools.schema import SCHEMA_FILE

MODEL_DIR = Path(model.__file__).parent

# (model, field) -> what a change replaces, as the docstring must say it.
FORCES_REPLACEMENT = {
    ("StackConfig", "environment"), ("Site", "name"),
    ("Aks", "region"), ("Aks", "node_pools"), ("Aks", "admin_group_ids"), ("AksNetwork", "pod_cidr"), ("AksNetwork", "service_cidr"),
    ("AksNetwork", "dns_service_ip"), ("AksNodePool", "vm_size"),
    ("Rancher", "data_centre"), ("Rancher", "group_principal"),
    ("AzureBlob", "buckets"), ("S3Credentials", "access_key_id"), ("S3Credentials", "secret_access_key"),
    ("Team", "name"), ("Team", "groups"), ("Api", "name"), ("Worker", "name"), ("ScheduledJob", "name"),
    ("Database", "name"), ("Cache", "name"), ("Queue", "name"), ("Topic", "name"),
}


def attribute_docstrings() -> dict[str, dict[str, str]]:
    """Class name -> field -> its docstring, from every class of stacks/model/ (not inherited)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(MODEL_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            body = node.body
            for statement, following in zip(body, body[1:], strict=False):
                if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and isinstance(following, ast.Expr)
                        and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
                    found.setdefault(node.name, {})[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def models() -> dict[str, type[BaseModel]]:
    """Every model class reachable from StackConfig, by name."""
    seen: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [StackConfig]
    while pending:
        current = pending.pop()
        if current.__name__ in seen:
            continue
        seen[current.__name__] = current
        for field in current.model_fields.values():
            pending += [candidate for candidate in _classes(field.annotation) if issubclass(candidate, BaseModel)]
    return seen


def _classes(annotation: object) -> list[type]:
    found = [annotation] if isinstance(annotation, type) else []
    for argument in getattr(annotation, "__args__", ()) or ():
        found += _classes(argument)
    return found


def documented_fields() -> dict[tuple[str, str], str]:
    """(model, field) -> docstring, for every field of the schema's models, inherited ones included."""
    docstrings = attribute_docstrings()
    found = {}
    for name, cls in models().items():
        for field in cls.model_fields:
            for base in cls.__mro__:
                if field in docstrings.get(base.__name__, {}):
                    found[(name, field)] = docstrings[base.__name__][field]
                    break
    return found


def schema_description(schema: dict, model_name: str, field: str) -> str | None:
    if model_name == "StackConfig":
        return schema["properties"]["config"]["properties"][f"complete-cluster:{field}"].get("description")
    return schema["$defs"][model_name]["properties"][field].get("description")


def test_every_field_with_a_docstring_is_described_in_the_schema():
    schema = json.loads(SCHEMA_FILE.read_text())
    fields = documented_fields()
    missing = {key: doc for key, doc in fields.items() if schema_description(schema, *key) != doc}
    assert missing == {}


def test_every_field_but_the_kinds_has_a_docstring():
    """An editor shows the description beside each key; `kind` picks the section's variant, which
    the variant's own description explains."""
    fields = {(name, field) for name, cls in models().items() for field in cls.model_fields}
    assert {key for key in fields - set(documented_fields()) if key[1] != "kind"} == set()


def test_the_fields_whose_change_replaces_a_resource_say_so():
    schema = json.loads(SCHEMA_FILE.read_text())
    said = {key: " ".join((schema_description(schema, *key) or "").lower().split()) for key in FORCES_REPLACEMENT}
    assert {key for key, description in said.items() if "forces replacement" not in description} == set()
