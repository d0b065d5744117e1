"""The Pulumi program: one CompleteCluster from a validated config, and the stack outputs."""

from __future__ import annotations

import pulumi

from typing import Any

from stacks import catalogue
from stacks.loader import LoadedStack
from stacks.model import Render, StackConfig
from stacks.shared_services import INSTANCE_SERVICES, SHARED_SERVICES

from . import outputs
from .complete_cluster import CompleteCluster


def build(stack: LoadedStack) -> CompleteCluster:
    # (A chart missing from a local chart directory is a config error the loader reports, with the
    # stack's other problems, before anything is registered.)
    config = stack.config
    cluster = CompleteCluster("platform", stack)
    pulumi.export(outputs.ENVIRONMENT, config.environment)
    pulumi.export(outputs.SITE, config.site.name)
    pulumi.export(outputs.INFRASTRUCTURE, config.infrastructure.kind)
    if isinstance(config.infrastructure, Render):
        pulumi.export(outputs.RENDER_DIRECTORY, config.infrastructure.directory)
    if cluster.aks is not None:
        pulumi.export(outputs.CLUSTER_NAME, cluster.aks.cluster_name)
        pulumi.export(outputs.RESOURCE_GROUP, cluster.aks.resource_group_name)
        pulumi.export(outputs.OIDC_ISSUER_URL, cluster.aks.oidc_issuer_url)
        pulumi.export(outputs.KUBECONFIG, cluster.aks.kubeconfig)  # a secret
    pulumi.export(outputs.SITE_ROLE, config.site.role)
    standby = stack.other_sites.standby
    if standby is not None:
        # (the primary's storage CA only when its file names one: a secondary's output is unchanged otherwise)
        pulumi.export(outputs.STANDBY, standby.model_dump(exclude=set() if standby.storage_ca_certificate else {"storage_ca_certificate"}))
    if cluster.rancher is not None:
        pulumi.export(outputs.CLUSTER_NAME, cluster.rancher.cluster_name)
        pulumi.export(outputs.NODE_POOLS, {
            pool: {"quantity": spec.quantity, "roles": spec.roles, "cpu": spec.cpu, "memory_gi": spec.memory_gi, "disk_gi": spec.disk_gi}
            for pool, spec in cluster.rancher.machine_pools.items()
        })
        pulumi.export(outputs.NODE_REGISTRATION, cluster.rancher.node_registration)  # a secret
        pulumi.export(outputs.ETCD_SNAPSHOTS, cluster.rancher.etcd_snapshots)
    if cluster.storage is not None:
        storage = cluster.storage
        summary: dict[str, Any] = {"kind": storage.kind, "endpoint": storage.endpoint, "buckets": storage.buckets}
        if storage.held_secrets:  # a render target's: the Secrets the cluster holds for the manifests (docs/storage.md)
            summary["credentialSecrets"] = [held.summary() for held in storage.held_secrets]
        pulumi.export(outputs.OBJECT_STORAGE, summary)
    if cluster.registry is not None:
        pulumi.export(outputs.REGISTRY, {"url": cluster.registry.url, "replicateFrom": cluster.registry.replicate_from})
        pulumi.export(outputs.REGISTRY_ADMIN_PASSWORD, cluster.registry.admin_password)  # a secret
    if cluster.backup is not None:
        pulumi.export(outputs.BACKUPS, cluster.backup.summary)
    if cluster.teams:
        pulumi.export(outputs.TEAM_NAMESPACES, {name: team.namespace_name for name, team in cluster.teams.items()})
    if cluster.kubernetes is not None:
        pulumi.export(outputs.SHARED_SERVICES, shared_services_summary(config))
    return cluster


def shared_services_summary(config: StackConfig) -> dict[str, Any]:
    """What application teams connect to, per service: in-cluster addresses and Secret names (no
    credentials), as the `sharedServices` stack output; the same endpoints the workloads get."""
    services = config.services
    summary: dict[str, Any] = {}
    if services.ingress.enabled:
        summary["ingress"] = {"ingressClass": catalogue.INGRESS_CLASS, "namespace": catalogue.INGRESS_NAMESPACE}
    if services.cert_manager.enabled:
        summary["certificates"] = {"clusterIssuer": catalogue.CLUSTER_ISSUER, "kind": services.cert_manager.issuer.kind}
    for service in INSTANCE_SERVICES:
        if getattr(services, service.name).enabled:
            summary[service.team_field] = {
                f"{team.name}/{instance.name}": {"address": endpoint.address, "secret": endpoint.secret}
                for team in config.teams
                for instance in getattr(team, service.team_field)
                for endpoint in [service.endpoint(team.name, instance.name)]
            }
    kafka = SHARED_SERVICES["kafka"]
    if services.kafka.enabled:
        summary["kafka"] = {
            "bootstrap": kafka.endpoint("").address,
            "topics": [f"{team.name}.{topic.name}" for team in config.teams for topic in team.topics],
        }
    return summary
