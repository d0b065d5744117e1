"""The failover drill as configuration, checked on every commit.

Copies of the two on-prem stack files are switched the way docs/runbooks/disaster-recovery.md says
(dc2 becomes the primary; dc1 becomes its secondary, or is gone), and dc2 is evaluated before and
after. The test asserts the exact set of resource changes: what `pulumi up --stack onprem-dc2`
will do in the drill.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime import settings
from pulumi.runtime.sync_await import _sync_await

from stacks.tools.inventory import evaluate
from stacks.loader import ConfigError, load

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SITE = "complete-cluster:site"
CLUSTER = "rancher2:index/clusterV2:ClusterV2::platform-rancher-cluster"
# A secondary's read-only Velero location on its primary's backups (components/services/backup.py).
PRIMARY_BACKUPS = "kubernetes:velero.io/v1:BackupStorageLocation::platform-backup-primary-location"
# Harbor replication (components/services/harbor_config.py): a secondary pulls from the primary's
# Harbor with the robot account the primary grants.
PULL_FROM_PRIMARY = [
    "harbor:index/registry:Registry::platform-harbor-primary",
    "harbor:index/replication:Replication::platform-harbor-from-primary",
]
REPLICATION_ROBOT = "harbor:index/robotAccount:RobotAccount::platform-harbor-replication-robot"
# The central view (components/observability/): a primary with secondaries receives their metrics and
# logs at its telemetry host and alerts when one stops reporting.
CENTRAL_VIEW = [
    "kubernetes:core/v1:Secret::platform-observability-logs-central-auth",
    "kubernetes:core/v1:Secret::platform-observability-metrics-central-auth",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule::platform-observability-alert-rules-sites",
    "kubernetes:networking.k8s.io/v1:Ingress::platform-observability-logs-central-ingress",
    "kubernetes:networking.k8s.io/v1:Ingress::platform-observability-metrics-central-ingress",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::platform-observability-logs-loki-allow-central-push",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::platform-observability-metrics-ingress-to-prometheus",
]
# ... and a site of several keeps the credentials it would send with, whatever its role.
SEND_CREDENTIALS = "kubernetes:core/v1:Secret::platform-observability-metrics-remote-write"
PROMETHEUS = "kubernetes:helm.sh/v4:Chart::platform-observability-metrics-kube-prometheus-stack"
FLUENT_BIT = "kubernetes:helm.sh/v4:Chart::platform-observability-logs-fluent-bit"
# A secondary's PostgreSQL clusters are standbys of the primary's, from its WAL archive.
DATABASE = "kubernetes:acid.zalan.do/v1:postgresql::postgres-payments-db-cluster"
# The environment's Fleet objects in Rancher's management cluster: the promoted site's stack takes them over
# (components/access/fleet.py; the same names and content as dc1's stack wrote).
FLEET = [
    "platform:access:FleetReleases::platform-releases",
    "kubernetes:fleet.cattle.io/v1alpha1:ClusterGroup::platform-releases-group-prod-sites",
    "kubernetes:fleet.cattle.io/v1alpha1:ClusterGroup::platform-releases-group-prod-primary",
    "kubernetes:fleet.cattle.io/v1alpha1:GitRepo::platform-releases-repo-payments",
    "kubernetes:fleet.cattle.io/v1alpha1:GitRepo::platform-releases-repo-payments-primary",
    "kubernetes:fleet.cattle.io/v1alpha1:GitRepo::platform-releases-repo-search",
]


class Sites:
    """The two site stack files, copied into a directory of their own."""

    def __init__(self, directory: Path):
        self.directory = directory
        for stack in ("onprem-dc1", "onprem-dc2"):
            shutil.copy(STACKS / f"Pulumi.{stack}.yaml", directory)

    def path(self, stack: str) -> Path:
        return self.directory / f"Pulumi.{stack}.yaml"

    def set_site(self, stack: str, site: dict) -> None:
        document = yaml.safe_load(self.path(stack).read_text())
        document["config"][SITE] = site
        self.path(stack).write_text(yaml.safe_dump(document, sort_keys=False))

    def fail_over(self, drill: str) -> None:
        """Write the stack files as FAILOVER[drill] says (None: the file is removed), with KAFKA_ALONE's change."""
        for stack, site in FAILOVER[drill].items():
            if site is None:
                self.path(stack).unlink()
            else:
                self.set_site(stack, site)
        for stack, mode in KAFKA_ALONE.get(drill, {}).items():
            document = yaml.safe_load(self.path(stack).read_text())
            document["config"]["complete-cluster:services"]["kafka"]["at_failover"] = mode
            self.path(stack).write_text(yaml.safe_dump(document, sort_keys=False))

    def evaluate(self, stack: str):
        """(registrations by `type::name`, stack outputs) of `stack`, against these sites."""
        registrations = {f"{r.type}::{r.name}": r for r in evaluate(stack, self.path(stack), sites=self.directory)}
        outputs = {name: _sync_await(pulumi.Output.from_input(value).future()) for name, value in settings.ROOT.get().outputs.items()}
        return registrations, outputs


