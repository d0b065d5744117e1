"""Names the stack derives for the systems it lands in, each derived here once and checked against the
rule of the system that receives it (issue 18 item 4): a name that validates as typed can still be too
long or wrongly shaped once a prefix or suffix is added.

The components take these names from here (or from stacks/shared_services.py, whose derivations the
rules below call), so the name checked is the name created. Each limit cites its source.
"""

from __future__ import annotations

import re
from typing import Any

from . import catalogue
from .shared_services import postgres_cluster_name, postgres_namespace

Problem = tuple[str, str]

# Kubernetes (k8s.io/apimachinery pkg/util/validation/validation.go): a DNS-1123 label (namespaces, most
# object names) is at most 63 lower-case alphanumerics and '-', starting and ending with one; a DNS-1035
# label also starts with a letter; a DNS-1123 subdomain is dot-joined labels, at most 253. Service names
# are DNS-1035 labels until RelaxedServiceNameValidation (alpha 1.34, on by default from 1.36:
# k8s.io/kubernetes pkg/features/kube_features.go); the stacks' clusters run 1.33, so DNS-1035 here.
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253
# Kubernetes batch validation: a CronJob's name is at most 52 characters, since its Jobs are named
# `<cronjob>-<scheduled time in minutes>` (11 more) and must stay within 63 (k8s.io/kubernetes
# pkg/apis/batch/validation ValidateCronJobCreate: DNS1035LabelMaxLength-11).
CRONJOB_MAX = LABEL_MAX - 11
# A StatefulSet's pods carry `controller-revision-hash: <statefulset>-<hash of up to 10>`, a label value of
# at most 63, so a StatefulSet named longer than 52 never gets its pods (kubernetes/kubernetes#64023).
STATEFULSET_MAX = LABEL_MAX - 11
# Zalando postgres-operator (pkg/apis/acid.zalan.do/v1: serviceNameMaxLength 63, clusterNameMaxLength =
# 63 - len("-repl"), serviceNameRegexString `^[a-z]([-a-z0-9]*[a-z0-9])?$`, and extractClusterName's
# `{TEAM}-{NAME}`): the replica Service `<cluster>-repl` must be a Service name.
ZALANDO_CLUSTER_MAX = LABEL_MAX - len("-repl")
# Kafka refuses a topic name over 249 characters or with characters outside [a-zA-Z0-9._-]
# (org.apache.kafka.common.internals.Topic.validate); Strimzi's topic operator names the topic after the
# KafkaTopic resource, a DNS-1123 subdomain.
KAFKA_TOPIC_MAX = 249
# AKS dnsPrefix: 1-54 alphanumerics and hyphens, starting and ending with an alphanumeric (Azure's naming
# rules for Microsoft.ContainerService/managedClusters, as PSRule for Azure's Azure.AKS.DNSPrefix checks them).
_AKS_DNS_PREFIX = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]{0,52}[A-Za-z0-9])?")
AKS_DNS_PREFIX_MAX = 54
# Azure tag values: at most 256 characters (Azure Resource Manager tag limits).
AZURE_TAG_VALUE_MAX = 256


def aks_dns_prefix(environment: str, site: str) -> str:
    """The AKS cluster's DNS prefix (the API server's FQDN starts with it)."""
    return f"complete-cluster-{environment}-{site}"


def rancher_cluster_name(environment: str, data_centre: str) -> str:
    """The cluster's name in Rancher (and its kubeconfig context): environment and data centre."""
    return f"{environment}-{data_centre}"


def redis_statefulset(cache: str) -> str:
    """Spotahome's redis-operator names a failover's Redis StatefulSet `rfr-<name>` and its Sentinels `rfs-<name>`."""
    return f"rfr-{cache}"


def rabbitmq_statefulset(queue: str) -> str:
    """The RabbitMQ cluster operator names a RabbitmqCluster's StatefulSet `<name>-server`."""
    return f"{queue}-server"


def kafka_topic(team: str, topic: str) -> str:
    """The KafkaTopic resource, and so the topic, of a team's topic."""
    return f"{team}.{topic}"


KAFKA_MIRROR_USER_PREFIX = "mirror-"


def kafka_mirror_user(site: str) -> str:
    """A secondary site's MirrorMaker 2 principal at both sites' clusters: its KafkaUser's name and its certificate's
    common name (`User:CN=mirror-<site>`), beside the teams' users named by team (components/services/kafka_mirror.py)."""
    return f"{KAFKA_MIRROR_USER_PREFIX}{site}"


def dns1123_label_problem(name: str, what: str, limit: int = LABEL_MAX) -> str | None:
    if len(name) > limit or not _DNS1123_LABEL.fullmatch(name):
        return (f"makes the {what} `{name}` ({len(name)} characters), which is not a Kubernetes name: at most {limit} lower-case "
                "letters, digits and '-', starting and ending with a letter or digit; shorten it")
    return None


def dns1123_subdomain_problem(name: str, what: str, limit: int = SUBDOMAIN_MAX) -> str | None:
    if len(name) > limit or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return (f"makes the {what} `{name}` ({len(name)} characters), which is not a Kubernetes name: at most {limit} lower-case "
                "letters, digits, '-' and '.', starting and ending with a letter or digit; shorten it")
    return None


