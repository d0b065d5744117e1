"""One trust model for the sites of an environment (issue 17 item 3): both sites issue from the
environment CA of their stack files (test_ingress.py: test_the_sites_share_one_ca), and every client
that reaches the other site's hosts, or the site's own Harbor, verifies them with that CA's
certificate: Fluent Bit and Prometheus shipping to the primary, Harbor replicating from it, the
nodes' containerd pulling through Harbor, and the Harbor provider (verification on)."""

from __future__ import annotations

import ssl

import pytest

from stacks.loader import load

SITES = ("onprem-dc1", "onprem-dc2")


def ca(stack: str) -> str:
    certificate = load(stack).environment_ca()
    assert certificate is not None
    return certificate


def test_the_environment_ca_is_a_ca_openssl_accepts():
    """OpenSSL itself (Python's ssl) loads the shipped certificate into a trust store as a CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca("onprem-dc1"))
    assert context.cert_store_stats() == {"x509": 1, "crl": 0, "x509_ca": 1}
    assert ca("onprem-dc2") == ca("onprem-dc1")


@pytest.mark.parametrize("stack", SITES)
def test_containerd_verifies_the_sites_harbor_with_the_environment_ca(inventory, stack):
    rke = inventory(stack).named("platform-rancher-cluster").inputs["rkeConfig"]
    harbor = load(stack).services.registry.hostname
    assert rke["registries"]["configs"] == [{"hostname": harbor, "caBundle": ca(stack)}]
    assert {endpoint for mirror in rke["registries"]["mirrors"] for endpoint in mirror["endpoints"]} == {f"https://{harbor}"}


@pytest.mark.parametrize("stack", SITES)
def test_the_harbor_provider_verifies_harbor(inventory, stack):
    # pulumiverse-harbor defaults `insecure` to true (HARBOR_IGNORE_CERT or True): it must be set off.
    provider = inventory(stack).named("platform-harbor-provider")
    assert provider.inputs["insecure"] == "false"
    assert provider.inputs["password"] == "[secret]"


@pytest.mark.parametrize("stack", SITES)
def test_harbor_trusts_the_environment_ca(inventory, stack):
    registrations = inventory(stack)
    bundle = registrations.named("platform-registry-environment-ca")
    # (A Secret's data is always a Pulumi secret, so the inventory shows it redacted.)
    assert bundle.inputs["metadata"]["name"] == "environment-ca" and bundle.inputs["stringData"] == "[secret]"
    chart = registrations.named("platform-registry-harbor")
    assert chart.inputs["values"]["caBundleSecretName"] == "environment-ca"
    assert "kubernetes:core/v1:Secret::platform-registry-environment-ca" in chart.options["depends_on"]


def test_the_secondary_replicates_from_the_primary_verifying_it(inventory):
    source = inventory("onprem-dc2").named("platform-harbor-primary").inputs
    assert source["endpointUrl"] == "https://harbor.dc1.example.com" and source["insecure"] is False


def test_the_secondary_remote_writes_verifying_the_primarys_host(inventory):
    registrations = inventory("onprem-dc2")
    chart = registrations.named("platform-observability-metrics-kube-prometheus-stack")
    [remote_write] = chart.inputs["values"]["prometheus"]["prometheusSpec"]["remoteWrite"]
    assert remote_write["url"].startswith("https://telemetry.dc1.example.com/")
    assert remote_write["tlsConfig"] == {"ca": {"secret": {"name": "central-remote-write", "key": "ca.crt"}}}
    secret = registrations.named("platform-observability-metrics-remote-write")
    assert secret.inputs["metadata"]["name"] == "central-remote-write"
    assert secret.inputs["stringData"] == "[secret]"  # with the password


def test_the_secondary_ships_logs_verifying_the_primarys_host(inventory):
    chart = inventory("onprem-dc2").named("platform-observability-logs-fluent-bit").inputs["values"]
    central = [section for section in chart["config"]["outputs"].split("\n\n") if "telemetry.dc1.example.com" in section]
    assert central and all("tls.verify" in s and "tls.ca_file" in s and "/fluent-bit/central-ca/ca.crt" in s for s in central)
    assert {"name": "central-ca", "mountPath": "/fluent-bit/central-ca", "readOnly": True} in chart["daemonSetVolumeMounts"]
    assert {"name": "central-ca", "secret": {"secretName": "central-logs-push", "items": [{"key": "ca.crt", "path": "ca.crt"}]}} in (
        chart["daemonSetVolumes"])


def test_a_single_site_keeps_its_own_root_and_no_bundle(inventory):
    """prod on AKS is one site: nothing outside its cluster needs to trust its CA."""
    registrations = inventory("prod")
    assert load("prod").environment_ca() is None
    assert registrations.named("platform-cert-manager-root-ca").type == "kubernetes:cert-manager.io/v1:Certificate"
