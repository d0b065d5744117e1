"""Load a stack's configuration: built-in defaults, then its environment profile, then its stack file.

Every problem is collected and reported at once with the stack file and the key path; callers get a
`ConfigError` whose text is the whole message, and no resource is registered before loading succeeds.
"""

from __future__ import annotations

import difflib
import functools
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .chart_sources import ChartSources, resolve_charts
from .reading import UnreadableFile, read_yaml
from .model import PROJECT, Problems, SecretValue, StackConfig
from .model.site import Site
from .sites import OtherSites, StandbySource, cross_stack_problems, file_key, read_sites, secondary_sites, valid_site

STACKS_DIR = Path(__file__).resolve().parent
PROFILES_DIR = STACKS_DIR / "profiles"
_NAMESPACE = f"{PROJECT}:"
# Keys a Pulumi stack file may carry besides `config`.
_FILE_KEYS = {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}


@dataclass(frozen=True)
class LoadedStack:
    """A stack as the loader hands it down: its validated config, what the other sites' stack files
    say about it, and where its charts come from (each resolved once here, so no component reads a
    file)."""

    config: StackConfig
    other_sites: OtherSites
    charts: ChartSources


class ConfigError(Exception):
    """Invalid stack configuration: every problem, each with its key path."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        count = len(problems)
        lines = [f"{file} has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {path}: {message}" if path else f"  - {message}" for path, message in problems]
        super().__init__("\n".join(lines))


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def shipped_stacks() -> list[str]:
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in STACKS_DIR.glob("Pulumi.*.yaml"))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(STACKS_DIR.parent))
    except ValueError:
        return str(path)


# --- reading -------------------------------------------------------------------------------------


def _mark_secrets(value: Any) -> Any:
    """Replace `{secure: ...}` leaves with SecretValue so the model can tell secrets from plain text."""
    if isinstance(value, dict):
        if set(value) == {"secure"} and isinstance(value["secure"], str):
            return SecretValue(ciphertext=value["secure"])
        return {key: _mark_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_secrets(item) for item in value]
    return value


def read_stack_file(path: Path) -> dict[str, Any]:
    """The project's config sections from a stack file, namespace stripped, secrets marked; raises
    ConfigError with the file-level problems (`read_sections` hands them back instead)."""
    sections, problems = read_sections(path)
    if problems:
        raise ConfigError(display_path(path), problems)
    return sections


def read_sections(path: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The project's config sections from a stack file, and the file-level problems beside them (keys
    that are not the project's), so they are reported with the model's; raises ConfigError only when
    the file cannot be read as YAML at all."""
    shown = display_path(path)
    if not path.exists() and not path.is_symlink():
        known = ", ".join(shipped_stacks())
        raise ConfigError(shown, [("", f"no such stack file; the stacks are: {known}")])
    try:
        document = read_yaml(path) or {}
    except UnreadableFile as error:
        raise ConfigError(shown, [("", str(error))]) from None
    problems = []
    if not isinstance(document, dict):
        raise ConfigError(shown, [("", "a stack file is a mapping with a `config:` key")])
    for key in document:
        if key not in _FILE_KEYS:
            problems.append((_shown_key(key), f"unknown top-level key; a stack file holds {', '.join(sorted(_FILE_KEYS))}"))
    config = document.get("config") or {}
    if not isinstance(config, dict):
        problems.append(("config", "must be a mapping of `complete-cluster:<section>` keys"))
        config = {}
    sections: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(key, str) and key.startswith(_NAMESPACE):
            sections[key[len(_NAMESPACE) :]] = _mark_secrets(value)
        elif isinstance(key, str) and key.startswith("pulumi:"):
            continue  # engine settings such as pulumi:tags belong to Pulumi itself
        else:
            problems.append(
                (
                    _shown_key(key),
                    f"not a key of this project; write it as `{_NAMESPACE}<section>` (sections: {', '.join(StackConfig.model_fields)})",
                )
            )
    return sections, problems


def _shown_key(key: Any) -> str:
    """A mapping key as the writer typed it: YAML reads `1`, `true` or `1.30` unquoted as numbers and booleans."""
    return key if isinstance(key, str) else f"`{key}` (read by YAML as a {_yaml_type(key)}: quote it)"


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else type(value).__name__


def read_profile(environment: str) -> dict[str, Any]:
    return _read_shipped(PROFILES_DIR / f"{environment}.yaml")


