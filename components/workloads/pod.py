"""The pod template every workload shares: Pod Security `restricted` by construction."""

from __future__ import annotations

from typing import Any

from stacks.model.workloads import Resources

# A fixed non-root identity: images need not declare a USER for runAsNonRoot to hold.
RUN_AS = 10001
CONTAINER = "app"


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(port: int | str, path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures, "timeoutSeconds": 2}


def pod_template(
    labels: dict[str, str],
    service_account: str,
    image: str,
    resources: Resources,
    env: dict[str, str],
    connections: list[dict[str, Any]] | None = None,
    ports: list[dict[str, Any]] | None = None,
    probes: dict[str, Any] | None = None,
    restart_policy: str | None = None,
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # The declared variables, then those connecting the shared services the workload uses
        # (connections.connection_env: addresses as values, credentials as Secret references).
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())] + (connections or []),
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "securityContext": container_security_context(),
        # A read-only root filesystem still needs somewhere to write temporary files.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **(probes or {}),
    }
    if ports:
        container["ports"] = ports
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        **(extra_spec or {}),
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": labels}, "spec": spec}
