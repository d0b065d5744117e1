"""Building blocks shared by every section of the stack configuration model."""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

PROJECT = "complete-cluster"


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors and values are immutable once loaded."""

    # Field docstrings become their descriptions in the JSON Schema editors read (stack-config.schema.json).
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, use_attribute_docstrings=True, strict=True, allow_inf_nan=False
    )


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


def _ca_certificate(value: str) -> str:
    """One PEM CA certificate (public, so plain text in the stack file), as OpenSSL reads it: Python's ssl loads it
    into a trust store, which counts it as a CA only when its basic constraints say so (X509_check_ca)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=value)
        stats = context.cert_store_stats()
    except (ssl.SSLError, ValueError):
        stats = {}
    if stats.get("x509") != 1 or stats.get("x509_ca") != 1:
        raise ValueError("is not one PEM CA certificate (`-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----`, with "
                         "`basicConstraints CA:TRUE`); give the CA's certificate, e.g. `openssl x509 -in ca.crt`")
    return value.strip() + "\n"


CaCertificate = Annotated[str, AfterValidator(_ca_certificate)]
"""A CA's certificate, PEM, checked as one CA certificate."""


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


# What Pulumi writes under `secure:`: the passphrase provider's `v1:<nonce>:<ciphertext>`, both standard
# base64 (pulumi/pulumi sdk/go/common/resource/config/crypt.go, symmetricCrypter.EncryptValue, and its
# DecryptValue refuses any other shape), or the standard base64 of the ciphertext that the service and
# cloud (KMS, Key Vault) providers write.
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_CIPHERTEXT = re.compile(rf"v1:{_BASE64}:{_BASE64}|{_BASE64}")


def _require_secret(value: Any) -> SecretValue:
    if isinstance(value, dict) and set(value) == {"secure"}:
        value = SecretValue(ciphertext=value["secure"]) if isinstance(value["secure"], str) else value
    if isinstance(value, SecretValue):
        if not value.ciphertext or not _CIPHERTEXT.fullmatch(value.ciphertext):
            raise PydanticCustomError("bad_ciphertext", "is not ciphertext Pulumi wrote")
        return value
    if isinstance(value, dict) and "secure" in value:
        raise PydanticCustomError("bad_ciphertext", "is not ciphertext Pulumi wrote")
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
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"`{value}` is not a valid Kubernetes name: use at most 63 lower-case letters, digits"
            " and '-', starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]

# Kubernetes label keys and values (k8s.io/apimachinery pkg/util/validation/validation.go:
# IsQualifiedName, a name of at most 63 characters with an optional DNS-1123 subdomain prefix of at
# most 253 and `/`; IsValidLabelValue, empty or the same name shape).
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))) or (
        not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name)
    ):
        return (
            "is not a Kubernetes label key: an optional DNS subdomain prefix and `/`, then at most 63 letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _QUALIFIED_NAME.fullmatch(value)):
        return (
            f"`{value}` is not a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _labels(labels: dict[str, str]) -> dict[str, str]:
    problems = []
    for key, value in labels.items():
        problem = label_key_problem(key)
        if problem:
            problems.append((key, problem))
        problem = label_value_problem(value)
        if problem:
            problems.append((key, problem))
    check(problems)
    return labels


KubernetesLabels = Annotated[dict[str, str], AfterValidator(_labels)]
"""Kubernetes labels: keys and values Kubernetes accepts (so they are also safe as shell words)."""


def _group_name(value: str) -> str:
    # A RoleBinding subject needs a name (k8s.io/kubernetes pkg/apis/rbac/validation ValidateRoleBindingSubject),
    # and a directory compares names exactly, so a blank, padded or multi-line name never matches anyone.
    if not value.strip() or value != value.strip() or any(not c.isprintable() for c in value):
        raise ValueError(
            f"`{value}` is not a directory group name: write the group's name, without surrounding spaces or control characters"
        )
    return value


GroupName = Annotated[str, AfterValidator(_group_name)]
"""A directory (Entra ID, LDAP) group as RBAC subjects and Rancher principals name it."""


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

# Kubernetes' quantity grammar (k8s.io/apimachinery pkg/api/resource/quantity.go): a signed number
# (`1`, `1.5`, `1.`, `.5`), then a binary SI suffix, a decimal exponent (`e3`, `E-2`) or a decimal SI
# suffix (`m`, none, `k`, `M`, ... `E`); `16e0` is 16 and `1E` an exa. No quantity exceeds 2^63-1.
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(rf"(?P<number>{_NUMBER})(?:[eE](?P<exponent>[+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?")
_SUFFIX = {
    None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY_MAX = 2**63 - 1


def quantity_value(quantity: str) -> float:
    """The numeric value of a Kubernetes quantity (`500m` -> 0.5, `2Gi` -> 2147483648, `16e0` -> 16)."""
    match = _QUANTITY.fullmatch(quantity)
    if not match:
        raise ValueError(quantity)
    if match.group("exponent") is not None:
        exponent = int(match.group("exponent"))
        if exponent > 40:  # beyond 2^63 for any number with a digit before the point, and beyond float's care below
            raise ValueError(quantity)
        return float(f"{match.group('number')}e{exponent}") if exponent >= -40 else 0.0
    return float(match.group("number")) * _SUFFIX[match.group("suffix")]


def _quantity(value: Any) -> str:
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        number = quantity_value(text) if isinstance(text, str) else None
    except ValueError:
        number = None
    if number is None:
        raise ValueError(f"`{value}` is not a Kubernetes quantity (e.g. `500m`, `2`, `4Gi`)")
    if not math.isfinite(number) or abs(number) > _QUANTITY_MAX:
        raise ValueError(f"`{value}` is larger than Kubernetes' largest quantity (2^63-1)")
    if number < 0:
        raise ValueError(f"`{value}` is negative; a request, limit or quota is zero or more")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]


def matching(pattern: str, what: str) -> AfterValidator:
    """A string must match `pattern` (`Annotated[str, matching(...)]`); the error says what was
    expected, not the regex."""
    compiled = re.compile(pattern)

    def _match(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"`{value}` is not {what}")
        return value

    return AfterValidator(_match)


def kubernetes_at_least(minor: int, why: str) -> AfterValidator:
    """A Kubernetes version already in its form (`1.33`, `1.33.2`, `v1.33.5+rke2r1`) must be 1.`minor` or later."""

    def _check(value: str) -> str:
        found = int(value.removeprefix("v").split(".")[1].split("+")[0])
        if found < minor:
            raise ValueError(f"`{value}` is older than Kubernetes 1.{minor}, the oldest the platform runs on: {why}")
        return value

    return AfterValidator(_check)
