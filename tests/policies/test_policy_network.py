"""namespace-default-deny, workload-token-automount, service-exposure, ingress-tls."""

from __future__ import annotations

import copy

import pytest
from policy_helpers import DEPLOYMENT, run, run_stack

from policies.lib.spec import Resource
from policies.lib.values import UNKNOWN_BOOLEAN, UNKNOWN_OBJECT, UNKNOWN_STRING

NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def resource(type_token, props, urn=None):
    name = props.get("metadata", {}).get("name", "")
    return Resource(type_token, props, urn or f"urn:{type_token}:{name}", name)


def deployment(namespace="team-a", name="web"):
    props = copy.deepcopy(DEPLOYMENT)
    props["metadata"].update(name=name, namespace=namespace)
    return resource("kubernetes:apps/v1:Deployment", props)


def policy(namespace="team-a", name="default-deny", **spec):
    body = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    body.update(spec)
    return resource(
        NP,
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": body},
    )


def namespace(name):
    return resource("kubernetes:core/v1:Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


# --- namespace-default-deny ------------------------------------------------------------------


def test_namespaces_with_default_deny_pass():
    assert run_stack("namespace-default-deny", [deployment(), policy()]) == []
    split = [deployment(), policy(name="in", policyTypes=["Ingress"]), policy(name="out", policyTypes=["Egress"])]
    assert run_stack("namespace-default-deny", split) == []


def test_namespace_without_default_deny_is_reported_on_its_namespace():
    found = run_stack("namespace-default-deny", [namespace("team-b"), deployment("team-b"), deployment("team-a"), policy()])
    assert found == [
        (
            'namespace "team-b" runs workloads (Deployment "web") but has no default-deny NetworkPolicy for Ingress and '
            "Egress; add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, Egress] and no rules, then allow "
            "the traffic each workload needs",
            "urn:kubernetes:core/v1:Namespace:team-b",
        )
    ]


@pytest.mark.parametrize(
    "spec, missing",
    [
        ({"podSelector": {"matchLabels": {"app": "web"}}}, "Ingress and Egress"),
        ({"policyTypes": ["Ingress"]}, "Egress"),
        ({"policyTypes": None}, "Egress"),  # the API default is Ingress only
        ({"egress": [{}]}, "Egress"),  # allow-all egress rule
        ({"ingress": [{"from": [{"podSelector": {}}]}]}, "Ingress"),
    ],
)
def test_policies_that_are_not_default_deny(spec, missing):
    found = run_stack("namespace-default-deny", [deployment(), policy(**spec)])
    assert [m.split(" for ")[1].split(";")[0] for m, _ in found] == [missing]


def test_exempt_namespaces_and_unknowns():
    assert run_stack("namespace-default-deny", [deployment("kube-system")], exemptNamespaces=["kube-system"]) == []
    undecided = policy(podSelector=UNKNOWN_OBJECT)
    assert run_stack("namespace-default-deny", [deployment(), undecided]) == []
    d = deployment()
    d.props["metadata"]["namespace"] = UNKNOWN_STRING
    assert run_stack("namespace-default-deny", [d]) == []


# --- workload-token-automount -----------------------------------------------------------------

SA = "kubernetes:core/v1:ServiceAccount"


def account(name="default", namespace="team-a", automount=None):
    props = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
    if automount is not None:
        props["automountServiceAccountToken"] = automount
    return resource(SA, props)


def test_token_automount_off_on_the_pod_or_its_service_account():
    assert run_stack("workload-token-automount", [deployment()]) == []
    d = deployment()
    del d.props["spec"]["template"]["spec"]["automountServiceAccountToken"]
    d.props["spec"]["template"]["spec"]["serviceAccountName"] = "web"
    assert run_stack("workload-token-automount", [d, account("web", automount=False)]) == []
    assert run_stack("workload-token-automount", [d, account("web")]) == [
        (
            'Deployment "web" in namespace "team-a" mounts the API token of ServiceAccount "web"; set '
            "spec.template.spec.automountServiceAccountToken: false (or automountServiceAccountToken: false on the "
            'ServiceAccount), or list "team-a/web" in exemptServiceAccounts if the workload calls the Kubernetes API',
            d.urn,
        )
    ]
    assert run_stack("workload-token-automount", [d, account("web")], exemptServiceAccounts=["team-a/web"]) == []


def test_explicit_automount_and_the_default_service_account():
    d = deployment()
    d.props["spec"]["template"]["spec"]["automountServiceAccountToken"] = True
    assert run_stack("workload-token-automount", [d, account(automount=False)]) == [
        (
            'Deployment "web" in namespace "team-a" sets spec.template.spec.automountServiceAccountToken: true; set it to '
            'false, or list "team-a/default" in exemptServiceAccounts if the workload calls the Kubernetes API',
            d.urn,
        )
    ]
    cron = resource(
        "kubernetes:batch/v1:CronJob",
        {
            "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "team-a"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
        },
    )
    assert run_stack("workload-token-automount", [cron]) == [
        (
            'CronJob "nightly" in namespace "team-a" mounts the API token of ServiceAccount "default"; set '
            "spec.jobTemplate.spec.template.spec.automountServiceAccountToken: false (or automountServiceAccountToken: "
            'false on the ServiceAccount), or list "team-a/default" in exemptServiceAccounts if the workload calls the '
            "Kubernetes API",
            cron.urn,
        )
    ]


def test_token_automount_unknowns_and_exempt_namespaces():
    d = deployment()
    d.props["spec"]["template"]["spec"]["automountServiceAccountToken"] = UNKNOWN_BOOLEAN
    assert run_stack("workload-token-automount", [d]) == []
    d.props["spec"]["template"]["spec"]["automountServiceAccountToken"] = None
    assert run_stack("workload-token-automount", [d, account(automount=UNKNOWN_BOOLEAN)]) == []
    d.props["metadata"]["namespace"] = "kube-system"
    assert run_stack("workload-token-automount", [d], exemptNamespaces=["kube-system"]) == []


# --- service-exposure -------------------------------------------------------------------------

SERVICE = "kubernetes:core/v1:Service"


def service(kind="ClusterIP", annotations=None, **spec):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "team-a", "annotations": annotations or {}},
        "spec": {"type": kind, "ports": [{"port": 80}], **spec},
    }