# Kafka between the sites (components/services/kafka_mirror.py): the primary's cross-site listener and its secondary's
# mirror user; the secondary's MirrorMaker 2 with its certificate, local user and one egress.
KAFKA_CLUSTER = "kubernetes:kafka.strimzi.io/v1:Kafka::platform-kafka-cluster"
KAFKA_PRIMARY = [
    "kubernetes:cert-manager.io/v1:Certificate::platform-kafka-site-listener-certificate",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::platform-kafka-allow-other-sites",
]
KAFKA_SECONDARY = [
    "kubernetes:cert-manager.io/v1:Certificate::platform-kafka-mirror-certificate",
    "kubernetes:kafka.strimzi.io/v1:KafkaMirrorMaker2::platform-kafka-mirror",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::platform-kafka-allow-mirror-to-primary",
]


def mirror_user(site: str) -> str:
    return f"kubernetes:kafka.strimzi.io/v1:KafkaUser::platform-kafka-user-mirror-{site}"


def site_listeners(registrations: dict) -> list[dict]:
    return [listener for listener in registrations[KAFKA_CLUSTER].inputs["spec"]["kafka"]["listeners"] if listener["name"] == "site"]


def changes(before: dict, after: dict) -> dict:
    """What an update from `before` to `after` does: added and removed `type::name`, and for each
    changed resource the input keys (and `options.*`) that differ."""
    changed = {}
    for key in before.keys() & after.keys():
        old, new = before[key], after[key]
        keys = sorted(k for k in old.inputs.keys() | new.inputs.keys() if old.inputs.get(k) != new.inputs.get(k))
        keys += sorted(f"options.{k}" for k in old.options if old.options[k] != new.options.get(k))
        if old.parent != new.parent:
            keys.append("parent")
        if keys:
            changed[key] = keys
    return {"added": sorted(after.keys() - before.keys()), "removed": sorted(before.keys() - after.keys()), "changed": changed}


FAILOVER = {
    # dc1 is reachable again (or its file is simply kept in step): it becomes dc2's secondary.
    "dc1-becomes-secondary": {"onprem-dc2": {"name": "dc2", "role": "primary", "secondaries": ["onprem-dc1"]},
                              "onprem-dc1": {"name": "dc1", "role": "secondary", "primary": "onprem-dc2"}},
    # dc1's data centre is gone for good and its stack file is removed.
    "dc1-absent": {"onprem-dc2": {"name": "dc2", "role": "primary"}, "onprem-dc1": None},
}
# With no other site left there is nothing to mirror to: the runbook's step 2 sets Kafka's failover mode with the role.
KAFKA_ALONE = {"dc1-absent": {"onprem-dc2": "rebuilt_empty"}}


