"""The scanner reads YAML as Kubernetes does: every scalar spelling below, as a value, a key, a list item, quoted and
with explicit tags, plus merge keys, anchors, duplicate keys and nesting limits, read by the scanner
(policies.lib.kube_yaml) and by scripts/oracle (sigs.k8s.io/yaml v1.6.0, what kubectl and the API server use) must
give the same JSON, or both must refuse the document."""

from __future__ import annotations

import json

import pytest
import yaml
from test_psa_oracle import oracle  # noqa: F401  (the session fixture)

from policies.lib.kube_yaml import KubernetesYAMLError, load_documents

KEYWORDS = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "yEs", "tRUE", "oN", "nO", "ye", "yess", "~", "null", "Null", "NULL",
    "nULL", "~~", "", "=", "<<", "<", "o", "t", "f",
]
INTEGERS = [
    "0", "00", "07", "08", "09", "010", "0o7", "0O7", "0o8", "0o", "0x1f", "0X1F", "0x", "0xg", "0x_1f", "0_x1f",
    "0b101", "0B101", "0b102", "0b", "-0b101", "+0b101", "0b-101", "0b+101", "-0b-1", "-0b+1", "1_000", "_1000",
    "1__0", "1_", "+1", "-1", "+-1", "--1", "-", "+", "+0", "-0", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
    "0x7fffffffffffffff", "0x8000000000000000", "0xffffffffffffffff", "0x10000000000000000", "0b" + "1" * 64,
    "0b" + "1" * 65, "-0b1" + "0" * 63, "-0b1" + "0" * 64, "0o1777777777777777777777", "0o2000000000000000000000",
    "0777", "0778", "1e", "0e", "12abc", "1,000", "1 000", "١٢",
]
FLOATS = [
    "0e0", "1e3", "1E3", "1e+3", "1e-3", "1.", "1.5", ".5", "+.5", "-.5", "1.5e", "e1", ".e1", ".", "..", "1.2.3",
    "1e400", "-1e400", "1e-400", ".5e400", ".5e-400", ".5_5", "._5", ".5_", ".5__5", ".5e1_0", ".5e_1", "1_0.5",
    "1.5_", "6.8523015e+5", "685.230_15e+03", "685_230.15", "190:20:30.15", "1:30", "-1:30", ".inf", ".Inf", ".INF",
    ".iNf", "+.inf", "-.inf", "-.Inf", ".nan", ".NaN", ".NAN", "inf", "-inf", "+inf", "nan", "Infinity", "+Inf",
    "0x1p-2", "0x1.8p1", "1e1_0", "00.5", "-0.0", "0.0", "1.0", "100.0", "1e21", "1e20", "123456789012345678901234",
    "0.1e-6", "5e-7", "2.5e-324", "1.7976931348623157e308", "1.7976931348623159e308", ".1e1_", "1.e5", "+1.", "-.0",
]
STRINGS = [
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z", "2002-1-1",
    "1234-5", "20011-12-14", "abc", "0.0.0.0", "1.2.3.4", "10.0.0.0/8", "100m", "1Gi", "8080:80", "v1.33", "1.30",
    "0o", "y1", "yes!", "null!", "-x", "+x", ".x", "RuntimeDefault", "a b", "é", "0x1f!",
]
SCALARS = KEYWORDS + INTEGERS + FLOATS + STRINGS
TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!", "!custom", "!!set", "!!merge"]

