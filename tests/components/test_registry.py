"""Harbor on the on-prem sites, read from their inventories: the pinned chart with its hostname,
TLS from the ClusterIssuer, images in the site's registry bucket, restricted containers with
resources, every secret generated once by Pulumi, and the secondary's replication source."""

from __future__ import annotations

import copy

import pulumi
import pytest
import yaml
from pulumi.runtime import settings
from pulumi.runtime.sync_await import _sync_await

from stacks import catalogue
from components.services import registry as registry_module
from components.services.registry import Registry, RegistryArgs
from components.complete_cluster import identity, image_source, storage_args
from components.storage import ObjectStorage
from stacks.chart_sources import missing_charts, part_charts
from stacks.tools.inventory import evaluate, run_program
from stacks.loader import STACKS_DIR, load, load_stack
from stacks.model.charts import Charts

REGISTRY = "platform:services:Registry::platform-registry"
CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
SITES = [("onprem-dc1", "dc1"), ("onprem-dc2", "dc2")]
RESTRICTED = {
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def registry(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-registry-"): r for r in inventory(stack) if r.parent == REGISTRY}


def values(inventory, stack: str) -> dict:
    return registry(inventory, stack)["harbor"].inputs["values"]


def test_harbor_runs_where_the_registry_is_enabled(inventory):
    for stack in ("dev", "test", "prod", "local"):
        assert [r for r in inventory(stack) if r.type == "platform:services:Registry"] == []
    for stack, _ in SITES:
        [component] = [r for r in inventory(stack) if r.type == "platform:services:Registry"]
        assert component.parent == "platform:index:CompleteCluster::platform"


@pytest.mark.parametrize("stack, site", SITES)
def test_the_pinned_chart_at_the_sites_hostname_with_tls_from_the_cluster_issuer(inventory, stack, site):
    chart = registry(inventory, stack)["harbor"]
    assert chart.type == CHART
    assert (chart.inputs["chart"], chart.inputs["version"], chart.inputs["repositoryOpts"], chart.inputs["namespace"]) == (
        "harbor", "1.18.3", {"repo": "https://helm.goharbor.io"}, "harbor")
    harbor = chart.inputs["values"]
    assert harbor["externalURL"] == f"https://harbor.{site}.example.com"
    assert harbor["expose"] == {
        "type": "ingress",
        "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}},
        "ingress": {
            "hosts": {"core": f"harbor.{site}.example.com"},
            "className": catalogue.INGRESS_CLASS,
            "controller": "default",
            "annotations": {
                "cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER,
                "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",
            },
        },
    }
    # prod: its database holds projects, users and artifact metadata
    assert chart.options["protect"] is True


@pytest.mark.parametrize("stack, site", SITES)
def test_images_and_charts_live_in_the_sites_registry_bucket(inventory, stack, site):
    persistence = values(inventory, stack)["persistence"]
    assert persistence["imageChartStorage"] == {
        "disableredirect": True,
        "type": "s3",
        "s3": {
            "region": "us-east-1",
            "bucket": f"{site}-registry",
            "regionendpoint": f"https://s3.{site}.example.com",
            "secure": True,
            "v4auth": True,
            "existingSecret": "harbor-registry-storage",
        },
    }
    # only Harbor's own database and Redis are on volumes
    assert persistence["persistentVolumeClaim"] == {"database": {"size": "5Gi"}, "redis": {"size": "1Gi"}}
    assert persistence["resourcePolicy"] == "keep"
    chart = registry(inventory, stack)["harbor"]
    assert "kubernetes:core/v1:Secret::platform-storage-harbor-registry" in chart.options["depends_on"]


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_every_container_is_restricted_with_resources(inventory, stack):
    harbor = values(inventory, stack)
    assert harbor["containerSecurityContext"] == RESTRICTED
    with_resources = {
        "core": harbor["core"], "portal": harbor["portal"], "jobservice": harbor["jobservice"],
        "registry": harbor["registry"]["registry"], "registryctl": harbor["registry"]["controller"],
        "database": harbor["database"]["internal"], "redis": harbor["redis"]["internal"], "exporter": harbor["exporter"],
        "permissions": harbor["database"]["internal"]["initContainer"]["permissions"],
    }
    for part, settings_ in with_resources.items():
        resources = settings_["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"} and set(resources["limits"]) == {"memory"}, part
    # Trivy would download its vulnerability database from the internet at run time
    assert harbor["trivy"] == {"enabled": False}
    # Metrics on for the platform's ServiceMonitor (components/observability/monitors.py), not the chart's.
    assert harbor["metrics"] == {"enabled": True, "serviceMonitor": {"enabled": False}}
    assert harbor["jobservice"]["jobLoggers"] == ["database"]  # no job-log volume
    assert {part: harbor[part]["replicas"] for part in ("core", "portal", "jobservice", "registry")} == dict.fromkeys(
        ("core", "portal", "jobservice", "registry"), 1
    )


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_harbors_own_images_are_pinned_and_bootstrap_from_docker_io(inventory, stack):
    harbor = values(inventory, stack)
    images = {
        "harbor-portal": harbor["portal"]["image"], "harbor-core": harbor["core"]["image"],
        "harbor-jobservice": harbor["jobservice"]["image"], "registry-photon": harbor["registry"]["registry"]["image"],
        "harbor-registryctl": harbor["registry"]["controller"]["image"], "harbor-db": harbor["database"]["internal"]["image"],
        "redis-photon": harbor["redis"]["internal"]["image"], "harbor-exporter": harbor["exporter"]["image"],
    }
    for name, image in images.items():
        assert image == {"repository": f"docker.io/goharbor/{name}", "tag": "v2.14.3"}


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_the_policy_pack_admits_harbors_own_images_and_nothing_else_from_docker_io(inventory, stack):
    """The real `workload-images` check with the stack's generated config: Harbor's pods pass, another docker.io image
    in the same namespace is still refused, and so is a Harbor image under the mutable tag."""
    from policies.rules.images import image_problems
    from stacks.tools.policy_config import pack_config

    config = pack_config(load(stack))["workload-images"]
    harbor = values(inventory, stack)
    images = [harbor[part]["image"] for part in ("portal", "core", "jobservice", "exporter")]
    images += [harbor["registry"]["registry"]["image"], harbor["database"]["internal"]["image"]]

    def problems(image: str) -> list[str]:
        pod = {"metadata": {"name": "p", "namespace": "harbor"}, "spec": {"containers": [{"name": "c", "image": image}]}}
        return image_problems("kubernetes:core/v1:Pod", pod, config)

    for image in images:
        assert problems(f"{image['repository']}:{image['tag']}") == []
    assert problems("docker.io/library/busybox:1.37.0") != []
    assert problems("docker.io/goharborx/harbor-core:v2.14.3") != []
    assert "latest" in problems("docker.io/goharbor/harbor-core:latest")[0]


def test_an_aks_stack_takes_harbors_images_from_its_approved_registry():
    config = load("prod")
    config = config.model_copy(
        update={
            "services": config.services.model_copy(
                update={"registry": config.services.registry.model_copy(update={"enabled": True, "hostname": "harbor.cin.example.com"})}
            )
        }
    )
    assert registry_module.harbor_image(image_source(config), "harbor-core") == {
        "repository": "platformacr.azurecr.io/docker.io/goharbor/harbor-core",
        "tag": "v2.14.3",
    }


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_every_secret_harbor_would_generate_is_generated_once_by_pulumi(inventory, stack):
    harbor = values(inventory, stack)
    assert (harbor["existingSecretAdminPassword"], harbor["existingSecretAdminPasswordKey"], harbor["existingSecretSecretKey"]) == (
        "harbor-admin", "HARBOR_ADMIN_PASSWORD", "harbor-core-secrets")
    assert {k: harbor["core"][k] for k in ("existingSecret", "existingXsrfSecret", "existingXsrfSecretKey", "secretName")} == {
        "existingSecret": "harbor-core-secrets", "existingXsrfSecret": "harbor-core-secrets", "existingXsrfSecretKey": "CSRF_KEY",
        "secretName": "harbor-token-signing",
    }
    assert (harbor["jobservice"]["existingSecret"], harbor["jobservice"]["existingSecretKey"]) == (
        "harbor-jobservice-secrets",
        "JOBSERVICE_SECRET",
    )
    assert (harbor["registry"]["existingSecret"], harbor["registry"]["existingSecretKey"]) == (
        "harbor-registry-secrets",
        "REGISTRY_HTTP_SECRET",
    )
    assert harbor["registry"]["credentials"] == {"username": "harbor_registry_user", "existingSecret": "harbor-registry-secrets"}
    assert harbor["database"]["internal"]["password"] == "[secret]"

    resources = registry(inventory, stack)
    passwords = {name: r.inputs for name, r in resources.items() if r.type == "pulumi-python:dynamic/platform:GeneratedPassword"}
    assert {name: p["length"] for name, p in passwords.items()} == {
        "admin-password": 24, "registry-password": 24, "secret-key": 16, "core-secret": 16, "xsrf-key": 32,
        "jobservice-secret": 16, "registry-http-secret": 16, "database-password": 24,
    }
    assert all(p["classes"] == ["upper", "lower", "digit"] for p in passwords.values())
    assert [name for name, p in passwords.items() if p["bcrypt"]] == ["registry-password"]
    # The token-signing key pair is cert-manager's, from the internal CA: its key never passes through state.
    certificate = resources["token-certificate"]
    assert certificate.type == "kubernetes:cert-manager.io/v1:Certificate"
    assert certificate.inputs["spec"] == {
        "secretName": "harbor-token-signing", "commonName": "harbor-token-issuer", "duration": "87600h", "renewBefore": "8760h",
        "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Always"},
        "usages": ["digital signature", "key encipherment"],
        "issuerRef": {"name": catalogue.INTERNAL_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    assert "kubernetes:cert-manager.io/v1:ClusterIssuer::platform-cert-manager-internal-issuer" in certificate.options["depends_on"]
    secrets = {r.inputs["metadata"]["name"]: r for r in resources.values() if r.type == SECRET}
    assert {name: s.inputs["type"] for name, s in secrets.items()} == {
        "harbor-admin": "Opaque", "harbor-core-secrets": "Opaque", "harbor-jobservice-secrets": "Opaque",
        "harbor-registry-secrets": "Opaque",
        "environment-ca": "Opaque",  # the environment CA Harbor trusts (test_site_trust.py)
    }
    assert all(s.inputs["stringData"] == "[secret]" and s.inputs["metadata"]["namespace"] == "harbor" for s in secrets.values())
    chart = resources["harbor"]
    assert {f"{SECRET}::{r.name}" for r in secrets.values()} <= set(chart.options["depends_on"])
    assert f"{certificate.type}::{certificate.name}" in chart.options["depends_on"]


def test_the_secrets_hold_the_keys_the_chart_reads():
    loaded = load_stack("onprem-dc1")
    config = loaded.config
    built: list[Registry] = []

    def program():
        storage = ObjectStorage("storage", storage_args(config))
        issuer = pulumi.CustomResource("test:index:ClusterIssuer", "issuer")
        built.append(
            Registry(
                "registry",
                RegistryArgs(
                    settings=config.services.registry,
                    identity=identity(config),
                    images=image_source(config),
                    charts=loaded.charts.of("registry"),
                    storage=storage,
                    issuer=issuer,
                ),
            )
        )

    run_program(program, "onprem-dc1")
    [harbor] = built
    data = {name: _sync_await(secret.string_data.future()) for name, secret in harbor.secrets.items()}
    assert {name: sorted(keys) for name, keys in data.items()} == {
        "harbor-admin": ["HARBOR_ADMIN_PASSWORD"],
        "harbor-core-secrets": ["CSRF_KEY", "secret", "secretKey"],
        "harbor-jobservice-secrets": ["JOBSERVICE_SECRET"],
        "harbor-registry-secrets": ["REGISTRY_HTPASSWD", "REGISTRY_HTTP_SECRET", "REGISTRY_PASSWD"],
    }
    # htpasswd from the bcrypt hash Pulumi made once (offline: the mock's placeholder)
    assert data["harbor-registry-secrets"]["REGISTRY_HTPASSWD"] == "harbor_registry_user:[bcrypt registry-registry-password]"
    assert all(_sync_await(secret.string_data.is_secret()) for secret in harbor.secrets.values())
    storage_keys = _sync_await(harbor.access.secret.string_data.future())
    assert {"REGISTRY_STORAGE_S3_ACCESSKEY", "REGISTRY_STORAGE_S3_SECRETKEY"} <= set(storage_keys)


# --- network ---------------------------------------------------------------------------------------


def test_the_namespace_is_restricted_and_admits_only_the_ingress_controller(inventory):
    resources = registry(inventory, "onprem-dc1")
    labels = resources["namespace"].inputs["metadata"]["labels"]
    assert resources["namespace"].inputs["metadata"]["name"] == "harbor"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in resources.values()
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    assert set(policies) == {"default-deny", "allow-dns", "allow-egress", "allow-ingress", "allow-internal-egress"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-ingress"]["ingress"] == [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {"podSelector": {}},
    ]}]
    assert policies["allow-internal-egress"]["egress"] == [{"to": [{"podSelector": {}}]}]
    assert policies["allow-egress"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]


# --- replication, config, charts -----------------------------------------------------------------


def _outputs(stack: str) -> dict:
    evaluate(stack)
    return {name: _sync_await(pulumi.Output.from_input(value).future()) for name, value in settings.ROOT.get().outputs.items()}


def test_the_secondary_names_the_primarys_harbor_as_its_replication_source():
    dc1, dc2 = _outputs("onprem-dc1"), _outputs("onprem-dc2")
    assert dc1["registry"] == {"url": "https://harbor.dc1.example.com", "replicateFrom": None}
    assert dc2["registry"] == {"url": "https://harbor.dc2.example.com", "replicateFrom": "harbor.dc1.example.com"}
    assert "registryAdminPassword" in dc2
    assert dc2["backups"]["primaryLocation"] == {
        "name": "primary-dc1",
        "bucket": "dc1-backups",
        "endpoint": "https://s3.dc1.example.com",
        "prefix": "prod-dc1",
    }
    assert dc2["objectStorage"] == {"kind": "s3", "endpoint": "https://s3.dc2.example.com", "buckets": {
        "registry": "dc2-registry", "backups": "dc2-backups", "postgres": "dc2-postgres", "logs": "dc2-logs",
        "traces": "dc2-traces", "etcd_snapshots": "dc2-etcd-snapshots"}}


def test_harbor_is_the_allowed_registry_of_its_site():
    assert load("onprem-dc1").allowed_registries()[-1] == "harbor.dc1.example.com"


def test_a_site_without_the_registry_installs_no_harbor(tmp_path):
    document = yaml.safe_load((STACKS_DIR / "Pulumi.onprem-dc1.yaml").read_text())
    document = copy.deepcopy(document)
    document["config"]["complete-cluster:services"]["registry"] = {"enabled": False}
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document))
    registrations = evaluate("onprem-dc1", path)
    assert not [r for r in registrations if r.type == "platform:services:Registry" or r.name.startswith("platform-storage-harbor")]


