"""What a site's Harbor holds besides its chart: the proxy-cache projects the nodes pull upstream
images through, and replication between the sites of an environment. These are Harbor API objects,
declared with the Harbor provider (pulumiverse-harbor) against the site's own Harbor.

- On a Rancher site, one proxy-cache project per `infrastructure.registry_mirrors` entry
  (`docker.io: dockerhub` ...), each with an endpoint for its upstream registry. The projects are
  public, because containerd pulls through them without credentials (components/infrastructure/
  rancher.py writes the mirrors); they are reachable only inside the data centre.
- On a primary with secondaries, the system robot account `replication` with pull access to every
  project, its secret the shared `services.registry.replication_secret`.
- On a secondary, an endpoint for the primary's Harbor (that robot account) and a pull replication
  rule for every repository, every 15 minutes, path kept as it is (no flattening), deletions not
  mirrored (an image deleted by mistake at the primary is still at the secondary).

A failover switches the roles, so the new primary grants the robot account and the old one, once it
is back as a secondary, pulls from it (tests/stacks/test_failover.py). A site with none of these (no
mirrors, no other site) gets no Harbor provider at all (`HarborConfigurationArgs.declares_anything`).

The provider signs in as Harbor's `admin` with the password the Registry component generated, and
verifies Harbor's certificate (`insecure: false`; pulumiverse-harbor defaults to `true`, which would
send the password to whoever answers): the machine running `pulumi up` must reach `https://<hostname>`
and trust the certificate's CA, the environment CA on a site of several (the provider has no CA
setting; Go reads the system trust store, or `SSL_CERT_FILE`, docs/runbooks/disaster-recovery.md).
A password changed in Harbor's UI must be set back, or the provider cannot sign in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumiverse_harbor as harbor

from stacks.model.services import Registry as RegistrySettings
from stacks.sites import StandbySource

from .registry import Registry

# Harbor's adapter for each upstream registry (src/pkg/reg/model: RegistryType*) and its endpoint.
UPSTREAMS: dict[str, tuple[str, str]] = {
    "docker.io": ("docker-hub", "https://hub.docker.com"),
    "quay.io": ("quay", "https://quay.io"),
    "ghcr.io": ("github-ghcr", "https://ghcr.io"),
}
REPLICATION_ROBOT = "replication"
# Harbor cron: six fields, seconds first.
REPLICATION_SCHEDULE = "0 */15 * * * *"
# What a pull replication needs of the source: list projects, list repositories and artifacts, pull.
REPLICATION_PERMISSIONS = [
    {"kind": "system", "namespace": "/", "accesses": [{"resource": "project", "action": "list"}]},
    {
        "kind": "project",
        "namespace": "*",
        "accesses": [
            {"resource": "repository", "action": "list"},
            {"resource": "repository", "action": "pull"},
            {"resource": "artifact", "action": "list"},
            {"resource": "artifact", "action": "read"},
            {"resource": "tag", "action": "list"},
        ],
    },
]


def upstream(host: str) -> tuple[str, str]:
    """Harbor's adapter type and endpoint URL for an upstream registry host; any registry that
    speaks the distribution API and is not listed is a plain `docker-registry`."""
    return UPSTREAMS.get(host, ("docker-registry", f"https://{host}"))


@dataclass(frozen=True, kw_only=True)
class HarborConfigurationArgs:
    registry: Registry
    """The site's Harbor (the provider signs in to it as `admin`)."""
    settings: RegistrySettings
    mirrors: dict[str, str] = field(default_factory=dict)
    """Upstream registry host -> proxy-cache project (`infrastructure.registry_mirrors`, Rancher sites)."""
    secondaries: list[str] = field(default_factory=list)
    """On a primary: the stacks of its secondaries, which replicate from it."""
    standby: StandbySource | None = None
    """On a secondary: the primary whose Harbor it replicates from."""

    @property
    def grants_replication(self) -> bool:
        return bool(self.secondaries) and self.settings.replication_secret is not None

    @property
    def replicates(self) -> bool:
        return self.standby is not None and bool(self.standby.registry_hostname) and self.settings.replication_secret is not None

    @property
    def declares_anything(self) -> bool:
        """Whether there is anything to declare in Harbor. A site with no proxy-cache projects and no replication
        gets no Harbor provider at all: `up` then needs neither its plugin nor Harbor's API reachable."""
        return bool(self.mirrors) or self.grants_replication or self.replicates


class HarborConfiguration(pulumi.ComponentResource):
    """Proxy-cache projects and site replication in the site's Harbor (module docstring)."""

    provider: harbor.Provider
    proxy_projects: dict[str, harbor.Project]
    robot: harbor.RobotAccount | None = None
    replication: harbor.Replication | None = None
    summary: dict[str, Any]

    def __init__(self, name: str, args: HarborConfigurationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:HarborConfiguration", name, None, opts)
        settings, registry, standby = args.settings, args.registry, args.standby
        # Harbor answers only once its chart is installed.
        self.provider = harbor.Provider(
            f"{name}-provider", url=registry.url, username="admin", password=registry.admin_password, insecure=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registry]),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.summary = {"proxyCache": {}}

        self.proxy_projects = {}
        mirrors = args.mirrors
        for host, project in mirrors.items():
            kind, url = upstream(host)
            endpoint = harbor.Registry(f"{name}-upstream-{project}", name=f"upstream-{project}", provider_name=kind, endpoint_url=url,
                                       description=f"{host}, pulled through the proxy-cache project {project}", opts=child)
            self.proxy_projects[host] = harbor.Project(
                f"{name}-proxy-{project}", name=project, registry_id=endpoint.registry_id, public=True, vulnerability_scanning=False,
                opts=child,
            )
            self.summary["proxyCache"][host] = {"project": project, "adapter": kind, "endpoint": url}

        secret = settings.replication_secret
        if args.grants_replication and secret is not None:
            self.robot = harbor.RobotAccount(
                f"{name}-replication-robot", name=REPLICATION_ROBOT, level="system",
                description=f"pull replication to {', '.join(args.secondaries)}",
                secret=secret.output(), permissions=REPLICATION_PERMISSIONS, opts=child,
            )
            self.summary["replicationRobot"] = {"name": f"robot${REPLICATION_ROBOT}", "for": list(args.secondaries)}

        if args.replicates and standby is not None and secret is not None:
            source = harbor.Registry(
                f"{name}-primary", name=f"primary-{standby.site}", provider_name="harbor", endpoint_url=f"https://{standby.registry_hostname}",
                access_id=f"robot${REPLICATION_ROBOT}", access_secret=secret.output(),
                # Verify the primary's certificate (the environment CA, in Harbor's trust store).
                insecure=False,
                description=f"the primary site's Harbor ({standby.stack})", opts=child,
            )
            self.replication = harbor.Replication(
                f"{name}-from-primary", name=f"from-primary-{standby.site}", action="pull", registry_id=source.registry_id,
                schedule=REPLICATION_SCHEDULE, override=True, deletion=False,
                # 0: keep the source's project/repository path (the default, -1, flattens it).
                dest_namespace_replace=0,
                filters=[{"name": "**"}],
                description=f"every repository of {standby.registry_hostname}",
                opts=child,
            )
            self.summary["replicateFrom"] = {"registry": standby.registry_hostname, "schedule": REPLICATION_SCHEDULE}
        self.register_outputs({"summary": self.summary})
