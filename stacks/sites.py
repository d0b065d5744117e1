"""The other sites of a stack's environment: their stack files, read once, the rules between the
sites, and the facts about the other sites that the program needs.

The loader reads the sites directory (stacks/, or a drill's copy) once per directory and file stat,
runs the cross-stack rules here on the raw sections of every stack file (so they report beside the
single-file model's field errors: every problem at once, in one report), and resolves what a stack
needs from the others into `OtherSites`, a typed value the program hands to the components. No
validator and no component reads another stack's file.

Cross-stack rules read only keys no profile sets (environment, site, infrastructure kind and
network); a file that cannot be read is left out here (it reports itself when it is loaded).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .model import PROJECT, S3, StackConfig
from .model.base import Strict
from .model.infrastructure import RancherNetwork
from .model.site import Site
from .reading import UnreadableFile, read_yaml

SITE_ADDRESS_RANGES = ("node_cidr", "cluster_cidr", "service_cidr")
_PREFIX = f"{PROJECT}:"

Problem = tuple[str, str]


class StandbySource(Strict):
    """What a secondary site follows, read from its primary's stack file: where the primary ships
    its data, so the secondary's services can stand by for it (database WAL archive, registry
    replication source, backups to restore read-only)."""

    stack: str
    site: str
    storage_endpoint: str | None
    """The primary's S3-compatible endpoint (None when the primary uses Azure Blob storage)."""
    storage_region: str | None
    storage_ca_certificate: str | None = None
    """The CA of the primary's endpoint (`storage.ca_certificate`), when its stack file names one."""
    buckets: dict[str, str]
    """The primary's bucket per purpose (`postgres` is its WAL archive, `backups` its Velero backups)."""
    registry_hostname: str | None
    """The primary's Harbor, the source the secondary's Harbor replicates from."""
    central_hostname: str | None = None
    """The primary's telemetry endpoint (`services.monitoring.central.hostname`), where the
    secondary remote-writes its metrics and pushes its logs."""
    kafka_listener: str | None = None
    """The primary's cross-site Kafka listener (`services.kafka.site_listener.hostname`), which the
    secondary's MirrorMaker 2 reads from; None unless the primary's Kafka is `mirrored`."""

    @classmethod
    def of(cls, stack: str, primary: StackConfig) -> StandbySource:
        """The standby source a secondary reads from its primary `stack`'s validated config."""
        storage = primary.storage
        s3 = storage if isinstance(storage, S3) else None
        registry, kafka = primary.services.registry, primary.services.kafka
        mirrored = kafka.enabled and kafka.at_failover == "mirrored" and kafka.site_listener is not None
        return cls(
            stack=stack,
            site=primary.site.name,
            storage_endpoint=str(s3.endpoint).rstrip("/") if s3 is not None else None,
            storage_region=s3.region if s3 is not None else None,
            storage_ca_certificate=s3.ca_certificate if s3 is not None else None,
            buckets=storage.buckets.model_dump() if storage is not None else {},
            registry_hostname=registry.hostname if registry.enabled else None,
            central_hostname=primary.services.monitoring.central.hostname or None,
            kafka_listener=kafka.site_listener.hostname if mirrored and kafka.site_listener is not None else None,
        )


class OtherSites(Strict):
    """What the other sites' stack files say about one stack, resolved once by the loader."""

    standby: StandbySource | None = None
    """On a secondary: the primary it stands by for. None on a primary."""
    secondaries: dict[str, str] = {}
    """On a primary: each secondary's stack name -> its site name (the `site` label its metrics carry)."""


# --- reading the sites directory ------------------------------------------------------------------

_FileKey = tuple[str, int, int, int]
_sections_cache: dict[_FileKey, dict[str, Any] | None] = {}


def file_key(path: Path) -> _FileKey | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _raw_sections(path: Path) -> dict[str, Any] | None:
    """The config sections of a stack file as written (namespace stripped), or None when unreadable."""
    key = file_key(path)
    if key is None:
        return None
    if key not in _sections_cache:
        try:
            document = read_yaml(path) or {}
        except UnreadableFile:
            document = None  # it reports itself when it is loaded, under its own name
        config = document.get("config") if isinstance(document, dict) else None
        _sections_cache[key] = (
            {name[len(_PREFIX):]: value for name, value in config.items() if isinstance(name, str) and name.startswith(_PREFIX)}
            if isinstance(config, dict) else None
        )
    return _sections_cache[key]


