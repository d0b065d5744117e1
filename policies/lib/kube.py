"""Kubernetes shapes as the Pulumi Kubernetes provider presents them to the policy engine.

Type tokens are `kubernetes:<group>/<version>:<Kind>`, with `core` for the legacy group
(`kubernetes:core/v1:Pod`, `kubernetes:apps/v1:Deployment`,
`kubernetes:networking.k8s.io/v1:NetworkPolicy`). Properties are the object itself in camelCase:
`{"apiVersion", "kind", "metadata", "spec", ...}`.
"""

from __future__ import annotations

from functools import lru_cache

from .values import Undecided, obj, seq, text

#: Kinds that carry a pod spec, as the Pod Security admission library extracts them, with the
#: path from the object to the pod template (metadata + spec). `None` means "the object is the pod".
POD_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("core", "Pod"): None,
    ("core", "PodTemplate"): ("template",),
    ("core", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("extensions", "Deployment"): ("spec", "template"),
    ("extensions", "ReplicaSet"): ("spec", "template"),
    ("extensions", "DaemonSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}

#: Kinds that run workloads (PodTemplate only describes one).
WORKLOAD_KINDS = frozenset(key for key in POD_TEMPLATE_PATHS if key != ("core", "PodTemplate"))

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@lru_cache(maxsize=1024)
def parse_type(type_token: str) -> tuple[str, str, str] | None:
    """(group, version, kind) of a Kubernetes type token, or None for other providers."""
    if not type_token.startswith("kubernetes:"):
        return None
    _, _, rest = type_token.partition(":")
    module, _, kind = rest.rpartition(":")
    group, _, version = module.rpartition("/")
    if not kind or not group:
        return None
    return group, version, kind


def type_token(api_version: str, kind: str) -> str:
    """`kubernetes:<group>/<version>:<Kind>` for an object's apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{kind}"


def group_kind(type_token_: str) -> tuple[str, str] | None:
    parsed = parse_type(type_token_)
    return None if parsed is None else (parsed[0], parsed[2])


def carries_pod(type_token_: str) -> bool:
    return group_kind(type_token_) in POD_TEMPLATE_PATHS


def runs_workload(type_token_: str) -> bool:
    return group_kind(type_token_) in WORKLOAD_KINDS


def pod_template(type_token_: str, props: dict) -> tuple[dict, dict] | None:
    """(pod metadata, pod spec) of an object that carries a pod, or None if it has none
    (e.g. a ReplicationController without a template). Raises `Undecided` when the template
    itself is unknown."""
    kind = group_kind(type_token_)
    if kind is None or kind not in POD_TEMPLATE_PATHS:
        return None
    template = props
    for key in POD_TEMPLATE_PATHS[kind] or ():
        inner = obj(template.get(key))
        if inner is None:
            return None
        template = inner
    return obj(template.get("metadata")) or {}, obj(template.get("spec")) or {}


def containers(spec: dict, lists=CONTAINER_LISTS) -> list[dict | str]:
    """Every container of a pod spec: init, regular and ephemeral, in that order (the library's
    visitor order). Elements may be unknown sentinels; callers decide per container."""
    result: list = []
    for key in lists:
        result.extend(seq(spec.get(key)))
    return result


def namespace(props: dict) -> str:
    """The object's namespace; Kubernetes (and the provider) put unqualified objects in `default`.
    Raises `Undecided` when it is unknown."""
    meta = obj(props.get("metadata")) or {}
    return text(meta.get("namespace")) or "default"


def metadata_name(props: dict) -> str:
    try:
        meta = obj(props.get("metadata")) or {}
        return text(meta.get("name"))
    except Undecided:
        return "<unknown>"


def is_exempt(props: dict, config: dict) -> bool:
    """True when the object's namespace is listed in the policy's `exemptNamespaces`.
    Raises `Undecided` when the namespace is unknown and exemptions are configured."""
    exempt = config.get("exemptNamespaces") or ()
    return bool(exempt) and namespace(props) in exempt


def workload_pod_spec(type_token_: str, props: dict, config: dict) -> dict | None:
    """The pod spec of a workload the policy should look at, or None (not a workload, exempt
    namespace, no template, or a template still unknown during preview: undecided)."""
    if not runs_workload(type_token_):
        return None
    try:
        if is_exempt(props, config):
            return None
        template = pod_template(type_token_, props)
    except Undecided:
        return None
    return None if template is None else template[1]


def describe(type_token_: str, props: dict) -> str:
    """`Deployment "api"` for messages."""
    parsed = parse_type(type_token_)
    kind = parsed[2] if parsed else type_token_
    return f'{kind} "{metadata_name(props)}"'
