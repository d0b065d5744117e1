"""What a policy is, independent of the pulumi-policy runtime.

A `PolicySpec` names a policy, says which resources it looks at and holds its pure check
function. `policies.pack` turns specs into pulumi-policy objects; `policies.evaluate` runs them
directly (the scanner, the tests).

Resource checks have the signature `check(type_token, props, config) -> list[str]` and return
the violation messages. Stack checks have the signature
`check(resources: list[Resource], config) -> list[tuple[str, Resource | None]]`, each message
with the resource it concerns (None for the stack as a whole).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple
from collections.abc import Callable, Mapping, Sequence

MANDATORY = "mandatory"
ADVISORY = "advisory"
DISABLED = "disabled"
REMEDIATE = "remediate"
ENFORCEMENT_LEVELS = (ADVISORY, MANDATORY, REMEDIATE, DISABLED)


class Resource(NamedTuple):
    """One resource of a stack, the way stack checks see it."""

    type: str
    props: dict
    urn: str
    name: str
    #: `opts.protect`; None when not known (manifests scanned outside Pulumi have no options).
    protect: bool | None = None


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    #: "resource" or "stack".
    kind: str
    check: Callable[..., Any]
    #: For resource policies: does the policy look at resources of this type token?
    applies_to: Callable[[str], bool] = lambda _type: True
    enforcement_level: str = MANDATORY
    #: JSON Schema of each config property, as `PolicyConfigSchema.properties` wants it.
    config_schema: Mapping[str, dict] = field(default_factory=dict)
    #: True when the check needs Pulumi resource options (the scanner cannot supply them).
    needs_options: bool = False

    def defaults(self) -> dict:
        return {key: schema["default"] for key, schema in self.config_schema.items() if "default" in schema}

    def with_defaults(self, config: Mapping[str, Any] | None) -> dict:
        merged = self.defaults()
        if config:
            merged.update(config)
        return merged


# Config schema fragments shared by several policies.

def string_list(description: str, default: Sequence[str] = ()) -> dict:
    return {"type": "array", "items": {"type": "string"}, "default": list(default), "description": description}


def boolean(description: str, default: bool) -> dict:
    return {"type": "boolean", "default": default, "description": description}


ENVIRONMENT = {
    "type": "string",
    "enum": ["dev", "test", "prod"],
    "default": "prod",
    "description": "Environment the stack belongs to; the strictest (prod) when not configured.",
}

EXEMPT_NAMESPACES = string_list(
    "Namespaces this policy does not look at (system namespaces run platform components).",
)
