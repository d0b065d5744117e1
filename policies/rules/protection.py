"""In prod, resources that hold state are protected from deletion (`protect=True`), so neither
`pulumi destroy` nor an accidental replacement can delete a database, a cluster or its storage.

Stateful are the configured `statefulTypes` (type tokens) and, with `statefulSetsWithVolumeClaims`,
StatefulSets that claim volumes. The protect flag is a Pulumi resource option, so this is a stack
policy over `PolicyResource.opts.protect`; where the option is not known (manifests scanned
outside Pulumi) the verdict is undecided.
"""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import ENVIRONMENT, PolicySpec, Resource, boolean, string_list
from ..lib.values import Undecided, obj, seq

DEFAULT_STATEFUL_TYPES = [
    "azure-native:storage:StorageAccount",
    "azure-native:containerservice:ManagedCluster",
    "kubernetes:acid.zalan.do/v1:postgresql",
    "kubernetes:databases.spotahome.com/v1:RedisFailover",
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:kafka.strimzi.io/v1beta2:Kafka",
    # Strimzi 1.x serves only kafka.strimzi.io/v1; in KRaft the node pools own the brokers' volumes.
    "kubernetes:kafka.strimzi.io/v1:Kafka",
    "kubernetes:kafka.strimzi.io/v1:KafkaNodePool",
    "kubernetes:core/v1:PersistentVolumeClaim",
]


def _claims_volumes(resource: Resource) -> bool:
    if kube.group_kind(resource.type) != ("apps", "StatefulSet"):
        return False
    try:
        return bool(seq((obj(resource.props.get("spec")) or {}).get("volumeClaimTemplates")))
    except Undecided:
        return True  # may claim volumes: ask for protection rather than guess


def protection_problems(resources: list[Resource], config: dict) -> list[tuple[str, Resource | None]]:
    if config.get("environment", "prod") != "prod":
        return []
    stateful_types = set(config.get("statefulTypes") or ())
    with_claims = config.get("statefulSetsWithVolumeClaims", True)
    problems: list[tuple[str, Resource | None]] = []
    for resource in resources:
        if resource.protect is None or resource.protect:
            continue
        if resource.type in stateful_types or (with_claims and _claims_volumes(resource)):
            problems.append(
                (
                    f'{resource.type} "{resource.name}" holds state but is not protected; create it with '
                    "pulumi.ResourceOptions(protect=True) so that no destroy or replacement can delete it",
                    resource,
                )
            )
    return problems


POLICY = PolicySpec(
    name="stateful-protection",
    description="In prod, stateful resources (databases, clusters, storage, volume-claiming StatefulSets) are protected.",
    kind="stack",
    check=protection_problems,
    needs_options=True,
    config_schema={
        "environment": ENVIRONMENT,
        "statefulTypes": string_list("Type tokens of resources that hold state.", DEFAULT_STATEFUL_TYPES),
        "statefulSetsWithVolumeClaims": boolean("Treat StatefulSets with volumeClaimTemplates as stateful.", True),
    },
)
