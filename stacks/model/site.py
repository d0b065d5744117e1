"""Which environment and site a stack is, and who owns it."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator, Literal

import yaml
from pydantic import ValidationInfo, model_validator

from .base import PROJECT, DnsLabel, Strict, check

Environment = Literal["dev", "test", "prod"]
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- the other sites' stack files ----------------------------------------------------------------

_SITES_DIRECTORY: ContextVar[Path] = ContextVar("sites_directory", default=Path(__file__).resolve().parents[1])


@contextmanager
def sites_directory(path: str | Path) -> Iterator[Path]:
    """Read the other sites' stack files from `path` instead of stacks/ (drills on copies, tests).

    Cross-stack rules look at the project's stack files, wherever the stack being checked was read
    from: a stack file edited in a temporary directory is still checked against the real sites.
    """
    token = _SITES_DIRECTORY.set(Path(path))
    try:
        yield Path(path)
    finally:
        _SITES_DIRECTORY.reset(token)


def sibling_stacks(exclude: str | None = None) -> dict[str, dict[str, Any]]:
    """The config sections (namespace stripped) of every stack file in the sites directory, as
    written, except `exclude`. Cross-stack rules read only keys no profile sets (environment, site,
    infrastructure kind and network); a file that cannot be read is left out (it reports itself)."""
    prefix = f"{PROJECT}:"
    stacks: dict[str, dict[str, Any]] = {}
    for path in sorted(_SITES_DIRECTORY.get().glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        if stack == exclude:
            continue
        try:
            # libyaml's parser where PyYAML has it: every stack's validation reads every site file.
            document = yaml.load(path.read_text(), Loader=_FAST_LOADER) or {}
        except (OSError, yaml.YAMLError):
            continue
        config = document.get("config") if isinstance(document, dict) else None
        if isinstance(config, dict):
            stacks[stack] = {key[len(prefix) :]: value for key, value in config.items() if isinstance(key, str) and key.startswith(prefix)}
    return stacks


def _site_of(sections: dict[str, Any]) -> dict[str, Any]:
    site = sections.get("site")
    return site if isinstance(site, dict) else {}


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else []


# --- the site -------------------------------------------------------------------------------------


class Site(Strict):
    """One site of an environment. An environment runs one primary site and may add secondaries
    that stand by for it (e.g. a second data centre).

    The pair is written in both stack files: the secondary names its `primary`, the primary lists
    its `secondaries`. So the files always say which site is the primary, and a failover that
    changed only one of them (two primaries, or a secondary of a secondary) is a config error.
    """

    name: DnsLabel
    role: Literal["primary", "secondary"] = "primary"
    primary: str | None = None
    """The stack name of the primary site; required for a secondary, not allowed for a primary."""
    secondaries: list[str] = []
    """The stack names of the secondaries that stand by for this primary."""

    @model_validator(mode="after")
    def _pairs(self, info: ValidationInfo):
        problems = []
        if self.role == "secondary" and not self.primary:
            problems.append(("primary", "a secondary site must name its primary site's stack (e.g. `onprem-dc1`)"))
        if self.role == "primary" and self.primary:
            problems.append(("primary", "only a secondary site names a primary; remove it or set `role: secondary`"))
        if self.role == "secondary" and self.secondaries:
            problems.append(("secondaries", "only a primary site lists secondaries; remove them or set `role: primary`"))
        for index, stack in enumerate(self.secondaries):
            if stack in self.secondaries[:index]:
                problems.append((f"secondaries[{index}]", f"`{stack}` is listed twice"))
        if not problems:
            problems = self._with_the_other_sites(info)
        check(problems)
        return self

    def _with_the_other_sites(self, info: ValidationInfo) -> list[tuple[str, str]]:
        """The rules between this stack file and the other sites' files."""
        context = info.context or {}
        environment, me = context.get("environment"), context.get("stack")
        if not environment or not me:
            return []
        others = sibling_stacks(exclude=me)
        problems = []
        if self.role == "secondary":
            primary = self.primary
            other = others.get(primary)
            site = _site_of(other or {})
            if primary == me:
                problems.append(("primary", "a site cannot be its own primary; name the primary site's stack"))
            elif other is None:
                problems.append(("primary", f"there is no stack `{primary}`; name the primary site's stack (stacks/Pulumi.<stack>.yaml)"))
            elif other.get("environment") != environment:
                problems.append(("primary", f"`{primary}` is a {other.get('environment')} stack; a {environment} secondary stands by for a {environment} primary"))
            elif site.get("role", "primary") != "primary":
                problems.append(("primary", f"`{primary}` is a secondary site itself; name the primary it stands by for"))
            elif me not in _listed(site.get("secondaries")):
                problems.append(("primary", f"`{primary}` does not list `{me}` in its site.secondaries; add it there, so both stack files describe the same pair"))
            return problems
        for index, secondary in enumerate(self.secondaries):
            other = others.get(secondary)
            site = _site_of(other or {})
            key = f"secondaries[{index}]"
            if secondary == me:
                problems.append((key, "a site cannot be its own secondary"))
            elif other is None:
                problems.append((key, f"there is no stack `{secondary}`; list the stacks of this site's secondaries"))
            elif other.get("environment") != environment:
                problems.append((key, f"`{secondary}` is a {other.get('environment')} stack; the secondaries of a {environment} primary are {environment} stacks"))
            elif site.get("role", "primary") != "secondary":
                problems.append((key, f"`{secondary}` is a primary, not a secondary: an environment has one primary; make `{secondary}` a secondary naming `{me}`, or remove it here"))
            elif site.get("primary") != me:
                problems.append((key, f"`{secondary}` stands by for `{site.get('primary')}`, not for this site"))
        for stack, other in others.items():
            site = _site_of(other)
            if other.get("environment") != environment:
                continue
            if site.get("role", "primary") == "primary" and me in _listed(site.get("secondaries")):
                problems.append(("role", f"`{stack}` is a primary too and lists this stack among its secondaries; an environment has one primary: "
                                         f"to fail over, make `{stack}` a secondary naming `{me}` (docs/runbooks/disaster-recovery.md)"))
            if site.get("role") == "secondary" and site.get("primary") == me and stack not in self.secondaries:
                problems.append(("secondaries", f"`{stack}` names this stack as its primary; list it in `secondaries`"))
        return problems


