"""The one way the stack tools read a YAML file (stack files, the other sites' stack files, profiles),
and a JSON file a user names (`cost --base-file`, `review --base-file`).

A stack file is user input, and anything a user can write must end in a clear message, never a
traceback or a hang. So every read here:

- refuses what is not a regular file (a directory, a FIFO, a device) from `stat` before opening, and
  opens with O_NONBLOCK, so a FIFO that appears in between cannot block;
- reads at most `MAX_BYTES` and decodes UTF-8 strictly (with a hint when it looks like UTF-16);
- walks the parser's events (libyaml, iteratively) to bound nesting at `MAX_DEPTH` before anything
  recursive sees the document, and refuses aliases whose expansion exceeds `MAX_NODES` nodes or
  that refer to a node containing them (both expand without end in code that walks the value);
- refuses a key given twice in one mapping, as Pulumi does: Pulumi reads stack files with
  gopkg.in/yaml.v3, whose decoder fails with "mapping key %#v already defined at line %d"
  (yaml.v3 decode.go, `d.uniqueKeys`), where PyYAML keeps the last value silently.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

# Shipped stack files are under 5 KiB; a megabyte is room for any real one and reads in well under a second.
MAX_BYTES = 1024 * 1024
# The model nests about ten levels deep (config > section > teams > [i] > workloads > [j] > uses > ...).
MAX_DEPTH = 64
# Nodes a document may hold once its aliases are expanded (shipped files hold a few hundred).
MAX_NODES = 100_000

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class UnreadableFile(ValueError):
    """A file the tools cannot read as YAML; the text says why and what to do."""


class _UniqueKeyLoader(_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, refusing a mapping key given twice (merge keys `<<` excepted: they override by design)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # an unhashable key: the constructor reports it below
                if first != key_node.start_mark.line + 1:
                    raise UnreadableFile(
                        f"line {key_node.start_mark.line + 1}: key `{key}` is already defined at line {first}; "
                        "Pulumi refuses a key given twice: keep one"
                    )
        return super().construct_mapping(node, deep=deep)


def _bytes(path: Path) -> bytes:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise UnreadableFile(f"is {what}; name a stack file")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise UnreadableFile("is not a regular file; name a stack file")
        try:
            data = file.read(MAX_BYTES + 1)
        except OSError as error:
            raise UnreadableFile(f"cannot be read ({error.strerror})") from None
    if len(data) > MAX_BYTES:
        raise UnreadableFile(f"is larger than {MAX_BYTES // 2**20} MiB, the limit for a stack file; a real one is a few KiB")
    return data


def _text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and b"\x00" in data[:2]):
        raise UnreadableFile("is UTF-16, not UTF-8; save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UnreadableFile(f"line {line}: is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def _where(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def _check_nesting(text: str) -> None:
    """Bound the nesting depth by the event stream alone (iterative, in libyaml)."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnreadableFile(
                    f"line {event.start_mark.line + 1}: nests deeper than {MAX_DEPTH} levels, the limit for a stack file"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes of the document as its aliases expand (each node's count memoised by identity,
    so an alias bomb costs its size on disk), and refuse an alias inside the node it names."""
    counts: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            open_nodes.discard(id(node))
            counts[id(node)] = min(MAX_NODES + 1, 1 + sum(counts[id(child)] for child in children))
            if counts[id(node)] > MAX_NODES:
                raise UnreadableFile(
                    f"line {node.start_mark.line + 1}: its aliases expand to more than {MAX_NODES} values, the limit for a "
                    "stack file; write the values out"
                )
            continue
        if id(node) in counts:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise UnreadableFile(
                    f"line {node.start_mark.line + 1}: an alias refers to a node that contains it, which never ends; remove it"
                )
            if id(child) not in counts:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def read_yaml(path: Path) -> Any:
    """The document in the YAML file `path`, or UnreadableFile saying what is wrong and what to do."""
    text = _text(_bytes(path))
    try:
        _check_nesting(text)
        loader = _UniqueKeyLoader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_expansion(root)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        raise UnreadableFile(f"{_where(error)}not valid YAML ({error.problem or error})") from None
    except yaml.YAMLError as error:
        raise UnreadableFile(f"not valid YAML ({error})") from None


def _refuse_constant(name: str) -> Any:
    raise UnreadableFile(f"holds `{name}`, which is not JSON (RFC 8259 has no NaN or Infinity)")


def read_json(path: Path) -> Any:
    """The JSON document in `path`, read with the same bounds as a stack file, or UnreadableFile."""
    text = _text(_bytes(path))
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise UnreadableFile(f"line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})") from None
    except RecursionError:
        raise UnreadableFile("nests too deep to read") from None
