"""An RKE2 cluster in one data centre, managed by a Rancher server (pulumi-rancher2).

Custom-node registration, not Rancher node drivers: on premises the VMs come from the data
centre's own automation, and a node driver (vSphere, ...) would need a machine config with
templates, datastores, networks and hypervisor credentials that the stack config does not hold.
The cluster is declared here; each machine pool becomes a registration command (secret) that the VM
automation runs on the pool's machines, and Rancher joins them with the pool's roles, labels and
taints.

The Rancher API token is never in a stack file or in state: the rancher2 provider reads it from
the environment variable `RANCHER_TOKEN_KEY` (a CI secret variable, or the operator's shell),
`RANCHER_CA_CERTS` likewise when the server's certificate comes from an internal CA.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s
import pulumi_rancher2 as rancher2
import yaml

from stacks.model import S3, Rancher
from stacks.model.infrastructure import MachinePool
from stacks.model.site import Site
from stacks.model.teams import Team
from stacks.naming import rancher_cluster_name

from ..labels import LABEL_PREFIX, StackIdentity, kubernetes_labels

# Rancher's built-in Pod Security Admission template: `restricted` everywhere except Rancher's own
# system namespaces (the same standard the team namespaces enforce).
POD_SECURITY_TEMPLATE = "rancher-restricted"
# Rancher's built-in role templates: teams get their project's member role in dev and read-only
# elsewhere (as the namespace RBAC of the access layer does); platform groups own the cluster, so
# they can take and restore etcd snapshots in Rancher.
TEAM_PROJECT_ROLE = {"dev": "project-member", "test": "read-only", "prod": "read-only"}
PLATFORM_CLUSTER_ROLE = "cluster-owner"
SITE_ROLE_LABEL = f"{LABEL_PREFIX}/site-role"
ENVIRONMENT_LABELS = ("app.kubernetes.io/part-of", "app.kubernetes.io/component", f"{LABEL_PREFIX}/environment")
# A namespace belongs to a Rancher project through this annotation, valued `<cluster id>:<project id>`
# (the format of a rancher2 Project's id); Rancher then applies the project's role bindings in it
# and sets the label of the same name to the project part itself.
PROJECT_ANNOTATION = "field.cattle.io/projectId"
STANDBY_ANNOTATION = f"{LABEL_PREFIX}/standby-for"
TOKEN_VARIABLE = "RANCHER_TOKEN_KEY"


@dataclass(frozen=True, kw_only=True)
class RancherClusterArgs:
    cluster: Rancher
    storage: S3
    """The site's object storage, where the etcd snapshots go (a Rancher stack requires S3)."""
    site: Site
    identity: StackIdentity
    teams: list[Team]
    """A Rancher project per team, with the team's groups bound."""
    platform_groups: list[str]
    """Bound as the cluster's owners."""
    harbor: str | None = None
    """The site's own Harbor, when it runs one: containerd pulls upstream registries through it."""
    trusted_ca: str | None = None
    """The environment CA's certificate (PEM) that signs the site's Harbor certificate, on a site of
    several: containerd verifies Harbor with it (`rkeConfig.registries.configs[].ca_bundle`)."""


def cluster_name(identity: StackIdentity, cluster: Rancher) -> str:
    """The cluster's name in Rancher (and its kubeconfig context): environment and data centre."""
    return rancher_cluster_name(identity.environment, cluster.data_centre)


# The API server's audit policy, written to every control-plane node (Rancher's machine selector
# files, from a ConfigMap in the management cluster's fleet-default namespace) and named in RKE2's
# `audit-policy-file`: RKE2's own default policy records nothing. The log lands in
# /var/lib/rancher/rke2/server/logs/audit.log, which the log agent ships (components/observability/logs.py).
# Writes at Metadata level (who changed what, never the objects' contents, so no Secret data);
# reads, health checks and the kubelets' and controllers' own chatter left out.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/metrics"]
  - level: None
    verbs: [get, list, watch]
  - level: None
    users: ["system:kube-proxy", "system:kube-scheduler", "system:kube-controller-manager"]
  - level: None
    userGroups: ["system:nodes"]
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: [leases]
  - level: Metadata