class StandbySource(Strict):
    """What a secondary site follows, read from its primary's stack file: where the primary ships
    its data, so the secondary's services can stand by for it (database WAL archive, registry
    replication source, backups to restore read-only)."""

    stack: str
    site: str
    storage_endpoint: str | None
    """The primary's S3-compatible endpoint (None when the primary uses Azure Blob storage)."""
    storage_region: str | None
    buckets: dict[str, str]
    """The primary's bucket per purpose (`postgres` is its WAL archive, `backups` its Velero backups)."""
    registry_hostname: str | None
    """The primary's Harbor, the source the secondary's Harbor replicates from."""
    central_hostname: str | None = None
    """The primary's telemetry endpoint (`services.monitoring.central.hostname`), where the
    secondary remote-writes its metrics and pushes its logs."""


def standby_of(site: Site) -> StandbySource | None:
    """The primary a secondary site stands by for, from the primary's stack file; None for a primary."""
    if site.role != "secondary" or not site.primary:
        return None
    from ..loader import load  # the loader imports this model; load the primary only when asked

    primary = load(site.primary, _SITES_DIRECTORY.get() / f"Pulumi.{site.primary}.yaml")
    storage = primary.storage
    s3 = getattr(storage, "kind", None) == "s3"
    registry = primary.services.registry
    return StandbySource(
        stack=site.primary,
        site=primary.site.name,
        storage_endpoint=str(storage.endpoint).rstrip("/") if s3 else None,
        storage_region=storage.region if s3 else None,
        buckets=storage.buckets.model_dump() if storage is not None else {},
        registry_hostname=registry.hostname if registry.enabled else None,
        central_hostname=primary.services.monitoring.central.hostname or None,
    )


class Ownership(Strict):
    """Who owns and pays for the stack; carried as tags and labels on everything it creates."""

    owner: str = "platform-team"
    cost_centre: str = "platform"
