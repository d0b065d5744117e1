"""Teams cannot have cert-manager issue a certificate that names another principal (components/services/ingress_certificates.py):
the real API server, with the program's own ValidatingAdmissionPolicy and binding and the dev stack's team namespace, Role
and RoleBinding applied, refuses a team member's Ingress that sets a certificate subject or names another issuer, with the
policy's message, admits a plain one naming `platform-issuer`, and leaves the platform's namespaces alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_plane import ControlPlane
from stacks import catalogue
from stacks.tools.inventory import Registration

pytestmark = pytest.mark.cluster

STACK = "dev"  # team members may write Ingresses in their namespace (components/access/rbac.py)
POLICY_TYPES = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
PLATFORM_NAMESPACE = catalogue.CERT_MANAGER_NAMESPACE


def _manifest(registration: Registration) -> dict:
    return {key: registration.inputs[key] for key in ("apiVersion", "kind", "metadata", "spec", "rules", "roleRef", "subjects")
            if key in registration.inputs}


def _program_objects(registrations: list[Registration]) -> tuple[list[dict], list[dict], str, str]:
    """From the dev stack's registrations: the policy objects, the first team's Namespace, Role and RoleBinding (and the
    platform namespace), the team's namespace and its first group."""
    team = next(r for r in registrations if r.type == "platform:access:Team")
    children = [r for r in registrations if r.parent == f"{team.type}::{team.name}"]
    namespace = next(r for r in children if r.type == "kubernetes:core/v1:Namespace")
    access = [r for r in children if r.type in ("kubernetes:rbac.authorization.k8s.io/v1:Role",
                                                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")]
    binding = next(r for r in access if r.inputs["kind"] == "RoleBinding")
    platform = next(r for r in registrations if r.type == "kubernetes:core/v1:Namespace"
                    and r.inputs["metadata"]["name"] == PLATFORM_NAMESPACE)
    policy = [r for r in registrations if r.inputs.get("kind") in POLICY_TYPES]
    assert [r.inputs["kind"] for r in policy] == list(POLICY_TYPES)
    return ([_manifest(r) for r in policy], [_manifest(r) for r in (namespace, platform, *access)],
            namespace.inputs["metadata"]["name"], binding.inputs["subjects"][0]["name"])


@pytest.fixture(scope="module")
def applied(control_plane: ControlPlane, inventory) -> Iterator[tuple[ControlPlane, str, Path]]:
    """The program's objects applied (a namespace of an earlier test's stack still terminating is waited for); all
    removed again, since later tests apply whole stacks with the same names."""
    policy, space, team_namespace, group = _program_objects(inventory(STACK))
    for name in (team_namespace, PLATFORM_NAMESPACE):
        control_plane.wait_until(f"namespace {name} not terminating", lambda name=name: "Terminating" not in control_plane.kubectl(
            "get", "namespace", name, "-o", "jsonpath={.status.phase}", check=False).stdout, timeout=120)
    control_plane.apply(*space)
    control_plane.apply(*policy)
    # The API server enforces a policy once its informers have it (asynchronously, about a second): wait for the first refusal.
    control_plane.wait_until("the policy enforced", lambda: not dry_run(
        control_plane, ingress(team_namespace, {"cert-manager.io/cluster-issuer": catalogue.INTERNAL_ISSUER}))[0], timeout=30)
    member = control_plane.identity("certguard-member", group)
    try:
        yield control_plane, team_namespace, member
    finally:
        for document in [*policy, *space[:2]]:
            control_plane.kubectl("delete", document["kind"], document["metadata"]["name"], "--ignore-not-found", "--wait=false")


def ingress(namespace: str, annotations: dict[str, str]) -> dict:
    backend = {"service": {"name": "api", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "api", "namespace": namespace, "annotations": annotations},
        "spec": {
            "ingressClassName": catalogue.INGRESS_CLASS,
            "tls": [{"hosts": ["api.example.com"], "secretName": "api-tls"}],
            "rules": [{"host": "api.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
        },
    }


def dry_run(plane: ControlPlane, document: dict, identity: Path | None = None) -> tuple[bool, str]:
    """Whether the API server admits `document` (a server-side dry run: nothing is stored), and what it said."""
    result = plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(document), identity=identity, check=False)
    return result.returncode == 0, result.stderr.strip()


PLATFORM = {"cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER}
ISSUER_REFUSAL = "it names an issuer other than the platform issuer; set `cert-manager.io/cluster-issuer: platform-issuer` instead"
IDENTITY_REFUSAL = ("it sets the certificate subject or an identity that services map to a principal (Kafka: User:CN=<team>); remove it: "
                    "the certificate names the Ingress's tls hosts, and a team's client certificate comes from the platform")
# (annotations, the annotations the refusal names, what it says of them)
REFUSED = [
    ({"cert-manager.io/cluster-issuer": catalogue.INTERNAL_ISSUER}, ["cert-manager.io/cluster-issuer: platform-internal-ca"],
     "certificates for Ingresses come from platform-issuer alone; set `cert-manager.io/cluster-issuer: platform-issuer` instead"),
    ({**PLATFORM, "cert-manager.io/common-name": "search"}, ["cert-manager.io/common-name"], IDENTITY_REFUSAL),
    # Several at once are named together (in the order CEL iterates the map).
    ({**PLATFORM, "cert-manager.io/subject-organizations": "search", "cert-manager.io/email-sans": "search@example.com"},
     ["cert-manager.io/email-sans", "cert-manager.io/subject-organizations"], IDENTITY_REFUSAL),
    ({"cert-manager.io/issuer": catalogue.INTERNAL_ISSUER, "cert-manager.io/issuer-kind": "ClusterIssuer"},
     ["cert-manager.io/issuer", "cert-manager.io/issuer-kind"], ISSUER_REFUSAL),
]


@pytest.mark.parametrize("annotations, named, reason", REFUSED, ids=["cluster-issuer", "common-name", "subject-and-email", "issuer"])
def test_a_team_members_ingress_naming_another_identity_or_issuer_is_refused_with_the_policys_message(applied, annotations, named, reason):
    plane, namespace, member = applied
    admitted, said = dry_run(plane, ingress(namespace, annotations), member)
    assert not admitted
    denied = "ValidatingAdmissionPolicy 'platform-ingress-certificates' with binding 'platform-ingress-certificates' denied request: "
    message = said.split(denied, 1)[-1]
    names, _, rest = message.removeprefix("Ingress annotation ").partition(" refused in team namespaces: ")
    assert denied in said and sorted(names.split(", ")) == named and rest == reason, said


def test_a_plain_ingress_naming_the_platform_issuer_is_admitted_and_the_namespace_not_the_writer_decides(applied):
    plane, namespace, member = applied
    # The team's Role lets it write Ingresses: the refusals above are the policy's, not RBAC's.
    assert dry_run(plane, ingress(namespace, {**PLATFORM, "cert-manager.io/duration": "2160h"}), member) == (True, "")
    # Whoever writes the Ingress (here the cluster admin, as for Fleet or a chart), the namespace decides.
    admitted, said = dry_run(plane, ingress(namespace, {**PLATFORM, "cert-manager.io/common-name": "search"}))
    assert not admitted and "cert-manager.io/common-name refused in team namespaces" in said


def test_an_ingress_in_a_platform_namespace_is_not_affected(applied):
    plane, _, _ = applied
    admitted, said = dry_run(plane, ingress(PLATFORM_NAMESPACE, {"cert-manager.io/cluster-issuer": catalogue.INTERNAL_ISSUER,
                                                                  "cert-manager.io/common-name": "search"}))
    assert admitted, said
