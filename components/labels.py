"""The one place that decides common Kubernetes labels and cloud tags, from the stack's identity."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.model.site import Environment, Ownership

LABEL_PREFIX = "complete-cluster"
# Pods that serve traffic from the ingress controller carry this label (set by the Api component);
# each team namespace's allow-ingress-controller NetworkPolicy selects on it.
INGRESS_TARGET_LABEL = f"{LABEL_PREFIX}/ingress"
# A team's namespaces (its own and its data namespace) carry this label, valued with the team's name;
# admission policies for team namespaces select on it (components/services/ingress_certificates.py).
TEAM_LABEL = f"{LABEL_PREFIX}/team"


@dataclass(frozen=True)
class StackIdentity:
    """Which stack a resource belongs to: one environment at one site."""

    environment: Environment
    site: str

    @property
    def production(self) -> bool:
        """Prod protects its stateful resources (policy `stateful-protection`) and locks its groups."""
        return self.environment == "prod"


def kubernetes_labels(identity: StackIdentity, component: str) -> dict[str, str]:
    """Labels every Kubernetes object carries: who manages it, which stack and which part."""
    return {
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/part-of": "complete-cluster",
        "app.kubernetes.io/component": component,
        f"{LABEL_PREFIX}/environment": identity.environment,
        f"{LABEL_PREFIX}/site": identity.site,
    }


def cloud_tags(identity: StackIdentity, ownership: Ownership) -> dict[str, str]:
    """Tags on every Azure resource (cost reports group by these)."""
    return {
        "environment": identity.environment,
        "site": identity.site,
        "owner": ownership.owner,
        "cost-centre": ownership.cost_centre,
        "managed-by": "pulumi/complete-cluster",
    }
