"""Policy pack configuration with the semantics of `pulumi preview --policy-pack-config`.

The file is a JSON object whose keys are policy names (or `all`); a value is an enforcement level
(`advisory`, `mandatory`, `remediate`, `disabled`) or an object with an optional
`enforcementLevel` and config properties. The engine starts from each policy's default level and
the `default` of each config-schema property, applies `all` (enforcement level only), then each
policy's entry, and validates the properties against the policy's config schema. This module
does the same for the scanner and for tests, without the engine.
"""

from __future__ import annotations

import json
import os
import stat
import re
from typing import Any, NamedTuple
from collections.abc import Iterable, Mapping

from .lib.spec import ENFORCEMENT_LEVELS, PolicySpec


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and what is wrong."""


class Effective(NamedTuple):
    enforcement: str
    config: dict


MAX_CONFIG_BYTES = 1024 * 1024  # generated configs are a few KiB


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def load(path: str) -> dict:
    # A FIFO or a directory would block or fail in read(): refuse what is not a regular file first, and
    # open without blocking in case one appears in between; bound the size, decode strictly.
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{path}: cannot read policy pack config: not a regular file")
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read policy pack config: {error.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: policy pack config is larger than 1 MiB")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: policy pack config is not UTF-8 text") from None
    if not content.strip():
        return {}
    try:
        data = json.loads(content, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise ConfigError(f"{path}: invalid JSON: {error if isinstance(error, ValueError) else 'nested too deep'}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: policy pack config must be a JSON object of policy names")
    return parse(data, path)


def parse(data: Mapping[str, Any], source: str = "config") -> dict:
    """{policy: (enforcement level or None, properties)} like the engine's parsePolicyPackConfig."""
    result: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in data.items():
        if isinstance(value, str):
            if value not in ENFORCEMENT_LEVELS:
                raise ConfigError(f'{source}: parsing enforcement level for "{name}": "{value}" is not a valid enforcement level')
            result[name] = (value, {})
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            if level is not None and level not in ENFORCEMENT_LEVELS:
                raise ConfigError(f'{source}: parsing enforcement level for "{name}": {json.dumps(level)} is not a valid enforcement level')
            result[name] = (level, props)
        else:
            raise ConfigError(f'{source}: parsing "{name}": {json.dumps(value)} is not a valid value; must be a string or object')
    return result


def reconcile(specs: Iterable[PolicySpec], config: Mapping[str, tuple] | None = None, source: str = "config") -> dict[str, Effective]:
    """Each policy's enforcement level and config properties after defaults and the given config."""
    specs = list(specs)
    result = {spec.name: Effective(spec.enforcement_level, spec.defaults()) for spec in specs}
    config = config or {}
    everyone = config.get("all")
    if everyone and everyone[0]:
        result = {name: Effective(everyone[0], value.config) for name, value in result.items()}
    for name, (level, props) in config.items():
        if name == "all" or name not in result:
            continue
        current = result[name]
        result[name] = Effective(level or current.enforcement, {**current.config, **props})
    errors = []
    for spec in specs:
        for problem in validate(spec.config_schema, result[spec.name].config):
            errors.append(f"{spec.name}: {problem}")
    if errors:
        raise ConfigError(f"{source}: invalid policy config:\n  " + "\n  ".join(errors))
    return result


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer())),
    "number": lambda v: not isinstance(v, bool) and isinstance(v, (int, float)),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def validate(properties: Mapping[str, dict], config: Mapping[str, Any]) -> list[str]:
    """Errors of `config` against a policy's config-schema properties (the JSON Schema subset the
    pack uses: type, enum, pattern, minimum, maximum, items, additionalProperties)."""
    errors = []
    for key, schema in properties.items():
        if key in config:
            errors += _validate(schema, config[key], key)
    return errors


def _validate(schema: dict, value: Any, path: str) -> list[str]:
    kind = schema.get("type")
    if kind and not _TYPES[kind](value):
        return [f"{path}: Invalid type. Expected: {kind}, given: {_json_type(value)}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {path} must be one of the following: {', '.join(json.dumps(v) for v in schema['enum'])}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f'{path}: Does not match pattern \'{schema["pattern"]}\'')
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: Must be greater than or equal to {schema['minimum']}")
    if "maximum" in schema and isinstance(value, (int, float)) and value > schema["maximum"]:
        errors.append(f"{path}: Must be less than or equal to {schema['maximum']}")
    if "items" in schema and isinstance(value, list):
        for index, item in enumerate(value):
            errors += _validate(schema["items"], item, f"{path}.{index}")
    if isinstance(schema.get("additionalProperties"), dict) and isinstance(value, dict):
        for key, item in value.items():
            errors += _validate(schema["additionalProperties"], item, f"{path}.{key}")
    return errors


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number" if isinstance(value, float) and not value.is_integer() else "integer"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
