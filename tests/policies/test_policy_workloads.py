"""workload-resources, workload-images: a compliant Deployment, then one mutation per case."""

from __future__ import annotations

import pytest

from policies.lib.values import UNKNOWN_OBJECT, UNKNOWN_STRING
from policies.rules.images import parse_image

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def resources(props, **config):
    from policy_helpers import run

    return run("workload-resources", DEPLOYMENT, props, **config)


def images(props, **config):
    from policy_helpers import run

    return run("workload-images", DEPLOYMENT, props, **config)


def app(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_compliant_deployment(deployment):
    assert resources(deployment) == []
    assert images(deployment, allowedRegistries=["registry.example.com"]) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: app(d).pop("resources"),
            'Deployment "web": container "app" must set resources.requests.cpu, resources.requests.memory and '
            "resources.limits.memory",
        ),
        (lambda d: app(d)["resources"]["limits"].pop("memory"), 'Deployment "web": container "app" must set resources.limits.memory'),
        (lambda d: app(d)["resources"]["requests"].update(cpu=""), 'Deployment "web": container "app" must set resources.requests.cpu'),
        (
            lambda d: d["spec"]["template"]["spec"]["initContainers"][0]["resources"].pop("requests"),
            'Deployment "web": container "init" must set resources.requests.cpu and resources.requests.memory',
        ),
    ],
)
def test_missing_resources(deployment, mutate, expected):
    mutate(deployment)
    assert resources(deployment) == [expected]


def test_cpu_limit_only_when_configured(deployment):
    assert resources(deployment, requireCpuLimit=True) == [
        'Deployment "web": container "init" must set resources.limits.cpu',
        'Deployment "web": container "app" must set resources.limits.cpu',
    ]
    app(deployment)["resources"]["limits"].pop("memory")
    assert resources(deployment, requireMemoryLimit=False) == []


def test_pod_level_resources_count_for_every_container(deployment):
    spec = deployment["spec"]["template"]["spec"]
    for c in spec["containers"] + spec["initContainers"]:
        c.pop("resources")
    spec["resources"] = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert resources(deployment) == []


def test_ephemeral_containers_need_no_resources(pod):
    pod["spec"]["ephemeralContainers"][0].pop("resources")
    from policy_helpers import run

    assert run("workload-resources", "kubernetes:core/v1:Pod", pod) == []


def test_unknown_resources_are_undecided(deployment):
    app(deployment)["resources"] = UNKNOWN_OBJECT
    deployment["spec"]["template"]["spec"]["initContainers"][0]["resources"]["requests"]["cpu"] = UNKNOWN_STRING
    assert resources(deployment) == []


def test_exempt_namespace_and_non_workloads(deployment):
    app(deployment).pop("resources")
    deployment["metadata"]["namespace"] = "kube-system"
    assert resources(deployment, exemptNamespaces=["kube-system"]) == []
    from policy_helpers import run

    assert run("workload-resources", "kubernetes:core/v1:PodTemplate", {"template": deployment["spec"]["template"]}) == []


@pytest.mark.parametrize(
    "image, expected",
    [
        (
            "nginx",
            [
                'Deployment "web": container "app" image "nginx" is not from an allowed registry (registry.example.com); '
                "push or mirror it there and reference it by that name",
                'Deployment "web": container "app" image "nginx" has no tag; pin a version tag or a digest (@sha256:...)',
            ],
        ),
        (
            "registry.example.com/team/app:latest",
            [
                'Deployment "web": container "app" image "registry.example.com/team/app:latest" uses the mutable tag '
                '"latest"; pin a version tag or a digest (@sha256:...)'
            ],
        ),
        (
            "registry.example.com:5000/team/app",
            [
                'Deployment "web": container "app" image "registry.example.com:5000/team/app" is not from an allowed '
                "registry (registry.example.com); push or mirror it there and reference it by that name",
                'Deployment "web": container "app" image "registry.example.com:5000/team/app" has no tag; pin a version '
                "tag or a digest (@sha256:...)",
            ],
        ),
        ("registry.example.com/team/app@sha256:" + "a" * 64, []),
        ("registry.example.com/team/app:latest@sha256:" + "a" * 64, []),
        ("REGISTRY.example.com/team/app:2.0", []),
        (
            "registry.example.com.evil.io/app:1",
            [
                'Deployment "web": container "app" image "registry.example.com.evil.io/app:1" is not from an allowed '
                "registry (registry.example.com); push or mirror it there and reference it by that name"
            ],
        ),
    ],
)
def test_images(deployment, image, expected):
    app(deployment)["image"] = image
    assert images(deployment, allowedRegistries=["registry.example.com"]) == expected


def test_registry_path_prefixes_and_docker_hub():
    from policies.rules.images import registry_allowed

    assert registry_allowed(parse_image("nginx:1"), ["docker.io/library"])
    assert not registry_allowed(parse_image("bitnami/redis:7"), ["docker.io/library"])
    assert registry_allowed(parse_image("harbor.dc1/platform/x:1"), ["harbor.dc1/platform/"])
    assert not registry_allowed(parse_image("harbor.dc1/platformer/x:1"), ["harbor.dc1/platform"])
    assert parse_image("localhost:5000/a/b:1") == ("localhost:5000", "a/b", "1", "")


def test_every_container_list_is_checked(pod):
    pod["spec"]["ephemeralContainers"][0]["image"] = "busybox"
    from policy_helpers import run

    assert run("workload-images", "kubernetes:core/v1:Pod", pod) == [
        'Pod "web": container "debug" image "busybox" has no tag; pin a version tag or a digest (@sha256:...)'
    ]


def test_no_registry_list_allows_any_registry_and_unknown_images_are_undecided(deployment):
    app(deployment)["image"] = "quay.io/jetstack/cert-manager-controller:v1.16.2"
    assert images(deployment) == []
    app(deployment)["image"] = UNKNOWN_STRING
    assert images(deployment, allowedRegistries=["registry.example.com"]) == []
