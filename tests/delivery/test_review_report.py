"""The merge-request report: `python -m stacks review STACK --markdown` with policy results, the cost
estimate (and its change against a base) and a Mermaid diagram of the complete cluster.

The diagrams of the shipped stacks were also checked with Mermaid 11's own parser (`mermaid.parse`
under Node); here their structure is checked without it: balanced subgraphs, valid ids, quoted
labels, and every edge between declared nodes.
"""

from __future__ import annotations

import json
import re

import pytest

from stacks.tools import cost, diagram
from stacks.tools.cli import main as stacks_main
from stacks.loader import load

_NODE = re.compile(r'^\s*([A-Za-z0-9_]+)(\[\(|\(\[|\[)"([^"]*)"(\)\]|\]\)|\])$')
_SUBGRAPH = re.compile(r'^\s*subgraph ([A-Za-z0-9_]+)\["([^"]*)"\]$')
_EDGE = re.compile(r'^\s*([A-Za-z0-9_]+) (-->|---|-- "[^"]*" -->|-\. "[^"]*" \.->|-- runs on -->) ([A-Za-z0-9_]+)$')
_STYLE = re.compile(r"^\s*style ([A-Za-z0-9_]+) stroke-dasharray: 5 5$")


def parse(source: str) -> tuple[dict[str, str], set[str], list[tuple[str, str]]]:
    """(nodes and their labels, subgraph ids, edges) of a diagram; fails on any line it cannot read."""
    lines = source.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    subgraphs: set[str] = set()
    edges: list[tuple[str, str]] = []
    depth = 0
    for line in lines[1:]:
        if match := _SUBGRAPH.match(line):
            assert match.group(1) not in subgraphs and match.group(1) not in nodes, line
            subgraphs.add(match.group(1))
            depth += 1
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
        elif match := _NODE.match(line):
            assert match.group(1) not in nodes, f"node declared twice: {line}"
            nodes[match.group(1)] = match.group(3)
        elif match := _EDGE.match(line):
            edges.append((match.group(1), match.group(3)))
        elif match := _STYLE.match(line):
            assert match.group(1) in nodes, line
        else:
            pytest.fail(f"unreadable diagram line: {line!r}")
    assert depth == 0, "unbalanced subgraphs"
    for start, end in edges:
        assert start in nodes or start in subgraphs, start
        assert end in nodes or end in subgraphs, end
    return nodes, subgraphs, edges


def mermaid_block(markdown: str) -> str:
    match = re.search(r"```mermaid\n(.*?)\n```", markdown, re.S)
    assert match, "no mermaid block"
    return match.group(1)


@pytest.fixture(scope="module")
def prod_report():
    import io

    from stacks.tools import review as rv

    out = io.StringIO()
    code = rv.main("prod", markdown=True, out=out, err=io.StringIO())
    return code, out.getvalue()


def test_the_prod_report_has_policy_results_cost_and_a_diagram(prod_report, inventory):
    code, out = prod_report
    assert code == 0
    headings = re.findall(r"^#{2,3} .*$", out, re.M)
    assert headings == [
        "## Policy review: stack `prod` (environment `prod`)",
        "### Resources by layer",
        "### Cost estimate",
        "### Diagram",
        "### Policy violations",
    ]
    assert "**passed**: " in out and out.endswith("### Policy violations\n\nNo policy violations.\n")
    estimate = cost.estimate(load("prod"), "prod", inventory("prod"))
    assert f"**{cost.summary(estimate)}**, node pools at their minimum – at their maximum size." in out
    assert cost.summary(estimate).startswith(
        "USD 1,416.30 – USD "
    ) and "(within the budget of USD 20,000.00 at maximum scale)" in cost.summary(estimate)
    assert (
        "| node pool `ai`: 0..25 × Standard_NC8as_T4_v3 | compute | 0.00 | 13,724.00 | reference price (vm-eastus-code, eastus, found "
        "2026-11-21) |"
        in out
    )
    assert "Note: prices for centralindia: No Central India list price" in out


def test_the_prod_diagram_shows_layers_services_teams_and_what_uses_what(prod_report):
    nodes, subgraphs, edges = parse(mermaid_block(prod_report[1]))
    assert {"infrastructure", "storage", "services", "access", "team_payments", "team_search"} <= subgraphs
    assert nodes["cluster"] == "AKS 1.33, centralindia, Standard tier"
    assert nodes["pool_ai"] == "pool ai: 0..25 × Standard_NC8as_T4_v3"
    assert nodes["store"] == "Azure Blob, Standard_RAGZRS"
    assert nodes["svc_postgres"].startswith("PostgreSQL") and nodes["wl_payments_payments_api"] == "API payments-api"
    assert ("wl_payments_payments_api", "svc_postgres") in edges
    assert ("wl_payments_settlement_worker", "svc_rabbitmq") in edges
    assert ("svc_ingress", "wl_search_search_api") in edges
    assert ("svc_backup", "store") in edges
    assert ("access", "infrastructure") in edges and ("services", "infrastructure") in edges


@pytest.mark.parametrize("stack", ["local", "dev", "test", "onprem-dc1", "onprem-dc2"])
def test_every_shipped_stack_draws_a_readable_diagram(stack, inventory):
    config = load(stack)
    nodes, subgraphs, edges = parse(diagram.mermaid(config, inventory(stack)))
    assert "infrastructure" in subgraphs and "cluster" in nodes
    for team in config.teams:
        assert f"team_{team.name}" in subgraphs
    if config.infrastructure.kind == "rancher":
        assert nodes["pool_control"] == "pool control: 3 × 4 vCPU / 8 GiB (etcd, controlplane)"
        assert nodes["store"].startswith("S3, s3.dc")


@pytest.mark.parametrize("stack, services", [
    ("prod", ("monitoring", "logging", "tracing")),
    ("dev", ("monitoring", "tracing")),
])
def test_registered_observability_is_drawn_as_registered(stack, services, inventory):
    """Monitoring, logs and tracing register as `platform:observability:*` components: drawn solid, not as configured
    but missing; a stack whose inventory lacks one draws it dashed."""
    config = load(stack)
    nodes, _, _ = parse(diagram.mermaid(config, inventory(stack)))
    for service in services:
        assert not nodes[f"svc_{service}"].endswith("(configured)"), service
    without = [r for r in inventory(stack) if r.type != "platform:observability:Traces"]
    assert parse(diagram.mermaid(config, without))[0]["svc_tracing"].endswith("(configured)")


def test_labels_cannot_break_the_diagram():
    assert diagram.label('say "hi"') == '"say #quot;hi#quot;"'
    assert diagram.node_id("wl", "payments", "payments-api.v2") == "wl_payments_payments_api_v2"


def test_the_change_against_a_base_reaches_the_report(tmp_path, capsys):
    assert stacks_main(["cost", "prod", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    for line in base["lines"]:
        if line["key"] == "node pool ai":
            line["monthlyMax"] = 0.0
    base["monthlyMax"] = round(sum(line["monthlyMax"] for line in base["lines"]), 2)
    saved = tmp_path / "base.json"
    saved.write_text(json.dumps(base))
    assert stacks_main(["review", "prod", "--markdown", "--base-file", str(saved)]) == 0
    out = capsys.readouterr().out
    assert f"Change against `{saved}`: +USD 0.00 at minimum, +USD 13,724.00 at maximum." in out
    assert "- node pool `ai`: 0..25 × Standard_NC8as_T4_v3: +USD 0.00 / +USD 13,724.00" in out
