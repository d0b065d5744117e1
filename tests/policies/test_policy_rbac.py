"""rbac-least-privilege: compliant roles and bindings, then one grant too many per case."""

from __future__ import annotations

import pytest
from policy_helpers import run

from policies.lib.values import UNKNOWN_STRING

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
PLATFORM = {"platformGroups": ["platform-operators"]}


def role(*rules, kind="Role", name="team-viewer"):
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "team-a"},
        "rules": list(rules),
    }


def rule(resources, verbs, groups=("",)):
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def binding(role_name, *subjects, kind="ClusterRoleBinding", role_kind="ClusterRole"):
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "grant", "namespace": "team-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [dict(zip(("kind", "name", "namespace"), s, strict=False)) for s in subjects],  # the namespace is optional
    }


def test_compliant_role_and_bindings():
    assert run("rbac-least-privilege", ROLE, role(rule(["pods", "pods/log"], ["get", "list", "watch"]))) == []
    assert run("rbac-least-privilege", CLUSTER_BINDING, binding("cluster-admin", ("Group", "platform-operators")), **PLATFORM) == []
    assert run("rbac-least-privilege", BINDING, binding("team-viewer", ("Group", "devs"), kind="RoleBinding", role_kind="Role")) == []


@pytest.mark.parametrize(
    "rules, expected",
    [
        (
            [rule(["*"], ["get"]), rule(["pods"], ["*"])],
            [
                'Role "team-viewer" rule 1 grants "*" in resources; list only the verbs and resources it needs',
                'Role "team-viewer" rule 2 grants "*" in verbs; list only the verbs and resources it needs',
            ],
        ),
        (
            [rule(["rolebindings", "clusterroles"], ["bind", "escalate", "get"], ["rbac.authorization.k8s.io"])],
            [
                'Role "team-viewer" rule 1 grants "bind", "escalate", which let the holder gain permissions it does not '
                "have; remove them"
            ],
        ),
        (
            [rule(["serviceaccounts"], ["impersonate"])],
            [
                'Role "team-viewer" rule 1 grants "impersonate", which let the holder gain permissions it does not have; '
                "remove it"
            ],
        ),
        (
            [rule(["pods/exec", "pods/portforward", "pods"], ["create", "get"])],
            [
                'Role "team-viewer" rule 1 grants "pods/exec", "pods/portforward"; exec, attach and port-forward into pods '
                "are not allowed in this environment (use logs, metrics and traces, or debug in dev)"
            ],
        ),
        (
            [rule(["pods/attach"], ["create"])],
            [
                'Role "team-viewer" rule 1 grants "pods/attach"; exec, attach and port-forward into pods are not allowed in '
                "this environment (use logs, metrics and traces, or debug in dev)"
            ],
        ),
    ],
)
def test_role_rules(rules, expected):
    assert run("rbac-least-privilege", ROLE, role(*rules)) == expected


def test_exec_allowed_where_configured_and_exempt_roles():
    exec_role = role(rule(["pods/exec"], ["create"]))
    assert run("rbac-least-privilege", ROLE, exec_role, allowExec=True) == []
    wild = role(rule(["*"], ["*"], ["*"]), kind="ClusterRole", name="strimzi-cluster-operator")
    assert len(run("rbac-least-privilege", CLUSTER_ROLE, wild)) == 1
    assert run("rbac-least-privilege", CLUSTER_ROLE, wild, exemptRoles=["strimzi-*"]) == []
    assert run("rbac-least-privilege", CLUSTER_ROLE, role(rule(["*"], ["*"]), kind="ClusterRole", name="system:foo")) == []


def test_an_exec_role_may_grant_exec_and_nothing_else_beyond_the_rules():
    operator = role(rule(["pods/exec"], ["create"]), rule(["pods"], ["get"]), kind="ClusterRole", name="postgres-operator")
    assert run("rbac-least-privilege", CLUSTER_ROLE, operator, execRoles=["postgres-operator"]) == []
    assert len(run("rbac-least-privilege", CLUSTER_ROLE, operator, execRoles=["rabbitmq-*"])) == 1
    wild = role(rule(["pods/exec"], ["create"]), rule(["secrets"], ["*"]), kind="ClusterRole", name="postgres-operator")
    assert run("rbac-least-privilege", CLUSTER_ROLE, wild, execRoles=["postgres-operator"]) == [
        'ClusterRole "postgres-operator" rule 2 grants "*" in verbs; list only the verbs and resources it needs'
    ]


def test_cluster_admin_only_for_platform_subjects():
    grant = binding(
        "cluster-admin",
        ("Group", "platform-operators"),
        ("Group", "devs"),
        ("ServiceAccount", "velero", "velero"),
        ("ServiceAccount", "ops", "kube-system"),
        ("User", "alice@example.com"),
    )
    assert run("rbac-least-privilege", CLUSTER_BINDING, grant, **PLATFORM) == [
        'ClusterRoleBinding "grant" grants ClusterRole "cluster-admin" to Group "devs", ServiceAccount "velero/velero", '
        'User "alice@example.com"; only platform subjects may hold it (configured platformGroups, platformUsers, '
        "platformServiceAccountNamespaces): bind a narrower role"
    ]
    assert run(
        "rbac-least-privilege",
        CLUSTER_BINDING,
        grant,
        platformGroups=["platform-operators", "devs"],
        platformUsers=["alice@example.com"],
        platformServiceAccountNamespaces=["kube-system", "velero"],
    ) == []


def test_role_binding_to_cluster_admin_uses_its_namespace_for_service_accounts():
    grant = binding("cluster-admin", ("ServiceAccount", "app"), kind="RoleBinding")
    assert run("rbac-least-privilege", BINDING, grant) == [
        'RoleBinding "grant" grants ClusterRole "cluster-admin" to ServiceAccount "team-a/app"; only platform subjects '
        "may hold it (configured platformGroups, platformUsers, platformServiceAccountNamespaces): bind a narrower role"
    ]


def test_nothing_is_bound_to_everyone():
    grant = binding("view", ("Group", "system:authenticated"), ("User", "system:anonymous"))
    assert run("rbac-least-privilege", CLUSTER_BINDING, grant) == [
        'ClusterRoleBinding "grant" binds ClusterRole "view" to Group "system:authenticated", User "system:anonymous", '
        "i.e. to every caller; bind it to named groups or service accounts"
    ]


def test_unknown_values_are_undecided():
    assert run("rbac-least-privilege", ROLE, role({"apiGroups": [""], "resources": UNKNOWN_STRING, "verbs": ["*"]})) == []
    grant = binding("cluster-admin", ("Group", UNKNOWN_STRING))
    assert run("rbac-least-privilege", CLUSTER_BINDING, grant) == []
    grant["roleRef"]["name"] = UNKNOWN_STRING
    assert run("rbac-least-privilege", CLUSTER_BINDING, binding(UNKNOWN_STRING, ("Group", "devs"))) == []
