"""Building blocks shared by every section of the stack configuration model."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

PROJECT = "complete-cluster"


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors and values are immutable once loaded."""

    # Field docstrings become their descriptions in the JSON Schema editors read (stack-config.schema.json).
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, use_attribute_docstrings=True)


class Problems(ValueError):
    """Raised by cross-field validators to report several problems, each under its own sub-key.

    The loader expands each entry into its own line, appending `subpath` to the key path of the
    model that raised it, so a rule on a node pool can point at `...node_pools.ai.min_count`.
    """

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def check(problems: list[tuple[str, str]]) -> None:
    """Raise the collected cross-field problems, if any, all at once."""
    if problems:
        raise Problems(problems)


# --- secrets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretValue:
    """A configuration value that was given as a Pulumi secret (`secure:` in the stack file).

    Offline (inventory, validate) only the ciphertext is known, so `plaintext` is None and the value
    is never shown. Under the engine the loader fills `plaintext` from Pulumi's decrypted config.
    `output()` always returns a Pulumi secret, so the value stays secret in state and outputs.
    """

    ciphertext: str
    plaintext: str | None = None

    def output(self):
        import pulumi

        # Offline there is no plaintext; the ciphertext stands in, still wrapped as a secret, so the
        # evaluation is the same shape as under the engine and nothing readable leaks.
        return pulumi.Output.secret(self.plaintext if self.plaintext is not None else self.ciphertext)

    def __repr__(self) -> str:  # never print a secret, even by accident
        return "SecretValue([secret])"

    __str__ = __repr__


def _require_secret(value: Any) -> SecretValue:
    if isinstance(value, SecretValue):
        return value
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SecretValue(ciphertext=str(value["secure"]))
    raise PydanticCustomError("plain_secret", "must be a Pulumi secret, not plain text")


Secret = Annotated[
    SecretValue,
    BeforeValidator(_require_secret),
    PlainSerializer(lambda _: "[secret]", return_type=str),
    WithJsonSchema({
        "type": "object",
        "description": "A Pulumi secret: set it with `pulumi config set --secret --path ...`.",
        "properties": {"secure": {"type": "string", "description": "The ciphertext Pulumi wrote; do not edit it by hand."}},
        "required": ["secure"],
        "additionalProperties": False,
    }),
]
"""A value that must be given with `pulumi config set --secret`; plain text is a config error."""


# --- names ---------------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"`{value}` is not a valid Kubernetes name: use at most 63 lower-case letters, digits"
            " and '-', starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]


# --- network ranges ------------------------------------------------------------------------------


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"`{value}` is not a valid CIDR range ({error})") from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"`{value}` is not a valid IP address") from None


IpAddress = Annotated[str, AfterValidator(_ip)]


def overlapping_ranges(named_ranges: dict[str, str]) -> list[tuple[str, str]]:
    """Every pair of named CIDR ranges that overlap, as (first key, message) problems."""
    problems = []
    items = [(key, ipaddress.ip_network(cidr)) for key, cidr in named_ranges.items()]
    for i, (key_a, net_a) in enumerate(items):
        for key_b, net_b in items[i + 1 :]:
            if net_a.version == net_b.version and net_a.overlaps(net_b):
                problems.append((key_b, f"{net_b} overlaps {key_a} ({net_a}); choose disjoint ranges"))
    return problems


# --- Kubernetes quantities -----------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_value(quantity: str) -> float:
    """The numeric value of a Kubernetes quantity (`500m` -> 0.5, `2Gi` -> 2147483648)."""
    match = _QUANTITY.match(quantity)
    if not match:
        raise ValueError(quantity)
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _quantity(value: Any) -> str:
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _QUANTITY.match(text):
        raise ValueError(f"`{value}` is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]


def matching(pattern: str, what: str) -> AfterValidator:
    """A string must match `pattern` (`Annotated[str, matching(...)]`); the error says what was
    expected, not the regex."""
    compiled = re.compile(pattern)

    def _match(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"`{value}` is not {what}")
        return value

    return AfterValidator(_match)