def _read_shipped(path: Path) -> dict[str, Any]:
    """A profile the project ships, read like a stack file; a broken one is reported under its own name."""
    try:
        document = read_yaml(path) or {}
    except UnreadableFile as error:
        raise ConfigError(display_path(path), [("", str(error))]) from None
    if not isinstance(document, dict):
        raise ConfigError(display_path(path), [("", "a profile is a mapping of config sections")])
    return document


def merge(base: Any, overlay: Any) -> Any:
    """Deep-merge `overlay` onto `base`: mappings merge key by key, everything else is replaced.

    A mapping whose `kind` changes (e.g. infrastructure `aks` -> `rancher`) is replaced whole, so
    settings of one kind never leak into another.
    """
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return overlay
    if "kind" in base and "kind" in overlay and base["kind"] != overlay["kind"]:
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = merge(base[key], value) if key in base else value
    return merged


# --- validation and messages ---------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional, Union and Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class found by following `loc` from the root model, for key suggestions."""
    current: list[Any] = [StackConfig]
    for element in loc:
        following: list[Any] = []
        for candidate in current:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                if element in candidate.model_fields:
                    following += _unwrap(candidate.model_fields[element].annotation)
                elif candidate.model_fields.get("kind") is not None:
                    kinds = typing.get_args(candidate.model_fields["kind"].annotation)
                    if element in kinds:
                        following.append(candidate)
            else:
                origin = typing.get_origin(candidate)
                args = typing.get_args(candidate)
                if origin is list and args:
                    following += _unwrap(args[0])
                elif origin is dict and len(args) == 2:
                    following += _unwrap(args[1])
        current = [t for c in following for t in _unwrap(c)]
    models = [c for c in current if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


def _key_path(loc: tuple, data: Any) -> tuple[str, tuple]:
    """Human key path for a pydantic error location, dropping discriminator tags pydantic inserts."""
    parts: list[str] = []
    kept: list[Any] = []
    node = data
    for element in loc:
        if element == "[key]":
            continue  # pydantic's marker for an error in a mapping's key: the message says so
        if isinstance(element, int) and not isinstance(node, dict):
            parts.append(f"[{element}]")
            kept.append(element)
            node = node[element] if isinstance(node, list) and element < len(node) else None
            continue
        if isinstance(node, dict) and element not in node and node.get("kind") == element:
            kept.append(element)  # a union tag: part of the type path, not of the key path
            continue
        parts.append(f".{element}" if parts else str(element))
        kept.append(element)
        node = node.get(element) if isinstance(node, dict) else None
    return "".join(parts), tuple(kept)


def _suggest(key: str, known: list[str]) -> list[str]:
    """The known key the writer most likely meant: an abbreviation first, then a near spelling."""
    abbreviated = [name for name in known if len(key) >= 3 and name.startswith(key)]
    return abbreviated[:1] or difflib.get_close_matches(key, known, n=1)


def _join(path: str, sub: str) -> str:
    if not path:
        return sub
    return f"{path}{sub}" if sub.startswith("[") else f"{path}.{sub}"


# Errors where a value of the wrong type was given, and YAML may have read the writer's text as a number or a boolean.
_TEXT_EXPECTED = ("string_type", "literal_error", "enum", "string_pattern_mismatch", "union_tag_invalid")


def _yaml_hint(kind: str, value: Any) -> str:
    """What to do when YAML read an unquoted scalar as another type than the writer meant."""
    if kind in _TEXT_EXPECTED and isinstance(value, bool):
        return (f"; YAML reads unquoted yes/no/on/off/true/false as a boolean (here {str(value).lower()}): "
                "put the word in quotes as written (`\"off\"`)")
    if kind in _TEXT_EXPECTED and isinstance(value, float):
        return f"; YAML read it as the number {value} (unquoted, 1.30 reads as 1.3): put the value in quotes as written (`\"1.30\"`)"
    if kind in _TEXT_EXPECTED and isinstance(value, int):
        return f"; YAML read it as the number {value}: put it in quotes (`\"{value}\"`)"
    if kind in _TEXT_EXPECTED and value is None:
        return "; YAML reads an empty value, `~` or `null` as null: write the value"
    if kind == "bool_type" and isinstance(value, str):
        return "; write true or false, unquoted"
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing") and isinstance(value, str):
        return "; write the number without quotes"
    return ""


def _problems_from(error: ValidationError, data: dict, stack: str) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        path, type_loc = _key_path(item["loc"], data)
        kind = item["type"]
        message = item["msg"]
        if "[key]" in item["loc"]:
            key = item["loc"][-2] if len(item["loc"]) > 1 else item.get("input")
            problems.append((path, f"the key `{key}` is not text: YAML read it as a {_yaml_type(key)}; put it in quotes"))
            continue
        message += _yaml_hint(kind, item.get("input"))
        if kind == "extra_forbidden":
            parent = _model_at(type_loc[:-1])
            key = str(item["loc"][-1])
            hint = _suggest(key, list(parent.model_fields)) if parent else []
            message = f"unknown key (did you mean `{hint[0]}`?)" if hint else "unknown key"
            if parent and not hint:
                message += f"; known keys: {', '.join(parent.model_fields)}"
        elif kind == "missing":
            message = "is required"
        elif kind == "bad_ciphertext":
            message = (
                "`secure:` holds the ciphertext Pulumi wrote, and this is not one (empty, not text, or not Pulumi's base64); "
                f"set it again with `pulumi config set --secret --path '{PROJECT}:{path}' <value> --stack {stack}`"
            )
        elif kind == "plain_secret":
            message = (
                "must be a Pulumi secret, not plain text: run "
                f"`pulumi config set --secret --path '{PROJECT}:{path}' <value> --stack {stack}`"
            )
        elif kind == "union_tag_invalid":
            ctx = item.get("ctx", {})
            path = _join(path, "kind")
            message = f"`{ctx.get('tag')}` is not a kind here; use one of {ctx.get('expected_tags')}"
        elif kind == "union_tag_not_found":
            path = _join(path, "kind")
            message = "is required (it chooses which settings apply)"
        elif kind == "value_error":
            cause = item.get("ctx", {}).get("error")
            if isinstance(cause, Problems):
                problems += [(_join(path, sub), text) for sub, text in cause.problems]
                continue
            message = message.removeprefix("Value error, ")
        problems.append((path, message))
    return problems


def _layered(sections: dict[str, Any]) -> dict[str, Any]:
    """Built-in defaults of the infrastructure kind and the environment profile under the stack file."""
    environment = sections.get("environment")
    data = dict(sections)
    if environment in ("dev", "test", "prod"):
        data = merge(read_profile(environment), sections)
    infrastructure = data.get("infrastructure")
    kind = infrastructure.get("kind") if isinstance(infrastructure, dict) else None
    if isinstance(infrastructure, dict) and isinstance(kind, str) and kind.isidentifier():  # a kind, never a path
        kind_defaults = PROFILES_DIR / "kinds" / f"{kind}.yaml"
        if kind_defaults.is_file():
            data["infrastructure"] = merge(_read_shipped(kind_defaults), infrastructure)
    return data


def _model(data: dict[str, Any], stack: str) -> tuple[StackConfig | None, list[tuple[str, str]]]:
    """The single-file model of the layered sections, or every problem pydantic and the model's
    cross-field rules find: with a broken section, the rules between the sections that are valid on
    their own still run (`StackConfig.cross_section_problems`)."""
    context = {"environment": data.get("environment"), "stack": stack}
    try:
        return StackConfig.model_validate(data, context=context), []
    except ValidationError as error:
        problems = _problems_from(error, data, stack)
    sections: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        if name not in data:
            if field.is_required():
                continue
            sections[name] = field.get_default(call_default_factory=True)
            continue
        try:
            sections[name] = _section_adapter(name).validate_python(data[name], context=context)
        except ValidationError:
            continue
    if set(StackConfig.model_fields) <= set(sections):
        return None, problems  # the whole model's own rules failed, with every section valid: reported above
    partial = StackConfig.model_construct(**sections)
    return None, problems + [problem for problem in partial.cross_section_problems(set(sections)) if problem not in problems]


@functools.cache
def _section_adapter(name: str) -> TypeAdapter:
    """A validator of one section alone, with its field's constraints."""
    field = StackConfig.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, field])


