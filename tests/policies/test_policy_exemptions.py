"""The exemptions the shipped policy config grants (policies/README.md, "Enforcement per
environment"): exactly the operators' service accounts keep their API token and only Velero's
namespace may hold cluster-admin besides kube-system; each name is the one its pinned chart gives
the account in the stacks' inventories; an exempt operator passes while a team workload still fails."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from policy_helpers import DEPLOYMENT, run, run_stack

from policies.lib.spec import Resource

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"
ENVIRONMENTS = ("dev", "test", "prod")
OPERATOR_ACCOUNTS = [
    "cert-manager/platform-cert-manager-chart",
    "cert-manager/platform-cert-manager-chart-cainjector",
    "cert-manager/platform-cert-manager-chart-webhook",
    "cert-manager/platform-cert-manager-chart-startupapicheck",
    "ingress-nginx/platform-ingress-chart-ingress-nginx",
    "kafka/strimzi-cluster-operator",
    "postgres-operator/postgres-operator",
    "rabbitmq-system/platform-rabbitmq-chart-rabbitmq-cluster-operator",
    "redis-operator/platform-redis-chart-redis-operator",
    "velero/platform-backup-velero-server",
    # observability (components/observability/)
    "monitoring/monitoring-operator",
    "monitoring/kube-state-metrics",
    "grafana/grafana",
    "node-agents/fluent-bit",
]


def shipped(environment: str) -> dict:
    return json.loads((CONFIG_DIR / f"{environment}.json").read_text())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_shipped_config_exempts_exactly_the_operators(environment):
    config = shipped(environment)
    assert config["workload-token-automount"]["exemptServiceAccounts"] == OPERATOR_ACCOUNTS
    assert config["pod-security"]["exemptNamespaces"][-1] == "node-agents"  # node-exporter and Fluent Bit read the node
    assert config["rbac-least-privilege"]["exemptRoles"] == ["system:*", "monitoring-operator", "platform-backup-velero-server"]
    assert config["rbac-least-privilege"]["platformServiceAccountNamespaces"] == ["kube-system", "velero"]
    assert config["rbac-least-privilege"]["privilegedRoles"] == ["cluster-admin"]


def test_the_three_files_grant_the_same_exemptions():
    def exemptions(environment):
        config = shipped(environment)
        return (
            config["workload-token-automount"],
            {key: value for key, value in config["rbac-least-privilege"].items() if key != "allowExec"},
            {name: entry.get("exemptNamespaces") for name, entry in config.items() if isinstance(entry, dict)},
        )

    assert exemptions("dev") == exemptions("test") == exemptions("prod")


# --- the names are the ones the pinned charts give the accounts --------------------------------------


def fullname(release: str, chart: str, values: dict) -> str:
    """The `<chart>.fullname` helper every one of these charts uses: fullnameOverride, else the
    release name when it contains the chart name, else `<release>-<chart>`, at most 63 characters."""
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or chart
    return (release if name in release else f"{release}-{name}")[:63].rstrip("-")


def chart_accounts(release: str, chart: str, values: dict) -> list[str]:
    """The operator/controller service accounts of a chart, as its templates name them."""
    base = fullname(release, chart, values)
    if chart == "cert-manager":  # _helpers.tpl: cert-manager.fullname, webhook.fullname, cainjector.fullname, startupapicheck.fullname
        check = values.get("startupapicheck", {})
        return [
            values.get("serviceAccount", {}).get("name") or base,
            values.get("cainjector", {}).get("serviceAccount", {}).get("name") or f"{base[:52].rstrip('-')}-cainjector",
            values.get("webhook", {}).get("serviceAccount", {}).get("name") or f"{base[:55].rstrip('-')}-webhook",
            *([check.get("serviceAccount", {}).get("name") or f"{base[:52].rstrip('-')}-startupapicheck"] if check.get("enabled") else []),
        ]
    if chart == "rabbitmq-cluster-operator":  # rmqco.clusterOperator.serviceAccountName
        return [values.get("clusterOperator", {}).get("serviceAccount", {}).get("name") or base]
    if chart == "strimzi-kafka-operator":  # templates/010-ServiceAccount: .Values.serviceAccount
        return [values.get("serviceAccount") or "strimzi-cluster-operator"]
    if chart == "velero":  # velero.serverServiceAccount
        return [values.get("serviceAccount", {}).get("server", {}).get("name") or f"{base}-server"]
    if chart in (
        "ingress-nginx",
        "postgres-operator",
        "redis-operator",
        "grafana",
        "fluent-bit",
    ):  # <chart>.serviceAccountName / the SA template's fullname
        return [values.get("serviceAccount", {}).get("name") or base]
    if chart == "kube-prometheus-stack":  # kube-prometheus-stack.operator.serviceAccountName; the kube-state-metrics subchart's fullname
        state_metrics = values.get("kube-state-metrics", {})
        return [values.get("prometheusOperator", {}).get("serviceAccount", {}).get("name") or f"{base}-operator",
                state_metrics.get("serviceAccount", {}).get("name") or fullname("kube-state-metrics", "kube-state-metrics", state_metrics)]
    return []  # charts whose workloads do not call the API (Harbor) or are not an operator's


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1"])
def test_each_exempt_account_is_the_one_its_chart_creates(inventory, stack):
    accounts = set()
    for chart in inventory(stack).of_type("kubernetes:helm.sh/v4:Chart"):
        name = chart.inputs["chart"].rstrip("/").rsplit("/", 1)[-1]  # a repository chart name or an OCI reference
        accounts |= {f"{chart.inputs['namespace']}/{account}" for account in chart_accounts(chart.name, name, chart.inputs["values"])}
    assert accounts == set(OPERATOR_ACCOUNTS)


def test_the_spilo_accounts_are_listed_per_team_data_namespace():
    from stacks.tools.policy_config import spilo_service_accounts
    from stacks.loader import load

    assert spilo_service_accounts(load("prod")) == ["payments-data/postgres-pod"]
    assert spilo_service_accounts(load("dev")) == []  # no team declares a database


# --- what the exemptions let through, and what they do not --------------------------------------------


def workload(namespace: str, name: str, account: str) -> Resource:
    props = copy.deepcopy(DEPLOYMENT)
    props["metadata"].update(name=name, namespace=namespace)
    spec = props["spec"]["template"]["spec"]
    del spec["automountServiceAccountToken"]
    spec["serviceAccountName"] = account
    return Resource("kubernetes:apps/v1:Deployment", props, f"urn:{namespace}:{name}", name)


def pack_config(environment: str, policy: str) -> dict:
    return {key: value for key, value in shipped(environment)[policy].items() if key != "enforcementLevel"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_an_operator_keeps_its_token_while_a_team_workload_still_fails(environment):
    config = pack_config(environment, "workload-token-automount")
    operators = [workload(account.split("/")[0], f"operator-{i}", account.split("/")[1]) for i, account in enumerate(OPERATOR_ACCOUNTS)]
    assert run_stack("workload-token-automount", operators, **config) == []
    team = workload("payments", "payments-api", "payments-api")
    assert run_stack("workload-token-automount", [*operators, team], **config) == [
        (
            'Deployment "payments-api" in namespace "payments" mounts the API token of ServiceAccount "payments-api"; set '
            "spec.template.spec.automountServiceAccountToken: false (or automountServiceAccountToken: false on the "
            'ServiceAccount), or list "payments/payments-api" in exemptServiceAccounts if the workload calls the Kubernetes API',
            "urn:payments:payments-api",
        )
    ]
    # An operator's account name in another namespace is not exempt.
    impostor = workload("payments", "impostor", "postgres-operator")
    assert [message for message, _ in run_stack("workload-token-automount", [impostor], **config)] == [
        'Deployment "impostor" in namespace "payments" mounts the API token of ServiceAccount "postgres-operator"; set '
        "spec.template.spec.automountServiceAccountToken: false (or automountServiceAccountToken: false on the "
        'ServiceAccount), or list "payments/postgres-operator" in exemptServiceAccounts if the workload calls the Kubernetes API'
    ]


def cluster_admin_binding(namespace: str, account: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{account}-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_velero_may_hold_cluster_admin_and_a_team_account_may_not(environment):
    config = pack_config(environment, "rbac-least-privilege")
    kind = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    assert run("rbac-least-privilege", kind, cluster_admin_binding("velero", "platform-backup-velero-server"), **config) == []
    assert run("rbac-least-privilege", kind, cluster_admin_binding("payments", "payments-api"), **config) == [
        'ClusterRoleBinding "payments-api-admin" grants ClusterRole "cluster-admin" to ServiceAccount "payments/payments-api"; '
        "only platform subjects may hold it (configured platformGroups, platformUsers, platformServiceAccountNamespaces): "
        "bind a narrower role"
    ]
