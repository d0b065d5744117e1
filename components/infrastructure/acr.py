"""The AKS cluster's container registry: every image is pulled from it, upstream ones through cache rules.

Facts from Azure's documentation (learn.microsoft.com/azure/container-registry, "Artifact cache"
overview and "wildcards" pages, and the service tiers page):
- artifact cache works on the Basic, Standard and Premium tiers; private endpoints need Premium;
- Docker Hub is cached only with credentials (a credential set whose identity reads two Key Vault
  secrets); quay.io, ghcr.io and registry.k8s.io also answer unauthenticated pulls;
- a wildcard rule `<target>/* <= <source>/*` caches every repository below a prefix, and wildcard
  rules may not overlap, which one rule per upstream host never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, containerregistry, network, privatedns

from stacks.model.infrastructure import ContainerRegistry as RegistrySettings

# Built-in Azure role definitions (the same IDs in every tenant).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"

# Upstream registries Azure Container Registry's artifact cache supports, and whether they need a
# credential set ("Upstream support" table of the artifact cache overview).
CACHEABLE_UPSTREAMS = {"docker.io": True, "quay.io": False, "ghcr.io": False, "registry.k8s.io": False, "mcr.microsoft.com": False}
DOCKER_HUB = "docker.io"
# The private DNS zone of a registry's private endpoint (its `registry` sub-resource), public cloud.
PRIVATE_DNS_ZONE = "privatelink.azurecr.io"


def cache_rule_name(upstream: str) -> str:
    """`quay.io` -> `quay-io`: a cache rule's name takes letters, digits and '-'."""
    return re.sub(r"[^a-zA-Z0-9-]", "-", upstream)


@dataclass(frozen=True, kw_only=True)
class ContainerRegistryArgs:
    registry: RegistrySettings
    upstreams: tuple[str, ...]
    """The upstream registries the platform's images come from (catalogue.upstream_registries())."""
    subscription_id: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    kubelet_principal_id: pulumi.Input[str]
    """The node pools' kubelet identity, which pulls every image."""
    virtual_network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    """Where the private endpoint gets its address (the node subnet)."""
    tags: dict[str, str]
    production: bool


