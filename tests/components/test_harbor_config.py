"""Harbor's API objects, read from the on-prem inventories: the proxy-cache projects the nodes pull
through, and replication that follows the sites' roles (components/services/harbor_config.py)."""

from __future__ import annotations

from typing import cast

from components.services.harbor_config import REPLICATION_PERMISSIONS, HarborConfigurationArgs, upstream
from components.services.registry import Registry
from stacks.loader import load, load_stack

PROVIDER = "pulumi:providers:harbor::platform-harbor-provider"


def harbor(inventory, stack: str) -> dict:
    return {
        r.name.removeprefix("platform-harbor-"): r
        for r in inventory(stack)
        if r.type.startswith("harbor:") or r.type == "pulumi:providers:harbor"
    }


def test_only_stacks_with_harbor_configure_it(inventory):
    for stack in ("dev", "test", "prod", "local"):
        assert harbor(inventory, stack) == {}


def test_every_registry_mirror_is_a_public_proxy_cache_project(inventory):
    for stack in ("onprem-dc1", "onprem-dc2"):
        objects = harbor(inventory, stack)
        mirrors = load(stack).infrastructure.registry_mirrors
        assert mirrors  # the rancher profile mirrors docker.io, quay.io, ghcr.io and registry.k8s.io
        for host, project in mirrors.items():
            kind, url = upstream(host)
            endpoint, proxy = objects[f"upstream-{project}"], objects[f"proxy-{project}"]
            assert (endpoint.inputs["providerName"], endpoint.inputs["endpointUrl"]) == (kind, url)
            assert (proxy.inputs["name"], proxy.inputs["public"]) == (project, True)
            assert endpoint.options["provider"] == proxy.options["provider"] == PROVIDER
    assert upstream("docker.io") == ("docker-hub", "https://hub.docker.com")
    assert upstream("registry.k8s.io") == ("docker-registry", "https://registry.k8s.io")


def test_the_provider_signs_in_to_the_sites_own_harbor_after_it_is_installed(inventory):
    provider = harbor(inventory, "onprem-dc1")["provider"]
    assert provider.inputs["url"] == "https://harbor.dc1.example.com" and provider.inputs["username"] == "admin"
    assert provider.inputs["password"] == "[secret]"
    assert "kubernetes:helm.sh/v4:Chart::platform-registry-harbor" in provider.options["depends_on"]  # the Registry and so its chart


def test_the_primary_grants_a_pull_only_robot_and_the_secondary_pulls_with_it(inventory):
    primary, secondary = harbor(inventory, "onprem-dc1"), harbor(inventory, "onprem-dc2")
    robot = primary["replication-robot"].inputs
    assert (robot["name"], robot["level"], robot["secret"]) == ("replication", "system", "[secret]")
    actions = {access["action"] for permission in REPLICATION_PERMISSIONS for access in permission["accesses"]}
    assert actions == {"list", "pull", "read"}  # nothing that writes or deletes
    assert robot["permissions"] == REPLICATION_PERMISSIONS
    assert "primary" not in primary and "from-primary" not in primary

    source = secondary["primary"].inputs
    assert (source["providerName"], source["endpointUrl"], source["accessId"], source["accessSecret"]) == (
        "harbor", "https://harbor.dc1.example.com", "robot$replication", "[secret]")
    rule = secondary["from-primary"].inputs
    assert (rule["action"], rule["filters"], rule["destNamespaceReplace"], rule["deletion"], rule["override"]) == (
        "pull",
        [{"name": "**"}],
        0,
        False,
        True,
    )
    assert rule["schedule"] == "0 */15 * * * *"  # Harbor's six-field cron
    assert "replication-robot" not in secondary


def test_a_harbor_with_no_mirrors_and_no_replication_gets_no_provider():
    # Such a site (an AKS or `existing` stack with Harbor and no other site) declares nothing in Harbor, so its `up`
    # needs neither the Harbor provider's plugin nor Harbor's API: the cluster tier applies one (tests/cluster/).
    primary = load_stack("onprem-dc1")
    settings, mirrors = primary.config.services.registry, dict(primary.config.infrastructure.registry_mirrors)
    standby = load_stack("onprem-dc2").other_sites.standby
    registry = cast(Registry, object())  # not read by the decision
    alone = HarborConfigurationArgs(registry=registry, settings=settings)
    assert not alone.declares_anything
    assert HarborConfigurationArgs(registry=registry, settings=settings, mirrors=mirrors).declares_anything
    assert HarborConfigurationArgs(registry=registry, settings=settings, secondaries=["onprem-dc2"]).declares_anything
    assert HarborConfigurationArgs(registry=registry, settings=settings, standby=standby).declares_anything
    # without the shared replication secret there is neither a robot to grant nor a source to pull from
    unshared = settings.model_copy(update={"replication_secret": None})
    assert not HarborConfigurationArgs(registry=registry, settings=unshared, secondaries=["onprem-dc2"], standby=standby).declares_anything
