"""Which values keys a Helm chart has, read from the chart's own files, to find the keys a program sets that the
chart never reads (Helm ignores them without a word, so a typo silently leaves a chart default, e.g. a security
setting, in place).

A key the program sets is one of the chart's when:

- the chart's `values.yaml` has it (subcharts' keys under their alias, as Helm passes them; `global` under every
  chart of the tree), or
- its `values.schema.json` declares it, or
- a template reads it: `.Values.a.b` (also `$.Values`, `.root.Values`...), `index .Values.a "b"`, in the templates,
  in a library subchart's templates and in the strings of `values.yaml` that the chart renders with `tpl`, or
- it lies under a map a template uses whole (`toYaml`, `tpl`, `range`, `with`, `omit`, a variable, ...), or under a
  map `values.yaml` leaves empty or null for the user to fill and a template uses whole.

A key is dead when none of these hold, and also when the schema closes its map (`additionalProperties: false`)
without it, whatever else holds. Lists are not entered: their items are the chart's free-form entries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str, ...]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"(?<!\w)Values((?:\.{_NAME})+)")
_INDEXED = re.compile(r"index\s+\(?\s*[$\w.]*Values((?:\.[A-Za-z_]\w*)*)\)?((?:\s+\"[^\"]+\")+)")
# A template function or statement that takes a whole map: whatever the map holds reaches the output.
_WHOLE = re.compile(
    rf"(?:toYaml|toJson|toPrettyJson|toRawJson|tpl|range|with|omit|pick|merge|mergeOverwrite|deepCopy|dict|list|:=|=|default"
    rf"|include\s+\"[^\"]+\"|template\s+\"[^\"]+\"|\|)\s*(?:\$\w+\s*(?:,\s*\$\w+\s*)?:=\s*)?\(?\s*[$\w.]*Values((?:\.{_NAME})+)(?![.\w])"
)


# The same, with the map piped into the function: `.Values.a | toYaml`.
_PIPED = re.compile(rf"(?<!\w)Values((?:\.{_NAME})+)\s*\|\s*(?:toYaml|toJson|toPrettyJson|toRawJson|tpl|omit|pick|merge|deepCopy)\b")


@dataclass
class Chart:
    """One chart of a tree, with what its files say about its values."""

    name: str
    defaults: dict[str, Any]
    schema: dict[str, Any] | None
    reads: set[Path_] = field(default_factory=set)
    """Every values path a template reads (a read of a.b.c also reads a and a.b)."""
    whole: set[Path_] = field(default_factory=set)
    """Values paths a template uses as a whole map."""
    subcharts: dict[str, Chart] = field(default_factory=dict)
    """By the key its values come under (the alias, else the name)."""


def _template_texts(chart_dir: Path, defaults: dict[str, Any]) -> list[str]:
    texts = [path.read_text(errors="replace") for path in sorted((chart_dir / "templates").rglob("*")) if path.is_file()]

    def strings(node: Any) -> None:  # values.yaml strings rendered by `tpl` (tempo's `config`, say)
        if isinstance(node, str) and "{{" in node:
            texts.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                strings(value)
        elif isinstance(node, list):
            for value in node:
                strings(value)

    strings(defaults)
    return texts


# `dig "a" "b" <default> .Values.x` reads x.a.b (the last quoted argument is the default unless one follows it).
_DIG = re.compile(rf"dig((?:\s+\"[^\"]*\")+)(\s+[^\s\"()]+)?\s+\(?\s*[$\w.]*Values((?:\.{_NAME})*)")
# A map reached by `index` and used whole: `range $k, $v := index .Values "grafana.ini"`.
_WHOLE_INDEXED = re.compile(
    r"(?:toYaml|toJson|tpl|range|with|omit|merge|deepCopy|:=)\s*(?:\$\w+\s*(?:,\s*\$\w+\s*)?:=\s*)?\(?\s*"
    r"index\s+\(?\s*[$\w.]*Values((?:\.[A-Za-z_]\w*)*)\)?((?:\s+\"[^\"]+\")+)\s*\)?(?![\s\"]*\")"
)


# `$storage := .Values.persistence.imageChartStorage`: later `$storage.type` reads persistence.imageChartStorage.type.
_ASSIGNED = re.compile(rf"(\$[A-Za-z_]\w*)\s*:?=\s*\(?\s*[$\w.]*Values((?:\.{_NAME})+)(?![.\w])")


def _aliases(text: str) -> str:
    """The text with each variable bound to a values path written as that path (`$s.type` -> `.Values.a.b.type`),
    so reads through a variable count, and the binding itself no longer reads as a whole-map use."""
    bindings = {}
    for match in _ASSIGNED.finditer(text):
        if "range" not in text[text.rfind("{{", 0, match.start()):match.start()]:  # a range binds each item
            bindings[match.group(1)] = match.group(2)
    for variable, path in bindings.items():
        text = re.sub(rf"{re.escape(variable)}\s*:?=\s*\(?\s*[$\w.]*Values{re.escape(path)}(?![.\w])", "", text)
        text = re.sub(rf"{re.escape(variable)}(?!\w)", f".Values{path}", text)
    return text


def _scan(texts: list[str]) -> tuple[set[Path_], set[Path_]]:
    reads: set[Path_] = set()
    whole: set[Path_] = set()
    for text in texts:
        # `((.Values.a.b).c).d` reads a.b.c.d: drop the parentheses between the steps.
        text = _aliases(re.sub(r"\)+(?=\.[A-Za-z_])", "", text))
        for match in _DIG.finditer(text):
            keys = re.findall(r"\"([^\"]*)\"", match.group(1))
            keys = keys if match.group(2) else keys[:-1]
            path = tuple(part for part in match.group(3).split(".") if part) + tuple(keys)
            reads.update(path[:n] for n in range(1, len(path) + 1))
        for match in _WHOLE_INDEXED.finditer(text):
            whole.add(tuple(part for part in match.group(1).split(".") if part) + tuple(re.findall(r"\"([^\"]+)\"", match.group(2))))
        for match in _DOTTED.finditer(text):
            path = tuple(match.group(1).split(".")[1:])
            reads.update(path[:n] for n in range(1, len(path) + 1))
        for match in _INDEXED.finditer(text):
            path = tuple(part for part in match.group(1).split(".") if part) + tuple(re.findall(r"\"([^\"]+)\"", match.group(2)))
            reads.update(path[:n] for n in range(1, len(path) + 1))
        for match in (*_WHOLE.finditer(text), *_PIPED.finditer(text)):
            whole.add(tuple(part for part in match.group(1).split(".") if part))
    return reads, whole


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@cache
def load_chart(chart_dir: Path) -> Chart:
    """The chart at `chart_dir` (an unpacked chart) with its subcharts under `charts/`."""
    meta = _read_yaml(chart_dir / "Chart.yaml")
    defaults = _read_yaml(chart_dir / "values.yaml") or {}
    schema_file = chart_dir / "values.schema.json"
    schema = json.loads(schema_file.read_text()) if schema_file.is_file() else None
    texts = _template_texts(chart_dir, defaults)
    chart = Chart(meta["name"], defaults, schema)
    aliases = {dep["name"]: dep.get("alias") or dep["name"] for dep in meta.get("dependencies") or []}
    for sub_dir in sorted(p for p in (chart_dir / "charts").glob("*") if (p / "Chart.yaml").is_file()):
        sub_meta = _read_yaml(sub_dir / "Chart.yaml")
        if sub_meta.get("type") == "library":  # its templates run with the parent's values
            texts += _template_texts(sub_dir, {})
            continue
        chart.subcharts[aliases.get(sub_meta["name"], sub_meta["name"])] = load_chart(sub_dir)
    for dep in meta.get("dependencies") or []:  # conditions are read from the parent's values
        for condition in (dep.get("condition") or "").split(","):
            if condition.strip():
                path = tuple(condition.strip().split("."))
                chart.reads.update(path[:n] for n in range(1, len(path) + 1))
    reads, whole = _scan(texts)
    chart.reads |= reads
    chart.whole |= whole
    return chart


def _get(node: Any, path: Path_) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _schema_at(schema: dict[str, Any] | None, path: Path_) -> dict[str, Any] | None:
    """The sub-schema for the map at `path` (following `properties` and `$ref`s to `definitions`/`$defs`)."""
    node = schema
    root = schema
    for key in path:
        if node is None:
            return None
        node = _deref(root, node)
        properties = node.get("properties") or {}
        if key in properties:
            node = properties[key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return _deref(root, node) if node is not None else None


def _deref(root: dict[str, Any] | None, node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and root is not None:
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _schema_verdict(chart: Chart, parent: Path_, key: str) -> bool | None:
    """True: the schema declares the key; False: the schema closes the map without it; None: the schema says nothing."""
    node = _schema_at(chart.schema, parent)
    if node is None:
        return None
    if key in (node.get("properties") or {}):
        return True
    if any(re.search(pattern, key) for pattern in node.get("patternProperties") or {}):
        return True
    if node.get("additionalProperties") is False:
        return False
    return None


def _known(chart: Chart, path: Path_) -> bool:
    parent, key = path[:-1], path[-1]
    verdict = _schema_verdict(chart, parent, key)
    if verdict is not None:
        return verdict
    if _get(chart.defaults, path)[0] or path in chart.reads:
        return True
    # Under a map a template uses whole (the keys reach the output as they are).
    return any(path[:n] in chart.whole for n in range(1, len(path)))


def dead_keys(values: dict[str, Any], chart: Chart, *, trees: list[Chart] | None = None, prefix: Path_ = ()) -> list[str]:
    """The dotted paths of `values` keys that `chart` (and its subcharts) never reads."""
    trees = trees if trees is not None else list(_tree(chart))
    dead: list[str] = []

    def walk(node: dict[str, Any], path: Path_) -> None:
        for key, value in node.items():
            here = (*path, key)
            shown = ".".join((*prefix, *here))
            if not path and key in chart.subcharts:
                sub = chart.subcharts[key]
                if isinstance(value, dict):
                    # The parent's own values.yaml and templates may also set and read under the alias.
                    rest = {k: v for k, v in value.items() if not _known(chart, (key, k))}
                    dead.extend(dead_keys(rest, sub, trees=trees, prefix=(*prefix, key)))
                continue
            if not path and key == "global":
                if isinstance(value, dict):
                    dead.extend(_dead_globals(value, trees, (*prefix, "global")))
                continue
            if not _known(chart, here):
                dead.append(shown)
                continue
            if isinstance(value, dict) and here not in chart.whole:  # a map used whole takes any key
                walk(value, here)

    walk(values, ())
    return dead


def _tree(chart: Chart) -> list[Chart]:
    found = [chart]
    for sub in chart.subcharts.values():
        found += _tree(sub)
    return found


def _dead_globals(values: dict[str, Any], trees: list[Chart], prefix: Path_) -> list[str]:
    """`global` is passed to every chart of the tree: a key there is live when any of them has it."""
    dead = []

    def walk(node: dict[str, Any], path: Path_) -> None:
        for key, value in node.items():
            here = ("global", *path, key)
            if not any(_known(chart, here) for chart in trees):
                dead.append(".".join((*prefix, *path, key)))
            elif isinstance(value, dict) and not any(here in chart.whole for chart in trees):
                walk(value, (*path, key))

    walk(values, ())
    return dead
