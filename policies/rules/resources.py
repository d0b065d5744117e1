"""Every container states what it needs: CPU and memory requests, and a memory limit.

Requests let the scheduler place pods and the ResourceQuota of a team namespace count them; a
memory limit stops one container from exhausting its node. CPU limits are debated (they throttle
bursts that would otherwise use idle CPU), so they are required only when `requireCpuLimit` is
set. Pod-level resources (`spec.resources`) satisfy the same requirement for all containers.
Ephemeral debug containers cannot set resources and are not checked.
"""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, boolean
from ..lib.values import Undecided, is_unknown, name_of, obj, seq


def _present(section: dict | None, key: str) -> bool:
    """Set to something; a value unknown during preview counts as set (undecided)."""
    if not section:
        return False
    value = section.get(key)
    if value is None:
        return False
    if value.__class__ is str and not is_unknown(value) and not value.strip():
        return False
    return True


def resource_problems(type_token: str, props: dict, config: dict) -> list[str]:
    spec = kube.workload_pod_spec(type_token, props, config)
    if spec is None:
        return []
    required = [("requests", "cpu"), ("requests", "memory")]
    if config.get("requireMemoryLimit", True):
        required.append(("limits", "memory"))
    if config.get("requireCpuLimit", False):
        required.append(("limits", "cpu"))
    try:
        pod_resources = obj(spec.get("resources")) or {}
        pod_level = {(s, k) for s, k in required if _present(obj(pod_resources.get(s)), k)}
    except Undecided:
        return []
    messages = []
    for key in ("initContainers", "containers"):
        try:
            containers = seq(spec.get(key))
        except Undecided:
            continue
        for container in containers:
            if container.__class__ is not dict:
                continue
            try:
                resources = obj(container.get("resources")) or {}
                missing = [
                    f"resources.{s}.{k}"
                    for s, k in required
                    if (s, k) not in pod_level and not _present(obj(resources.get(s)), k)
                ]
            except Undecided:
                continue
            if missing:
                listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
                messages.append(
                    f'{kube.describe(type_token, props)}: container "{name_of(container)}" must set {listed}'
                )
    return messages


POLICY = PolicySpec(
    name="workload-resources",
    description="Containers set CPU and memory requests and a memory limit (CPU limit when configured).",
    kind="resource",
    check=resource_problems,
    applies_to=kube.runs_workload,
    config_schema={
        "requireMemoryLimit": boolean("Require resources.limits.memory on every container.", True),
        "requireCpuLimit": boolean("Require resources.limits.cpu on every container.", False),
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