def read_sites(directory: Path, exclude: str | None = None) -> dict[str, dict[str, Any]]:
    """The config sections of every readable stack file in `directory`, by stack name, but `exclude`."""
    sites = {}
    for path in sorted(directory.glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        sections = None if stack == exclude else _raw_sections(path)
        if sections is not None:
            sites[stack] = sections
    return sites


# --- the rules between the sites -------------------------------------------------------------------


def _site_of(sections: dict[str, Any]) -> dict[str, Any]:
    site = sections.get("site")
    return site if isinstance(site, dict) else {}


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else []


def site_problems(me: str, environment: str, site: Site, others: dict[str, dict[str, Any]]) -> list[Problem]:
    """The pair rules between this stack's site and the other sites' files, under `site.`."""
    problems = []
    if site.role == "secondary":
        primary = site.primary
        other = others.get(primary) if primary else None
        their_site = _site_of(other or {})
        if primary == me:
            problems.append(("primary", "a site cannot be its own primary; name the primary site's stack"))
        elif other is None:
            problems.append(("primary", f"there is no stack `{primary}`; name the primary site's stack (stacks/Pulumi.<stack>.yaml)"))
        elif other.get("environment") != environment:
            problems.append(
                (
                    "primary",
                    f"`{primary}` is a {other.get('environment')} stack; a {environment} secondary stands by for a {environment} primary",
                )
            )
        elif their_site.get("role", "primary") != "primary":
            problems.append(("primary", f"`{primary}` is a secondary site itself; name the primary it stands by for"))
        elif me not in _listed(their_site.get("secondaries")):
            problems.append(
                (
                    "primary",
                    f"`{primary}` does not list `{me}` in its site.secondaries; add it there, so both stack files describe the same pair",
                )
            )
        return [(f"site.{key}", message) for key, message in problems]
    for index, secondary in enumerate(site.secondaries):
        other = others.get(secondary)
        their_site = _site_of(other or {})
        key = f"secondaries[{index}]"
        if secondary == me:
            problems.append((key, "a site cannot be its own secondary"))
        elif other is None:
            problems.append((key, f"there is no stack `{secondary}`; list the stacks of this site's secondaries"))
        elif other.get("environment") != environment:
            problems.append(
                (
                    key,
                    f"`{secondary}` is a {other.get('environment')} stack; the secondaries of a {environment} primary are {environment} "
                    "stacks",
                )
            )
        elif their_site.get("role", "primary") != "secondary":
            problems.append(
                (
                    key,
                    f"`{secondary}` is a primary, not a secondary: an environment has one primary; make `{secondary}` a secondary naming "
                    f"`{me}`, or remove it here",
                )
            )
        elif their_site.get("primary") != me:
            problems.append((key, f"`{secondary}` stands by for `{their_site.get('primary')}`, not for this site"))
    for stack, other in others.items():
        their_site = _site_of(other)
        if other.get("environment") != environment:
            continue
        if their_site.get("role", "primary") == "primary" and me in _listed(their_site.get("secondaries")):
            problems.append(
                (
                    "role",
                    f"`{stack}` is a primary too and lists this stack among its secondaries; an environment has one primary: "
                    f"to fail over, make `{stack}` a secondary naming `{me}` (docs/runbooks/disaster-recovery.md)",
                )
            )
        if their_site.get("role") == "secondary" and their_site.get("primary") == me and stack not in site.secondaries:
            problems.append(("secondaries", f"`{stack}` names this stack as its primary; list it in `secondaries`"))
    return [(f"site.{key}", message) for key, message in problems]


def range_problems(environment: str, network: RancherNetwork, others: dict[str, dict[str, Any]]) -> list[Problem]:
    """This Rancher site's ranges against those of the environment's other Rancher sites, under
    `infrastructure.network.`: replication connects the sites' clusters directly."""
    mine = {key: ipaddress.ip_network(getattr(network, key)) for key in SITE_ADDRESS_RANGES}
    problems = []
    for other, sections in others.items():
        infrastructure = sections.get("infrastructure")
        if sections.get("environment") != environment or not isinstance(infrastructure, dict) or infrastructure.get("kind") != "rancher":
            continue
        their_network = infrastructure.get("network")
        theirs: dict[str, Any] = their_network if isinstance(their_network, dict) else {}
        for key, net in mine.items():
            for their_key in SITE_ADDRESS_RANGES:
                try:
                    their_net = ipaddress.ip_network(str(theirs.get(their_key)))
                except ValueError:
                    continue  # missing or invalid there: that stack file reports it itself
                if net.version == their_net.version and net.overlaps(their_net):
                    problems.append(
                        (
                            f"infrastructure.network.{key}",
                            f"{net} overlaps {their_key} of `{other}` ({their_net}); the sites of one environment need disjoint ranges",
                        )
                    )
    return problems


def _valid(model: type[Strict], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None  # the stack's own validation reports it


def cross_stack_problems(me: str, data: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[Problem]:
    """Every rule between this stack (its merged raw sections `data`) and the other sites, for the
    parts of `data` that are valid on their own."""
    environment = data.get("environment")
    if environment not in ("dev", "test", "prod"):
        return []
    problems = []
    site = _valid(Site, data.get("site"))
    if site is not None:
        problems += site_problems(me, environment, site, others)
    infrastructure = data.get("infrastructure")
    if isinstance(infrastructure, dict) and infrastructure.get("kind") == "rancher":
        network = _valid(RancherNetwork, infrastructure.get("network"))
        if network is not None:
            problems += range_problems(environment, network, others)
    return problems


def valid_site(value: Any) -> Site | None:
    """A `site` section, when it is valid on its own."""
    return _valid(Site, value)


# --- the facts the program needs -------------------------------------------------------------------


def secondary_sites(site: Site, directory: Path) -> tuple[dict[str, str], list[Problem]]:
    """Each secondary's stack name -> its site name (the `site` label its telemetry carries), read
    from the secondaries' files; a secondary without a valid `site` section is a problem here."""
    found: dict[str, str] = {}
    problems = []
    for index, stack in enumerate(site.secondaries):
        theirs = _valid(Site, _site_of(_raw_sections(directory / f"Pulumi.{stack}.yaml") or {}))
        if theirs is None:
            problems.append((f"site.secondaries[{index}]", f"`{stack}` has no valid `site` section; fix its stack file first "
                                                           f"(`python -m stacks validate {directory / f'Pulumi.{stack}.yaml'}`)"))
        else:
            found[stack] = theirs.name
    return found, problems