class ContainerRegistry(pulumi.ComponentResource):
    """An Azure Container Registry (admin user and anonymous pull off) with a wildcard cache rule per
    upstream registry (`<upstream>/*` kept as `<upstream>/*`, so `ImageSource.mirrored` names resolve),
    the Docker Hub credential set and its Key Vault grants, a private endpoint with its DNS zone when
    configured, and AcrPull for the kubelet identity. With `existing_resource_group`, only AcrPull."""

    registry_id: pulumi.Output[str]
    ready: list[pulumi.Resource]
    """What must exist before a pod can pull (the grant, the cache rules, the private endpoint's DNS)."""

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:infrastructure:ContainerRegistry", name, None, opts)
        settings = args.registry
        child = pulumi.ResourceOptions(parent=self)
        role = lambda role_id: pulumi.Output.concat(  # noqa: E731
            "/subscriptions/", args.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
        )
        self.ready = []
        if settings.existing_resource_group is not None:
            self.registry_id = pulumi.Output.concat(
                "/subscriptions/", args.subscription_id, "/resourceGroups/", settings.existing_resource_group,
                "/providers/Microsoft.ContainerRegistry/registries/", settings.name,
            )
        else:
            self.registry_id = self._registry(name, args, role)
        self.ready.append(authorization.RoleAssignment(
            f"{name}-kubelet-pull", scope=self.registry_id, role_definition_id=role(ACR_PULL),
            principal_id=args.kubelet_principal_id, principal_type="ServicePrincipal", opts=child,
        ))
        self.register_outputs({"registry_id": self.registry_id})

    def _registry(self, name: str, args: ContainerRegistryArgs, role) -> pulumi.Output[str]:
        settings = args.registry
        child = pulumi.ResourceOptions(parent=self)
        registry = containerregistry.Registry(
            f"{name}-registry", registry_name=settings.name, resource_group_name=args.resource_group_name, location=args.location,
            sku={"name": settings.sku}, admin_user_enabled=False, anonymous_pull_enabled=False,
            public_network_access="Disabled" if settings.private_endpoint else "Enabled", tags=args.tags,
            # Cached images and the teams' pushed ones live here: prod keeps the registry.
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        group, registry_name = args.resource_group_name, registry.name
        credentials = None
        if settings.docker_hub is not None and DOCKER_HUB in args.upstreams:
            hub = settings.docker_hub
            vault_uri = f"https://{hub.key_vault_id.rsplit('/', 1)[-1].lower()}.vault.azure.net/secrets/"
            credentials = containerregistry.CredentialSet(
                f"{name}-docker-hub", credential_set_name="docker-hub", registry_name=registry_name, resource_group_name=group,
                login_server=DOCKER_HUB, identity={"type": "SystemAssigned"},
                auth_credentials=[{
                    "name": "Credential1",
                    "username_secret_identifier": vault_uri + hub.username_secret,
                    "password_secret_identifier": vault_uri + hub.token_secret,
                }],
                opts=child,
            )
            principal = credentials.identity.apply(lambda identity: identity.principal_id if identity else "")
            # The vault may live in another subscription: the role definition is named in the vault's.
            vault_subscription = hub.key_vault_id.split("/")[2]
            secrets_user = f"/subscriptions/{vault_subscription}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER}"
            for what, secret in (("username", hub.username_secret), ("token", hub.token_secret)):
                self.ready.append(authorization.RoleAssignment(
                    f"{name}-docker-hub-{what}", scope=f"{hub.key_vault_id}/secrets/{secret}",
                    role_definition_id=secrets_user, principal_id=principal, principal_type="ServicePrincipal",
                    opts=child,
                ))
        for upstream in args.upstreams:
            self.ready.append(containerregistry.CacheRule(
                f"{name}-cache-{cache_rule_name(upstream)}", cache_rule_name=cache_rule_name(upstream), registry_name=registry_name,
                resource_group_name=group, source_repository=f"{upstream}/*", target_repository=f"{upstream}/*",
                credential_set_resource_id=credentials.id if credentials is not None and upstream == DOCKER_HUB else None,
                opts=child,
            ))
        if settings.private_endpoint:
            self.ready += self._private_endpoint(name, args, registry)
        return registry.id

    def _private_endpoint(self, name: str, args: ContainerRegistryArgs, registry: containerregistry.Registry) -> list[pulumi.Resource]:
        """The registry's `registry` sub-resource in the node subnet, resolved inside the virtual network
        through `privatelink.azurecr.io` (its login server and its regional data endpoint)."""
        child = pulumi.ResourceOptions(parent=self)
        zone = privatedns.PrivateZone(
            f"{name}-dns", private_zone_name=PRIVATE_DNS_ZONE, resource_group_name=args.resource_group_name, location="global",
            tags=args.tags, opts=child,
        )
        link = privatedns.VirtualNetworkLink(
            f"{name}-dns-link", private_zone_name=zone.name, resource_group_name=args.resource_group_name, location="global",
            virtual_network={"id": args.virtual_network_id}, registration_enabled=False, tags=args.tags, opts=child,
        )
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint", resource_group_name=args.resource_group_name, location=args.location, subnet={"id": args.subnet_id},
            private_link_service_connections=[{"name": "registry", "private_link_service_id": registry.id, "group_ids": ["registry"]}],
            tags=args.tags, opts=child,
        )
        records = network.PrivateDnsZoneGroup(
            f"{name}-endpoint-dns", private_dns_zone_group_name="registry", private_endpoint_name=endpoint.name,
            resource_group_name=args.resource_group_name,
            private_dns_zone_configs=[{"name": "registry", "private_dns_zone_id": zone.id}], opts=child,
        )
        return [zone, link, endpoint, records]
