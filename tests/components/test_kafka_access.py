"""Kafka client authentication and authorization (issue 17 item 4): the TLS listener requires a client certificate
of the internal CA, `authorization: simple` applies, and each team whose workloads use Kafka has a `KafkaUser` with
ACLs on exactly its topics and its consumer groups, named as the principal its certificate makes. Every Kafka custom
resource is checked against the CRDs of the pinned Strimzi chart (and cert-manager's) from the offline chart mirror."""

from __future__ import annotations

import copy

import pytest

from components.labels import LABEL_PREFIX
from stacks.loader import load
from tests.crds import custom_resource_kinds, mirror_crds, schema_problems

KAFKA_STACKS = ["local", "dev", "prod", "onprem-dc1", "onprem-dc2"]
TOPIC_OPERATIONS = ["Read", "Write", "Describe", "DescribeConfigs"]
TEAM_LABEL = f"{LABEL_PREFIX}/team"


def kafka_custom_resources(inventory, stack):
    return [r for r in inventory(stack) if r.name.startswith("platform-kafka-") and custom_resource_kinds({r.type})]


def teams_using_kafka(stack):
    return {team.name for team in load(stack).teams if any(u.service == "kafka" for w in team.workloads for u in w.uses)}


def test_the_listener_requires_a_client_certificate_of_the_internal_ca_and_authorization_applies(inventory):
    registrations = inventory("prod")
    kafka = registrations.named("platform-kafka-cluster").inputs["spec"]["kafka"]
    [listener] = kafka["listeners"]
    assert listener["authentication"] == {
        "type": "custom",
        "sasl": False,
        "listenerConfig": {
            "ssl.client.auth": "required",
            "ssl.truststore.location": "/mnt/internal-ca/ca.crt",
            "ssl.truststore.type": "PEM",
        },
    }
    assert kafka["authorization"] == {"type": "simple"}  # no superUsers beyond the ones Strimzi adds for its own parts
    # The brokers mount the internal CA's certificate, and nothing else of the listener certificate's Secret.
    brokers = registrations.named("platform-kafka-brokers").inputs["spec"]["template"]
    assert brokers["pod"]["volumes"] == [
        {"name": "internal-ca", "secret": {"secretName": "events-listener-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    ]
    assert brokers["kafkaContainer"]["volumeMounts"] == [{"name": "internal-ca", "mountPath": "/mnt/internal-ca", "readOnly": True}]
    assert "volumes" not in registrations.named("platform-kafka-controllers").inputs["spec"]["template"]["pod"]


@pytest.mark.parametrize("stack", KAFKA_STACKS)
def test_each_team_that_uses_kafka_has_a_user_allowed_exactly_its_topics_and_groups(inventory, stack):
    registrations = inventory(stack)
    users = {r.inputs["metadata"]["name"]: r for r in registrations.of_type("kubernetes:kafka.strimzi.io/v1:KafkaUser")
             if TEAM_LABEL in r.inputs["metadata"]["labels"]}
    assert set(users) == teams_using_kafka(stack)  # the sites' mirror users: tests/components/test_kafka_mirror.py
    certificates = {r.inputs["metadata"]["namespace"]: r for r in registrations if r.name.startswith("platform-kafka-client-")}
    for team in load(stack).teams:
        if team.name not in users:
            continue
        user = users[team.name]
        assert user.inputs["metadata"]["namespace"] == "kafka"
        assert user.inputs["metadata"]["labels"]["strimzi.io/cluster"] == "events"
        # The principal of a tls-external user is `CN=<name>`: the subject of the team's certificate.
        assert certificates[team.name].inputs["spec"]["commonName"] == team.name
        assert "subject" not in certificates[team.name].inputs["spec"]
        assert user.inputs["spec"] == {
            "authentication": {"type": "tls-external"},
            "authorization": {
                "type": "simple",
                "acls": [
                    *({"resource": {"type": "topic", "name": f"{team.name}.{topic.name}", "patternType": "literal"},
                       "operations": TOPIC_OPERATIONS} for topic in team.topics),
                    {"resource": {"type": "group", "name": f"{team.name}.", "patternType": "prefix"}, "operations": ["Read", "Describe"]},
                ],
            },
        }
        assert "kubernetes:kafka.strimzi.io/v1:Kafka::platform-kafka-cluster" in user.options["depends_on"]


def test_dev_users_reach_only_their_own_topics(inventory):
    users = {r.inputs["metadata"]["name"]: r.inputs["spec"]["authorization"]["acls"]
             for r in inventory("dev").of_type("kubernetes:kafka.strimzi.io/v1:KafkaUser")}
    named = {team: sorted(acl["resource"]["name"] for acl in acls) for team, acls in users.items()}
    assert named == {"payments": ["payments.", "payments.settlements"], "search": ["search.", "search.documents"]}


@pytest.mark.parametrize("stack", KAFKA_STACKS)
def test_every_kafka_custom_resource_matches_its_crd(inventory, stack):
    resources = kafka_custom_resources(inventory, stack)
    crds = mirror_crds(custom_resource_kinds({r.type for r in resources}))
    assert {kind for _, kind in crds} >= {"Kafka", "KafkaNodePool", "Certificate"}
    problems = [problem for r in resources for problem in schema_problems(r.inputs, crds)]
    assert problems == []


def test_the_crd_check_refuses_what_strimzi_would(inventory):
    """The same check fails on an unknown field, a value outside an enum and a wrong type."""
    registrations = inventory("prod")
    resources = {r.name: r.inputs for r in kafka_custom_resources(inventory, "prod")}
    crds = mirror_crds(custom_resource_kinds({r.type for r in registrations if r.name in resources}))
    user = copy.deepcopy(resources["platform-kafka-user-search"])
    user["spec"]["authentication"]["type"] = "mtls"
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Produce"]
    cluster = copy.deepcopy(resources["platform-kafka-cluster"])
    cluster["spec"]["kafka"]["listeners"][0]["authentication"]["trustedCa"] = "internal"
    cluster["spec"]["kafka"]["listeners"][0]["port"] = "9093"
    assert schema_problems(user, crds) == [
        "KafkaUser kafka/search: spec.authentication.type: 'mtls' is not one of ['tls', 'tls-external', 'scram-sha-512']",
        "KafkaUser kafka/search: spec.authorization.acls.0.operations.0: 'Produce' is not one of "
        "['Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'ClusterAction', 'AlterConfigs', 'DescribeConfigs', "
        "'IdempotentWrite', 'All']",
    ]
    assert sorted(schema_problems(cluster, crds)) == [
        "Kafka kafka/events: spec.kafka.listeners.0.authentication: Additional properties are not allowed ('trustedCa' was unexpected)",
        "Kafka kafka/events: spec.kafka.listeners.0.port: '9093' is not of type 'integer'",
    ]
