"""Pod Security `restricted` contexts and resources, for the platform's own pods."""

from __future__ import annotations

from typing import Any


def resources(cpu: str, memory: str) -> dict[str, Any]:
    """Requests equal to limits: the pod is Guaranteed and its quota cost is what it can use."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def restricted_container(run_as: int | None = None) -> dict[str, Any]:
    """A container security context that meets Pod Security `restricted`."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as is not None:
        context["runAsUser"] = run_as
    return context


# The restricted container context with a read-only root file system, for images that allow it.
RESTRICTED_CONTAINER: dict[str, Any] = {**restricted_container(), "readOnlyRootFilesystem": True}


def restricted_pod(run_as: int | None = None, fs_group: int | None = None) -> dict[str, Any]:
    """A pod security context that meets Pod Security `restricted`."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as is not None:
        context["runAsUser"] = run_as
        context["runAsGroup"] = run_as
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context
