"""Thin pulumi-policy wrappers around the pure rules (imported only where pulumi-policy runs).

pulumi-policy hands rules a read-only proxy of the properties that raises `UnknownValueError`
on any value unknown during preview; the engine would then report "can't run policy" as an
advisory. The wrappers instead unwrap the proxy to plain dicts and lists that keep the unknown
sentinels, so each rule decides per value (undecided: no violation) and still checks everything
that is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from .lib.spec import PolicySpec, Resource
from .lib.values import Undecided

_LEVELS = {level.value: level for level in EnforcementLevel}


def plain(value: Any) -> Any:
    """A deep copy of `value` as dicts and lists, unknowns left as their sentinel strings."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        target = _target(value)
        return {key: plain(item) for key, item in target.items()}
    if isinstance(value, Sequence):
        target = _target(value)
        return [plain(item) for item in target]
    return value


def _target(proxy: Any) -> Any:
    """The raw container behind a pulumi-policy proxy (which hands it out under `__target`)."""
    if isinstance(proxy, (dict, list)):
        return proxy
    try:
        return proxy["__target"]
    except (KeyError, IndexError, TypeError):
        pass
    if isinstance(proxy, Mapping):
        result = {}
        for key in proxy:
            try:
                result[key] = proxy[key]
            except UnknownValueError:
                result[key] = UNKNOWN_STRING_VALUE
        return result
    return list(proxy)


def _schema(spec: PolicySpec) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={k: dict(v) for k, v in spec.config_schema.items()}) if spec.config_schema else None


def resource_policy(spec: PolicySpec) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if not spec.applies_to(args.resource_type):
            return
        config = spec.with_defaults(args.get_config())
        try:
            messages = spec.check(args.resource_type, plain(args.props), config)
        except Undecided:
            return
        for message in messages:
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=_LEVELS[spec.enforcement_level],
        config_schema=_schema(spec),
    )


def stack_policy(spec: PolicySpec) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation) -> None:
        resources = [
            Resource(
                r.resource_type,
                plain(r.props),
                r.urn,
                r.name,
                bool(r.opts.protect) if r.opts is not None else None,
            )
            for r in args.resources
        ]
        config = spec.with_defaults(args.get_config())
        try:
            problems = spec.check(resources, config)
        except Undecided:
            return
        for message, resource in problems:
            report_violation(message, resource.urn if resource is not None else None)

    return StackValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=validate,
        enforcement_level=_LEVELS[spec.enforcement_level],
        config_schema=_schema(spec),
    )


def to_pulumi(spec: PolicySpec):
    return resource_policy(spec) if spec.kind == "resource" else stack_policy(spec)
