"""The pack as the engine runs it: registry, config files with --policy-pack-config semantics, and
pulumi-policy's own analyzer service (the code path of `pulumi preview --policy-pack`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from google.protobuf import empty_pb2, struct_pb2
from policy_helpers import POD

from policies import enforcement
from policies.lib.values import UNKNOWN_BOOLEAN, UNKNOWN_OBJECT
from policies.pack import BY_NAME, PACK_NAME, SPECS, pulumi_policies

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "policies", "config")


# --- registry ---------------------------------------------------------------------------------


def test_registry():
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names)) == 14
    assert "pod-security" in names
    for spec in SPECS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", spec.name), spec.name
        assert spec.kind in ("resource", "stack")
        assert spec.description.endswith(".")
        assert enforcement.validate(spec.config_schema, spec.defaults()) == []
        for schema in spec.config_schema.values():
            assert "default" in schema and "description" in schema


def test_pulumi_policies_mirror_the_registry():
    policies = pulumi_policies()
    assert [(p.name, p.description, p.enforcement_level.value) for p in policies] == [
        (s.name, s.description, s.enforcement_level) for s in SPECS
    ]
    assert policies[0].config_schema.properties["level"]["default"] == "restricted"


# --- config files and their semantics -----------------------------------------------------------


@pytest.mark.parametrize("environment, level", [("dev", "advisory"), ("test", "mandatory"), ("prod", "mandatory")])
def test_shipped_config_files(environment, level):
    path = os.path.join(CONFIG_DIR, f"{environment}.json")
    raw = json.load(open(path))
    assert set(raw) - {"all"} <= set(BY_NAME)
    effective = enforcement.reconcile(SPECS, enforcement.load(path), path)
    assert {value.enforcement for value in effective.values()} == {level}
    assert "kube-system" in effective["pod-security"].config["exemptNamespaces"]
    assert effective["rbac-least-privilege"].config["allowExec"] is (environment == "dev")
    for name in ("aks-hardening", "storage-account-hardening", "stateful-protection"):
        assert effective[name].config["environment"] == environment


def test_config_semantics():
    parsed = enforcement.parse(
        {
            "all": "advisory",
            "pod-security": {"enforcementLevel": "mandatory", "level": "baseline"},
            "ingress-tls": "disabled",
            "unknown-policy": "mandatory",
        }
    )
    effective = enforcement.reconcile(SPECS, parsed)
    assert effective["pod-security"] == ("mandatory", {"level": "baseline", "version": "latest", "exemptNamespaces": []})
    assert effective["ingress-tls"].enforcement == "disabled"
    assert effective["workload-images"].enforcement == "advisory"
    assert enforcement.reconcile(SPECS)["workload-images"].enforcement == "mandatory"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"all": "strict"}, 'config: parsing enforcement level for "all": "strict" is not a valid enforcement level'),
        ({"pod-security": 3}, 'config: parsing "pod-security": 3 is not a valid value; must be a string or object'),
        (
            {"pod-security": {"enforcementLevel": True}},
            'config: parsing enforcement level for "pod-security": true is not a valid enforcement level',
        ),
    ],
)
def test_invalid_config_values(config, message):
    with pytest.raises(enforcement.ConfigError) as error:
        enforcement.parse(config)
    assert str(error.value) == message


def test_config_is_validated_against_the_schemas():
    parsed = enforcement.parse(
        {
            "pod-security": {"level": "strict", "version": "1.30"},
            "storage-blob-soft-delete": {"minRetentionDays": 0},
            "workload-images": {"allowedRegistries": [1]},
        }
    )
    with pytest.raises(enforcement.ConfigError) as error:
        enforcement.reconcile(SPECS, parsed, "prod.json")
    assert str(error.value) == (
        "prod.json: invalid policy config:\n"
        '  pod-security: level: level must be one of the following: "baseline", "restricted"\n'
        "  pod-security: version: Does not match pattern '^(latest|v1\\.(2[5-9]|[3-9][0-9]))$'\n"
        "  workload-images: allowedRegistries.0: Invalid type. Expected: string, given: integer\n"
        "  storage-blob-soft-delete: minRetentionDays: Must be greater than or equal to 1"
    )


def test_config_file_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "all": "mandatory",\n  "pod-security": {level: "baseline"}\n}\n')
    with pytest.raises(enforcement.ConfigError) as error:
        enforcement.load(str(broken))
    assert str(error.value) == f"{broken}:3:20: invalid JSON: Expecting property name enclosed in double quotes"
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    assert enforcement.load(str(empty)) == {}
    with pytest.raises(enforcement.ConfigError):
        enforcement.load(str(tmp_path / "missing.json"))


# --- pulumi-policy's analyzer service ------------------------------------------------------------


@pytest.fixture
def servicer():
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    return _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", pulumi_policies(), EnforcementLevel.MANDATORY)


def _struct(value: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def _configure(servicer, path: str) -> None:
    from pulumi.runtime import proto

    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED, "remediate": proto.REMEDIATE}
    config = {
        name: proto.PolicyConfig(enforcementLevel=levels[value.enforcement], properties=_struct(value.config))
        for name, value in enforcement.reconcile(SPECS, enforcement.load(path)).items()
    }
    servicer.Configure(proto.ConfigureAnalyzerRequest(policyConfig=config), None)


def _analyze(servicer, type_token: str, props: dict):
    from pulumi.runtime import proto

    request = proto.AnalyzeRequest(type=type_token, properties=_struct(props), urn=f"urn:pulumi:dev::cc::{type_token}::x", name="x")
    return [(d.policyName, d.enforcementLevel, d.message.split("\n", 1)[1]) for d in servicer.Analyze(request, None).diagnostics]


def test_analyzer_info_lists_every_policy_with_its_schema(servicer):
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [s.name for s in SPECS]
    schema = {p.name: p.configSchema for p in info.policies}["pod-security"]
    assert sorted(schema.properties) == ["exemptNamespaces", "level", "version"]


def test_analyze_through_the_service(servicer):
    from pulumi.runtime import proto

    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"] = UNKNOWN_BOOLEAN
    pod["spec"]["volumes"].append({"name": "later", "hostPath": UNKNOWN_OBJECT})
    expected = 'privileged: container "app" must not set securityContext.privileged=true'
    assert _analyze(servicer, "kubernetes:core/v1:Pod", pod) == [("pod-security", proto.MANDATORY, expected)]
    _configure(servicer, os.path.join(CONFIG_DIR, "dev.json"))
    assert _analyze(servicer, "kubernetes:core/v1:Pod", pod) == [("pod-security", proto.ADVISORY, expected)]


def test_numbers_from_the_engine_arrive_as_floats(servicer):
    _configure(servicer, os.path.join(CONFIG_DIR, "prod.json"))
    found = _analyze(
        servicer,
        "azure-native:storage:BlobServiceProperties",
        {"deleteRetentionPolicy": {"enabled": True, "days": 3}, "containerDeleteRetentionPolicy": {"enabled": True, "days": 7}},
    )
    assert [m for _, _, m in found] == ["deleted blobs are not kept; set deleteRetentionPolicy: {enabled: true, days: 7} (or more days)"]


def test_analyze_stack_reads_protect_and_reports_on_resources(servicer):
    from pulumi.runtime import proto

    def resource(type_token, name, props, protect):
        return proto.AnalyzerResource(
            type=type_token,
            properties=_struct(props),
            urn=f"urn:pulumi:prod::cc::{type_token}::{name}",
            name=name,
            options=proto.AnalyzerResourceOptions(protect=protect),
        )

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"template": {"spec": {"automountServiceAccountToken": False, "containers": []}}},
    }
    request = proto.AnalyzeStackRequest(
        resources=[
            resource("azure-native:storage:StorageAccount", "backups", {}, False),
            resource("azure-native:storage:StorageAccount", "registry", {}, True),
            resource("kubernetes:apps/v1:Deployment", "web", deployment, False),
        ]
    )
    found = sorted((d.policyName, d.urn) for d in servicer.AnalyzeStack(request, None).diagnostics)
    assert found == [
        ("namespace-default-deny", "urn:pulumi:prod::cc::kubernetes:apps/v1:Deployment::web"),
        ("stateful-protection", "urn:pulumi:prod::cc::azure-native:storage:StorageAccount::backups"),
    ]


def test_the_pack_boots_like_the_engine_runs_it():
    """`pulumi preview --policy-pack policies` starts the pack with pulumi's Python policy runner in
    the pack directory; it must print its port and serve GetAnalyzerInfo."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=os.path.join(ROOT, "policies"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = int(process.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert info.name == PACK_NAME
        assert len(info.policies) == len(SPECS)
    finally:
        process.kill()
        process.wait(timeout=30)
