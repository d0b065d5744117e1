"""CustomResourceDefinitions as the operators' charts install them, read from the offline chart mirror.

With `charts.source: off` a stack registers its custom resources (ClusterIssuers, postgresql, Kafka, ...) but not
the charts that define their kinds; a real API server refuses them with `no matches for kind`. The cluster tier
installs the charts' CRDs first, so each custom resource is checked against its CRD's schema as served.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from tests.tooling import unavailable

ROOT = Path(__file__).resolve().parents[2]
# The mirror sits beside the repository (../shared/charts, read-only; see its README); CHART_MIRROR overrides.
CHART_MIRROR = Path(os.environ.get("CHART_MIRROR") or ROOT.parent / "shared" / "charts")
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
        if "." in group and not group.endswith("k8s.io"):
            kinds.add((group, kind))
    return kinds


def crds_for(kinds: set[tuple[str, str]]) -> list[tuple[Path, dict]]:
    """The mirror's CRD for each (group, kind), with the file it came from; the first file in path order wins."""
    if not CHART_MIRROR.is_dir():
        unavailable(f"no offline chart mirror at {CHART_MIRROR}: set CHART_MIRROR to its directory (see its README)")
    found: dict[tuple[str, str], tuple[Path, dict]] = {}
    for path in sorted(CHART_MIRROR.rglob("*.yaml")):
        if "crd" not in str(path.relative_to(CHART_MIRROR)).lower():
            continue  # charts keep CRDs in crds/ or crd-*.yaml templates; parsing every template takes long
        text = path.read_text(errors="replace")
        if "kind: CustomResourceDefinition" not in text or not any(
                f"group: {group}" in text and f"kind: {kind}" in text for group, kind in kinds):
            continue
        text = "\n".join(line for line in text.splitlines() if not HELM_ACTION_LINE.match(line))
        for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
                if key in kinds:
                    found.setdefault(key, (path, doc))
    missing = sorted(kinds - set(found))
    assert not missing, f"the chart mirror {CHART_MIRROR} has no CRD for {missing}"
    return [found[k] for k in sorted(kinds)]
