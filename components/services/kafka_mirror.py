"""Kafka between the sites (`services.kafka.at_failover: mirrored`): the primary's cross-site listener and the
secondaries' MirrorMaker 2, which copies every team topic of the primary to the secondary under the same name.

The path, one way, from the primary to each secondary:
- at the primary, a `loadbalancer` listener `site` (9094, TLS; the same client-certificate authentication by the
  environment CA as the in-cluster listener), brokers advertised as `broker-<node id>.<hostname>`, reachable only
  from `peer_ranges`; and per secondary a KafkaUser `mirror-<secondary site>` allowed only to read;
- at a secondary, a client certificate `CN=mirror-<site>` from its own issuer (both sites issue from the one
  environment CA, so the primary's brokers trust it), a local KafkaUser of the same name allowed only what the
  target side needs, and the `KafkaMirrorMaker2` `mirror` that reads the primary and writes here.

The ACLs are Strimzi 1.2.0's documented ones for MirrorMaker 2 (documentation/modules/configuring/
proc-config-mirrormaker2-securing-connection.adoc), narrowed to the teams' topics and consumer groups and with the
offset-syncs topic kept at the target (`offset-syncs.topic.location: target`, Kafka's MirrorCheckpointConfig), so the
mirror writes nothing at the primary. One addition: committing the teams' translated group offsets at the target
(`sync.group.offsets.enabled`) is an OffsetCommit, which Kafka authorizes with Read on the group and Read on each
topic (KafkaApis.handleOffsetCommitRequest), so the target user reads the mirrored topics too.
"""

from __future__ import annotations

from typing import Any

from stacks import catalogue
from stacks.model.teams import Team
from stacks.naming import kafka_topic

SITE_LISTENER_NAME = "site"
SITE_LISTENER_PORT = 9094
MIRROR = "mirror"  # the KafkaMirrorMaker2, and its Connect group and internal topics `mirror-configs|offsets|status`
MIRROR_CLIENT_SECRET = "mirror-client-tls"
# Topic names stay as they are at the primary: the teams' KafkaUsers, KafkaTopics and workloads name `<team>.<topic>`
# at both sites, so after a failover the same clients find the same topics with their data. Kafka's default policy
# would write `<primary site>.<team>.<topic>`, which no team's ACL covers and no consumer subscribes to. Identity
# replication cannot tell a mirrored record from a local one, so it is safe only one way: the primary never mirrors
# back (it runs no MirrorMaker), and a promoted site stops mirroring.
REPLICATION_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
MIRROR_SIZE = ("250m", "1Gi")




def broker_host_template(hostname: str) -> str:
    """Strimzi replaces `{nodeId}` per broker (GenericKafkaListenerConfiguration `advertisedHostTemplate`)."""
    return f"broker-{{nodeId}}.{hostname}"


def _acl(kind: str, name: str | None, operations: list[str], pattern: str = "literal") -> dict[str, Any]:
    resource: dict[str, Any] = {"type": kind}
    if name is not None:
        resource |= {"name": name, "patternType": pattern}
    return {"resource": resource, "operations": operations}


def mirrored_topics(teams: list[Team]) -> list[str]:
    return [kafka_topic(team.name, topic.name) for team in teams for topic in team.topics]


def group_prefixes(teams: list[Team]) -> list[str]:
    """The teams' consumer groups (`<team>.<anything>`, as their own KafkaUsers allow) of the teams with topics."""
    return [f"{team.name}." for team in teams if team.topics]


def source_acls(teams: list[Team]) -> list[dict[str, Any]]:
    """At the primary: read each team topic and its configs (the source connector), see the teams' groups and their
    committed offsets (the checkpoint connector). Nothing written, nothing created."""
    return [
        *(_acl("topic", topic, ["Read", "DescribeConfigs"]) for topic in mirrored_topics(teams)),
        _acl("cluster", None, ["Describe"]),
        *(_acl("group", prefix, ["Describe"], "prefix") for prefix in group_prefixes(teams)),
    ]


def target_acls(teams: list[Team], source_site: str) -> list[dict[str, Any]]:
    """At the secondary: Connect's group and internal topics, the offset-syncs and checkpoints topics, writing into the
    team topics (which the Topic Operator creates here from the same config: no Create, no config sync) and committing
    the teams' translated group offsets."""
    internal = ["Create", "Describe", "DescribeConfigs", "Read", "Write"]
    return [
        _acl("group", MIRROR, ["Read"]),
        *(_acl("topic", f"{MIRROR}-{kind}", internal) for kind in ("configs", "offsets", "status")),
        _acl("topic", f"mm2-offset-syncs.{source_site}.internal", ["Create", "DescribeConfigs", "Read", "Write"]),
        _acl("topic", f"{source_site}.checkpoints.internal", ["Create", "Describe", "Read", "Write"]),
        *(_acl("topic", topic, ["Write", "Read"]) for topic in mirrored_topics(teams)),
        _acl("cluster", None, ["Describe"]),
        *(_acl("group", prefix, ["Read", "Describe"], "prefix") for prefix in group_prefixes(teams)),
    ]


def _pattern(names: list[str], suffix: str = "") -> str:
    """MirrorMaker's topic and group filters are comma-separated regular expressions: the dots matched as dots."""
    return ",".join(name.replace(".", "\\.") + suffix for name in names)


def mirror_spec(teams: list[Team], *, site: str, primary_site: str, primary_listener: str, local_bootstrap: str,
                resources: dict[str, Any]) -> dict[str, Any]:
    """The KafkaMirrorMaker2 at a secondary `site`: the primary's team topics into this site's cluster."""
    tls = {"trustedCertificates": [{"secretName": MIRROR_CLIENT_SECRET, "certificate": "ca.crt"}]}
    authentication = {
        "type": "tls", "certificateAndKey": {"secretName": MIRROR_CLIENT_SECRET, "certificate": "tls.crt", "key": "tls.key"},
    }
    both = {"replication.policy.class": REPLICATION_POLICY, "offset-syncs.topic.location": "target"}
    return {
        "version": catalogue.KAFKA_VERSION,
        "replicas": 1,
        "resources": resources,
        "target": {
            "alias": site,
            "bootstrapServers": local_bootstrap,
            "groupId": MIRROR,
            "configStorageTopic": f"{MIRROR}-configs",
            "offsetStorageTopic": f"{MIRROR}-offsets",
            "statusStorageTopic": f"{MIRROR}-status",
            "tls": tls,
            "authentication": authentication,
            # -1: the brokers' default replication factor (Strimzi's examples).
            "config": {f"{kind}.storage.replication.factor": -1 for kind in ("config", "offset", "status")},
        },
        "mirrors": [{
            "source": {
                "alias": primary_site,
                "bootstrapServers": f"{primary_listener}:{SITE_LISTENER_PORT}",
                "tls": tls,
                "authentication": authentication,
            },
            "sourceConnector": {"config": {
                **both,
                "replication.factor": -1,
                "offset-syncs.topic.replication.factor": -1,
                # ACLs and topic configs are each site's own, from the same config (KafkaUsers, KafkaTopics).
                "sync.topic.acls.enabled": "false",
                "sync.topic.configs.enabled": "false",
            }},
            "checkpointConnector": {"config": {
                **both,
                "checkpoints.topic.replication.factor": -1,
                # Consumers that move to this site resume near where they stopped at the primary.
                "sync.group.offsets.enabled": "true",
            }},
            "topicsPattern": _pattern(mirrored_topics(teams)),
            "groupsPattern": _pattern(group_prefixes(teams), ".*"),
        }],
    }
