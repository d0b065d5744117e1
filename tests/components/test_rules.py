"""The platform's alert rules, read from the inventories: every alert has a severity and a runbook
section that exists, every monitored shared service has rules, the thresholds are the issue's, the
quota alert covers every team, and only a primary with secondaries watches them with SiteDown.

Whether Prometheus accepts the rule files and their expressions is tests/configs' question: there
Prometheus's own rulefmt and PromQL parser read them (scripts/checkers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.observability.monitors import MONITORING_API
from components.kit.parts import RUNBOOK_FILE
from stacks.loader import load

STACKS = ["local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
RULE = f"kubernetes:{MONITORING_API}:PrometheusRule"
MONITOR_KINDS = {f"kubernetes:{MONITORING_API}:PodMonitor", f"kubernetes:{MONITORING_API}:ServiceMonitor"}
CHART = "kubernetes:helm.sh/v4:Chart"
REPOSITORY = Path(__file__).resolve().parents[2]
RUNBOOK = REPOSITORY / RUNBOOK_FILE


def alerts(inventory, stack) -> list[dict]:
    return [rule for r in inventory(stack) if r.type == RULE for group in r.inputs["spec"]["groups"] for rule in group["rules"]]


def named(inventory, stack, name) -> dict:
    [rule] = [rule for rule in alerts(inventory, stack) if rule["alert"] == name]
    return rule


def runbook_anchors() -> set[str]:
    """GitHub/GitLab heading anchors of the runbook's sections (lower-case, spaces to dashes)."""
    return {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }


# --- every alert ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_has_a_severity_a_summary_and_a_runbook_section(inventory, stack):
    anchors = runbook_anchors()
    found = alerts(inventory, stack)
    assert found
    for rule in found:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        # An absolute https address a pager opens: the stack's published runbook and the alert's section.
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == load(stack).services.monitoring.runbook_base_url and page.startswith("https://"), rule["alert"]
        assert page.endswith(RUNBOOK_FILE)
        assert anchor == rule["alert"].lower() and anchor in anchors, rule["alert"]


def test_the_runbook_has_a_section_for_every_alert_and_no_other(inventory):
    names = {rule["alert"].lower() for stack in STACKS for rule in alerts(inventory, stack)}
    sections = {line[4:].strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("### ")}
    assert sections == names


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitored_shared_service_has_rules_on_its_own_targets(inventory, stack):
    monitored = set()
    for r in inventory(stack):
        if r.type in MONITOR_KINDS:
            spec = r.inputs["spec"]
            [endpoint] = spec.get("podMetricsEndpoints") or spec["endpoints"]
            monitored |= {x["replacement"] for x in endpoint["relabelings"] if x["targetLabel"] == "platform_service"}
    by_service: dict[str, list[dict]] = {}
    for rule in alerts(inventory, stack):
        by_service.setdefault(rule["labels"]["service"], []).append(rule)
    assert set(by_service) - {"platform"} == monitored
    for service in monitored:
        scrape = [rule for rule in by_service[service] if f'up{{platform_service="{service}"}} == 0' in rule["expr"]]
        # absent() looks at this site's own targets (a primary also holds its secondaries' `up`)
        own = f'absent(up{{platform_service="{service}", site="{load(stack).site.name}"}})'
        assert len(scrape) == 1 and own in scrape[0]["expr"], service
        assert len(by_service[service]) >= 2, f"{service} has only its scrape alert"


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem-dc1"])
def test_the_rules_come_after_the_metrics_chart_in_the_monitoring_namespace(inventory, stack):
    [metrics_chart] = [r for r in inventory(stack) if r.type == CHART and r.inputs["chart"] == "kube-prometheus-stack"]
    rules = [r for r in inventory(stack) if r.type == RULE]
    assert rules
    for r in rules:
        assert r.inputs["metadata"]["namespace"] == "monitoring"
        assert f"{CHART}::{metrics_chart.name}" in r.options["depends_on"]


# --- the issue's thresholds ----------------------------------------------------------------------


