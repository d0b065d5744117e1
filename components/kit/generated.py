"""Passwords the platform generates once and keeps in state: a Pulumi dynamic resource whose provider is this module,
served by Pulumi's own Python dynamic-provider plugin (`pulumi-resource-pulumi-python`, shipped beside the CLI).

Why not pulumi-random: its provider is a separate plugin that every site must acquire or, air-gapped, mirror; this
needs none beyond the CLI's own distribution, so an air-gapped site mirrors one plugin fewer (and this project's
offline engine can apply Redis, Grafana and Harbor at all: no source of pulumi-random's provider is reachable).
The randomness is Python's `secrets` (the operating system's CSPRNG); the bcrypt hash Harbor's registry wants in its
htpasswd is pyca's `bcrypt`, at Go's `bcrypt.DefaultCost` (10), which pulumi-random used and Harbor's registry
checks on every request from Harbor core.

The value is made once, at create, and kept: a later `up` or `refresh` changes nothing (`diff` reports no change
unless the length or the classes change, which replaces it; `read` returns the state as it is). `result` and
`bcrypt_hash` are secret outputs; the provider itself is pickled by reference (this module's path), so the state
holds no code.
"""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

import bcrypt
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

ALPHABET = string.ascii_letters + string.digits
BCRYPT_COST = 10
#: Inputs whose change makes a new password.
SHAPE = ("length", "classes", "bcrypt")
CLASSES = {"upper": string.ascii_uppercase, "lower": string.ascii_lowercase, "digit": string.digits}


def password(length: int, classes: tuple[str, ...] = ()) -> str:
    """`length` characters of letters and digits, uniformly chosen, with at least one of each class asked for
    (rejection sampling keeps the choice uniform over the passwords that qualify)."""
    while True:
        value = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if all(any(c in CLASSES[k] for c in value) for k in classes):
            return value


class GeneratedPasswordProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        # Numbers arrive as floats (the protobuf Struct the engine sends).
        value = password(int(props["length"]), tuple(props.get("classes") or ()))
        outs = {**props, "result": value}
        if props.get("bcrypt"):
            outs["bcrypt_hash"] = bcrypt.hashpw(value.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
        return CreateResult(id_=str(uuid.uuid4()), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in SHAPE if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)


class GeneratedPassword(Resource, module="platform", name="GeneratedPassword"):
    """A password generated once (letters and digits), kept as a secret in state."""

    result: pulumi.Output[str]
    bcrypt_hash: pulumi.Output[str]

    def __init__(self, name: str, length: int, *, classes: tuple[str, ...] = (), with_bcrypt: bool = False,
                 opts: pulumi.ResourceOptions | None = None):
        secret = pulumi.ResourceOptions(additional_secret_outputs=["result", "bcrypt_hash"])
        props = {"length": length, "classes": list(classes), "bcrypt": with_bcrypt, "result": None, "bcrypt_hash": None}
        super().__init__(GeneratedPasswordProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
