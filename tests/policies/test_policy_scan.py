"""python -m policies.scan: table and JSON output, exit codes, multi-document files, directories,
config files, unreadable input."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import yaml
from policy_helpers import DEPLOYMENT

from policies import scan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV = os.path.join(ROOT, "policies", "config", "dev.json")

DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "team-a"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def write(path, *documents) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def insecure(name="worker"):
    props = copy.deepcopy(DEPLOYMENT)
    props["metadata"]["name"] = name
    props["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    props["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:latest"
    return props


def scan_cli(capsys, *args):
    code = scan.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_manifests_exit_0(tmp_path, capsys):
    write(tmp_path / "app.yaml", DEPLOYMENT, DENY)
    code, out, err = scan_cli(capsys, str(tmp_path))
    assert (code, out, err) == (0, "0 violations (0 mandatory) in 2 objects\n", "")


def test_table_output_and_exit_1(tmp_path, capsys):
    path = write(tmp_path / "apps" / "worker.yaml", insecure(), DENY)
    code, out, _ = scan_cli(capsys, str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["FILE", "KIND", "NAME", "POLICY", "ENFORCEMENT", "MESSAGE"]
    assert lines[1].split("  ")[0] == path
    assert [line.split()[2:5] for line in lines[1:3]] == [
        ["worker", "pod-security", "mandatory"],
        ["worker", "workload-images", "mandatory"],
    ]
    assert lines[1].endswith('privileged: container "app" must not set securityContext.privileged=true')
    assert lines[-1] == "2 violations (2 mandatory) in 2 objects"


def test_json_output(tmp_path, capsys):
    path = write(tmp_path / "worker.yaml", insecure())
    code, out, _ = scan_cli(capsys, path, "--json")
    assert code == 1
    assert json.loads(out) == [
        {
            "file": path,
            "kind": "Deployment",
            "name": "worker",
            "policy": "pod-security",
            "enforcement": "mandatory",
            "message": 'privileged: container "app" must not set securityContext.privileged=true',
        },
        {
            "file": path,
            "kind": "Deployment",
            "name": "worker",
            "policy": "workload-images",
            "enforcement": "mandatory",
            "message": 'Deployment "worker": container "app" image "busybox:latest" uses the mutable tag "latest"; pin a '
            "version tag or a digest (@sha256:...)",
        },
        {
            "file": path,
            "kind": "Deployment",
            "name": "worker",
            "policy": "namespace-default-deny",
            "enforcement": "mandatory",
            "message": 'namespace "team-a" runs workloads (Deployment "worker") but has no default-deny NetworkPolicy for '
            "Ingress and Egress; add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, Egress] and no rules, "
            "then allow the traffic each workload needs",
        },
    ]


def test_advisory_config_exits_0(tmp_path, capsys):
    write(tmp_path / "worker.yaml", insecure())
    code, out, _ = scan_cli(capsys, str(tmp_path), "--json", "--config", DEV)
    assert code == 0
    assert {row["enforcement"] for row in json.loads(out)} == {"advisory"}


def test_config_can_disable_and_configure(tmp_path, capsys):
    write(tmp_path / "worker.yaml", insecure(), DENY)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"workload-images": "disabled", "pod-security": {"level": "baseline", "enforcementLevel": "advisory"}}))
    code, out, _ = scan_cli(capsys, str(tmp_path / "worker.yaml"), "--json", "--config", str(config))
    assert code == 0
    assert [(row["policy"], row["enforcement"]) for row in json.loads(out)] == [("pod-security", "advisory")]


def test_multi_document_files_lists_and_directories(tmp_path, capsys):
    write(tmp_path / "a" / "one.yml", insecure("one"), None, {"apiVersion": "v1", "kind": "List", "items": [insecure("two"), DENY]})
    write(tmp_path / "b" / "c" / "three.yaml", insecure("three"))
    (tmp_path / "b" / "notes.txt").write_text("not: scanned: [")
    write(tmp_path / "values.yaml", {"replicas": 3})
    code, out, err = scan_cli(capsys, str(tmp_path), "--json")
    assert code == 1
    names = [row["name"] for row in json.loads(out) if row["policy"] == "pod-security"]
    assert names == ["one", "two", "three"]
    assert err == f"warning: {tmp_path / 'values.yaml'}: document 1 is not a Kubernetes object (no apiVersion and kind); skipped\n"


def test_yaml_error_names_file_and_line(tmp_path, capsys):
    good = write(tmp_path / "a.yaml", DEPLOYMENT)
    bad = tmp_path / "b.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a, b\n")
    code, out, err = scan_cli(capsys, good, str(bad))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {bad}:6:1: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence started at line 5)\n"
    )
    bad.write_text("a: 1\n  b: 2\n")
    assert scan_cli(capsys, str(bad))[2] == f"error: {bad}:2:4: invalid YAML: mapping values are not allowed in this context\n"


def test_unreadable_inputs_exit_2(tmp_path, capsys):
    assert scan_cli(capsys, str(tmp_path / "missing.yaml")) == (2, "", f"error: {tmp_path / 'missing.yaml'}: no such file or directory\n")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"kind: \xff\xfe\x00")
    code, _, err = scan_cli(capsys, str(binary))
    assert code == 2 and err.startswith(f"error: {binary}: invalid YAML:")
    broken = tmp_path / "config.json"
    broken.write_text('{"all": "loud"}')
    assert scan_cli(capsys, str(tmp_path), "--config", str(broken)) == (
        2,
        "",
        f'error: {broken}: parsing enforcement level for "all": "loud" is not a valid enforcement level\n',
    )


def test_fifos_and_oversized_files_exit_2_without_waiting(tmp_path, capsys):
    """A FIFO named *.yaml would block a plain open() until something writes to it; the scanner refuses it."""
    (tmp_path / "d").mkdir()
    pipe = tmp_path / "d" / "pipe.yaml"
    os.mkfifo(pipe)
    for argument in (pipe, tmp_path / "d"):
        assert scan_cli(capsys, str(argument)) == (
            2, "", f"error: {pipe}: not a regular file (a FIFO, device or socket); scan files and directories only\n"
        )
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as handle:
        handle.truncate(scan.MAX_FILE_BYTES + 1)
    assert scan_cli(capsys, str(huge)) == (
        2, "", f"error: {huge}: 16,777,217 bytes is more than the scanner reads from one file (16 MiB); split it into smaller files\n"
    )


def test_type_tokens_match_the_provider():
    assert scan.to_resource("f", 0, {"apiVersion": "v1", "kind": "Pod"}).type == "kubernetes:core/v1:Pod"
    assert scan.to_resource("f", 0, {"apiVersion": "apps/v1", "kind": "Deployment"}).type == "kubernetes:apps/v1:Deployment"
    postgres = scan.to_resource("f", 0, {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql"})
    assert postgres.type == "kubernetes:acid.zalan.do/v1:postgresql"


def test_runs_as_a_module(tmp_path):
    write(tmp_path / "worker.yaml", insecure())
    result = subprocess.run([sys.executable, "-m", "policies.scan", str(tmp_path), "--json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert len(json.loads(result.stdout)) == 3


def test_parallel_scan_matches_serial(tmp_path):
    for index in range(scan.PARALLEL_THRESHOLD + 10):
        write(tmp_path / f"d{index:04d}.yaml", insecure(f"w{index}") if index % 3 == 0 else DEPLOYMENT)
    evaluator = scan.Evaluator()
    assert scan.scan([str(tmp_path)], evaluator, workers=2) == scan.scan([str(tmp_path)], evaluator, workers=1)
