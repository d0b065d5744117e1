"""Every query the program writes reads series something the stack runs exports, with the labels it
selects, groups, matches and prints (tests/configs/series.py says how a series' labels are known).
The queries are read by Prometheus's own parser (scripts/checkers), not by a pattern."""

from __future__ import annotations

import pytest

from generated_configs import dashboard_queries, data_source_queries, rule_expressions
from series import SERVICE_MAP_QUERIES, Labels, chart_values, check_query, sites, up_labels, ways
from stacks.loader import load, shipped_stacks

pytestmark = pytest.mark.checkers


def alert_labels(check, stack: str, inventory) -> tuple[list[str], Labels]:
    """What the stack's rules read that nothing offers, and the labels of their ALERTS series."""
    config, regs = load(stack), inventory(stack)
    deployed, site = ways(stack, config, regs), sites(stack, regs, config)
    rules = rule_expressions(stack, regs)
    problems: list[str] = []
    must: set[str] | None = None
    may: set[str] = set()
    for rule, result in zip(rules, check(rules), strict=True):
        labels, found = check_query(result["tree"], deployed, site, rule["name"], uses=rule["uses"])
        problems += found
        own = set(rule["rule_labels"]) | {"alertname", "alertstate"}
        labels = labels or Labels()
        must = own | labels.must if must is None else must & (own | labels.must)
        may |= own | labels.may
    return problems, Labels(must or set(), may)


def grafana_queries(stack: str, regs) -> list[dict]:
    """Every PromQL query Grafana sends for this stack: the dashboards', the data sources', and
    the Tempo data source's own service map and APM queries when it has a service map."""
    config = load(stack)
    queries = [q for q in dashboard_queries(stack, config.site.name, regs) + data_source_queries(stack, regs) if q["kind"] == "promql"]
    tempo = [r.inputs["values"] for r in regs if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs.get("chart") == "grafana"]
    sources = tempo[0]["datasources"]["datasources.yaml"]["datasources"] if tempo else []
    if any(source.get("jsonData", {}).get("serviceMap") for source in sources):
        queries += [{"kind": "promql", "name": f"{stack}: Tempo data source service map {q!r}", "text": q} for q in SERVICE_MAP_QUERIES]
    return queries


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_query_reads_series_the_stack_exports_with_the_labels_it_uses(inventory, check, stack):
    config, regs = load(stack), inventory(stack)
    deployed, site = ways(stack, config, regs), sites(stack, regs, config)
    problems, alerts = alert_labels(check, stack, inventory)
    queries = grafana_queries(stack, regs)
    for query, result in zip(queries, check(queries), strict=True):
        problems += check_query(result["tree"], deployed, site, query["name"], alerts, query.get("uses", []))[1]
    for variable in (q for q in dashboard_queries(stack, config.site.name, regs) if q["kind"] == "selector"):
        # label_values(up, site) lists the values of `site` on this Prometheus's `up` series
        for label in variable["uses"]:
            if label not in up_labels(deployed).may:
                problems.append(f"{variable['name']}: lists the `{label}` values of `up`, and this site's `up` has no `{label}`")
    assert problems == [], "\n".join(problems)


# --- the three readings issue 18 found wrong --------------------------------------------------------


def problems_of(check, stack: str, regs, queries: list[dict], alerts: Labels | None = None) -> list[str]:
    config = load(stack)
    deployed, site = ways(stack, config, regs), sites(stack, regs, config)
    found = []
    for query, result in zip(queries, check(queries), strict=True):
        found += check_query(result["tree"], deployed, site, query["name"], alerts, query.get("uses", []))[1]
    return found


@pytest.mark.parametrize("stack", [s for s in shipped_stacks() if load(s).services.tracing.enabled and load(s).services.monitoring.enabled])
def test_the_tempo_data_source_reads_the_series_tempos_metrics_generator_writes_here(inventory, check, stack):
    """Trace-to-metrics, the service map and the APM table query span metrics and service-graph
    series, which only Tempo's metrics-generator writes: it runs, with both processors, and
    remote-writes into this site's Prometheus, labelled with this site."""
    regs, config = inventory(stack), load(stack)
    generator = chart_values(stack, regs, "tempo")["tempo"]["metricsGenerator"]
    assert generator["enabled"] is True
    assert [target["url"] for target in generator["storage"]["remote_write"]] == ["http://monitoring-prometheus.monitoring.svc:9090/api/v1/write"]
    assert generator["registry"]["external_labels"] == {"site": config.site.name}
    overrides = chart_values(stack, regs, "tempo")["tempo"]["overrides"]["defaults"]["metrics_generator"]
    assert overrides["processors"] == ["service-graphs", "span-metrics"]
    assert chart_values(stack, regs, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]["enableRemoteWriteReceiver"] is True
    queries = [q for q in grafana_queries(stack, regs) if "traces_" in q["text"]]
    assert len(queries) == 7  # two trace-to-metrics queries, five of the service map and APM table
    assert problems_of(check, stack, regs, queries) == []


@pytest.mark.parametrize("stack", [s for s in shipped_stacks() if load(s).services.cert_manager.enabled])
def test_certificate_alerts_and_panels_name_the_certificates_own_namespace(inventory, check, stack):
    """cert-manager labels a certificate's series with the Certificate's `namespace`; its monitor
    honours that label, so the alerts and the overview name the certificate where it is."""
    regs = inventory(stack)
    [monitor] = [r for r in regs if r.type.endswith(":PodMonitor") and r.inputs["metadata"]["name"] == "cert-manager-controller"]
    assert monitor.inputs["spec"]["podMetricsEndpoints"][0]["honorLabels"] is True
    rules = [r for r in rule_expressions(stack, regs) if "certmanager_" in r["text"]]
    assert {r["name"].split()[-1] for r in rules} == {"CertificateExpiringSoon", "CertificateNotReady"}
    assert all("namespace" in r["uses"] for r in rules)
    panels = [q for q in grafana_queries(stack, regs) if "certmanager_" in q["text"]]
    assert panels and all(q["uses"] == ["name", "namespace"] for q in panels)
    assert problems_of(check, stack, regs, rules + panels) == []


@pytest.mark.parametrize("stack", [s for s in shipped_stacks() if load(s).services.monitoring.enabled])
def test_this_sites_own_series_and_alerts_carry_its_site(inventory, check, stack):
    """Every series this Prometheus scrapes carries `site` (the default scrape class), as every
    series it receives from another site does (that site's external labels), so the dashboards'
    site selector lists and selects this site too; every platform alert keeps `site`."""
    regs, config = inventory(stack), load(stack)
    spec = chart_values(stack, regs, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    [scrape_class] = spec["scrapeClasses"]
    assert scrape_class["default"] is True
    assert scrape_class["relabelings"] == [{"action": "replace", "targetLabel": "site", "replacement": config.site.name}]
    assert spec["externalLabels"]["site"] == config.site.name
    problems, alerts = alert_labels(check, stack, inventory)
    assert problems == [] and "site" in alerts.must
    own_site = [q for q in grafana_queries(stack, regs) if q["name"].endswith(f"(site {config.site.name})")]
    assert own_site and problems_of(check, stack, regs, own_site, alerts) == []