"""
AUDIT_POLICY_PATH = "/etc/rancher/rke2/audit-policy.yaml"
AUDIT_POLICY_KEY = "audit-policy.yaml"
CONTROL_PLANE_MACHINES = {"match_labels": {"rke.cattle.io/control-plane-role": "true"}}
# Rancher hands a machine-selector file to a cluster only when its source names that cluster here.
AUTHORIZED_FOR_CLUSTERS = "rke.cattle.io/object-authorized-for-clusters"
FILE_SOURCE_NAMESPACE = "fleet-default"  # where Rancher keeps the ClusterV2 objects


def group_principal(infrastructure: Rancher, group: str) -> str:
    return infrastructure.group_principal.replace("{group}", group)


def machine_global_config(infrastructure: Rancher) -> str:
    """RKE2 server settings for every node: the CNI and the cluster's pod and service ranges."""
    return yaml.safe_dump(
        {
            "cni": infrastructure.cni,
            "cluster-cidr": infrastructure.network.cluster_cidr,
            "service-cidr": infrastructure.network.service_cidr,
        },
        sort_keys=True,
    )


def registration_flags(pool: MachinePool) -> str:
    """The rancher-system-agent install flags that give a registered machine its pool's place.

    They are appended to Rancher's node command (`curl ... | sudo sh -s - --server ...`), which the
    VM automation runs in a shell as root, so every argument is shell-quoted: the model already
    refuses labels and taints that are not Kubernetes', and quoting keeps a value from ever being
    read as shell syntax even so.
    """
    flags = [f"--{role}" for role in ("etcd", "controlplane", "worker") if role in pool.roles]
    for key, value in sorted(pool.labels.items()):
        flags += ["--label", f"{key}={value}"]
    for taint in pool.taints:
        flags += ["--taint", taint]
    return shlex.join(flags)


def registry_mirrors(cluster: Rancher, harbor: str | None) -> list[dict[str, Any]] | None:
    """containerd mirrors: every upstream registry through its proxy-cache project on the site's own
    Harbor (a secondary's too, so it keeps pulling when the primary's data centre is gone)."""
    mirrors = cluster.registry_mirrors
    if not (harbor and mirrors):
        return None
    return [
        {"hostname": host, "endpoints": [f"https://{harbor}"], "rewrites": {"^(.*)$": f"{project}/$1"}}
        for host, project in sorted(mirrors.items())
    ]


