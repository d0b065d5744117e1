"""Ingress and certificates: ingress-nginx and cert-manager at their pinned versions, the internal
load balancer per infrastructure, TLS by default, and the platform ClusterIssuer (ACME or an
internal CA) created after cert-manager's CRDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks import catalogue
from components.labels import INGRESS_TARGET_LABEL
from components.complete_cluster import image_source
from stacks.chart_sources import part_charts
from stacks.loader import load

SERVICE_PARTS = ("ingress", "cert_manager", "postgres", "redis", "rabbitmq", "kafka")


def required_charts(config):
    """The charts of the ingress, certificate and data-service parts (catalogue.PART_CHARTS)."""
    return [ref for part in SERVICE_PARTS for ref in part_charts(config, part)]

RESTRICTED_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", catalogue.POD_SECURITY_VERSION))
}


def chart(registrations, name):
    resource = registrations.named(name)
    assert resource.type == "kubernetes:helm.sh/v4:Chart"
    return resource


# --- ingress-nginx -----------------------------------------------------------------------------------


def test_prod_installs_the_pinned_ingress_nginx_chart_into_its_namespace(inventory):
    registrations = inventory("prod")
    release = chart(registrations, "platform-ingress-chart")
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]) == (
        "ingress-nginx", "4.14.1", {"repo": "https://kubernetes.github.io/ingress-nginx"},
    )
    assert release.inputs["namespace"] == "ingress-nginx"
    # After cert-manager's chart, which issues the admission webhook's certificate.
    assert release.options["depends_on"] == ["kubernetes:core/v1:Namespace::platform-ingress-namespace",
                                             "kubernetes:helm.sh/v4:Chart::platform-cert-manager-chart"]
    assert release.parent == "platform:services:Ingress::platform-ingress"


def test_the_controller_is_the_default_nginx_class_with_tls_enforced(inventory):
    controller = chart(inventory("prod"), "platform-ingress-chart").inputs["values"]["controller"]
    assert controller["replicaCount"] == 3  # the prod profile
    assert controller["ingressClassResource"] == {
        "name": "nginx",
        "enabled": True,
        "default": True,
        "controllerValue": "k8s.io/ingress-nginx",
    }
    assert controller["config"] == {
        "ssl-redirect": "true", "force-ssl-redirect": "true", "hsts": "true", "ssl-protocols": "TLSv1.2 TLSv1.3",
        "allow-snippet-annotations": "false", "server-tokens": "false",
    }


def test_the_controller_runs_restricted_with_requests_equal_to_limits(inventory):
    controller = chart(inventory("prod"), "platform-ingress-chart").inputs["values"]["controller"]
    assert controller["containerSecurityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 101, "runAsGroup": 82,
        "seccompProfile": {"type": "RuntimeDefault"}, "readOnlyRootFilesystem": False,
    }
    assert controller["podSecurityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    # Unprivileged ports inside the pod: no NET_BIND_SERVICE needed.
    assert controller["containerPort"] == {"http": 8080, "https": 8443}
    assert controller["extraArgs"] == {"http-port": "8080", "https-port": "8443"}
    assert controller["resources"]["requests"] == controller["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    # The webhook's certificate comes from cert-manager, not the chart's `patch` Jobs (Helm hooks, never rendered):
    # the render tier checks the rendered webhook (test_every_webhook_the_api_server_calls_presents_a_certificate_...).
    assert controller["admissionWebhooks"]["certManager"] == {"enabled": True}
    assert "patch" not in controller["admissionWebhooks"]


@pytest.mark.parametrize(
    "stack, annotations, registry",
    [
        ("prod", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}, "platformacr.azurecr.io/registry.k8s.io"),
        ("test", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}, "platformtestacr.azurecr.io/registry.k8s.io"),
        ("onprem-dc1", {"metallb.io/address-pool": "internal"}, "harbor.dc1.example.com/k8s"),
        ("dev", {}, "platformdevacr.azurecr.io/registry.k8s.io"),
    ],
)
def test_the_load_balancer_is_internal_where_the_environment_says_so(inventory, stack, annotations, registry):
    controller = chart(inventory(stack), "platform-ingress-chart").inputs["values"]["controller"]
    assert controller["service"] == {"type": "LoadBalancer", "annotations": annotations, "externalTrafficPolicy": "Local"}
    assert controller["image"] == {"registry": registry}


def _ingress_service(stack: str, path=None) -> dict:
    """The ingress controller's Service as the chart writes it from our values (type and annotations)."""
    from stacks.tools.inventory import evaluate

    values = next(r for r in evaluate(stack, path) if r.name == "platform-ingress-chart").inputs["values"]["controller"]["service"]
    return {"metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "annotations": values["annotations"]},
            "spec": {"type": values["type"], "externalTrafficPolicy": values["externalTrafficPolicy"]}}