def test_the_promoted_site_takes_over_the_same_fleet_objects(tmp_path):
    sites = Sites(tmp_path)
    written_by_dc1, _ = sites.evaluate("onprem-dc1")
    sites.fail_over("dc1-becomes-secondary")
    written_by_dc2, _ = sites.evaluate("onprem-dc2")
    for key in FLEET[1:]:
        old, new = written_by_dc1[key].inputs, written_by_dc2[key].inputs
        assert (new["metadata"]["name"], new["metadata"]["namespace"], new["spec"]) == (
            old["metadata"]["name"], old["metadata"]["namespace"], old["spec"]), key
        assert new["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}  # dc2's apply takes the fields over


@pytest.mark.parametrize("drill", FAILOVER, ids=list(FAILOVER))
def test_promoting_dc2_changes_exactly_its_cluster_role(tmp_path, drill):
    sites = Sites(tmp_path)
    before, outputs_before = sites.evaluate("onprem-dc2")
    sites.fail_over(drill)
    after, outputs_after = sites.evaluate("onprem-dc2")

    # dc2 grants the robot account and receives the central view only when it has a secondary; it
    # stops remote-writing and pushing logs to dc1 (the charts' values), and with no other site left
    # it no longer holds the credentials to send with.
    # dc2 stops mirroring (its MirrorMaker 2 and what only it needs go) and, with dc1 as its secondary, opens the
    # cross-site listener to dc1's mirror; with no other site, Kafka stays as it is otherwise.
    with_secondary = drill == "dc1-becomes-secondary"
    kafka_primary = [*KAFKA_PRIMARY, mirror_user("dc1")] if with_secondary else []
    assert changes(before, after) == {
        "added": sorted([*FLEET, *([REPLICATION_ROBOT, *CENTRAL_VIEW] if with_secondary else []), *kafka_primary]),
        "removed": sorted([*PULL_FROM_PRIMARY, PRIMARY_BACKUPS, *([] if with_secondary else [SEND_CREDENTIALS]),
                           *KAFKA_SECONDARY, mirror_user("dc2")]),
        "changed": {
            CLUSTER: ["annotations", "labels"],
            PROMETHEUS: ["values"] if with_secondary else ["values", "options.depends_on"],
            FLUENT_BIT: ["values"],
            DATABASE: ["spec"],
            **({KAFKA_CLUSTER: ["spec", "options.depends_on"]} if with_secondary else {}),
        },
    }
    assert site_listeners(before) == []
    assert [listener["configuration"]["advertisedHostTemplate"] for listener in site_listeners(after)] == (
        ["broker-{nodeId}.kafka.dc2.example.com"] if with_secondary else [])
    # The database is promoted: it no longer follows dc1's WAL archive, and keeps archiving its own.
    database_before, database_after = before[DATABASE].inputs["spec"], after[DATABASE].inputs["spec"]
    assert database_before["standby"] == {"s3_wal_path": "s3://dc1-postgres/spilo/payments-db/wal/17"} and "standby" not in database_after
    assert not [env for env in database_after["env"] if env["name"].startswith("STANDBY_")]
    assert {env["name"]: env.get("value") for env in database_after["env"]}["WAL_S3_BUCKET"] == "dc2-postgres"
    assert after[DATABASE].options["protect"] is True
    prometheus_before, prometheus_after = (side[PROMETHEUS].inputs["values"]["prometheus"]["prometheusSpec"] for side in (before, after))
    assert (
        prometheus_before["remoteWrite"][0]["url"] == "https://telemetry.dc1.example.com/api/v1/write"
        and "remoteWrite" not in prometheus_after
    )
    # Its own Tempo's metrics-generator writes into it in either role (who reaches it: tests/components/test_metrics.py).
    assert prometheus_before["enableRemoteWriteReceiver"] is prometheus_after["enableRemoteWriteReceiver"] is True
    cluster_before, cluster_after = before[CLUSTER].inputs, after[CLUSTER].inputs
    assert cluster_before["labels"]["complete-cluster/site-role"] == "secondary"
    assert cluster_after["labels"]["complete-cluster/site-role"] == "primary"
    assert cluster_before["annotations"] == {"complete-cluster/standby-for": "onprem-dc1"}
    assert "annotations" not in cluster_after
    # Its etcd snapshots keep going to its own bucket and folder, before and after.
    assert cluster_before["rkeConfig"]["etcd"] == cluster_after["rkeConfig"]["etcd"]
    assert cluster_after["rkeConfig"]["etcd"]["s3Config"]["bucket"] == "dc2-etcd-snapshots"
    assert after[CLUSTER].options["protect"] is True

    # The stack outputs the services layer reads: dc2 no longer follows dc1.
    assert (outputs_before["siteRole"], outputs_after["siteRole"]) == ("secondary", "primary")
    assert outputs_before["standby"]["stack"] == "onprem-dc1" and outputs_before["standby"]["buckets"]["postgres"] == "dc1-postgres"
    assert "standby" not in outputs_after


def test_the_old_primary_comes_back_as_a_standby_of_dc2(tmp_path):
    sites = Sites(tmp_path)
    before, _ = sites.evaluate("onprem-dc1")
    sites.fail_over("dc1-becomes-secondary")
    after, outputs = sites.evaluate("onprem-dc1")
    assert changes(before, after) == {
        "added": sorted([*PULL_FROM_PRIMARY, PRIMARY_BACKUPS, *KAFKA_SECONDARY, mirror_user("dc1")]),
        "removed": sorted([REPLICATION_ROBOT, *CENTRAL_VIEW, *FLEET, *KAFKA_PRIMARY, mirror_user("dc2")]),
        "changed": {CLUSTER: ["annotations", "labels"], PROMETHEUS: ["values"], FLUENT_BIT: ["values"], DATABASE: ["spec"],
                    KAFKA_CLUSTER: ["spec", "options.depends_on"]},
    }
    # It mirrors dc2's topics now, from dc2's cross-site listener, as `mirror-dc1`; it serves no cross-site listener.
    mirror = after[KAFKA_SECONDARY[1]].inputs["spec"]
    [source] = [m["source"] for m in mirror["mirrors"]]
    assert (mirror["target"]["alias"], source["alias"], source["bootstrapServers"]) == ("dc1", "dc2", "kafka.dc2.example.com:9094")
    assert after[KAFKA_SECONDARY[0]].inputs["spec"]["commonName"] == "mirror-dc1"
    assert site_listeners(after) == []
    # Dropped from dc1's state only: dc2's stack manages them now (retain_on_delete, components/access/fleet.py).
    assert all(before[key].options["retain_on_delete"] is True for key in FLEET if not key.startswith("platform:"))
    # Its database is rebuilt as a standby of dc2's, from dc2's WAL archive on dc2's endpoint.
    database = after[DATABASE].inputs["spec"]
    assert database["standby"] == {"s3_wal_path": "s3://dc2-postgres/spilo/payments-db/wal/17"}
    assert {env["name"]: env.get("value") for env in database["env"]}["STANDBY_AWS_ENDPOINT"] == "https://s3.dc2.example.com"
    # It sends its metrics to dc2's telemetry host now.
    remote_write = after[PROMETHEUS].inputs["values"]["prometheus"]["prometheusSpec"]["remoteWrite"]
    assert [target["url"] for target in remote_write] == ["https://telemetry.dc2.example.com/api/v1/write"]
    # It pulls dc2's images now.
    assert after[PULL_FROM_PRIMARY[0]].inputs["endpointUrl"] == "https://harbor.dc2.example.com"
    assert after[CLUSTER].inputs["annotations"] == {"complete-cluster/standby-for": "onprem-dc2"}
    # It can restore dc2's backups, read-only.
    spec = after[PRIMARY_BACKUPS].inputs["spec"]
    assert (spec["accessMode"], spec["objectStorage"], spec["config"]["s3Url"]) == (
        "ReadOnly", {"bucket": "dc2-backups", "prefix": "prod-dc2"}, "https://s3.dc2.example.com")
    # What dc1 now follows and restores from: dc2's WAL archive, backups and registry.
    assert outputs["standby"] == {
        "stack": "onprem-dc2",
        "site": "dc2",
        "storage_endpoint": "https://s3.dc2.example.com",
        "storage_region": "us-east-1",
        "buckets": {"registry": "dc2-registry", "backups": "dc2-backups", "postgres": "dc2-postgres", "logs": "dc2-logs",
                    "traces": "dc2-traces", "etcd_snapshots": "dc2-etcd-snapshots"},
        "registry_hostname": "harbor.dc2.example.com",
        "central_hostname": "telemetry.dc2.example.com",
        "kafka_listener": "kafka.dc2.example.com",
    }


def test_a_half_done_failover_is_a_config_error_in_both_files(tmp_path):
    sites = Sites(tmp_path)
    sites.set_site("onprem-dc2", FAILOVER["dc1-becomes-secondary"]["onprem-dc2"])  # dc1 left as it was
    with pytest.raises(ConfigError) as dc2:
        load("onprem-dc2", sites.path("onprem-dc2"), sites=tmp_path)
    with pytest.raises(ConfigError) as dc1:
        load("onprem-dc1", sites.path("onprem-dc1"), sites=tmp_path)
    assert dc2.value.problems == [
        (
            "site.secondaries[0]",
            "`onprem-dc1` is a primary, not a secondary: an environment has one primary; make `onprem-dc1` a secondary naming "
            "`onprem-dc2`, or remove it here",
        ),
        (
            "site.role",
            "`onprem-dc1` is a primary too and lists this stack among its secondaries; an environment has one primary: "
            "to fail over, make `onprem-dc1` a secondary naming `onprem-dc2` (docs/runbooks/disaster-recovery.md)",
        ),
    ]
    assert dc1.value.problems == [
        (
            "site.secondaries[0]",
            "`onprem-dc2` is a primary, not a secondary: an environment has one primary; make `onprem-dc2` a secondary naming "
            "`onprem-dc1`, or remove it here",
        ),
        (
            "site.role",
            "`onprem-dc2` is a primary too and lists this stack among its secondaries; an environment has one primary: "
            "to fail over, make `onprem-dc2` a secondary naming `onprem-dc1` (docs/runbooks/disaster-recovery.md)",
        ),
    ]


def test_a_secondary_whose_primary_is_broken_says_so_without_a_traceback(tmp_path):
    """The loader resolves what a secondary follows from its primary's validated stack file; a broken
    primary is a problem of the secondary's load, named at `site.primary`, before anything is registered."""
    sites = Sites(tmp_path)
    document = yaml.safe_load(sites.path("onprem-dc1").read_text())
    document["config"]["complete-cluster:storage"]["endpoint"] = "http://s3.dc1.example.com"
    sites.path("onprem-dc1").write_text(yaml.safe_dump(document, sort_keys=False))
    registered: list = []
    with pytest.raises(ConfigError) as raised:
        evaluate("onprem-dc2", sites.path("onprem-dc2"), into=registered, sites=tmp_path)
    assert raised.value.problems == [
        ("site.primary", f"`onprem-dc1` has 1 problem, so this site cannot follow it; fix its stack file first "
                         f"(`python -m stacks validate {sites.path('onprem-dc1')}`)"),
    ]
    assert registered == []


def test_the_drill_leaves_the_shipped_files_alone():
    assert load("onprem-dc2").site.role == "secondary"
    assert load("onprem-dc1").site.secondaries == ["onprem-dc2"]
