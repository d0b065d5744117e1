"""A Mermaid diagram of a complete cluster, for the review: `python -m stacks review STACK --markdown`.

The diagram is a `flowchart` with one subgraph per layer (infrastructure, storage, services,
access), the node pools or machine pools of the cluster, the shared services, one subgraph per team
with its workloads, and what uses what: workloads to the services they declare (`uses`), teams to
their service instances, the ingress controller to the APIs it routes, services to the object
storage they keep data in. Layers and resource counts come from what the stack registers; services,
teams and their uses from its config, so a service that is configured but not registered (yet) is
drawn dashed.

GitHub and GitLab render a fenced ```mermaid block in a merge-request comment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from components.services.parts import PARTS

from ..model import Aks, Existing, Rancher, Render, StackConfig
from ..shared_services import SHARED_SERVICES

#: Service config keys in drawing order, with their label and whether they hold data (drawn as a
#: cylinder): the shared services' parts (components/services/parts.py), then observability.
SERVICES = tuple((part.service, part.label, part.holds_data) for part in PARTS) + (
    ("monitoring", "Prometheus + Grafana", False),
    ("logging", "central logs", False),
    ("tracing", "tracing", False),
)
#: Services that keep their data (or a copy of it) in object storage.
_STORES_IN_OBJECT_STORAGE = {
    **{part.service: part.object_storage for part in PARTS if part.object_storage},
    "logging": "log archive",
    "tracing": "traces",
}
_WORKLOAD_LABELS = {"api": "API", "worker": "worker", "scheduled_job": "job"}


def node_id(*parts: str) -> str:
    """A Mermaid node id: letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def label(text: str) -> str:
    """A quoted Mermaid label; `"` would end it, so it is written as an entity."""
    return '"' + str(text).replace('"', "#quot;") + '"'


#: The observability sections' components, which register under `platform:observability:` with names of their own.
_OBSERVABILITY_COMPONENTS = {
    "monitoring": "platform:observability:Metrics",
    "logging": "platform:observability:Logs",
    "tracing": "platform:observability:Traces",
}


def _registered_services(resources: Sequence) -> set[str]:
    """Config keys of services that have a component in the stack (`platform:services:<Kind>`, or the observability
    component of monitoring, logging and tracing)."""
    types = {resource.type for resource in resources}
    kinds = {kind.rsplit(":", 1)[-1].lower() for kind in types if kind.startswith("platform:services:")}
    shared = {key for key, _, _ in SERVICES if any(kind.startswith(key.replace("_", "")) for kind in kinds)}
    return shared | {key for key, component in _OBSERVABILITY_COMPONENTS.items() if component in types}


def _infrastructure(config: StackConfig, lines: list[str], title: str) -> None:
    infrastructure = config.infrastructure
    lines.append(f"  subgraph infrastructure[{label(title)}]")
    if isinstance(infrastructure, Aks):
        lines.append(
            f"    cluster[{label(f'AKS {infrastructure.kubernetes_version}, {infrastructure.region}, {infrastructure.sku_tier} tier')}]"
        )
        for name, pool in infrastructure.node_pools.items():
            extra = " spot" if pool.spot else ""
            lines.append(
                f"    {node_id('pool', name)}[{label(f'pool {name}: {pool.min_count}..{pool.max_count} × {pool.vm_size}{extra}')}]"
            )
            lines.append(f"    cluster --- {node_id('pool', name)}")
    elif isinstance(infrastructure, Rancher):
        lines.append(
            f"    cluster[{label(f'RKE2 {infrastructure.kubernetes_version}, {infrastructure.data_centre} ({config.site.role})')}]"
        )
        for name, machines in infrastructure.machine_pools.items():
            roles = ", ".join(machines.roles)
            text = f"pool {name}: {machines.quantity} × {machines.cpu} vCPU / {machines.memory_gi} GiB ({roles})"
            lines.append(f"    {node_id('pool', name)}[{label(text)}]")
            lines.append(f"    cluster --- {node_id('pool', name)}")
    elif isinstance(infrastructure, Render):
        lines.append(f"    cluster[{label(f'no cluster: manifests rendered to {infrastructure.directory}/')}]")
    elif isinstance(infrastructure, Existing):
        lines.append(f"    cluster[{label('an existing cluster (kubeconfig)')}]")
    lines.append("  end")


