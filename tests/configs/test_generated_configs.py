"""Every configuration each shipped stack generates, read by the parsers of the tools that read it
(scripts/checkers): rule files by Prometheus's rulefmt, every PromQL query by Prometheus's parser,
alertmanager.yaml by Alertmanager's config.Load, the collector's configuration by the collector's
own loading and validation, LogQL and TraceQL by Grafana's grammars. Then one mutation per checker,
so each is seen to refuse a broken input."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from components.observability.metrics import alertmanager_yaml
from generated_configs import (
    alertmanager_file, collector_file, dashboard_queries, data_source_queries, rule_expressions, rule_files,
)
from stacks.tools.inventory import run_program
from stacks.loader import load, shipped_stacks

pytestmark = pytest.mark.checkers


def generated(inventory, chart_mirror, stack: str) -> list[dict]:
    config = load(stack)
    regs = inventory(stack)
    items = [
        *rule_files(stack, regs), *rule_expressions(stack, regs),
        *dashboard_queries(stack, config.site.name, regs), *data_source_queries(stack, regs),
        *collector_file(stack, regs, chart_mirror / "opentelemetry-collector"),
    ]
    if config.services.monitoring.enabled and config.services.monitoring.mode == "full":
        items += alertmanager_file(stack, list(config.services.monitoring.receivers), alertmanager_yaml, run_program)
    return items


def expected_kinds(stack: str) -> set[str]:
    """What each stack must have generated, so a config that stops being generated is noticed."""
    services = load(stack).services
    kinds = {"rules", "promql", "selector"} if services.monitoring.enabled else set()
    if services.monitoring.enabled and services.monitoring.mode == "full":
        kinds.add("alertmanager")
    if services.monitoring.enabled and services.logging.enabled:
        kinds.add("logql")
    if services.tracing.enabled:
        kinds.add("collector")
        if services.monitoring.enabled:
            kinds.add("traceql")
    return kinds


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_generated_config_is_accepted_by_the_tools_parser(inventory, chart_mirror, check, stack):
    items = generated(inventory, chart_mirror, stack)
    results = check(items)
    refused = [f"{r['name']}:\n    {r['kind']}: " + "\n    ".join(r["errors"]) for r in results if r["errors"]]
    assert not refused, "\n".join(refused)
    warned = [f"{r['name']}: " + "; ".join(r["warnings"]) for r in results if r["warnings"]]
    assert not warned, "\n".join(warned)
    assert set(Counter(i["kind"] for i in items)) == expected_kinds(stack)


# --- each checker refuses a broken input ---------------------------------------------------------


@pytest.fixture(scope="module")
def prod(inventory, chart_mirror):
    """prod's generated configs by kind (prod runs every part: full monitoring, logs and traces)."""
    by_kind: dict[str, list[dict]] = {}
    for entry in generated(inventory, chart_mirror, "prod"):
        by_kind.setdefault(entry["kind"], []).append(entry)
    return by_kind


def refused(check, entry: dict, text: str) -> list[str]:
    [result] = check([{**entry, "text": text}])
    return result["errors"]


def test_a_rule_file_with_a_broken_expression_or_template_or_an_unknown_field_is_refused(check, prod):
    entry = next(e for e in prod["rules"] if "platform-nodes" in e["name"])
    spec = yaml.safe_load(entry["text"])
    assert refused(check, entry, entry["text"]) == []

    broken = yaml.safe_load(entry["text"])
    broken["groups"][0]["rules"][0]["expr"] += ")"
    assert "unexpected right parenthesis ')'" in refused(check, entry, yaml.safe_dump(broken))[0]

    broken = yaml.safe_load(entry["text"])
    broken["groups"][0]["rules"][0]["annotations"]["summary"] = "Node {{ $labels.node } is not Ready"
    [error] = refused(check, entry, yaml.safe_dump(broken))
    assert 'annotation "summary"' in error and "unexpected" in error

    broken = yaml.safe_load(entry["text"])
    broken["groups"][0]["rules"][0]["expression"] = broken["groups"][0]["rules"][0].pop("expr")
    assert "field expression not found" in refused(check, entry, yaml.safe_dump(broken))[0]
    assert spec["groups"][0]["rules"][0]["alert"] == "NodeNotReady"


def test_a_query_that_prometheus_cannot_parse_is_refused(check, prod):
    entry = next(e for e in prod["promql"] if "PostgreSQL replication lag" in e["name"])
    # Prometheus reads `group_right (...)` as its label list: the mistake the rule once had.
    broken = entry["text"].replace("group_right ()", "group_right")
    assert broken != entry["text"]
    assert refused(check, entry, broken) != []


def test_a_variable_selector_that_is_not_a_series_selector_is_refused(check, prod):
    entry = prod["selector"][0]
    assert refused(check, entry, "up{site=}") != []


def test_an_alertmanager_file_with_an_unknown_receiver_or_a_bad_matcher_is_refused(check, prod):
    entry = prod["alertmanager"][0]
    document = yaml.safe_load(entry["text"])
    broken = {**document, "route": {**document["route"], "receiver": "nobody"}}
    assert refused(check, entry, yaml.safe_dump(broken)) == ['undefined receiver "nobody" used in route']
    broken = {**document, "inhibit_rules": [{**document["inhibit_rules"][0], "source_matchers": ['severity="critical']}]}
    assert refused(check, entry, yaml.safe_dump(broken)) != []


def test_a_collector_config_naming_a_component_it_lacks_is_refused(check, prod):
    entry = prod["collector"][0]
    document = yaml.safe_load(entry["text"])
    broken = yaml.safe_load(entry["text"])
    broken["service"]["pipelines"]["traces"]["processors"].append("tail_sampling")
    [error] = refused(check, entry, yaml.safe_dump(broken))
    assert "tail_sampling" in error
    broken = yaml.safe_load(entry["text"])
    broken["processors"]["probabilistic_sampler"] = {"sampling_percent": 25}
    [error] = refused(check, entry, yaml.safe_dump(broken))
    assert "sampling_percent" in error
    assert "otlp_grpc/tempo" in document["exporters"]


def test_a_logql_query_grafana_cannot_parse_is_refused(check, prod):
    entry = prod["logql"][0]
    assert refused(check, entry, entry["text"].rstrip("}")) == [f"unexpected end of query at {len(entry['text']) - 1}"]


def test_a_traceql_query_grafana_cannot_parse_is_refused(check, prod):
    entry = prod["traceql"][0]
    assert refused(check, entry, entry["text"].replace('="', "=", 1)) != []