STRUCTURES = [
    # Merge keys: go-yaml v2 writes the merged maps over the keys already there; later keys win as usual.
    "base: &b {cpu: 1, memory: 2Gi}\nmerged:\n  <<: *b\n  cpu: 2\n",
    "base: &b {cpu: 1, memory: 2Gi}\nmerged:\n  cpu: 2\n  <<: *b\n",
    "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nm:\n  x: 0\n  <<: [*a, *b]\n",
    "m:\n  <<: [{x: 1}, {x: 2, y: 2}]\n  y: 3\n",
    "m:\n  <<: {x: 1, <<: {x: 2, y: 2}}\n",
    "m:\n  '<<': {x: 1}\n",
    "m:\n  !!merge <<: {x: 1}\n",
    "m:\n  ! <<: {x: 1}\n",
    "m:\n  !!str <<: {x: 1}\n",
    "m:\n  <<: 1\n",
    "m:\n  <<: ~\n",
    "s: &s [{x: 1}]\nm:\n  <<: *s\n",
    "m:\n  <<: [{x: 1}, [1]]\n",
    "a: &a 1\nm:\n  <<: [*a]\n",
    # Anchors and aliases.
    "a: &a 1\nb: *a\n",
    "a: &a [1, 2]\nb: *a\nc: *a\n",
    "a: &a 1\nb: &a 2\nc: *a\n",
    "a: &a [&a 1, 2]\nb: *a\n",
    "a: *b\n",
    "a: &a [*a]\n",
    "a: &a {b: *a}\n",
    "&k key: 1\n*k : 2\n",
    "a: &a y\n*a : 1\n",
    "a: &a .inf\nb: 1\n",
    "&a .inf : 1\nb: *a\n",
    # Keys.
    "? [1, 2]\n: x\n",
    "? {a: 1}\n: x\n",
    "~: 1\n",
    ": 1\n",
    "null: 1\n",
    "y: 1\nyes: 2\n",
    "1: a\n0x1: b\n",
    "1.0: a\n",
    "0.1: a\n0.00001: b\n1e6: c\n123456: d\n1234567: e\n16777217: f\n3.4e39: g\n-0.0: h\n1e-46: i\n",
    "a: 1\na: 2\n",
    "a: .inf\na: 1\n",
    "a: {b: .nan}\n",
    "a: [1, .inf]\n",
    # Documents that are not maps.
    "just text\n",
    "- 1\n- y\n",
    "~\n",
    "# only a comment\n",
    "y\n",
    # Tags on collections mean nothing to go-yaml v2.
    "a: !!set {x, y}\n",
    "a: !!omap [{x: 1}]\n",
    "a: !custom {x: 1}\n",
    "a: !!map [1]\n",
    # Block scalars are strings.
    "a: |\n  y\nb: >\n  0o0\n",
    "a: 'it''s'\nb: \"\\x41\\u00e9\"\n",
    # Nesting: go-yaml v2 allows 10,000 flow levels.
    "a: " + "[" * 9999 + "]" * 9999 + "\n",
    "a: " + "[" * 10000 + "]" * 10000 + "\n",
]


def _alias_bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


ALIASES = [_alias_bomb(levels, width) for levels, width in ((2, 10), (3, 10), (3, 11), (4, 5), (5, 4), (9, 9))]


def documents() -> list[str]:
    out = []
    for scalar in SCALARS:
        out += [f"v: {scalar}\n", f"{scalar}: v\n", f"v: [{scalar}]\n", f"v: {{k: {scalar}}}\n", f"- {scalar}\n",
                f"v: '{scalar}'\n", f'v: "{scalar}"\n']
        out += [f"v: {tag} {scalar}\n" for tag in TAGS] + [f"v: {tag} '{scalar}'\n" for tag in TAGS[:5]]
        out.append(f"{TAGS[1]} {scalar}: v\n")
    return out + STRUCTURES + ALIASES


class Deep(str):
    """JSON text nested deeper than Python's json module recurses (the 10,000-level documents)."""


def kubernetes_value(text: str):
    try:
        return json.loads(text)
    except RecursionError:
        return Deep(text)


def containers(value) -> tuple[int, int]:
    """(maps, lists) anywhere in a value, counted without recursion."""
    maps = lists = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            maps += 1
            pending += item.values()
        elif isinstance(item, list):
            lists += 1
            pending += item
    return maps, lists


