"""Services are not exposed outside the private network.

A LoadBalancer Service must ask for an internal load balancer (unless `allowPublicLoadBalancer`): on AKS the annotation
`service.beta.kubernetes.io/azure-load-balancer-internal: "true"`, on premises whatever
annotation the configured load balancer uses (config `internalLoadBalancerAnnotations`, any one
of them suffices). NodePort Services open a port on every node and are allowed only where
`allowNodePort` is set (dev). `spec.externalIPs` lets a Service claim arbitrary addresses
(CVE-2020-8554) and is never allowed.
"""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, boolean
from ..lib.values import Undecided, is_unknown, obj, seq, text

AZURE_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"


def service_exposure_problems(type_token: str, props: dict, config: dict) -> list[str]:
    try:
        if kube.is_exempt(props, config):
            return []
        spec = obj(props.get("spec")) or {}
        kind = text(spec.get("type")) or "ClusterIP"
    except Undecided:
        return []
    where = kube.describe(type_token, props)
    messages = []
    if kind == "LoadBalancer":
        wanted = dict(config.get("internalLoadBalancerAnnotations") or {})
        try:
            annotations = obj((obj(props.get("metadata")) or {}).get("annotations")) or {}
            undecided = any(is_unknown(annotations.get(key)) for key in wanted)
            internal = any(
                text(annotations.get(key)) == str(value) for key, value in wanted.items() if not is_unknown(annotations.get(key))
            )
        except Undecided:
            undecided, internal = True, False
        if not internal and not undecided and not config.get("allowPublicLoadBalancer", False):
            choices = " or ".join(f'{key}: "{value}"' for key, value in wanted.items()) or "an internal load balancer annotation"
            messages.append(
                f"{where} is a public LoadBalancer; make it internal with the annotation {choices}, "
                "or expose it through the ingress controller"
            )
    elif kind == "NodePort" and not config.get("allowNodePort", False):
        messages.append(f"{where} has type NodePort, which is not allowed here; use ClusterIP behind the ingress controller")
    try:
        external = [ip for ip in seq(spec.get("externalIPs")) if not is_unknown(ip)]
    except Undecided:
        external = []
    if external:
        messages.append(f"{where} sets spec.externalIPs ({', '.join(map(str, external))}); remove them and use a LoadBalancer or Ingress")
    return messages


POLICY = PolicySpec(
    name="service-exposure",
    description="Services stay private: LoadBalancers are internal, NodePort only where allowed, no externalIPs.",
    kind="resource",
    check=service_exposure_problems,
    applies_to=lambda t: kube.group_kind(t) == ("core", "Service"),
    config_schema={
        "internalLoadBalancerAnnotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {AZURE_INTERNAL: "true"},
            "description": "Annotations (name: required value) that make a LoadBalancer internal; any one suffices.",
        },
        "allowPublicLoadBalancer": boolean("Allow LoadBalancer Services without an internal annotation.", False),
        "allowNodePort": boolean("Allow Services of type NodePort.", False),
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