class RancherCluster(pulumi.ComponentResource):
    """Creates, on the Rancher server at `infrastructure.server_url`: an S3 cloud credential for the
    site's object storage; an RKE2 `ClusterV2` (custom nodes) with the pinned Kubernetes version,
    scheduled etcd snapshots shipped to the site's etcd bucket, the `rancher-restricted` Pod
    Security template, network policy with a policy-enforcing CNI, containerd mirrors through the
    site's Harbor, and the authorized cluster endpoint; a `ClusterSync` that waits until the
    registered nodes made the cluster active; a project per team with its directory groups bound
    (`projects`; the team's namespace joins it through `PROJECT_ANNOTATION`, components/access/team.py);
    the platform groups as cluster owners; and a Kubernetes provider from the cluster's kubeconfig
    (secret) for the other layers. The cluster is protected in prod.

    With `bootstrap` (a new site's first `up`) it stops after the cluster: no `ClusterSync`, projects,
    bindings or Kubernetes provider (`provider` is None, so no other layer is built). Nodes can only
    register with the command this `up` outputs, and a stack's outputs are there once its `up` has
    finished, so anything that waited for nodes would wait out its timeout and fail the `up` with
    no command given. The ClusterV2 itself does not wait for nodes: the rancher2 provider's create
    waits for the `Created` condition, and for `Updated` only when the cluster has Rancher-provisioned
    `machine_pools`, which custom clusters have none of (resource_rancher2_cluster_v2.go)."""

    rancher: rancher2.Provider
    credential: rancher2.CloudCredential
    cluster: rancher2.ClusterV2
    sync: rancher2.ClusterSync | None
    projects: dict[str, rancher2.Project]
    provider: k8s.Provider | None
    management: k8s.Provider | None
    """Rancher's management cluster (Fleet's objects); None on a bootstrap `up`."""
    cluster_name: str
    machine_pools: dict[str, MachinePool]
    """The pools whose machines the data centre's automation registers (the `nodePools` stack output)."""
    node_registration: pulumi.Output[dict[str, str]]
    etcd_snapshots: dict[str, object]

    def __init__(self, name: str, args: RancherClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:infrastructure:RancherCluster", name, None, opts)
        infrastructure, storage, site, identity = args.cluster, args.storage, args.site, args.identity
        self.cluster_name = cluster_name(identity, infrastructure)
        self.machine_pools = dict(infrastructure.machine_pools)

        self.rancher = rancher2.Provider(
            f"{name}-rancher2",
            # token_key stays unset: the provider reads RANCHER_TOKEN_KEY itself, so the token is
            # in neither the program nor the state.
            api_url=str(infrastructure.server_url).rstrip("/"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_rancher = pulumi.ResourceOptions(parent=self, provider=self.rancher)

        endpoint = urlparse(str(storage.endpoint)).netloc  # RKE2 takes the S3 endpoint as host[:port]
        assert storage.credentials is not None  # the model requires them everywhere but on render targets
        self.credential = rancher2.CloudCredential(
            f"{name}-etcd-s3",
            name=f"{self.cluster_name}-etcd-s3",
            description=f"Object storage of {site.name} for the etcd snapshots of {self.cluster_name}",
            s3_credential_config={
                "access_key": storage.credentials.access_key_id.output(),
                "secret_key": storage.credentials.secret_access_key.output(),
                "default_endpoint": endpoint,
                "default_region": storage.region,
                "default_bucket": storage.buckets.etcd_snapshots,
            },
            opts=on_rancher,
        )

        snapshots = infrastructure.etcd_snapshots
        self.etcd_snapshots = {
            "endpoint": endpoint,
            "bucket": storage.buckets.etcd_snapshots,
            "folder": self.cluster_name,
            "schedule": snapshots.schedule,
            "retention": snapshots.retention,
        }
        rke_config: dict[str, Any] = {
            "machine_global_config": machine_global_config(infrastructure),
            "etcd": {
                "snapshot_schedule_cron": snapshots.schedule,
                "snapshot_retention": snapshots.retention,
                "s3_config": {
                    "bucket": storage.buckets.etcd_snapshots,
                    "endpoint": endpoint,
                    "folder": self.cluster_name,
                    "region": storage.region,
                    "retention": snapshots.retention,
                    "cloud_credential_name": self.credential.id,
                    # The PEM of an internal CA that issued the endpoint's certificate: Rancher hands it to RKE2
                    # (`etcd-s3-endpoint-ca`), which verifies the endpoint with it (pulumi-rancher2 ClusterV2 `endpoint_ca`).
                    **({"endpoint_ca": storage.ca_certificate} if storage.ca_certificate else {}),
                },
            },
            "upgrade_strategy": {
                "control_plane_concurrency": "1",
                "worker_concurrency": "1",
                "worker_drain_options": {"enabled": True, "delete_empty_dir_data": True, "ignore_daemon_sets": True, "timeout": 600},
            },
        }
        self.audit_policy = rancher2.ConfigMapV2(
            f"{name}-audit-policy",
            cluster_id="local",  # the Rancher management cluster, beside the ClusterV2 object
            namespace=FILE_SOURCE_NAMESPACE,
            name=f"{self.cluster_name}-audit-policy",
            annotations={AUTHORIZED_FOR_CLUSTERS: self.cluster_name},
            data={AUDIT_POLICY_KEY: AUDIT_POLICY},
            opts=on_rancher,
        )
        rke_config["machine_selector_files"] = [
            {
                "machine_label_selector": CONTROL_PLANE_MACHINES,
                "file_sources": [
                    {
                        "configmap": {
                            "name": self.audit_policy.name,
                            "items": [{"key": AUDIT_POLICY_KEY, "path": AUDIT_POLICY_PATH, "permissions": "0600"}],
                        }
                    }
                ],
            }
        ]
        rke_config["machine_selector_configs"] = [{
            "machine_label_selector": CONTROL_PLANE_MACHINES,
            "config": yaml.safe_dump({"audit-policy-file": AUDIT_POLICY_PATH}),
        }]
        mirrors = registry_mirrors(infrastructure, args.harbor)
        if mirrors:
            rke_config["registries"] = {"mirrors": mirrors}
            if args.trusted_ca is not None:
                # Rancher writes it into the nodes' registries.yaml as the Harbor host's `ca_file`; the
                # provider passes the PEM text through (cluster_v2_rke_config_registry.go: CABundle = []byte(v)).
                rke_config["registries"]["configs"] = [{"hostname": args.harbor, "ca_bundle": args.trusted_ca}]
        if snapshots.restore is not None:
            rke_config["etcd_snapshot_restore"] = {
                "name": snapshots.restore.snapshot,
                "generation": snapshots.restore.generation,
                "restore_rke_config": snapshots.restore.restore_rke_config,
            }
        labels = {**kubernetes_labels(identity, "cluster"), SITE_ROLE_LABEL: site.role}
        # What every site of the environment carries, whatever its data centre: Fleet's ClusterGroups select on
        # it (components/access/fleet.py).
        self.environment_labels = {key: labels[key] for key in ENVIRONMENT_LABELS}
        self.cluster = rancher2.ClusterV2(
            f"{name}-cluster",
            name=self.cluster_name,
            kubernetes_version=infrastructure.kubernetes_version,
            labels=labels,
            # Fleet and people read which primary a standby cluster follows; gone after a failover.
            annotations={STANDBY_ANNOTATION: site.primary} if site.role == "secondary" and site.primary else None,
            default_pod_security_admission_configuration_template_name=POD_SECURITY_TEMPLATE,
            enable_network_policy=True,
            # kubectl keeps working straight to the cluster while the Rancher server is unreachable.
            local_auth_endpoint={"enabled": True},
            rke_config=rke_config,
            opts=pulumi.ResourceOptions(parent=self, provider=self.rancher, protect=identity.production),
        )

        command = self.cluster.cluster_registration_token.node_command
        self.node_registration = pulumi.Output.secret(
            command.apply(lambda base: {pool: f"{base} {registration_flags(spec)}" for pool, spec in infrastructure.machine_pools.items()})
        )
        outputs = {
            "cluster_name": self.cluster_name,
            "cluster_id": self.cluster.cluster_v1_id,
            "node_registration": self.node_registration,
            "etcd_snapshots": self.etcd_snapshots,
        }
        self.projects = {}
        if infrastructure.bootstrap:
            self.sync, self.provider, self.management = None, None, None
            pulumi.log.info(
                f"bootstrap: {self.cluster_name} is created without waiting for nodes; register each pool's machines with "
                "its `nodeRegistration` command, then remove `infrastructure.bootstrap` from the stack file and run `up` again",
                self,
            )
            self.register_outputs(outputs)
            return

        self.sync = rancher2.ClusterSync(
            f"{name}-sync",
            cluster_id=self.cluster.cluster_v1_id,
            # A custom cluster reports active before its system charts settle; confirm it 3 times.
            state_confirm=3,
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.rancher, custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m")
            ),
        )

        role = TEAM_PROJECT_ROLE[identity.environment]
        for team in args.teams:
            project = rancher2.Project(
                f"{name}-project-{team.name}",
                name=team.name,
                cluster_id=self.sync.id,
                description=f"Team {team.name}",
                labels={f"{LABEL_PREFIX}/team": team.name},
                opts=on_rancher,
            )
            self.projects[team.name] = project
            for group in team.groups:
                rancher2.ProjectRoleTemplateBinding(
                    f"{name}-project-{team.name}-{_slug(group)}",
                    project_id=project.id,
                    role_template_id=role,
                    group_principal_id=group_principal(infrastructure, group),
                    opts=on_rancher,
                )
        for group in args.platform_groups:
            rancher2.ClusterRoleTemplateBinding(
                f"{name}-owner-{_slug(group)}",
                cluster_id=self.sync.id,
                role_template_id=PLATFORM_CLUSTER_ROLE,
                group_principal_id=group_principal(infrastructure, group),
                opts=on_rancher,
            )

        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(self.sync.kube_config)
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Rancher's own management cluster (`local`, provisioning object `fleet-local/local`), where Fleet keeps
        # the GitRepos and ClusterGroups of the downstream clusters (components/access/fleet.py): its kubeconfig
        # from Rancher, a secret.
        management = rancher2.get_cluster_v2_output(
            name="local", fleet_namespace="fleet-local", opts=pulumi.InvokeOutputOptions(provider=self.rancher)
        )
        self.management = k8s.Provider(
            f"{name}-management",
            kubeconfig=pulumi.Output.secret(management.kube_config),
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(outputs)


def _slug(text: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in text.lower()).strip("-")