def same(ours, theirs) -> bool:
    """Equal as JSON values: booleans, null and strings exactly, numbers by value (Go writes 1.0 as 1)."""
    if isinstance(theirs, Deep):  # only brackets in these documents: compare the shape
        return containers(ours) == (theirs.count("{"), theirs.count("["))
    if ours is None or theirs is None or isinstance(ours, bool) or isinstance(theirs, bool):
        return type(ours) is type(theirs) and ours == theirs
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        if isinstance(ours, float) or isinstance(theirs, float):
            return float(ours) == float(theirs)
        return ours == theirs
    if isinstance(ours, str) or isinstance(theirs, str):
        return type(ours) is type(theirs) and ours == theirs
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same(ours[key], theirs[key]) for key in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same(a, b) for a, b in zip(ours, theirs, strict=True))
    return False


def read(text: str):
    try:
        found = load_documents(text.encode())
    except (KubernetesYAMLError, yaml.YAMLError) as error:
        return error
    return found[0] if found else None  # a stream with no document (only a comment) reads as null


def test_the_scanner_reads_yaml_as_kubernetes_does(oracle, capsys):  # noqa: F811
    texts = documents()
    results = oracle(texts)
    differences = []
    for text, result in zip(texts, results, strict=True):
        ours = read(text)
        # Kubernetes refuses a document when sigs.k8s.io/yaml cannot convert it, or when the API's JSON decoding
        # finds it nested too deep (the oracle reports that as a decode error).
        refused = "readError" in result or "exceeded max depth" in result.get("decodeError", "")
        if isinstance(ours, Exception) or refused:
            if not (isinstance(ours, Exception) and refused):
                differences.append((text, ours, result.get("readError")))
            continue
        theirs = kubernetes_value(result["json"])
        if not same(ours, theirs):
            differences.append((text, ours, theirs))
    with capsys.disabled():
        print(f"\nYAML reading oracle: {len(texts)} documents, {len(differences)} read differently")
    report = "\n".join(f"{text[:80]!r}: scanner {str(ours)[:80]!r}, Kubernetes {str(theirs)[:120]!r}"
                       for text, ours, theirs in differences[:20])
    assert not differences, f"{len(differences)} documents read differently from Kubernetes:\n{report}"


#: Two YAML keys that become one JSON key: go-yaml v2 keeps both in a Go map, and sigs.k8s.io/yaml writes them to one
#: string key in the order it ranges over that map, which Go randomises.
COLLIDING_KEYS = [
    "1: a\n'1': b\n",
    "'1': a\n1: b\n",
    "1: a\n1.0: b\n",
    "true: a\n'true': b\n",
    "y: a\n'true': b\n",
    ".nan: a\n.nan: b\n",
    "base: &b {1: a}\nm:\n  '1': b\n  <<: *b\n",
    "m:\n  <<: [{1: a}, {'1': b}]\n",
]


@pytest.mark.parametrize("text", COLLIDING_KEYS)
def test_keys_kubernetes_reads_at_random_are_refused(oracle, text):  # noqa: F811
    """The same document, read 64 times by sigs.k8s.io/yaml, gives both values (a chance of 2**-63 to see one only);
    the scanner cannot know which one the API server will keep, so it refuses the document and says why."""
    readings = {result.get("json") for result in oracle([text] * 64)}
    assert len(readings) == 2, readings
    with pytest.raises(KubernetesYAMLError, match="Kubernetes keeps one of their values at random"):
        load_documents(text.encode())


@pytest.mark.parametrize("text", ["v: !!binary aGVsbG8=\n", "v: !!timestamp 2001-12-14\n"])
def test_tags_the_scanner_refuses_are_ones_kubernetes_reads(oracle, text):  # noqa: F811
    """The two tags the scanner refuses (exit 2) rather than emulate are read by Kubernetes; refusing is the
    cautious side, and this says so if it ever stops being true."""
    assert "readError" not in oracle([text])[0]
    with pytest.raises(KubernetesYAMLError, match="tag is not supported by the scanner; write the value as a plain string"):
        load_documents(text.encode())


def test_the_corpus_covers_every_resolution():
    """Each kind of value the reader produces occurs, so a reader that resolves everything to strings fails."""
    kinds = {type(value).__name__ for value in (read(text) for text in documents()) if isinstance(value, dict)
             for value in value.values()}
    assert {"bool", "int", "float", "str", "NoneType", "list", "dict"} <= kinds