def test_the_thresholds_are_the_issues(inventory):
    expr = lambda name: named(inventory, "onprem-dc1", name)["expr"]  # noqa: E731
    assert expr("NodeNotReady") == 'kube_node_status_condition{condition="Ready",status="true"} == 0'
    assert expr("NodeFilesystemAlmostFull").endswith("> 0.8")
    assert "node_filesystem_avail_bytes" in expr("NodeFilesystemAlmostFull")
    assert expr("PersistentVolumeClaimAlmostFull") == "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes > 0.8"
    assert expr("PodCrashLooping") == 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1'
    assert expr("CertificateExpiringSoon") == "certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 86400"
    assert expr("VeleroBackupMissing") == 'time() - velero_backup_last_successful_timestamp{schedule="daily"} > 26 * 3600'
    assert expr("VeleroBackupFailed") == 'increase(velero_backup_failure_total{schedule="daily"}[1h]) > 0'
    assert named(inventory, "onprem-dc1", "VeleroBackupNeverSucceeded")["for"] == "26h"
    assert expr("TeamQuotaAlmostExhausted").endswith("> 0.9")
    assert "kafka_server_replicamanager_underreplicatedpartitions" in expr("KafkaUnderReplicatedPartitions")
    assert "rabbitmq_queue_messages_ready" in expr("RabbitMQQueueGrowing")
    assert "patroni_xlog_replayed_location" in expr("PostgresReplicationLag") and "patroni_replica == 1" in expr("PostgresReplicationLag")
    # The schedule the backup alerts watch is the one Velero runs.
    [schedule] = [r for r in inventory("onprem-dc1") if r.type == "kubernetes:velero.io/v1:Schedule"]
    assert schedule.inputs["metadata"]["name"] == "daily"


@pytest.mark.parametrize("stack", STACKS)
def test_the_quota_alert_covers_every_team(inventory, stack):
    teams = {team.name for team in load(stack).teams}
    expr = named(inventory, stack, "TeamQuotaAlmostExhausted")["expr"]
    selectors = re.findall(r'kube_resourcequota\{namespace=~"([^"]+)",resourcequota="team-quota",type="(used|hard)"\}', expr)
    assert {kind for _, kind in selectors} == {"used", "hard"}
    for pattern, _ in selectors:
        assert set(pattern.split("|")) == teams
    # the quota is the one every team namespace has
    quotas = {
        r.inputs["metadata"]["namespace"]
        for r in inventory(stack)
        if r.type == "kubernetes:core/v1:ResourceQuota" and r.inputs["metadata"]["name"] == "team-quota"
    }
    assert quotas == teams


# --- sites ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_primary_with_a_secondary_alerts_when_it_stops_reporting(inventory, stack):
    site_down = [rule for rule in alerts(inventory, stack) if rule["alert"] == "SiteDown"]
    if stack != "onprem-dc1":
        assert site_down == []
        return
    [rule] = site_down
    assert load("onprem-dc2").site.name == "dc2"
    assert rule["expr"] == 'absent_over_time(up{site="dc2"}[10m])'
    assert rule["labels"] == {"severity": "critical", "service": "platform"}
    assert load("onprem-dc1").services.monitoring.central.site_down_after_minutes == 10


def test_the_summary_names_every_rule_per_group():
    from components.complete_cluster import alert_rules_args
    from components.observability.rules import rule_groups
    from stacks.loader import load_stack

    groups = {group: [alert.name for alert in found] for group, found in rule_groups(alert_rules_args(load_stack("test"))).items()}
    assert groups == {
        "nodes": ["NodeNotReady", "NodeFilesystemAlmostFull"],
        "workloads": ["PodCrashLooping", "PersistentVolumeClaimAlmostFull", "TeamQuotaAlmostExhausted"],
        "ingress": ["IngressMetricsDown", "IngressHighServerErrorRate"],
        "cert-manager": ["CertManagerMetricsDown", "CertificateExpiringSoon", "CertificateNotReady"],
        "postgres": ["PostgresMetricsDown", "PostgresReplicationLag", "PostgresDown"],
        "redis": ["RedisMetricsDown", "RedisDown"],
        "backup": ["VeleroMetricsDown", "VeleroBackupMissing", "VeleroBackupNeverSucceeded", "VeleroBackupFailed"],
    }


