"""Helpers for the policy tests: run one policy the way the engine would (its config defaults
applied), and the compliant objects the fixtures copy."""

from __future__ import annotations

import copy

from policies.pack import BY_NAME


def run(policy: str, type_token: str, props: dict, **config) -> list[str]:
    """Messages of one resource policy for one resource."""
    spec = BY_NAME[policy]
    assert spec.kind == "resource"
    if not spec.applies_to(type_token):
        return []
    return spec.check(type_token, props, spec.with_defaults(config))


def run_stack(policy: str, resources, **config) -> list[tuple[str, str | None]]:
    """(message, urn) of one stack policy over resources."""
    spec = BY_NAME[policy]
    assert spec.kind == "stack"
    return [(message, r.urn if r else None) for message, r in spec.check(list(resources), spec.with_defaults(config))]


def container(name: str) -> dict:
    return {
        "name": name,
        "image": "registry.example.com/team/app:1.4.2",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "team-a"},
    "spec": {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [container("init")],
        "containers": [container("app")],
        "ephemeralContainers": [container("debug")],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "web"}}],
    },
}


def template_of(kind: str, pod_props: dict) -> tuple[str, dict]:
    """(type token, props) of a workload of `kind` whose pod template is `pod_props`."""
    template = {"metadata": copy.deepcopy(pod_props["metadata"]), "spec": copy.deepcopy(pod_props["spec"])}
    template["metadata"].pop("namespace", None)
    meta = {"name": "web", "namespace": "team-a"}
    if kind == "PodTemplate":
        return "kubernetes:core/v1:PodTemplate", {"apiVersion": "v1", "kind": kind, "metadata": meta, "template": template}
    if kind == "ReplicationController":
        return "kubernetes:core/v1:ReplicationController", {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta,
            "spec": {"template": template},
        }
    if kind == "Job":
        return "kubernetes:batch/v1:Job", {"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": {"template": template}}
    if kind == "CronJob":
        return "kubernetes:batch/v1:CronJob", {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
        }
    return f"kubernetes:apps/v1:{kind}", {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": {"template": template}}


DEPLOYMENT = template_of("Deployment", POD)[1]
DEPLOYMENT["spec"]["template"]["spec"].pop("ephemeralContainers")
