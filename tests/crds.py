"""CustomResourceDefinitions as the operators' charts install them, read from the offline chart mirror, and the check
of a custom resource against its CRD's schema.

With `charts.source: off` a stack registers its custom resources (ClusterIssuers, postgresql, Kafka, ...) but not
the charts that define their kinds; a real API server refuses them with `no matches for kind`. The cluster tier
installs the charts' CRDs first, so each custom resource is checked against its CRD's schema as served. The offline
tiers check the same schemas with an OpenAPI 3.0 validator (`schema_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

from tests.tooling import chart_mirror

# A line that is only a Helm action ({{- if ... }}, {{- end }}, {{- include "labels" . | nindent 4 }}): cert-manager
# wraps its CRDs in them. Dropping those lines leaves the CRD as the chart renders it, minus labels and the
# `helm.sh/resource-policy: keep` annotation; the schema is untouched.
HELM_ACTION_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")


def custom_resource_kinds(type_tokens: set[str]) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource among Pulumi type tokens `kubernetes:<group>/<version>:<Kind>`."""
    kinds = set()
    for token in type_tokens:
        _, api, kind = token.split(":")
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        # (`helm.sh/v4:Chart` is the Kubernetes provider's own component, not a kind any API server serves)
        if "." in group and not group.endswith("k8s.io") and group != "helm.sh":
            kinds.add((group, kind))
    return kinds


class _CrdLoader(yaml.CSafeLoader):
    """YAML 1.1 as the CRDs are written, but a bare `=` (an enum member of the Prometheus operator's CRDs, e.g.
    a relabelling's `action`) read as the string it is to a Kubernetes API server, not as YAML 1.1's value tag."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def every_mirror_crd(wanted: Callable[[str], bool] = lambda text: True) -> Iterator[tuple[Path, dict]]:
    """Every CRD of the mirror's charts (in path order) from the files whose text `wanted` accepts, with its file."""
    mirror = chart_mirror()
    for path in sorted(mirror.rglob("*.yaml")):
        if "crd" not in str(path.relative_to(mirror)).lower():
            continue  # charts keep CRDs in crds/ or crd-*.yaml templates; parsing every template takes long
        text = path.read_text(errors="replace")
        if "kind: CustomResourceDefinition" not in text or not wanted(text):
            continue
        text = "\n".join(line for line in text.splitlines() if not HELM_ACTION_LINE.match(line))
        for doc in yaml.load_all(text, Loader=_CrdLoader):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                yield path, doc


def crds_for(kinds: set[tuple[str, str]]) -> list[tuple[Path, dict]]:
    """The mirror's CRD for each (group, kind), with the file it came from; the first file in path order wins."""
    found: dict[tuple[str, str], tuple[Path, dict]] = {}
    for path, doc in every_mirror_crd(lambda text: any(f"group: {g}" in text and f"kind: {k}" in text for g, k in kinds)):
        key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
        if key in kinds:
            found.setdefault(key, (path, doc))
    missing = sorted(kinds - set(found))
    assert not missing, f"the chart mirror {chart_mirror()} has no CRD for {missing}"
    return [found[k] for k in sorted(kinds)]


def strict(schema: Any, structural: bool = True) -> Any:
    """`schema` as the API server applies it with strict field validation (kubectl's and the Kubernetes provider's
    server-side apply default): a field an object's `properties` do not name is an error unless the object has
    `x-kubernetes-preserve-unknown-fields` or `additionalProperties`; `x-kubernetes-int-or-string` takes either.
    Inside `allOf`/`anyOf`/`oneOf`/`not` (value validation, not structure) a branch's `properties` close nothing."""
    if isinstance(schema, list):
        return [strict(item, structural) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {
        key: strict(value, structural and key not in ("allOf", "anyOf", "oneOf", "not"))
        for key, value in schema.items() if key != "description"
    }
    if result.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    closed = "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields")
    if structural and closed:
        result["additionalProperties"] = False
    return result


def crd_schema(crd: dict, version: str) -> dict:
    """The openAPIV3Schema of the served `version` of `crd` (strict), or an assertion naming what is served."""
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    assert version in served, f"{crd['metadata']['name']} serves {sorted(served)}, not {version}"
    return strict(served[version]["schema"]["openAPIV3Schema"])


def schema_problems(resource: dict, crds: dict[tuple[str, str], dict]) -> list[str]:
    """Where `resource` (apiVersion, kind, metadata, spec) breaks its CRD's schema, one sentence each; CEL rules
    (`x-kubernetes-validations`) are the API server's alone and not evaluated here."""
    group, version = resource["apiVersion"].rsplit("/", 1)
    schema = crd_schema(crds[(group, resource["kind"])], version)
    name = f"{resource['kind']} {resource['metadata'].get('namespace', '')}/{resource['metadata']['name']}"
    return [
        f"{name}: {'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in OAS30Validator(schema).iter_errors(resource)
    ]


def mirror_crds(kinds: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The mirror's CRD of each (group, kind), by (group, kind)."""
    return {(crd["spec"]["group"], crd["spec"]["names"]["kind"]): crd for _, crd in crds_for(kinds)}
