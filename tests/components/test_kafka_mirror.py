"""Kafka between the sites (issue 19 item 4): the primary's cross-site listener and read-only mirror user, the
secondary's MirrorMaker 2 copying every team topic under its own name, the network path in each direction, and the
custom resources checked against the pinned Strimzi chart's CRDs from the offline chart mirror. Who does what after a
failover: tests/stacks/test_failover.py; on two live API servers: tests/cluster/test_failover_drill.py."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from stacks.loader import ConfigError, load
from stacks.tools.inventory import evaluate
from tests.crds import custom_resource_kinds, mirror_crds, schema_problems

STACKS = Path(__file__).resolve().parents[2] / "stacks"
PRIMARY, SECONDARY = "onprem-dc1", "onprem-dc2"
KAFKA_USER = "kubernetes:kafka.strimzi.io/v1:KafkaUser"
MIRROR_MAKER = "kubernetes:kafka.strimzi.io/v1:KafkaMirrorMaker2"
# Kafka's ACL operations that change anything (AclOperation); the mirror's user at the primary has none of them.
CHANGING = {"Write", "Create", "Delete", "Alter", "AlterConfigs", "ClusterAction", "IdempotentWrite", "All"}
IDENTITY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"


def declared_topics(stack: str) -> list[str]:
    return [f"{team.name}.{topic.name}" for team in load(stack).teams for topic in team.topics]


def acls_by_resource(user) -> dict[tuple[str, str | None, str | None], list[str]]:
    return {(acl["resource"]["type"], acl["resource"].get("name"), acl["resource"].get("patternType")): acl["operations"]
            for acl in user.inputs["spec"]["authorization"]["acls"]}


def site_listener(inventory, stack: str) -> list[dict]:
    listeners = inventory(stack).named("platform-kafka-cluster").inputs["spec"]["kafka"]["listeners"]
    return [listener for listener in listeners if listener["name"] == "site"]


def test_the_primary_serves_its_brokers_to_the_other_site_only_through_the_cross_site_listener(inventory):
    registrations = inventory(PRIMARY)
    [listener] = site_listener(inventory, PRIMARY)
    in_cluster = registrations.named("platform-kafka-cluster").inputs["spec"]["kafka"]["listeners"][0]
    assert (listener["port"], listener["type"], listener["tls"]) == (9094, "loadbalancer", True)
    assert listener["authentication"] == in_cluster["authentication"]  # a client certificate of the environment CA
    configuration = listener["configuration"]
    assert configuration["advertisedHostTemplate"] == "broker-{nodeId}.kafka.dc1.example.com"
    assert (configuration["externalTrafficPolicy"], configuration["loadBalancerSourceRanges"]) == ("Local", ["10.2.0.0/24"])
    # The site's MetalLB pool, as the ingress controller's Service asks for it.
    assert configuration["bootstrap"]["annotations"] == configuration["perBrokerAnnotationsTemplate"] == {
        "metallb.io/address-pool": "internal"}
    # Its certificate names the bootstrap host and every advertised broker host.
    certificate = registrations.named("platform-kafka-site-listener-certificate").inputs["spec"]
    assert "kubernetes:cert-manager.io/v1:Certificate::platform-kafka-site-listener-certificate" in registrations.named(
        "platform-kafka-cluster").options["depends_on"]  # the brokers read its Secret
    assert certificate["secretName"] == configuration["brokerCertChainAndKey"]["secretName"]
    assert certificate["dnsNames"] == ["kafka.dc1.example.com", "*.kafka.dc1.example.com"]
    policy = registrations.named("platform-kafka-allow-other-sites").inputs["spec"]
    assert policy == {
        "podSelector": {"matchLabels": {"strimzi.io/cluster": "events", "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.2.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 9094}]}],
    }
    assert registrations.of_type(MIRROR_MAKER) == []  # a primary mirrors nothing
    assert site_listener(inventory, SECONDARY) == []  # a secondary serves no cross-site listener


def test_the_secondarys_mirror_may_only_read_the_team_topics_and_groups_at_the_primary(inventory):
    users = {r.inputs["metadata"]["name"]: r for r in inventory(PRIMARY).of_type(KAFKA_USER)}
    acls = acls_by_resource(users["mirror-dc2"])
    assert users["mirror-dc2"].inputs["spec"]["authentication"] == {"type": "tls-external"}
    assert acls == {
        **{("topic", topic, "literal"): ["Read", "DescribeConfigs"] for topic in declared_topics(PRIMARY)},
        ("cluster", None, None): ["Describe"],
        ("group", "payments.", "prefix"): ["Describe"],
        ("group", "search.", "prefix"): ["Describe"],
    }
    assert not CHANGING & {operation for operations in acls.values() for operation in operations}


def test_the_secondary_mirrors_every_team_topic_of_the_primary_under_its_own_name(inventory):
    registrations = inventory(SECONDARY)
    [mirror] = registrations.of_type(MIRROR_MAKER)
    spec = mirror.inputs["spec"]
    [flow] = spec["mirrors"]
    assert (spec["target"]["alias"], spec["target"]["bootstrapServers"]) == ("dc2", "events-kafka-bootstrap.kafka.svc:9093")
    assert (flow["source"]["alias"], flow["source"]["bootstrapServers"]) == ("dc1", "kafka.dc1.example.com:9094")
    for connector in (flow["sourceConnector"], flow["checkpointConnector"]):
        assert connector["config"]["replication.policy.class"] == IDENTITY
        assert connector["config"]["offset-syncs.topic.location"] == "target"  # nothing written at the primary
    assert flow["checkpointConnector"]["config"]["sync.group.offsets.enabled"] == "true"
    # MirrorMaker matches each comma-separated pattern against the whole name: exactly the declared topics.
    topics = [re.compile(pattern) for pattern in flow["topicsPattern"].split(",")]
    candidates = [*declared_topics(PRIMARY), "paymentsXsettlements", "payments.settlements-copy", "other.documents", "__consumer_offsets"]
    assert [name for name in candidates if any(p.fullmatch(name) for p in topics)] == declared_topics(PRIMARY)
    groups = [re.compile(pattern) for pattern in flow["groupsPattern"].split(",")]
    assert [g for g in ("payments.reader", "search.indexer", "paymentsX", "other.reader") if any(p.fullmatch(g) for p in groups)] == [
        "payments.reader", "search.indexer"]
    # One certificate for both clusters, from dc2's issuer of the one environment CA: its common name is the principal
    # of the KafkaUser at dc1 (read-only there) and at dc2 (below).
    certificate = registrations.named("platform-kafka-mirror-certificate").inputs["spec"]
    assert certificate["commonName"] == "mirror-dc2" and certificate["usages"][0] == "client auth"
    for side in (spec["target"], flow["source"]):
        assert side["authentication"]["certificateAndKey"]["secretName"] == certificate["secretName"]
        assert side["tls"]["trustedCertificates"] == [{"secretName": certificate["secretName"], "certificate": "ca.crt"}]
    assert "platform-kafka-user-mirror-dc2" in {r.name for r in inventory(PRIMARY).of_type(KAFKA_USER)}


def test_the_mirror_user_at_the_secondary_writes_the_team_topics_and_its_own_topics_only(inventory):
    users = {r.inputs["metadata"]["name"]: r for r in inventory(SECONDARY).of_type(KAFKA_USER)}
    acls = acls_by_resource(users["mirror-dc2"])
    internal = ["Create", "Describe", "DescribeConfigs", "Read", "Write"]
    assert acls == {
        ("group", "mirror", "literal"): ["Read"],
        ("topic", "mirror-configs", "literal"): internal,
        ("topic", "mirror-offsets", "literal"): internal,
        ("topic", "mirror-status", "literal"): internal,
        ("topic", "mm2-offset-syncs.dc1.internal", "literal"): ["Create", "DescribeConfigs", "Read", "Write"],
        ("topic", "dc1.checkpoints.internal", "literal"): ["Create", "Describe", "Read", "Write"],
        # Written by the mirror, read for the teams' committed offsets; created by the Topic Operator, not the mirror.
        **{("topic", topic, "literal"): ["Write", "Read"] for topic in declared_topics(SECONDARY)},
        ("cluster", None, None): ["Describe"],
        ("group", "payments.", "prefix"): ["Read", "Describe"],
        ("group", "search.", "prefix"): ["Read", "Describe"],
    }


def test_the_mirror_reaches_out_of_its_namespace_only_to_the_primarys_listener(inventory):
    policy = inventory(SECONDARY).named("platform-kafka-allow-mirror-to-primary").inputs["spec"]
    assert policy == {
        "podSelector": {"matchLabels": {"strimzi.io/cluster": "mirror", "strimzi.io/kind": "KafkaMirrorMaker2"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.1.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 9094}]}],
    }


def test_the_mirror_resources_match_strimzis_crds_and_the_check_refuses_the_old_shape(inventory):
    registrations = inventory(SECONDARY)
    [mirror] = registrations.of_type(MIRROR_MAKER)
    cluster = inventory(PRIMARY).named("platform-kafka-cluster").inputs
    crds = mirror_crds(custom_resource_kinds({MIRROR_MAKER, "kubernetes:kafka.strimzi.io/v1:Kafka"}))
    assert schema_problems(mirror.inputs, crds) == schema_problems(cluster, crds) == []
    # Strimzi 1.x serves only v1, whose KafkaMirrorMaker2 has `target` and `mirrors[].source` (v1beta2's
    # `connectCluster`/`clusters` are gone), and a listener option must be spelled as the CRD spells it.
    old = copy.deepcopy(mirror.inputs)
    old["spec"]["connectCluster"] = old["spec"]["target"]["alias"]
    misspelt = copy.deepcopy(cluster)
    misspelt["spec"]["kafka"]["listeners"][1]["configuration"]["advertisedHostsTemplate"] = "broker-{nodeId}.example.com"
    assert schema_problems(old, crds) == [
        "KafkaMirrorMaker2 kafka/mirror: spec: Additional properties are not allowed ('connectCluster' was unexpected)"]
    assert schema_problems(misspelt, crds) == [
        "Kafka kafka/events: spec.kafka.listeners.1.configuration: Additional properties are not allowed "
        "('advertisedHostsTemplate' was unexpected)"]


def test_a_mirrored_secondary_whose_primary_has_no_cross_site_listener_is_refused(tmp_path):
    for stack in (PRIMARY, SECONDARY):
        shutil.copy(STACKS / f"Pulumi.{stack}.yaml", tmp_path)
    primary = tmp_path / f"Pulumi.{PRIMARY}.yaml"
    document = yaml.safe_load(primary.read_text())
    document["config"]["complete-cluster:services"]["kafka"]["at_failover"] = "rebuilt_empty"
    primary.write_text(yaml.safe_dump(document, sort_keys=False))
    registered: list = []
    with pytest.raises(ConfigError) as raised:
        evaluate(SECONDARY, tmp_path / f"Pulumi.{SECONDARY}.yaml", sites=tmp_path, into=registered)
    assert raised.value.problems == [(
        "services.kafka.at_failover",
        "`mirrored` reads the primary's topics, and `onprem-dc1` has no cross-site Kafka listener: set its "
        "`services.kafka.at_failover: mirrored` and `services.kafka.site_listener` too, or use `rebuilt_empty` at both sites",
    )]
    assert str(raised.value).startswith(f"{tmp_path / f'Pulumi.{SECONDARY}.yaml'} has 1 problem")
    assert registered == []