def test_a_local_chart_directory_without_harbor_is_a_config_error(tmp_path, monkeypatch):
    from stacks import chart_sources as charts_module

    monkeypatch.setattr(charts_module, "PROJECT_DIR", tmp_path)
    (tmp_path / "charts").mkdir()
    config = load("onprem-dc1").model_copy(update={"charts": Charts(source="local")})
    assert part_charts(config, "registry") == [catalogue.HARBOR_CHART]
    assert missing_charts(config, part_charts(config, "registry")) == [(
        "charts.directory",
        "charts/ has no harbor 1.18.3 (`harbor-1.18.3.tgz` or `harbor/`); fetch it on a connected machine with "
        "`helm pull harbor --repo https://helm.goharbor.io --version 1.18.3`, or set `charts.source` to remote, oci or off",
    )]


def test_harbors_registry_trusts_the_ca_of_its_storage_endpoint(inventory, sites_with_storage_cas):
    """`storage.ca_certificate`: the chart's `persistence.imageChartStorage.caBundleSecretName` names a Secret holding it
    (key `ca.crt`, which chart 1.18.3 mounts into the registry's trust store); a site without one names none."""
    _, with_ca = sites_with_storage_cas
    storage = values(with_ca, "onprem-dc1")["persistence"]["imageChartStorage"]
    assert storage["caBundleSecretName"] == "harbor-storage-ca"
    secret = with_ca("onprem-dc1").named("platform-storage-harbor-ca").inputs
    # Every Secret's data is a Pulumi secret (the Kubernetes SDK marks it): the render tier reads the PEM in it.
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("harbor-storage-ca", "harbor")
    assert "kubernetes:core/v1:Secret::platform-storage-harbor-ca" in registry(with_ca, "onprem-dc1")["harbor"].options["depends_on"]
    assert "caBundleSecretName" not in values(inventory, "onprem-dc1")["persistence"]["imageChartStorage"]