def _site_with(tmp_path, **load_balancer) -> Path:
    """onprem-dc1's file with its `infrastructure.load_balancer` replaced (or removed, given nothing)."""
    import yaml

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    infrastructure = document["config"]["complete-cluster:infrastructure"]
    infrastructure.pop("load_balancer")
    if load_balancer:
        infrastructure["load_balancer"] = load_balancer
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("stack", ["prod", "test", "onprem-dc1", "onprem-dc2"])
def test_the_policy_pack_of_each_stack_accepts_its_ingress_load_balancer(stack):
    """The pack's own service-exposure rule, under the config `python -m stacks policy-config` writes
    for the stack, on the Service the ingress chart makes: internal, so not refused."""
    from policies.rules.services import service_exposure_problems
    from stacks.tools.policy_config import pack_config

    config = pack_config(load(stack))["service-exposure"]
    assert service_exposure_problems("kubernetes:core/v1:Service", _ingress_service(stack), config) == []


def test_a_site_gets_its_address_from_the_pool_its_stack_names(tmp_path):
    from policies.rules.services import service_exposure_problems
    from stacks.tools.policy_config import pack_config

    path = _site_with(tmp_path, provider="metallb", address_pool="dc1-private")
    service = _ingress_service("onprem-dc1", path)
    assert service["metadata"]["annotations"] == {"metallb.io/address-pool": "dc1-private"}
    config = pack_config(load("onprem-dc1", path))["service-exposure"]
    assert service_exposure_problems("kubernetes:core/v1:Service", service, config) == []
    # Another site's pool is not this one's: the same Service asking for `internal` is refused here.
    service["metadata"]["annotations"] = {"metallb.io/address-pool": "internal"}
    [refused] = service_exposure_problems("kubernetes:core/v1:Service", service, config)
    assert "public LoadBalancer" in refused


@pytest.mark.parametrize("load_balancer, key, message", [
    ({}, "infrastructure.load_balancer", "required"),
    ({"provider": "metallb", "address_pool": "Internal Pool"}, "infrastructure.load_balancer.address_pool",
     "`Internal Pool` is not an IPAddressPool name"),
    ({"provider": "f5", "address_pool": "internal"}, "infrastructure.load_balancer.provider", "metallb"),
], ids=["missing", "bad-pool", "unknown-provider"])
def test_a_rancher_site_declares_its_load_balancer(tmp_path, load_balancer, key, message):
    from stacks.loader import ConfigError

    with pytest.raises(ConfigError) as raised:
        load("onprem-dc1", _site_with(tmp_path, **load_balancer))
    [(path, text)] = raised.value.problems
    assert path == key and message in text, text


def test_the_ingress_namespace_is_restricted_and_default_deny(inventory):
    registrations = inventory("prod")
    namespace = registrations.named("platform-ingress-namespace")
    assert namespace.inputs["metadata"]["name"] == "ingress-nginx"
    assert RESTRICTED_LABELS.items() <= namespace.inputs["metadata"]["labels"].items()
    deny = registrations.named("platform-ingress-default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert deny.inputs["metadata"]["namespace"] == "ingress-nginx"


def test_the_controller_reaches_only_pods_that_serve_traffic(inventory):
    backends = inventory("prod").named("platform-ingress-allow-backends").inputs["spec"]
    assert backends["policyTypes"] == ["Egress"]
    assert backends["egress"] == [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {INGRESS_TARGET_LABEL: "true"}}}]}]
    clients = inventory("prod").named("platform-ingress-allow-clients").inputs["spec"]
    assert [rule["ports"] for rule in clients["ingress"]] == [
        [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8443}], [{"protocol": "TCP", "port": 9443}],
    ]


