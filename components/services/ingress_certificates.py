"""What cert-manager may issue for an Ingress in a team namespace: an admission policy the API server enforces.

cert-manager's ingress-shim turns annotations on any Ingress into a Certificate in the Ingress's namespace,
whose Secret the namespace can read (v1.20.2 pkg/controller/certificate-shim: sync.go issuerForIngressLike
reads the issuer, helper.go translateAnnotations the rest). A team that may write Ingresses (its groups in
dev, Fleet's deployer everywhere, any chart of its releases) could so name any ClusterIssuer, among them the
internal CA `platform-internal-ca`, and set the certificate's subject. Kafka's TLS listener trusts that CA
and maps a client's principal from the certificate's whole subject DN (`ssl.principal.mapping.rules`
DEFAULT: `User:CN=<team>` for the teams' client certificates, `User:CN=mirror-<site>` for MirrorMaker 2,
components/services/kafka.py), so such a certificate acts as another team. On the sites of an environment
`platform-issuer` signs with the same CA, so the subject itself must stay out of a team's hands too.

So in every team namespace (labelled `complete-cluster/team` by the program: the team's namespace and its
data namespace; a namespace's labels are cluster-scoped, out of every team's reach) the API server refuses
an Ingress that

- names a ClusterIssuer other than `platform-issuer` (`cert-manager.io/cluster-issuer`);
- names an issuer any other way: `cert-manager.io/issuer` (with `cert-manager.io/issuer-kind:
  ClusterIssuer` it reaches every ClusterIssuer), `cert-manager.io/issuer-kind`, `cert-manager.io/issuer-group`;
- sets an identity a certificate consumer maps a principal from: `cert-manager.io/common-name` and every
  `cert-manager.io/subject-*` (each is an RDN of the subject DN Kafka maps, and a prefix also covers
  subject fields a later cert-manager adds), and `cert-manager.io/email-sans` (rfc822Name SANs, the
  identity other client-certificate consumers map, e.g. RabbitMQ's `ssl_cert_login_from`).

What stays allowed is what a serving certificate needs: its DNS names come from the Ingress's `tls` hosts,
and lifetime, key and usage annotations change no identity. A Certificate or Issuer a team writes directly is
out of reach already: the teams' Roles name no `cert-manager.io` resource (components/access/rbac.py), and the
chart aggregates none into the built-in roles (`aggregateClusterRoles: false`, components/services/cert_manager.py).

A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA and served by default since Kubernetes 1.30)
needs no webhook to run and cannot be bypassed by who writes the object. On a chart upgrade, re-read
translateAnnotations for annotations that set new identities.
"""

from __future__ import annotations

import json
from typing import Any

from stacks import catalogue

from ..labels import TEAM_LABEL

POLICY_NAME = "platform-ingress-certificates"
ANNOTATION = "cert-manager.io/"
CLUSTER_ISSUER_ANNOTATION = f"{ANNOTATION}cluster-issuer"
ISSUER_ANNOTATIONS = (f"{ANNOTATION}issuer", f"{ANNOTATION}issuer-kind", f"{ANNOTATION}issuer-group")
IDENTITY_ANNOTATIONS = (f"{ANNOTATION}common-name", f"{ANNOTATION}email-sans")
SUBJECT_PREFIX = f"{ANNOTATION}subject-"
USE_PLATFORM_ISSUER = f"set `{CLUSTER_ISSUER_ANNOTATION}: {catalogue.CLUSTER_ISSUER}` instead"


def _cel(text: str) -> str:
    """A CEL string literal (CEL's double-quoted strings take JSON's escapes)."""
    return json.dumps(text)


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(map(_cel, values)) + "]"


def _refusal(expression: str, named: str, why: str) -> dict[str, str]:
    """A validation that holds when `expression` does; its message names the offending annotations (`named`, a CEL
    string expression) and says why and what to do."""
    message = f"{_cel('Ingress annotation ')} + {named} + {_cel(f' refused in team namespaces: {why}')}"
    return {"expression": expression, "messageExpression": message, "reason": "Forbidden"}


def policy_spec() -> dict[str, Any]:
    """The ValidatingAdmissionPolicy's spec (module docstring)."""
    issuer, platform_issuer = _cel(CLUSTER_ISSUER_ANNOTATION), _cel(catalogue.CLUSTER_ISSUER)
    identities = f"k in {_cel_list(IDENTITY_ANNOTATIONS)} || k.startsWith({_cel(SUBJECT_PREFIX)})"
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [{
                "apiGroups": ["networking.k8s.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"],
            }],
            "namespaceSelector": {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]},
        },
        "variables": [
            {"name": "annotations", "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
            {"name": "issuerKeys", "expression": f"variables.annotations.filter(k, k in {_cel_list(ISSUER_ANNOTATIONS)})"},
            {"name": "identityKeys", "expression": f"variables.annotations.filter(k, {identities})"},
        ],
        # Several offending annotations are named together, in the order CEL iterates the map.
        "validations": [
            _refusal(
                f"!({issuer} in variables.annotations) || variables.annotations[{issuer}] == {platform_issuer}",
                f"{_cel(CLUSTER_ISSUER_ANNOTATION + ': ')} + variables.annotations[{issuer}]",
                f"certificates for Ingresses come from {catalogue.CLUSTER_ISSUER} alone; {USE_PLATFORM_ISSUER}",
            ),
            _refusal(
                "size(variables.issuerKeys) == 0", "variables.issuerKeys.join(', ')",
                f"it names an issuer other than the platform issuer; {USE_PLATFORM_ISSUER}",
            ),
            _refusal(
                "size(variables.identityKeys) == 0", "variables.identityKeys.join(', ')",
                "it sets the certificate subject or an identity that services map to a principal (Kafka: User:CN=<team>); "
                "remove it: the certificate names the Ingress's tls hosts, and a team's client certificate comes from the platform",
            ),
        ],
    }


def binding_spec() -> dict[str, Any]:
    """The binding: deny (the policy itself matches the team namespaces)."""
    return {"policyName": POLICY_NAME, "validationActions": ["Deny"]}