def test_after_a_failover_the_new_primary_watches_the_old_one(tmp_path):
    """A failover drill on copies of the stack files: dc2 becomes the primary with dc1 its secondary;
    SiteDown follows the roles, reading the sites from the drill's directory."""
    import shutil

    import yaml

    from components.complete_cluster import alert_rules_args
    from components.observability.rules import rule_groups
    from stacks.loader import STACKS_DIR, load_stack

    for stack in ("onprem-dc1", "onprem-dc2"):
        shutil.copy(STACKS_DIR / f"Pulumi.{stack}.yaml", tmp_path)

    def set_site(stack: str, site: dict) -> None:
        path = tmp_path / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        document["config"]["complete-cluster:site"] = site
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    set_site("onprem-dc2", {"name": "dc2", "role": "primary", "secondaries": ["onprem-dc1"]})
    set_site("onprem-dc1", {"name": "dc1", "role": "secondary", "primary": "onprem-dc2"})
    promoted_stack = load_stack("onprem-dc2", tmp_path / "Pulumi.onprem-dc2.yaml", sites=tmp_path)
    demoted_stack = load_stack("onprem-dc1", tmp_path / "Pulumi.onprem-dc1.yaml", sites=tmp_path)
    promoted = rule_groups(alert_rules_args(promoted_stack))
    demoted = rule_groups(alert_rules_args(demoted_stack))
    [site_down] = promoted["sites"]
    assert site_down.expr == 'absent_over_time(up{site="dc1"}[10m])'
    assert "sites" not in demoted


# --- where the runbook is read ---------------------------------------------------------------------


def _with_monitoring(tmp_path, stack: str, **settings) -> Path:
    """A copy of `stack`'s file with `services.monitoring` settings added."""
    import yaml

    from stacks.loader import STACKS_DIR

    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    services = document["config"].setdefault("complete-cluster:services", {})
    services.setdefault("monitoring", {}).update(settings)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_every_alert_links_the_runbook_where_the_stack_publishes_it(tmp_path):
    from stacks.tools.inventory import evaluate

    base = "https://git.corp.example/platform/complete-cluster/-/blob/v4.2.0/docs/runbooks/alerts.md"
    registered = evaluate("prod", _with_monitoring(tmp_path, "prod", runbook_base_url=base))
    links = {rule["alert"]: rule["annotations"]["runbook_url"]
             for r in registered if r.type == RULE for group in r.inputs["spec"]["groups"] for rule in group["rules"]}
    assert links and links == {name: f"{base}#{name.lower()}" for name in links}


@pytest.mark.parametrize("value, message", [
    ("docs/runbooks/alerts.md", "`docs/runbooks/alerts.md` is not an absolute https URL"),
    ("http://git.corp.example/runbooks", "`http://git.corp.example/runbooks` is not an absolute https URL"),
    ("https://runbooks/alerts.md", "`https://runbooks/alerts.md` is not an absolute https URL"),
    ("https://ops:hunter2@git.corp.example/alerts.md", "`https://ops:hunter2@git.corp.example/alerts.md` is not an absolute https URL"),
    ("https://git.corp.example/alerts.md#nodenotready", "`https://git.corp.example/alerts.md#nodenotready` has a fragment"),
], ids=["relative", "http", "no-domain", "credentials", "fragment"])
def test_a_runbook_address_no_pager_can_open_is_a_config_error(tmp_path, value, message):
    from stacks.loader import ConfigError

    with pytest.raises(ConfigError) as raised:
        load("prod", _with_monitoring(tmp_path, "prod", runbook_base_url=value))
    [(path, text)] = raised.value.problems
    assert path == "services.monitoring.runbook_base_url" and text.startswith(message), text