_others_cache: dict[tuple[str, int, int, int], StackConfig | ConfigError] = {}


def _validated_other(stack: str, directory: Path) -> StackConfig:
    """Another site's single-file config, validated once per file version (its rules against the
    other sites are its own load's business); raises its ConfigError."""
    path = directory / f"Pulumi.{stack}.yaml"
    key = file_key(path)
    found = _others_cache.get(key) if key is not None else None
    if found is None:
        try:
            config, problems = _model(_layered(read_stack_file(path)), stack)
            found = config if config is not None else ConfigError(display_path(path), problems)
        except ConfigError as error:  # no such file, or not YAML
            found = error
        if key is not None:
            _others_cache[key] = found
    if isinstance(found, ConfigError):
        raise found
    return found


def _other_sites(site: Site, directory: Path) -> tuple[OtherSites, list[tuple[str, str]]]:
    """What a secondary follows (its primary's validated settings) and whom a primary watches."""
    standby = None
    problems: list[tuple[str, str]] = []
    if site.role == "secondary" and site.primary:
        try:
            standby = StandbySource.of(site.primary, _validated_other(site.primary, directory))
        except ConfigError as error:
            count = len(error.problems)
            problems.append(
                (
                    "site.primary",
                    f"`{site.primary}` has {count} problem{'s' if count != 1 else ''}, so this site cannot follow it; "
                    f"fix its stack file first (`python -m stacks validate {error.file}`)",
                )
            )
    secondaries, more = secondary_sites(site, directory)
    return OtherSites(standby=standby, secondaries=secondaries), problems + more


