"""Every namespace that runs workloads starts from default-deny networking.

A namespace is covered when NetworkPolicies in it select all pods (empty `podSelector`) and deny
both directions: `policyTypes` includes `Ingress` with no ingress rules and `Egress` with no
egress rules (one policy for both, or one per direction). Workloads then get explicit allow rules.
This needs the whole stack, so it is a stack policy.
"""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, Resource
from ..lib.values import Undecided, obj, seq, text

NETWORK_POLICY = ("networking.k8s.io", "NetworkPolicy")
NAMESPACE = ("core", "Namespace")


def _selects_all(selector) -> bool:
    selector = obj(selector)
    if not selector:
        return True
    return not (obj(selector.get("matchLabels")) or seq(selector.get("matchExpressions")))


def denied_directions(props: dict) -> set[str]:
    """The directions a NetworkPolicy denies for every pod of its namespace."""
    spec = obj(props.get("spec")) or {}
    if not _selects_all(spec.get("podSelector")):
        return set()
    types = [text(t) for t in seq(spec.get("policyTypes"))]
    if not types:  # the API's default: Ingress, plus Egress when egress rules are given
        types = ["Ingress"] + (["Egress"] if seq(spec.get("egress")) else [])
    denied = set()
    if "Ingress" in types and not seq(spec.get("ingress")):
        denied.add("Ingress")
    if "Egress" in types and not seq(spec.get("egress")):
        denied.add("Egress")
    return denied


def default_deny_problems(resources: list[Resource], config: dict) -> list[tuple[str, Resource | None]]:
    exempt = set(config.get("exemptNamespaces") or ())
    workloads: dict[str, Resource] = {}
    namespaces: dict[str, Resource] = {}
    denied: dict[str, set[str]] = {}
    undecided: set[str] = set()
    for resource in resources:
        key = kube.group_kind(resource.type)
        if key is None:
            continue
        try:
            if key in kube.WORKLOAD_KINDS:
                ns = kube.namespace(resource.props)
                if ns not in exempt:
                    workloads.setdefault(ns, resource)
            elif key == NETWORK_POLICY:
                ns = kube.namespace(resource.props)
                try:
                    denied.setdefault(ns, set()).update(denied_directions(resource.props))
                except Undecided:
                    undecided.add(ns)
            elif key == NAMESPACE:
                namespaces.setdefault(kube.metadata_name(resource.props), resource)
        except Undecided:
            continue
    problems: list[tuple[str, Resource | None]] = []
    for ns, first in workloads.items():
        missing = [d for d in ("Ingress", "Egress") if d not in denied.get(ns, ())]
        if not missing or ns in undecided:
            continue
        problems.append(
            (
                f'namespace "{ns}" runs workloads ({kube.describe(first.type, first.props)}) but has no default-deny '
                f"NetworkPolicy for {' and '.join(missing)}; add a NetworkPolicy with podSelector: {{}}, "
                f"policyTypes: [{', '.join(missing)}] and no rules, then allow the traffic each workload needs",
                namespaces.get(ns, first),
            )
        )
    return problems


POLICY = PolicySpec(
    name="namespace-default-deny",
    description="Every namespace that runs workloads has a default-deny NetworkPolicy for ingress and egress.",
    kind="stack",
    check=default_deny_problems,
    config_schema={"exemptNamespaces": EXEMPT_NAMESPACES},
)