def mermaid(config: StackConfig, resources: Sequence = (), layer_sizes: dict[str, int] | None = None) -> str:
    """The diagram's Mermaid source (without the code fence)."""
    layer_sizes = layer_sizes or {}

    def title(layer: str, text: str) -> str:
        count = layer_sizes.get(layer)
        return f"{text} ({count} resources)" if count else text

    registered = _registered_services(resources)
    lines = ["flowchart LR"]
    _infrastructure(config, lines, title("infrastructure", f"infrastructure: {config.infrastructure.kind}"))

    storage = config.storage
    if storage is not None:
        what = f"Azure Blob, {storage.replication}" if storage.kind == "azure_blob" else f"S3, {storage.endpoint.host}"
        lines += [f"  subgraph storage[{label(title('storage', 'object storage'))}]", f"    store[({label(what)})]", "  end"]

    enabled = [(key, text, stateful) for key, text, stateful in SERVICES if getattr(config.services, key).enabled]
    if enabled:
        lines.append(f"  subgraph services[{label(title('services', 'shared services'))}]")
        for key, text, stateful in enabled:
            shown = text if key in registered else f"{text} (configured)"
            lines.append(f"    {node_id('svc', key)}" + (f"[({label(shown)})]" if stateful else f"[{label(shown)}]"))
        lines.append("  end")

    edges: list[str] = []
    if config.teams:
        lines.append(f"  subgraph access[{label(title('access', 'teams'))}]")
        for team in config.teams:
            team_id = node_id("team", team.name)
            lines.append(f"    subgraph {team_id}[{label(f'team {team.name}')}]")
            lines.append(f"      {node_id('ns', team.name)}[{label(f'namespace {team.name}')}]")
            for workload in team.workloads:
                workload_id = node_id("wl", team.name, workload.name)
                kind = _WORKLOAD_LABELS.get(workload.kind, workload.kind)
                lines.append(f"      {workload_id}([{label(f'{kind} {workload.name}')}])")
                for uses in workload.uses:
                    if getattr(config.services, uses.service).enabled:
                        edges.append(f"  {workload_id} --> {node_id('svc', uses.service)}")
                host = getattr(workload, "host", None)
                if host and config.services.ingress.enabled:
                    edges.append(f"  {node_id('svc', 'ingress')} -- {label(host)} --> {workload_id}")
            lines.append("    end")
            for service in SHARED_SERVICES:
                attribute = SHARED_SERVICES[service].team_field
                instances = getattr(team, attribute, None) or []
                if instances and getattr(config.services, service).enabled:
                    names = ", ".join(str(getattr(instance, "name", instance)) for instance in instances)
                    edges.append(f"  {team_id} -. {label(f'{attribute}: {names}')} .-> {node_id('svc', service)}")
        lines.append("  end")
        lines.append("  access -- runs on --> infrastructure")
    if enabled:
        lines.append("  services -- runs on --> infrastructure")
        if storage is not None:
            for key, _, _ in enabled:
                if key in _STORES_IN_OBJECT_STORAGE:
                    edges.append(f"  {node_id('svc', key)} -. {label(_STORES_IN_OBJECT_STORAGE[key])} .-> store")
    lines += edges
    for key, _, _ in enabled:
        if key not in registered:
            lines.append(f"  style {node_id('svc', key)} stroke-dasharray: 5 5")
    return "\n".join(lines)


def markdown(config: StackConfig, resources: Sequence, layer_sizes: dict[str, int]) -> str:
    """The diagram section of the review's Markdown report (`layer_sizes`: resources per layer)."""
    source = mermaid(config, resources, layer_sizes)
    return "\n".join(
        [
            "### Diagram",
            "",
            "Layers, shared services, teams and what uses what; dashed services are configured but not registered yet.",
            "",
            "```mermaid",
            source,
            "```",
        ]
    )