def _mirror_source_problems(config: StackConfig, other_sites: OtherSites) -> list[tuple[str, str]]:
    """A `mirrored` secondary's MirrorMaker 2 reads the primary's cross-site listener, which only a `mirrored` primary has."""
    kafka, standby = config.services.kafka, other_sites.standby
    if not kafka.enabled or kafka.at_failover != "mirrored" or standby is None or standby.kafka_listener is not None:
        return []
    return [(
        "services.kafka.at_failover",
        f"`mirrored` reads the primary's topics, and `{standby.stack}` has no cross-site Kafka listener: set its "
        "`services.kafka.at_failover: mirrored` and `services.kafka.site_listener` too, or use `rebuilt_empty` at both sites",
    )]


def validate(
    sections: dict[str, Any], stack: str, file: str, sites: Path = STACKS_DIR, file_problems: list[tuple[str, str]] | None = None
) -> LoadedStack:
    """Layer defaults, profile and stack file, then validate it on its own and against the other
    sites' stack files in `sites`, reporting every problem at once (with the file-level ones found
    reading it); then resolve the other sites' facts."""
    data = _layered(sections)
    config, problems = _model(data, stack)
    problems = [*(file_problems or []), *problems]
    problems += cross_stack_problems(stack, data, read_sites(sites, exclude=stack))
    charts = ChartSources()
    if config is not None:
        charts, missing = resolve_charts(config)
        problems += missing
    site = config.site if config is not None else valid_site(data.get("site"))
    other_sites = OtherSites()
    if site is not None:  # the other sites are read whenever this site's own section is valid
        other_sites, more = _other_sites(site, sites)
        problems += more
        if config is not None:
            problems += _mirror_source_problems(config, other_sites)
    if problems or config is None:
        raise ConfigError(file, problems)
    return LoadedStack(config, other_sites, charts)


def load_stack(stack: str, path: Path | None = None, sites: Path | None = None) -> LoadedStack:
    """`stack` from its stack file (`path`, default stacks/Pulumi.<stack>.yaml), checked against the
    other sites' stack files in `sites` (default stacks/, wherever the stack file itself is: a copy
    edited elsewhere is still checked against the real sites; a failover drill passes its copies).
    Offline: secrets stay ciphertext."""
    path = path or stack_file(stack)
    sections, problems = read_sections(path)
    return validate(sections, stack, display_path(path), sites or STACKS_DIR, problems)


def load(stack: str, path: Path | None = None, sites: Path | None = None) -> StackConfig:
    """The validated config of `stack` (`load_stack`, without the other sites' facts)."""
    return load_stack(stack, path, sites).config


def load_for_engine(stack: str) -> LoadedStack:
    """The loaded stack under the Pulumi engine: secret leaves carry the decrypted values."""
    import pulumi.runtime

    path = stack_file(stack)
    sections, problems = read_sections(path)

    def decrypt(value: Any, plain: Any) -> Any:
        if isinstance(value, SecretValue):
            return SecretValue(ciphertext=value.ciphertext, plaintext=None if plain is None else str(plain))
        if isinstance(value, dict) and isinstance(plain, dict):
            return {key: decrypt(item, plain.get(key)) for key, item in value.items()}
        if isinstance(value, list) and isinstance(plain, list):
            return [decrypt(item, plain[i] if i < len(plain) else None) for i, item in enumerate(value)]
        return value

    for section, value in sections.items():
        raw = pulumi.runtime.get_config(f"{_NAMESPACE}{section}")
        if raw is None:
            continue
        try:
            plain = json.loads(raw) if isinstance(value, (dict, list)) else raw
        except json.JSONDecodeError:
            plain = raw
        sections[section] = decrypt(value, plain)
    return validate(sections, stack, display_path(path), STACKS_DIR, problems)