# --- cert-manager -------------------------------------------------------------------------------------


def test_prod_installs_the_pinned_cert_manager_chart_with_the_platform_issuer_as_default(inventory):
    release = chart(inventory("prod"), "platform-cert-manager-chart")
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]) == (
        "cert-manager", "v1.20.2", {"repo": "https://charts.jetstack.io"},
    )
    values = release.inputs["values"]
    assert values["ingressShim"] == {
        "defaultIssuerName": "platform-issuer",
        "defaultIssuerKind": "ClusterIssuer",
        "defaultIssuerGroup": "cert-manager.io",
    }
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["replicaCount"] == 2
    assert values["image"] == {"repository": "platformacr.azurecr.io/quay.io/jetstack/cert-manager-controller"}
    for part in ("webhook", "cainjector"):
        assert values[part]["resources"]["requests"] == values[part]["resources"]["limits"]
        assert values[part]["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert values["resources"]["requests"] == values["resources"]["limits"]


def test_prod_issues_from_an_internal_ca_created_after_the_crds(inventory):
    registrations = inventory("prod")
    self_signed = registrations.named("platform-cert-manager-self-signed")
    root = registrations.named("platform-cert-manager-root-ca")
    issuer = registrations.named("platform-cert-manager-issuer")
    assert (self_signed.inputs["kind"], self_signed.inputs["metadata"]["name"], self_signed.inputs["spec"]) == (
        "ClusterIssuer",
        "platform-selfsigned",
        {"selfSigned": {}},
    )
    assert root.inputs["apiVersion"] == "cert-manager.io/v1"
    assert root.inputs["metadata"]["namespace"] == "cert-manager"
    assert root.inputs["spec"]["isCA"] is True
    assert root.inputs["spec"]["secretName"] == "platform-root-ca"
    assert root.inputs["spec"]["issuerRef"] == {"name": "platform-selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert (issuer.inputs["kind"], issuer.inputs["metadata"]["name"]) == ("ClusterIssuer", catalogue.CLUSTER_ISSUER)
    assert issuer.inputs["spec"] == {"ca": {"secretName": "platform-root-ca"}}
    assert "kubernetes:helm.sh/v4:Chart::platform-cert-manager-chart" in self_signed.options["depends_on"]
    assert "kubernetes:cert-manager.io/v1:Certificate::platform-cert-manager-root-ca" in issuer.options["depends_on"]


def test_dev_issues_from_acme_through_the_ingress_controller(inventory):
    issuer = inventory("dev").named("platform-cert-manager-issuer")
    acme = issuer.inputs["spec"]["acme"]
    assert (acme["email"], acme["server"]) == ("platform-team@example.com", "https://acme-v02.api.letsencrypt.org/directory")
    [solver] = acme["solvers"]
    # The solver pods carry the label the team namespaces admit the ingress controller to.
    assert solver["http01"]["ingress"] == {
        "ingressClassName": "nginx",
        "podTemplate": {"metadata": {"labels": {INGRESS_TARGET_LABEL: "true"}}},
    }
    assert "kubernetes:helm.sh/v4:Chart::platform-cert-manager-chart" in issuer.options["depends_on"]


def test_every_stack_with_cert_manager_has_the_internal_ca_for_in_cluster_names(inventory):
    """ACME cannot issue `<name>.<namespace>.svc` names, so the internal CA's issuer exists on ACME
    stacks too, signing with the same root (RabbitMQ's TLS listener uses it)."""
    roots = {"dev": "kubernetes:cert-manager.io/v1:Certificate", "prod": "kubernetes:cert-manager.io/v1:Certificate",
             "onprem-dc1": "kubernetes:core/v1:Secret"}  # a site of several: the environment CA (test_the_sites_share_one_ca)
    for stack, root in roots.items():
        registrations = inventory(stack)
        internal = registrations.named("platform-cert-manager-internal-issuer")
        assert (internal.inputs["metadata"]["name"], internal.inputs["spec"]) == (
            catalogue.INTERNAL_ISSUER,
            {"ca": {"secretName": "platform-root-ca"}},
        )
        assert f"{root}::platform-cert-manager-root-ca" in internal.options["depends_on"]
    assert "acme" in inventory("dev").named("platform-cert-manager-issuer").inputs["spec"]  # the public hosts' issuer stays ACME


def test_the_issuer_is_the_one_every_api_ingress_names(inventory):
    registrations = inventory("prod")
    ingresses = registrations.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert ingresses
    assert {r.inputs["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] for r in ingresses} == {
        registrations.named("platform-cert-manager-issuer").inputs["metadata"]["name"]
    }


# --- charts off, and where images come from ----------------------------------------------------------


def test_without_charts_the_local_stack_still_registers_namespaces_and_issuers(local_without_charts):
    registrations = local_without_charts
    assert not registrations.of_type("kubernetes:helm.sh/v4:Chart")
    issuer = registrations.named("platform-cert-manager-issuer")
    assert issuer.options["depends_on"] == [
        "kubernetes:cert-manager.io/v1:Certificate::platform-cert-manager-root-ca",
        "kubernetes:core/v1:Namespace::platform-cert-manager-namespace",
    ]
    assert {r.inputs["metadata"]["name"] for r in registrations.of_type("kubernetes:core/v1:Namespace")} >= {
        "ingress-nginx",
        "cert-manager",
    }


def test_required_charts_follow_the_enabled_services():
    assert [ref.name for ref in required_charts(load("prod"))] == [
        "ingress-nginx", "cert-manager", "postgres-operator", "redis-operator", "rabbitmq-cluster-operator", "strimzi-kafka-operator",
    ]
    assert [ref.name for ref in required_charts(load("test"))] == ["ingress-nginx", "cert-manager", "postgres-operator", "redis-operator"]


def test_images_come_from_the_sites_harbor_or_the_approved_registry():
    dc1, prod, local = (image_source(load(stack)) for stack in ("onprem-dc1", "prod", "local"))
    assert dc1.registry_for("quay.io") == "harbor.dc1.example.com/quay"
    assert dc1.mirrored("docker.io/library/redis:7.4.2-alpine") == "harbor.dc1.example.com/dockerhub/library/redis:7.4.2-alpine"
    assert prod.registry_for("quay.io") == "platformacr.azurecr.io/quay.io"
    assert local.mirrored("ghcr.io/zalando/spilo-18:4.1-p2") == "registry.example.com/ghcr.io/zalando/spilo-18:4.1-p2"


def test_a_local_chart_directory_without_the_charts_is_a_config_error_before_anything_registers(tmp_path):
    import yaml

    from stacks.tools.inventory import evaluate
    from stacks.loader import ConfigError

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.prod.yaml").read_text())
    empty = tmp_path / "empty-charts"
    empty.mkdir()
    stack_file = tmp_path / "Pulumi.prod.yaml"

    def problems(directory: str) -> list[str]:
        document["config"]["complete-cluster:charts"] = {"source": "local", "directory": directory}
        stack_file.write_text(yaml.safe_dump(document))
        registered: list = []
        with pytest.raises(ConfigError) as raised:
            evaluate("prod", stack_file, into=registered)
        assert registered == []
        return [message for key, message in raised.value.problems if key == "charts.directory"]

    # A directory that is there but lacks the charts: one problem per missing chart, each saying how to fetch it.
    missing = problems(str(empty))
    for ref in required_charts(load("prod")):
        assert any(message.startswith(f"{empty}/ has no {ref.name} {ref.version} ") for message in missing), ref.name
    # A directory that is not there at all: one problem saying so, not one per chart.
    [absent] = problems("no-such-charts")
    assert absent.startswith("no-such-charts/ does not exist on this machine")


# --- one CA for the sites of an environment ------------------------------------------------------


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_the_sites_share_one_ca(inventory, stack):
    """Both sites issue from the environment CA in their stack files (its key a Pulumi secret), not a
    self-signed root of their own that the other site's clients could not trust."""
    registrations = inventory(stack)
    ca = load(stack).services.cert_manager.issuer.ca
    assert ca is not None and ca.certificate == load("onprem-dc1").services.cert_manager.issuer.ca.certificate
    root = registrations.named("platform-cert-manager-root-ca")
    assert root.type == "kubernetes:core/v1:Secret" and root.inputs["type"] == "kubernetes.io/tls"
    assert root.inputs["metadata"]["namespace"] == "cert-manager" and root.inputs["metadata"]["name"] == "platform-root-ca"
    assert root.inputs["stringData"] == "[secret]"  # the key makes the whole data a secret
    assert not [r for r in registrations if r.name == "platform-cert-manager-self-signed"]
    for issuer in ("platform-cert-manager-issuer", "platform-cert-manager-internal-issuer"):
        assert registrations.named(issuer).inputs["spec"] == {"ca": {"secretName": "platform-root-ca"}}


# A server's certificate (basicConstraints CA:FALSE), which signs nothing: OpenSSL does not count it as a CA.
SERVER_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBkjCCATqgAwIBAgIUalcOK8sreFfrTxI67X2ideJA/60wCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWaGFyYm9yLmRjMS5leGFtcGxlLmNvbTAeFw0yNjEyMDYxNDEz
MTRaFw0zNjEyMDMxNDEzMTRaMCExHzAdBgNVBAMMFmhhcmJvci5kYzEuZXhhbXBs
ZS5jb20wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASGKTliGhximt1NPQJXlAxi
WEzZu2j+ZmxzLUkgNUu38YPZhRn8wm/cNxW1qHELQz/cUehLNPobbFdaAKGGjvtP
o1AwTjAdBgNVHQ4EFgQU/mOROsUDLlT7v1AxiLYbvAPYysUwHwYDVR0jBBgwFoAU
/mOROsUDLlT7v1AxiLYbvAPYysUwDAYDVR0TAQH/BAIwADAKBggqhkjOPQQDAgNG
ADBDAiBCl1O2H3cW8pl5IdySuXKUnmQhRqR/UtWBxIrP2BXC3gIfLw0x3js6D158
Sj2FsZiSYBJTbzGgzVB5E1OMG1LDOA==
-----END CERTIFICATE-----
"""


def _dc1_issuer(tmp_path, issuer) -> Path:
    import yaml

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    document["config"]["complete-cluster:services"]["cert_manager"]["issuer"] = issuer
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("change, key, message", [
    (lambda ca: None, "services.cert_manager.issuer.ca", "one environment CA"),
    (lambda ca: {**ca, "private_key": "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"},
     "services.cert_manager.issuer.ca.private_key", "must be a Pulumi secret, not plain text"),
    (lambda ca: {k: v for k, v in ca.items() if k != "private_key"}, "services.cert_manager.issuer.ca.private_key", "required"),
    (lambda ca: {**ca, "certificate": "MIICATCCAYagAwIBAgIU"}, "services.cert_manager.issuer.ca.certificate",
     "is not one PEM CA certificate"),
    (lambda ca: {**ca, "certificate": SERVER_CERTIFICATE}, "services.cert_manager.issuer.ca.certificate", "is not one PEM CA certificate"),
], ids=["missing", "plain-text-key", "no-key", "not-a-certificate", "not-a-ca"])
def test_a_site_of_several_without_a_usable_environment_ca_is_a_config_error(tmp_path, change, key, message):
    import yaml

    from stacks.loader import ConfigError

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.onprem-dc1.yaml").read_text())
    ca = change(document["config"]["complete-cluster:services"]["cert_manager"]["issuer"]["ca"])
    issuer = {"kind": "internal_ca", **({"ca": ca} if ca is not None else {})}
    with pytest.raises(ConfigError) as raised:
        load("onprem-dc1", _dc1_issuer(tmp_path, issuer))
    [(path, text)] = raised.value.problems
    assert path == key and message in text, (path, text)


def test_a_render_target_asks_for_the_pool_of_the_cluster_its_manifests_are_for():
    """A render target that declares its cluster's MetalLB pool renders the internal Service that cluster needs;
    one that declares none asks for no pool, which the pack refuses where internal load balancers are required."""
    from components.services.ingress import internal_annotations
    from stacks.model.infrastructure import Render

    declared = Render.model_validate({"kind": "render", "load_balancer": {"provider": "metallb", "address_pool": "dc1-private"}},
                                     context={"stack": "prod"})
    assert internal_annotations(declared) == {"metallb.io/address-pool": "dc1-private"}
    assert internal_annotations(Render.model_validate({"kind": "render"}, context={"stack": "prod"})) == {}


# --- webhooks the API server cannot reach at their Services (docs/services.md) -----------------------


def _prod_with_services(tmp_path, **sections) -> Path:
    """prod's file with each given `services` section updated."""
    import yaml

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.prod.yaml").read_text())
    services = document["config"]["complete-cluster:services"]
    for section, settings in sections.items():
        services[section] = {**(services.get(section) or {}), **settings}
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_by_default_the_api_server_calls_both_webhooks_at_their_services(inventory):
    assert "url" not in chart(inventory("prod"), "platform-cert-manager-chart").inputs["values"]["webhook"]
    assert chart(inventory("prod"), "platform-ingress-chart").inputs["values"]["controller"]["admissionWebhooks"]["enabled"] is True


def test_a_cluster_whose_api_server_cannot_reach_pods_calls_cert_managers_webhook_at_its_host_and_has_no_ingress_webhook(tmp_path):
    from stacks.tools.inventory import evaluate

    path = _prod_with_services(tmp_path, cert_manager={"webhook_host": "localhost:10250"}, ingress={"admission_webhook": False})
    registrations = {r.name: r for r in evaluate("prod", path)}
    assert registrations["platform-cert-manager-chart"].inputs["values"]["webhook"]["url"] == {"host": "localhost:10250"}
    assert registrations["platform-ingress-chart"].inputs["values"]["controller"]["admissionWebhooks"]["enabled"] is False
    assert registrations["platform-ingress-chart"].inputs["values"]["controller"]["admissionWebhooks"]["certManager"] == {"enabled": False}


@pytest.mark.parametrize("host", ["https://localhost:10250", "localhost:10250/validate", "Webhook.example.com", ""])
def test_a_webhook_host_that_is_not_a_host_is_a_config_error_naming_its_key(tmp_path, host):
    from stacks.loader import ConfigError

    with pytest.raises(ConfigError) as raised:
        load("prod", _prod_with_services(tmp_path, cert_manager={"webhook_host": host}))
    [(key, message)] = [p for p in raised.value.problems if p[0].startswith("services.cert_manager")]
    assert key == "services.cert_manager.webhook_host" and "is not a host name with an optional port" in message, raised.value.problems


def test_cert_managers_api_check_is_a_plain_job_the_issuers_wait_for(inventory):
    """The chart's startupapicheck is a Helm hook, which helm.v4.Chart does not render: its hook annotations are
    deleted (null) so it is a Job of the chart, which the ClusterIssuers depend on. The render tier shows the chart
    renders it without them (test_cert_managers_api_check_is_rendered_as_a_plain_job)."""
    registrations = inventory("prod")
    check = chart(registrations, "platform-cert-manager-chart").inputs["values"]["startupapicheck"]
    hooks = {"helm.sh/hook": None, "helm.sh/hook-weight": None, "helm.sh/hook-delete-policy": None}
    assert check["enabled"] is True
    assert check["jobAnnotations"] == check["rbac"]["annotations"] == check["serviceAccount"]["annotations"] == hooks
    issuers = [r for r in registrations if r.inputs.get("kind") == "ClusterIssuer"]
    assert issuers and all("kubernetes:helm.sh/v4:Chart::platform-cert-manager-chart" in r.options["depends_on"] for r in issuers)
