"""Every values key the program passes a chart is a key of that chart, read from the chart's own files in the offline
chart mirror (values.yaml, values.schema.json, the templates; tests/components/chart_keys.py says how). Helm ignores
a key the chart does not have without a word, so a misspelt security setting would leave the chart's default running.

Keys inside a map the chart copies into an object as it is (`securityContext`, `resources`, `config`) are the chart's
to pass on, not to check: whether the object takes them is the rendered objects' validation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks import catalogue
from tests.components.chart_keys import dead_keys, load_chart
from tests.tooling import chart_mirror

CHART = "kubernetes:helm.sh/v4:Chart"
STACKS = ["dev", "test", "prod", "onprem-dc1", "onprem-dc2"]


def chart_dir(name: str, version: str) -> Path:
    """The mirror's unpacked chart, which must be the pinned version."""
    directory = chart_mirror() / name
    mirrored = yaml.safe_load((directory / "Chart.yaml").read_text())["version"]
    assert mirrored == version, f"the chart mirror has {name} {mirrored}, the catalogue pins {version}"
    return directory


def charts_of(inventory, stack: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(resource name, chart name, version, values) of every chart the stack installs."""
    return [
        (r.name, r.inputs["chart"].rsplit("/", 1)[-1], r.inputs["version"], r.inputs.get("values") or {})
        for r in inventory(stack).of_type(CHART)
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_values_key_is_one_the_chart_reads(inventory, stack):
    assert_every_values_key_is_read(inventory, stack)


def test_the_values_that_give_clients_a_storage_ca_are_keys_the_charts_read(sites_with_storage_cas):
    """A site whose S3 endpoint has an internal CA's certificate (`storage.ca_certificate`) sets more values: Harbor's
    `caBundleSecretName`, Loki's and Tempo's CA file and volumes, Fluent Bit's volumes (tests/components/test_*.py)."""
    _, with_ca = sites_with_storage_cas
    assert_every_values_key_is_read(with_ca, "onprem-dc1")


def assert_every_values_key_is_read(inventory, stack: str) -> None:
    charts = charts_of(inventory, stack)
    assert charts, f"{stack} installs no chart"
    dead = {
        f"{name} ({chart} {version})": keys
        for name, chart, version, values in charts
        if (keys := dead_keys(values, load_chart(chart_dir(chart, version))))
    }
    assert dead == {}, f"{stack}: values keys the chart never reads (Helm ignores them): {dead}"


def test_every_pinned_chart_is_checked():
    """Each chart of the catalogue is installed by some stack the test above reads."""
    from stacks.chart_sources import stack_charts
    from stacks.loader import load

    installed = {ref for stack in STACKS for ref in stack_charts(load(stack))}
    assert installed == {ref for refs in catalogue.PART_CHARTS.values() for ref in refs}


def _values(inventory, stack: str, chart: str) -> dict[str, Any]:
    [values] = [values for _, name, _, values in charts_of(inventory, stack) if name == chart]
    return copy.deepcopy(values)


def _rename(values: dict[str, Any], path: str, new_key: str) -> dict[str, Any]:
    *parents, key = path.split(".")
    node = values
    for part in parents:
        node = node[part]
    node[new_key] = node.pop(key)
    return values


def _checked(chart: str, values: dict[str, Any]) -> list[str]:
    ref = next(ref for refs in catalogue.PART_CHARTS.values() for ref in refs if ref.name == chart)
    return dead_keys(values, load_chart(chart_dir(ref.name, ref.version)))


# One mutation of the program's real values per way a chart reads its keys: each misspelt key is found.
@pytest.mark.parametrize("stack, chart, path, typo, found", [
    # a key of values.yaml (ingress-nginx's pod security context, a security setting)
    ("prod", "ingress-nginx", "controller.podSecurityContext", "podSecurityContxt", "controller.podSecurityContxt"),
    # a subchart's key, under the subchart's name as Helm passes it (kube-prometheus-stack -> node-exporter)
    ("prod", "kube-prometheus-stack", "prometheus-node-exporter.namespaceOverride", "namespaceOveride",
     "prometheus-node-exporter.namespaceOveride"),
    # a key only the templates read (values.yaml leaves it out: loki.storage.bucketNames, read through `dig`)
    ("prod", "loki", "loki.storage.bucketNames.chunks", "chunk", "loki.storage.bucketNames.chunk"),
    # a key read through a template variable (`$storage := .Values.persistence.imageChartStorage`)
    ("onprem-dc1", "harbor", "persistence.imageChartStorage.disableredirect", "disableRedirect",
     "persistence.imageChartStorage.disableRedirect"),
    # a map the schema closes (cert-manager's values.schema.json: additionalProperties false)
    ("prod", "cert-manager", "webhook.securityContext", "securityContexts", "webhook.securityContexts"),
])
def test_a_misspelt_key_is_found(inventory, stack, chart, path, typo, found):
    values = _values(inventory, stack, chart)
    assert _checked(chart, values) == []
    assert _checked(chart, _rename(values, path, typo)) == [found]


def test_a_global_key_no_chart_of_the_tree_reads_is_found(inventory):
    values = _values(inventory, "prod", "kube-prometheus-stack")
    values["global"] = {"imageRegistry": "registry.example.com", "imageRegistri": "registry.example.com"}
    assert _checked("kube-prometheus-stack", values) == ["global.imageRegistri"]


def test_a_key_under_a_map_values_yaml_leaves_empty_is_found_unless_a_template_reads_it(inventory):
    """harbor 1.18.3's values.yaml lists `database.internal.initContainer.migrator: {}`, but no template reads it
    (the program set resources there until this test found it); `permissions` next to it is read."""
    values = _values(inventory, "onprem-dc1", "harbor")
    init = values["database"]["internal"]["initContainer"]
    init["migrator"] = copy.deepcopy(init["permissions"])
    assert _checked("harbor", values) == ["database.internal.initContainer.migrator.resources"]
