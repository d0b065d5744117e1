"""python -m policies.scan reads manifests as Kubernetes does (tests/policies/test_psa_oracle_yaml.py proves the
reading against sigs.k8s.io/yaml itself): YAML 1.1 spellings the API server takes as booleans and numbers are checked
as such, and documents Kubernetes refuses to read stop the scan with exit 2, naming the file, line and what to write
instead, in well under a second."""

from __future__ import annotations

import json
import time

import pytest

from policies import scan

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: team-a
spec:
  hostNetwork: {host_network}
  securityContext:
    runAsNonRoot: true
    runAsUser: {uid}
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: app
      image: registry.example.com/web:1.0
      securityContext:
        privileged: {privileged}
        allowPrivilegeEscalation: {escalation}
        capabilities:
          drop: [ALL]
"""


def pod_security(tmp_path, capsys, **values) -> list[str]:
    path = tmp_path / "pod.yaml"
    path.write_text(POD.format(**{"host_network": "false", "uid": "1000", "privileged": "false", "escalation": "false", **values}))
    scan.main([str(path), "--json"])
    out, _ = capsys.readouterr()
    return [row["message"] for row in json.loads(out) if row["policy"] == "pod-security"]


def test_a_compliant_pod_passes(tmp_path, capsys):
    assert pod_security(tmp_path, capsys) == []


@pytest.mark.parametrize("spelling", ["y", "Y", "yes", "On", "!!bool y"])
def test_yaml_1_1_booleans_are_booleans(tmp_path, capsys, spelling):
    assert pod_security(tmp_path, capsys, privileged=spelling, host_network=spelling) == [
        "host namespaces: pod must not set hostNetwork=true",
        'privileged: container "app" must not set securityContext.privileged=true',
    ]


@pytest.mark.parametrize("spelling", ["n", "N", "no", "Off"])
def test_yaml_1_1_false_is_false(tmp_path, capsys, spelling):
    """`allowPrivilegeEscalation: n` is the false that restricted asks for."""
    assert pod_security(tmp_path, capsys, escalation=spelling, privileged=spelling) == []


@pytest.mark.parametrize("spelling", ["0o0", "0e0", "00", "0x0", "0.0", "-0", "0_0", "0b0", "!!float 0"])
def test_every_spelling_of_zero_is_root(tmp_path, capsys, spelling):
    assert pod_security(tmp_path, capsys, uid=spelling) == [
        "runAsUser=0: pod must not set runAsUser=0 (run as a non-zero UID)"
    ]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("a: .inf\n", "1:4", "`.inf`, `-.inf` and `.nan` are floats JSON cannot hold, so Kubernetes cannot read this "
                             "document; quote the value if you mean the text"),
        ("a:\n  ~: 1\n", "2:3", "a null map key (empty, `~` or `null`); Kubernetes cannot use it as a key: quote it"),
        ("? [a]\n: 1\n", "1:3", "a map or list as a map key; Kubernetes cannot use it as a key"),
        ("18446744073709551615: 1\n", "1:1", "the map key 18446744073709551615 is an unsigned 64-bit number, which "
                                             "Kubernetes cannot use as a key; quote it"),
        ("a: !!int x\n", "1:4", "cannot decode !!str `x` as a !!int; remove the tag or change the value"),
        ("a: &a [*a]\n", "1:8", "anchor 'a' value contains itself"),
        ("a: *b\n", "1:4", "unknown anchor 'b' referenced"),
        ("a:\n  <<: 1\n", "2:3", "map merge requires map or sequence of maps as the value"),
        ("a: !!binary aGk=\n", "1:4", "the !!binary tag is not supported by the scanner; write the value as a plain "
                                      "string instead"),
        ("a: " + "[" * 10000 + "]" * 10000 + "\n", "1:10003", "nesting deeper than 10000 levels, which the API server "
                                                              "does not decode"),
    ],
)
def test_documents_kubernetes_cannot_read_exit_2(tmp_path, capsys, text, where, message):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n---\n" + text)
    line, column = where.split(":")
    assert scan.main([str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}:{int(line) + 3}:{column}: Kubernetes cannot read this YAML: {message}\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path, capsys):
    """A billion laughs: go-yaml refuses it as excessive aliasing; the scanner says so without expanding it."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        lines.append(f"{chr(ord('a') + level)}: &{chr(ord('a') + level)} [" + ", ".join([f"*{previous}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    assert scan.main([str(path)]) == 2
    assert time.perf_counter() - started < 1
    assert capsys.readouterr().err == f"error: {path}:4:20: Kubernetes cannot read this YAML: document contains excessive aliasing\n"


def test_aliases_and_merge_keys_are_read_as_go_yaml_reads_them(tmp_path):
    documents = scan.load_documents(
        b"base: &b {cpu: 1, memory: 2Gi}\n"
        b"early:\n  cpu: 2\n  <<: *b\n"  # the merge overwrites what came before it
        b"late:\n  <<: *b\n  cpu: 2\n"
        b"both:\n  <<: [{a: 1}, {a: 2, b: 2}]\n"  # the first map of a merge sequence wins
        b"on: yes\n"
    )
    assert documents == [
        {
            "base": {"cpu": 1, "memory": "2Gi"},
            "early": {"cpu": 1, "memory": "2Gi"},
            "late": {"cpu": 2, "memory": "2Gi"},
            "both": {"a": 1, "b": 2},
            "true": True,
        }
    ]
