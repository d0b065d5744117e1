"""The one place that decides common Kubernetes labels and cloud tags."""

from __future__ import annotations

from stacks.model import StackConfig

LABEL_PREFIX = "complete-cluster"
# Pods that serve traffic from the ingress controller carry this label (set by the Api component);
# each team namespace's allow-ingress-controller NetworkPolicy selects on it.
INGRESS_TARGET_LABEL = f"{LABEL_PREFIX}/ingress"


def kubernetes_labels(config: StackConfig, component: str) -> dict[str, str]:
    """Labels every Kubernetes object carries: who manages it, which stack and which part."""
    return {
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/part-of": "complete-cluster",
        "app.kubernetes.io/component": component,
        f"{LABEL_PREFIX}/environment": config.environment,
        f"{LABEL_PREFIX}/site": config.site.name,
    }


def cloud_tags(config: StackConfig) -> dict[str, str]:
    """Tags on every Azure resource (cost reports group by these)."""
    return {
        "environment": config.environment,
        "site": config.site.name,
        "owner": config.ownership.owner,
        "cost-centre": config.ownership.cost_centre,
        "managed-by": "pulumi/complete-cluster",
    }
