"""The rules a team's groups get in their namespace, per environment.

Written out explicitly instead of binding the built-in `edit`/`view` ClusterRoles: `edit` also
grants `impersonate` on service accounts and write access to secrets, and aggregated roles change
under our feet when CRDs are installed. Nothing here is cluster-wide, uses a wildcard, or touches
RBAC objects, and `bind`, `escalate` and `impersonate` never appear.
"""

from __future__ import annotations

READ = ["get", "list", "watch"]
WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]

# (API group, resources) a team works with. Secrets are writable in dev but never readable in
# test/prod, where reading them would expose production credentials.
_WORKLOAD_RESOURCES = [
    ("", ["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "endpoints"]),
    ("apps", ["deployments", "statefulsets", "replicasets"]),
    ("batch", ["jobs", "cronjobs"]),
    ("autoscaling", ["horizontalpodautoscalers"]),
    ("policy", ["poddisruptionbudgets"]),
    ("networking.k8s.io", ["ingresses"]),
]
_READ_ONLY_RESOURCES = [
    ("", ["events", "pods/log", "resourcequotas", "limitranges"]),
    ("networking.k8s.io", ["networkpolicies"]),
    ("discovery.k8s.io", ["endpointslices"]),
]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def team_rules(environment: str) -> list[dict]:
    """Role rules for a team's groups: edit plus exec/port-forward in dev, view only elsewhere."""
    rules = [_rule(group, resources, READ) for group, resources in _READ_ONLY_RESOURCES]
    if environment == "dev":
        rules += [_rule(group, resources, WRITE) for group, resources in _WORKLOAD_RESOURCES]
        rules.append(_rule("", ["secrets"], WRITE))
        rules.append(_rule("", ["pods/exec", "pods/portforward"], ["create"]))
    else:
        rules += [_rule(group, resources, READ) for group, resources in _WORKLOAD_RESOURCES]
    return rules


def deployer_rules() -> list[dict]:
    """Role rules for Fleet's deployer of a team's releases (components/access/fleet.py), in the team
    namespace only: the workload kinds a team ships, and Secrets, where Helm keeps each release's state
    (and a chart its own). Not RBAC, NetworkPolicies, quotas or limits: those stay the platform's."""
    rules = [_rule(group, resources, WRITE) for group, resources in _WORKLOAD_RESOURCES]
    rules.append(_rule("", ["secrets"], WRITE))
    return rules


def role_name(environment: str) -> str:
    return "team-developer" if environment == "dev" else "team-viewer"


DATA_ROLE_NAME = "team-viewer"


def data_rules() -> list[dict]:
    """Role rules for a team's groups in its data namespace (`<team>-data`, the PostgreSQL pods):
    view in every environment, as in the team namespace in test/prod. Dev's edit, secrets and
    exec/port-forward stay out: they would reach the database superuser's credentials and
    data directly, past the NetworkPolicy that admits only the workloads that declare `uses`."""
    return team_rules("view")
