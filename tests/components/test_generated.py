"""Generated passwords (components/kit/generated.py): the provider Pulumi's Python dynamic-provider plugin runs, called
here directly. Values come from the operating system's CSPRNG, so the tests check their shape over many draws; the
bcrypt hash is checked by pyca's `bcrypt` itself. The real engine creating, keeping and refreshing them (secret in
state, the same value on a second `up`) is the cluster tier's (tests/cluster/cluster_complete.py)."""

from __future__ import annotations

import base64
import string

import bcrypt
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.kit.generated import GeneratedPasswordProvider, password

ALPHANUMERIC = set(string.ascii_letters + string.digits)


def test_a_password_has_the_length_and_only_letters_and_digits():
    values = [password(24) for _ in range(200)]
    assert {len(v) for v in values} == {24}
    assert set("".join(values)) <= ALPHANUMERIC
    assert len(set(values)) == len(values)


def test_a_password_holds_each_class_asked_for_even_when_short():
    # With 4 characters about a third of uniform draws lack a class: the rejection sampling must see to it.
    values = [password(4, ("upper", "lower", "digit")) for _ in range(300)]
    for v in values:
        assert any(c.isupper() for c in v) and any(c.islower() for c in v) and any(c.isdigit() for c in v), v


def test_create_returns_the_inputs_and_the_password_and_a_bcrypt_hash_only_when_asked():
    provider = GeneratedPasswordProvider()
    # the engine sends numbers as floats (a protobuf Struct)
    plain = provider.create({"length": 16.0, "classes": [], "bcrypt": False})
    assert plain.outs is not None and "bcrypt_hash" not in plain.outs
    assert len(plain.outs["result"]) == 16 and plain.id

    hashed = provider.create({"length": 24.0, "classes": ["upper", "lower", "digit"], "bcrypt": True})
    assert hashed.outs is not None
    value, digest = hashed.outs["result"], hashed.outs["bcrypt_hash"]
    # cost 10, as Go's bcrypt.DefaultCost that pulumi-random used; the registry's htpasswd check reads any cost
    assert digest.startswith("$2b$10$")
    assert bcrypt.checkpw(value.encode(), digest.encode())
    assert not bcrypt.checkpw((value + "x").encode(), digest.encode())
    assert hashed.id != plain.id


@pytest.mark.parametrize(
    ("news", "replaces"),
    [
        ({"length": 32, "classes": [], "bcrypt": False}, []),
        ({"length": 40, "classes": [], "bcrypt": False}, ["length"]),
        ({"length": 32, "classes": ["digit"], "bcrypt": False}, ["classes"]),
        ({"length": 32, "classes": [], "bcrypt": True}, ["bcrypt"]),
    ],
)
def test_only_a_new_shape_makes_a_new_password(news, replaces):
    olds = {"length": 32.0, "classes": [], "bcrypt": False, "result": "kept", "__provider": "an older pickle"}
    diff = GeneratedPasswordProvider().diff("id", olds, {**news, "__provider": "a newer pickle"})
    assert diff.changes is bool(replaces) and diff.replaces == replaces and diff.delete_before_replace is False


def test_the_provider_is_kept_in_state_by_reference_not_as_code():
    # What the SDK stores in `__provider`: a reference the plugin resolves by importing this module from the
    # project directory it runs in, so state holds no code and an upgrade of the module takes effect.
    pickled = base64.b64decode(serialize_provider(GeneratedPasswordProvider()))
    assert b"components.kit.generated" in pickled and b"GeneratedPasswordProvider" in pickled
    assert len(pickled) < 100
