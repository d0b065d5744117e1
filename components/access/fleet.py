"""Fleet for the teams' own releases at the Rancher sites.

Rancher runs Fleet: downstream clusters registered through Rancher are Fleet clusters in the management
cluster's `fleet-default` workspace, where the GitRepos that target them live (Rancher's Fleet overview,
"fleet-default ... includes all downstream clusters that are registered through Rancher"). A GitRepo's
`serviceAccount` is resolved by the Fleet agent of each downstream cluster in the agent's own namespace,
`cattle-fleet-system`, and the agent then deploys by impersonating
`system:serviceaccount:cattle-fleet-system:<name>` (fleet v0.16.1 internal/helmdeployer/impersonate.go
getServiceAccount and impersonationConfig; internal/config/config.go DefaultNamespace), not in the target
namespace. So each team's deployer account lives in `cattle-fleet-system` and is bound by a Role in the
team namespace alone: whatever its repository holds, Fleet can change nothing elsewhere.

Not declared: a GitRepoRestriction (or Fleet's newer Policy) in `fleet-default`. Its allowed lists are
top-level fields, which the Python SDK's CustomResource (spec only) cannot express, and restrictions in a
workspace add up across everyone's (fleet internal/cmd/controller/gitops/reconciler/restrictions.go
aggregate), so the deployer's Role is the boundary either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from stacks.model.teams import Team

from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels
from . import rbac

FLEET_WORKSPACE = "fleet-default"
FLEET_AGENT_NAMESPACE = "cattle-fleet-system"
DEPLOYER_ROLE = "fleet-deployer"
# The management cluster's Fleet objects belong to the environment, not to one site's stack: the primary's
# stack writes them. At a failover the promoted site's `up` takes them over (server-side apply with force:
# the Kubernetes provider's `pulumi.com/patchForce` annotation), and the old primary's stack, once it runs as
# a secondary, leaves them in place (retain_on_delete) instead of deleting what the other stack now manages.
TAKE_OVER = {"pulumi.com/patchForce": "true"}


def deployer_account(team: str) -> str:
    """The team's Fleet deployer, a ServiceAccount in each downstream cluster's `cattle-fleet-system`."""
    return f"fleet-{team}"


def sites_group(environment: str) -> str:
    """The ClusterGroup of every site of the environment."""
    return f"{environment}-sites"


def primary_group(environment: str) -> str:
    """The ClusterGroup of the environment's primary site (by the site-role label RancherCluster sets)."""
    return f"{environment}-primary"


@dataclass(frozen=True, kw_only=True)
class FleetReleasesArgs:
    teams: list[Team]
    """The teams that declare `releases`."""
    identity: StackIdentity
    cluster_labels: dict[str, str]
    """The labels RancherCluster puts on every site of the environment (Rancher copies a cluster's labels
    to its Fleet cluster, which ClusterGroups select)."""
    site_role_label: str


class FleetReleases(pulumi.ComponentResource):
    """In the Rancher management cluster's `fleet-default` workspace: the ClusterGroups `<env>-sites`
    (every site of the environment) and `<env>-primary` (the site whose role label is `primary`), and per
    team with `releases` a GitRepo `<team>` of its repository's `paths` targeting every site, a GitRepo
    `<team>-primary` of its `primary_only_paths` targeting the primary, each deploying only into the
    team namespace as the team's deployer, and for a private repository a basic-auth Secret from
    Pulumi secrets. Use a Kubernetes provider of the management cluster."""

    groups: dict[str, k8s.apiextensions.CustomResource]
    repositories: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: FleetReleasesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:FleetReleases", name, None, opts)
        environment = args.identity.environment
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        labels = kubernetes_labels(args.identity, "releases")

        def metadata(object_name: str) -> dict:
            return {"name": object_name, "namespace": FLEET_WORKSPACE, "labels": labels, "annotations": TAKE_OVER}

        selectors = {
            sites_group(environment): args.cluster_labels,
            primary_group(environment): {**args.cluster_labels, args.site_role_label: "primary"},
        }
        self.groups = {
            group: k8s.apiextensions.CustomResource(
                f"{name}-group-{group}",
                api_version=catalogue.FLEET_API,
                kind="ClusterGroup",
                metadata=metadata(group),
                spec={"selector": {"matchLabels": selector}},
                opts=child,
            )
            for group, selector in selectors.items()
        }
        self.repositories = {}
        for team in args.teams:
            releases = team.releases
            assert releases is not None  # only teams with releases are given
            source: dict = {"repo": releases.repo, **({"branch": releases.branch} if releases.branch else {"revision": releases.revision})}
            if releases.credentials is not None:
                secret = k8s.core.v1.Secret(
                    f"{name}-credentials-{team.name}",
                    metadata=metadata(f"{team.name}-git-credentials"),
                    type="kubernetes.io/basic-auth",
                    string_data={"username": releases.credentials.username, "password": releases.credentials.password.output()},
                    opts=child,
                )
                source["clientSecretName"] = secret.metadata.name
            deploy = {
                **source,
                # Everything of the bundle lands in the team namespace; the deployer may write nowhere else.
                "targetNamespace": team.name,
                "serviceAccount": deployer_account(team.name),
            }
            team_labels = {f"{LABEL_PREFIX}/team": team.name}
            for suffix, paths, group in (("", releases.paths, sites_group(environment)),
                                         ("-primary", releases.primary_only_paths, primary_group(environment))):
                if not paths:
                    continue
                repository = f"{team.name}{suffix}"
                self.repositories[repository] = k8s.apiextensions.CustomResource(
                    f"{name}-repo-{repository}",
                    api_version=catalogue.FLEET_API,
                    kind="GitRepo",
                    metadata={**metadata(repository), "labels": {**labels, **team_labels}},
                    spec={**deploy, "paths": list(paths), "targets": [{"clusterGroup": group}]},
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.groups[group]])),
                )
        self.register_outputs({"repositories": sorted(self.repositories)})


@dataclass(frozen=True, kw_only=True)
class FleetDeployerArgs:
    team: str
    identity: StackIdentity
    namespace: k8s.core.v1.Namespace
    """The team namespace, the only one the deployer may write to."""


class FleetDeployer(pulumi.ComponentResource):
    """On a site's cluster: the team's Fleet deployer ServiceAccount `fleet-<team>` in `cattle-fleet-system`
    (where the Fleet agent looks it up), and a Role `fleet-deployer` with a RoleBinding to it in the team
    namespace only (rbac.deployer_rules: the team's workload kinds and Secrets; no RBAC, policies or quotas)."""

    account: k8s.core.v1.ServiceAccount

    def __init__(self, name: str, args: FleetDeployerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:access:FleetDeployer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**kubernetes_labels(args.identity, "releases"), f"{LABEL_PREFIX}/team": args.team}
        account = deployer_account(args.team)
        self.account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata={"name": account, "namespace": FLEET_AGENT_NAMESPACE, "labels": labels},
            automount_service_account_token=False,  # only impersonated by the agent, never a pod's identity
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata={"name": DEPLOYER_ROLE, "namespace": args.team, "labels": labels},
            rules=rbac.deployer_rules(),
            opts=in_namespace,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata={"name": DEPLOYER_ROLE, "namespace": args.team, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DEPLOYER_ROLE},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": FLEET_AGENT_NAMESPACE}],
            opts=pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[role, self.account])),
        )
        self.register_outputs({"account": account})
