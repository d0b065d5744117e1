"""Under the engine, secret leaves of the stack file carry Pulumi's decrypted values as secrets."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi.runtime import config as runtime_config

from stacks.loader import load_for_engine


@pytest.fixture
def engine_config():
    saved = dict(runtime_config.CONFIG.get())
    yield runtime_config.set_config
    runtime_config.set_all_config(saved)


def test_decrypted_secrets_fill_only_the_secure_leaves(engine_config):
    decrypted = {
        "kind": "s3",
        "endpoint": "https://s3.dc1.example.com",
        "credentials": {"access_key_id": "AK1", "secret_access_key": "SK1"},
    }
    engine_config("complete-cluster:storage", json.dumps(decrypted))
    config = load_for_engine("onprem-dc1").config
    credentials = config.storage.credentials
    assert (credentials.access_key_id.plaintext, credentials.secret_access_key.plaintext) == ("AK1", "SK1")
    assert str(config.storage.endpoint) == "https://s3.dc1.example.com/"  # from the stack file, not the engine
    assert "AK1" not in repr(config)


@pulumi.runtime.test
def test_a_secret_becomes_a_pulumi_secret_output():
    from stacks.model import SecretValue

    output = SecretValue(ciphertext="v1:x", plaintext="value").output()

    def check(args):
        is_secret, value = args
        assert is_secret and value == "value"

    return pulumi.Output.all(pulumi.Output.from_input(output).is_secret(), output).apply(check)