def dns1035_label_problem(name: str, what: str, limit: int = LABEL_MAX) -> str | None:
    if len(name) > limit or not _DNS1035_LABEL.fullmatch(name):
        return (f"makes the {what} `{name}` ({len(name)} characters), which Kubernetes refuses: at most {limit} lower-case "
                "letters, digits and '-', starting with a letter and ending with a letter or digit")
    return None


def derived_name_problems(config: Any) -> list[Problem]:
    """Every derived name that the system receiving it would refuse, and the names that collide, in a
    `StackConfig` (typed Any: the model calls this, so this module does not import the model)."""
    problems: list[Problem] = []

    def add(key: str, problem: str | None) -> None:
        if problem:
            problems.append((key, problem))

    infrastructure = config.infrastructure
    if infrastructure.kind == "aks":
        prefix = aks_dns_prefix(config.environment, config.site.name)
        if len(prefix) > AKS_DNS_PREFIX_MAX or not _AKS_DNS_PREFIX.fullmatch(prefix):
            problems.append(("site.name", f"makes the AKS DNS prefix `{prefix}` ({len(prefix)} characters); AKS takes at most "
                                          f"{AKS_DNS_PREFIX_MAX}: shorten the site name"))
    if infrastructure.kind == "rancher":
        name = rancher_cluster_name(config.environment, infrastructure.data_centre)
        add("infrastructure.data_centre", dns1123_label_problem(name, "Rancher cluster name"))
    for key in ("owner", "cost_centre"):
        value = getattr(config.ownership, key)
        if len(value) > AZURE_TAG_VALUE_MAX:
            problems.append((f"ownership.{key}", f"is {len(value)} characters; Azure tag values hold at most {AZURE_TAG_VALUE_MAX}"))
    platform = set(catalogue.PLATFORM_NAMESPACES)
    data_namespaces = {postgres_namespace(team.name): t for t, team in enumerate(config.teams) if team.databases}
    hosts: dict[tuple[str, str], str] = {}
    for t, team in enumerate(config.teams):
        key = f"teams[{t}]"
        if team.name in platform:
            problems.append((f"{key}.name", f"`{team.name}` is a namespace the platform runs in; choose another team name"))
        elif team.name in data_namespaces and data_namespaces[team.name] != t:
            owner = config.teams[data_namespaces[team.name]].name
            problems.append((f"{key}.name", f"`{team.name}` is the data namespace of team `{owner}`; choose another team name"))
        kafka = config.services.kafka
        if kafka.enabled and kafka.at_failover == "mirrored" and team.name.startswith(KAFKA_MIRROR_USER_PREFIX):
            # A team's Kafka user and certificate are named by the team: this one would be a site's mirror.
            problems.append((f"{key}.name", f"`{team.name}` is how the sites' MirrorMaker 2 is named in Kafka "
                                            f"(`{kafka_mirror_user('<site>')}`, its principal at both sites); choose another team name"))
        if team.databases:
            add(f"{key}.name", dns1123_label_problem(postgres_namespace(team.name), "data namespace"))
        for d, database in enumerate(team.databases):
            cluster = postgres_cluster_name(team.name, database.name)
            add(f"{key}.databases[{d}].name", dns1035_label_problem(cluster, "Zalando cluster name", ZALANDO_CLUSTER_MAX))
        for c, cache in enumerate(team.caches):
            add(f"{key}.caches[{c}].name", dns1123_label_problem(redis_statefulset(cache.name), "Redis StatefulSet name", STATEFULSET_MAX))
        for q, queue in enumerate(team.queues):
            add(f"{key}.queues[{q}].name", dns1123_label_problem(rabbitmq_statefulset(queue.name), "RabbitMQ StatefulSet name",
                                                                 STATEFULSET_MAX))
        for j, topic in enumerate(team.topics):
            name = kafka_topic(team.name, topic.name)
            labels = name.split(".")
            if len(name) > KAFKA_TOPIC_MAX or not all(_DNS1123_LABEL.fullmatch(label) and len(label) <= LABEL_MAX for label in labels):
                problems.append((f"{key}.topics[{j}].name", f"makes the KafkaTopic `{name}` ({len(name)} characters): Kafka takes at "
                                                            f"most {KAFKA_TOPIC_MAX}, and a resource name is dot-separated labels of "
                                                            "lower-case letters, digits and '-'"))
        for w, workload in enumerate(team.workloads):
            where = f"{key}.workloads[{w}]"
            if workload.kind == "scheduled_job":
                add(f"{where}.name", dns1123_subdomain_problem(workload.name, "CronJob name", CRONJOB_MAX))
            if workload.kind == "api":
                add(f"{where}.name", dns1035_label_problem(workload.name, "Service name"))
                route = (workload.host, workload.path)
                if route in hosts:
                    problems.append((f"{where}.path", f"{workload.host}{workload.path} is already served by {hosts[route]}; "
                                                      "give each API its own host or path"))
                hosts.setdefault(route, f"{where} (`{workload.name}` of team `{team.name}`)")
    return problems