def test_services():
    assert run("service-exposure", SERVICE, service()) == []
    internal = service("LoadBalancer", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"})
    assert run("service-exposure", SERVICE, internal) == []
    assert run("service-exposure", SERVICE, service("LoadBalancer")) == [
        'Service "web" is a public LoadBalancer; make it internal with the annotation '
        'service.beta.kubernetes.io/azure-load-balancer-internal: "true", or expose it through the ingress controller'
    ]
    assert run("service-exposure", SERVICE, service("NodePort")) == [
        'Service "web" has type NodePort, which is not allowed here; use ClusterIP behind the ingress controller'
    ]
    assert run("service-exposure", SERVICE, service(externalIPs=["203.0.113.7"])) == [
        'Service "web" sets spec.externalIPs (203.0.113.7); remove them and use a LoadBalancer or Ingress'
    ]


def test_service_config():
    metallb = {"metallb.io/address-pool": "internal"}
    assert run("service-exposure", SERVICE, service("LoadBalancer", metallb), internalLoadBalancerAnnotations=metallb) == []
    wrong_pool = service("LoadBalancer", {"metallb.io/address-pool": "public"})
    assert len(run("service-exposure", SERVICE, wrong_pool, internalLoadBalancerAnnotations=metallb)) == 1
    assert run("service-exposure", SERVICE, service("LoadBalancer"), allowPublicLoadBalancer=True) == []
    assert run("service-exposure", SERVICE, service("NodePort"), allowNodePort=True) == []
    unknown = service("LoadBalancer", {"service.beta.kubernetes.io/azure-load-balancer-internal": UNKNOWN_STRING})
    assert run("service-exposure", SERVICE, unknown) == []
    assert run("service-exposure", SERVICE, service(UNKNOWN_STRING)) == []


# --- ingress-tls ------------------------------------------------------------------------------

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def ingress(hosts=("a.example.com",), tls_hosts=("a.example.com",), annotations=None):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "team-a", "annotations": annotations or {}},
        "spec": {
            "rules": [{"host": h} if h else {} for h in hosts],
            "tls": [{"hosts": list(tls_hosts), "secretName": "web-tls"}] if tls_hosts is not None else [],
        },
    }


def test_ingress_tls():
    assert run("ingress-tls", INGRESS, ingress()) == []
    assert run("ingress-tls", INGRESS, ingress(("a.example.com", "b.example.com"), ("*.example.com",))) == []
    assert run(
        "ingress-tls", INGRESS, ingress(("a.example.com", "b.example.com", "x.y.example.com"), ("a.example.com", "*.y.example.org"))
    ) == [
        'Ingress "web" serves hosts "b.example.com", "x.y.example.com" without TLS; add them to spec.tls[].hosts with a '
        "secretName (cert-manager issues the certificate)"
    ]
    assert run("ingress-tls", INGRESS, ingress(("",), None)) == [
        'Ingress "web" routes requests without a host but has no spec.tls; add a TLS entry'
    ]
    assert run("ingress-tls", INGRESS, ingress(annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"})) == [
        'Ingress "web" sets nginx.ingress.kubernetes.io/ssl-redirect: "false"; remove it so HTTP is redirected to HTTPS'
    ]
    assert run("ingress-tls", INGRESS, ingress(tls_hosts=(UNKNOWN_STRING,))) == []
    assert run("ingress-tls", "kubernetes:extensions/v1beta1:Ingress", ingress(tls_hosts=None)) == [
        'Ingress "web" serves host "a.example.com" without TLS; add it to spec.tls[].hosts with a secretName '
        "(cert-manager issues the certificate)"
    ]
