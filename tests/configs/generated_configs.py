"""Every configuration a stack generates for a tool that parses it, taken from the offline inventory
(or, for the one file that holds secrets, from the function the component builds it with), as
items for scripts/checkers: {kind, name, text}.

What Grafana does to a query before its data source sees it is done here explicitly, the way
Grafana does it, so the parsers read what Prometheus, Loki and Tempo would receive:

- a provisioning file's `$$` is a literal `$` (Grafana expands environment variables in
  provisioning files and reads `$$` as an escaped `$`: pkg/services/provisioning/values);
- dashboard variables: `$site` (multi-value, "All" = `.*`) becomes the "All" value `.*`, and also
  one site's name, regex-escaped, as the Prometheus and Loki data sources interpolate a selected
  value into a regex matcher. Any other `$variable` is an error here, so a new one is not left in
  unread;
- `$__tags` in a Tempo data source's trace-to-metrics query becomes the span's tags mapped to
  labels, `key="value"` joined by `, ` (Grafana's tracesToMetrics link builder), one value per tag;
- Grafana's `label_values(<selector>, <label>)` variable query is not PromQL: Grafana sends the
  selector as `match[]` to Prometheus's label values API, so the selector is checked as one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import yaml

from stacks.tools.inventory import Registration

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CHART = "kubernetes:helm.sh/v4:Chart"
DASHBOARD_LABEL = "grafana_dashboard"
SITE_VARIABLE = "site"
ALL_SITES = ".*"  # the dashboards' site variable's "All" value (allValue)
STAND_IN_SERVICE = "checkout"  # a service.name value for `$__tags`

Item = dict[str, str]


def item(kind: str, name: str, text: str) -> Item:
    return {"kind": kind, "name": name, "text": text}


# --- Grafana's interpolation ---------------------------------------------------------------------

VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]")


def regex_escape(value: str) -> str:
    """Grafana's Prometheus and Loki data sources escape a selected value for a regex matcher
    (prometheusRegularEscape: regex metacharacters get a backslash, written `\\\\` in the query)."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def interpolate(query: str, values: dict[str, str], where: str) -> str:
    """`query` with each dashboard variable replaced by `values[name]`; an unknown variable is an error."""

    def replace(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise AssertionError(f"{where}: the query uses the Grafana variable `{match.group()}`, which tests/configs does not "
                                 f"know how Grafana fills in; add it to generated_configs.py")
        return values[name]

    return VARIABLE.sub(replace, query)


def site_values(site: str) -> list[tuple[str, dict[str, str]]]:
    """The values Grafana puts in for `$site`: "All", and this stack's own site selected."""
    return [("all sites", {SITE_VARIABLE: ALL_SITES}), (f"site {site}", {SITE_VARIABLE: regex_escape(site)})]


def unescape_provisioning(text: str) -> str:
    return text.replace("$$", "$")


# --- the inventory -------------------------------------------------------------------------------


def chart_values(inventory: list[Registration], chart: str) -> dict[str, Any] | None:
    found = [r.inputs["values"] for r in inventory if r.type == CHART and r.inputs.get("chart") == chart]
    assert len(found) <= 1, f"{len(found)} {chart} charts"
    return found[0] if found else None


def rule_files(stack: str, inventory: list[Registration]) -> list[Item]:
    """Each PrometheusRule's spec is the rule file the Prometheus operator writes for it (`groups:`)."""
    items = []
    for rule in (r for r in inventory if r.type == PROMETHEUS_RULE):
        name = f"{stack}: PrometheusRule {rule.inputs['metadata']['name']}"
        items.append(item("rules", name, yaml.safe_dump(rule.inputs["spec"], sort_keys=False)))
    return items


TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def rule_expressions(stack: str, inventory: list[Registration]) -> list[Item]:
    """Each alert's expression, with the labels its annotations and labels print (`uses`) and its
    own labels (`rule_labels`, which its ALERTS series carry)."""
    found = []
    for r in (r for r in inventory if r.type == PROMETHEUS_RULE):
        for group in r.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                texts = [*rule.get("annotations", {}).values(), *rule.get("labels", {}).values()]
                uses = sorted({label for text in texts for label in TEMPLATE_LABEL.findall(text)})
                found.append({**item("promql", f"{stack}: alert {rule['alert']}", rule["expr"]),
                              "uses": uses, "rule_labels": sorted(rule.get("labels", {}))})
    return found


def dashboards(inventory: list[Registration]) -> dict[str, dict[str, Any]]:
    """Every dashboard the sidecar provisions, by uid."""
    found = {}
    for config_map in (r for r in inventory if r.type == CONFIG_MAP):
        if config_map.inputs["metadata"].get("labels", {}).get(DASHBOARD_LABEL):
            for text in config_map.inputs["data"].values():
                model = json.loads(text)
                found[model["uid"]] = model
    return found


def panels(model: dict[str, Any]):
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(stack: str, site: str, inventory: list[Registration]) -> list[Item]:
    """Every Prometheus and Loki query of every panel, every variable's selector, every TraceQL link."""
    items = []
    kinds = {"prometheus": "promql", "loki": "logql"}
    for uid, model in dashboards(inventory).items():
        for panel in panels(model):
            for target in panel.get("targets", []):
                source = (target.get("datasource") or panel.get("datasource") or {}).get("type")
                if source not in kinds:
                    raise AssertionError(f"{stack}: dashboard {uid} panel {panel['title']!r} queries a {source} data source, "
                                         f"which tests/configs does not check yet")
                where = f"{stack}: dashboard {uid} panel {panel['title']!r} query {target['refId']}"
                legend = sorted(set(LEGEND_LABEL.findall(target.get("legendFormat", ""))))
                for selection, values in site_values(site):
                    query = interpolate(target["expr"], values, where)
                    items.append({**item(kinds[source], f"{where} ({selection})", query), "uses": legend})
        for variable in model["templating"]["list"]:
            where = f"{stack}: dashboard {uid} variable {variable['name']}"
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
            assert match, f"{where}: {variable['query']['query']!r} is not a label_values(selector, label) query"
            items.append({**item("selector", where, match.group(1)), "uses": [match.group(2)]})
        for link in model.get("links", []):
            if link.get("type") == "link" and link.get("url", "").startswith("/explore"):
                panes = json.loads(parse_qs(urlparse(link["url"]).query)["panes"][0])
                for pane in panes.values():
                    for query in pane["queries"]:
                        assert query.get("queryType") == "traceql", f"{stack}: dashboard {uid} link {link['title']!r}: {query}"
                        items.append(item("traceql", f"{stack}: dashboard {uid} link {link['title']!r}", query["query"]))
    return items


def data_source_queries(stack: str, inventory: list[Registration]) -> list[Item]:
    """The queries Grafana's provisioned data sources carry: the Tempo data source's trace-to-metrics queries."""
    values = chart_values(inventory, "grafana")
    if values is None:
        return []
    items = []
    for source in values["datasources"]["datasources.yaml"]["datasources"]:
        metrics = source.get("jsonData", {}).get("tracesToMetrics")
        if not metrics:
            continue
        tags = ", ".join(f'{tag.get("value") or tag["key"]}="{STAND_IN_SERVICE}"' for tag in metrics.get("tags", []))
        for query in metrics.get("queries", []):
            where = f"{stack}: data source {source['name']} tracesToMetrics {query['name']!r}"
            items.append(item("promql", where, interpolate(unescape_provisioning(query["query"]), {"__tags": tags}, where)))
    return items


# --- Alertmanager --------------------------------------------------------------------------------

# A stack's receivers' secret values are encrypted with its own passphrase, which the test does not
# have; Alertmanager checks what kind of value each field holds, so each secret becomes a value of
# that kind (a URL where the field is a URL), and everything else is the stack's own.
SECRET_STAND_INS = {
    "url": "https://alerts.example.com/hook",
    "api_url": "https://hooks.example.com/services/T0/B0/stand-in",
    "routing_key": "0123456789abcdef0123456789abcdef",
    "bearer_token": "stand-in-token",
    "password": "stand-in-password",
}


def alertmanager_file(stack: str, receivers: list, build: Callable[[list], Any], run_program: Callable) -> list[Item]:
    """alertmanager.yaml as the Metrics component builds it (`build`, metrics.alertmanager_yaml) for
    the stack's receivers, with their secrets filled in as the engine would fill them."""
    from stacks.model.base import SecretValue

    def with_plaintext(model):
        updates = {}
        for field in type(model).model_fields:
            value = getattr(model, field)
            if isinstance(value, SecretValue):
                updates[field] = SecretValue(value.ciphertext, SECRET_STAND_INS[field])
            elif hasattr(value, "model_fields"):
                updates[field] = with_plaintext(value)
        return model.model_copy(update=updates)

    resolved = [with_plaintext(receiver) for receiver in receivers]
    seen: dict[str, str] = {}
    run_program(lambda: build(resolved).apply(lambda text: seen.setdefault("text", text)), stack)
    return [item("alertmanager", f"{stack}: alertmanager.yaml (Secret alertmanager-config)", seen["text"])]


# --- the OpenTelemetry Collector -----------------------------------------------------------------


def helm_coalesce(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A chart's default values with the user's values over them, by Helm's rule (helm
    pkg/chartutil/coalesce.go): maps merge key by key, any other value replaces the chart's, and a
    null removes the chart's key."""
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            merged[key] = helm_coalesce(merged[key] if isinstance(merged.get(key), dict) else {}, value)
        else:
            merged[key] = value
    return merged


def collector_file(stack: str, inventory: list[Registration], chart_directory: Path) -> list[Item]:
    """The collector's configuration: the chart's default `config` (values.yaml of the chart in
    `chart_directory`) with the program's `config` values coalesced over it, which is what the
    chart's ConfigMap holds when no preset is on (templates/_config.tpl, baseConfig)."""
    values = chart_values(inventory, "opentelemetry-collector")
    if values is None:
        return []
    presets = {name: preset for name, preset in values.get("presets", {}).items() if preset.get("enabled")}
    assert not presets, f"{stack}: presets {sorted(presets)} change the collector's configuration; tests/configs does not apply them"
    defaults = yaml.safe_load((chart_directory / "values.yaml").read_text())["config"]
    config = helm_coalesce(defaults, values["config"])
    name = f"{stack}: OpenTelemetry Collector config (chart defaults + values)"
    return [item("collector", name, yaml.safe_dump(config, sort_keys=False))]
