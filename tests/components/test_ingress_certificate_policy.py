"""The admission policy on team namespaces' Ingresses (components/services/ingress_certificates.py) as the program registers
it, what it selects, and the access around it: the program's own Ingresses comply, the label it selects on is on exactly
the teams' namespaces, and no role the program grants reaches cert-manager's own objects. The real API server's verdicts
are in tests/cluster/test_ingress_certificates.py."""

from __future__ import annotations

import pytest

from components.labels import TEAM_LABEL
from components.services import ingress_certificates as guard
from stacks import catalogue
from stacks.loader import load, shipped_stacks

POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
STACKS = shipped_stacks()


def refusals(annotations: dict[str, str]) -> list[str]:
    """The annotations the policy refuses, decided from the module's own lists (the CEL is the API server's to run)."""
    issuer = annotations.get(guard.CLUSTER_ISSUER_ANNOTATION, catalogue.CLUSTER_ISSUER)
    return sorted(
        key for key in annotations
        if (key == guard.CLUSTER_ISSUER_ANNOTATION and issuer != catalogue.CLUSTER_ISSUER)
        or key in guard.ISSUER_ANNOTATIONS or key in guard.IDENTITY_ANNOTATIONS or key.startswith(guard.SUBJECT_PREFIX)
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_with_cert_manager_denies_through_the_policy_on_the_team_namespaces(inventory, stack):
    registrations = inventory(stack)
    policies, bindings = registrations.of_type(POLICY), registrations.of_type(BINDING)
    if not load(stack).services.cert_manager.enabled:
        assert policies == bindings == []
        return
    [policy], [binding] = policies, bindings
    assert policy.name == "platform-cert-manager-ingress-policy" and policy.parent == "platform:services:CertManager::platform-cert-manager"
    assert policy.inputs["metadata"]["name"] == binding.inputs["metadata"]["name"] == "platform-ingress-certificates"
    spec = policy.inputs["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"] == {
        "resourceRules": [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                           "resources": ["ingresses"]}],
        "namespaceSelector": {"matchExpressions": [{"key": "complete-cluster/team", "operator": "Exists"}]},
    }
    assert [v["reason"] for v in spec["validations"]] == ["Forbidden"] * 3
    assert binding.inputs["spec"] == {"policyName": "platform-ingress-certificates", "validationActions": ["Deny"]}
    assert binding.options["depends_on"] == [f"{POLICY}::{policy.name}"]


def test_the_refused_annotations_are_the_issuer_and_identity_annotations_of_cert_manager_v1_20_2():
    # v1.20.2 pkg/apis/certmanager/v1/types.go: the ingress-shim's issuer keys (sync.go issuerForIngressLike) and the subject
    # and SAN keys translateAnnotations reads (helper.go); DNS names come from the Ingress's tls hosts instead.
    assert catalogue.CERT_MANAGER.version == "v1.20.2"  # re-read those files on an upgrade
    assert guard.ISSUER_ANNOTATIONS == ("cert-manager.io/issuer", "cert-manager.io/issuer-kind", "cert-manager.io/issuer-group")
    assert guard.IDENTITY_ANNOTATIONS == ("cert-manager.io/common-name", "cert-manager.io/email-sans")
    subject = ["organizations", "organizationalunits", "countries", "provinces", "localities", "streetaddresses", "postalcodes",
               "serialnumber"]
    subject_keys = [f"cert-manager.io/subject-{field}" for field in subject]
    assert refusals(dict.fromkeys(subject_keys, "x")) == sorted(subject_keys)
    allowed = {"cert-manager.io/cluster-issuer": "platform-issuer", "cert-manager.io/duration": "2160h",
               "cert-manager.io/usages": "server auth", "cert-manager.io/private-key-algorithm": "ECDSA", "kubernetes.io/tls-acme": "true"}
    assert refusals(allowed) == []
    assert refusals({"cert-manager.io/cluster-issuer": catalogue.INTERNAL_ISSUER}) == ["cert-manager.io/cluster-issuer"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_own_ingresses_in_team_namespaces_comply(inventory, stack):
    registrations = inventory(stack)
    teams = {r.inputs["metadata"]["name"] for r in registrations.of_type("kubernetes:core/v1:Namespace")
             if TEAM_LABEL in r.inputs["metadata"]["labels"]}
    ingresses = [r for r in registrations.of_type("kubernetes:networking.k8s.io/v1:Ingress") if r.inputs["metadata"]["namespace"] in teams]
    assert len(ingresses) == sum(workload.kind == "api" for team in load(stack).teams for workload in team.workloads)  # one per Api
    for ingress in ingresses:
        assert refusals(ingress.inputs["metadata"]["annotations"]) == [], ingress.name


@pytest.mark.parametrize("stack", STACKS)
def test_the_selected_label_is_on_exactly_the_teams_namespaces(inventory, stack):
    config = load(stack)
    labelled = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"][TEAM_LABEL]
                for r in inventory(stack).of_type("kubernetes:core/v1:Namespace") if TEAM_LABEL in r.inputs["metadata"]["labels"]}
    owned = {team.name: team.name for team in config.teams}
    owned |= {f"{team.name}-data": team.name for team in config.teams if team.databases and config.services.postgres.enabled}
    assert labelled == owned


@pytest.mark.parametrize("stack", STACKS)
def test_no_role_the_program_grants_reaches_cert_managers_objects(inventory, stack):
    registrations = inventory(stack)
    roles = [r for r in registrations if r.type in ("kubernetes:rbac.authorization.k8s.io/v1:Role",
                                                    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")]
    assert not [r.name for r in roles for rule in r.inputs.get("rules", []) if {"cert-manager.io", "*"} & set(rule["apiGroups"])]
    # Built-in ClusterRoles take what charts aggregate into them; the program binds only cluster-admin, to the platform groups.
    built_in = [r.inputs["roleRef"]["name"] for r in registrations
                if r.type.endswith(("/v1:RoleBinding", "/v1:ClusterRoleBinding")) and r.inputs["roleRef"]["kind"] == "ClusterRole"]
    assert set(built_in) <= {"cluster-admin"}
    if load(stack).services.cert_manager.enabled:
        # Rancher's `project-member` (the teams' role in dev) inherits `edit`: cert-manager aggregates nothing into it.
        values = registrations.named("platform-cert-manager-chart").inputs["values"]
        assert values["global"]["rbac"] == {"aggregateClusterRoles": False}
