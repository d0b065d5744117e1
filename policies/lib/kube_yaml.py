"""YAML read the way Kubernetes reads it.

kubectl and the API server turn YAML into JSON with sigs.k8s.io/yaml v1.6.0 (`YAMLToJSON`), which decodes with
go.yaml.in/yaml/v2 v2.4.4: the versions k8s.io/apimachinery v0.37.2 (Kubernetes 1.37) requires. Its YAML 1.1
scalar resolution differs from PyYAML's SafeLoader: `y`, `n`, `Y`, `N` are booleans, integers follow Go's
`strconv.ParseInt(s, 0, 64)` after removing every `_` (so `0o0`, `0b1`, `0x_1f`, `09` (a float) are numbers), floats
need no dot (`0e0`), sexagesimal `1:30` stays a string, merge keys overwrite keys written before them, and JSON has
no room for `.inf`, `.nan`, null keys or unsigned keys. This module builds Python values from libyaml's parse events
exactly as that decoder resolves them (cited per function from go.yaml.in/yaml/v2@v2.4.4 resolve.go and decode.go,
sigs.k8s.io/yaml@v1.6.0 yaml.go), and raises `KubernetesYAMLError` for documents Kubernetes refuses to read.

Two explicit tags are refused rather than emulated, because their meaning hangs on Go library details no
manifest needs: `!!binary` (Go's base64 decoding) and `!!timestamp` (Go's time.Parse layouts).

The parser is libyaml's (PyYAML's C extension when present), of which go-yaml v2 is a line-by-line port, so both see
the same documents, nodes and plain/quoted styles; only resolution and construction are done here.
"""

from __future__ import annotations

import math
import re
import struct

import yaml

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
BINARY, TIMESTAMP, MERGE = _TAG + "binary", _TAG + "timestamp", _TAG + "merge"
_RESOLVABLE = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP})

#: JSON nesting the API server decodes (encoding/json's maxNestingDepth in sigs.k8s.io/json); deeper is refused.
MAX_DEPTH = 10000


class KubernetesYAMLError(Exception):
    """A document Kubernetes cannot read; `mark` is where (0-based line and column), when known."""

    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.mark = mark


# --- scalars: resolve.go `resolve` ----------------------------------------------------------------------------------

_MISSING = object()

#: resolve.go `resolveMapList`: looked up for every plain scalar whose first byte has a hint (all of these do).
_KEYWORDS: dict[str, object] = {}
for _values, _result in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    (("", "~", "null", "Null", "NULL"), None),
    ((".nan", ".NaN", ".NAN"), math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    (("-.inf", "-.Inf", "-.INF"), -math.inf),
):
    for _value in _values:
        _KEYWORDS[_value] = _result

#: resolve.go `yamlStyleFloat` (Go's `$` is end of text: fullmatch).
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
#: What Go's strconv.ParseFloat accepts from a string starting with `.` (readFloat + underscoreOK: an underscore only
#: between two digits), for resolve.go's `case '.'`, which parses the scalar as written, underscores included.
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_DIGITS = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyz")}


def _parse_uint(text: str, base: int = 0) -> int | None:
    """strconv.ParseUint(text, base, 64), or None where it returns an error (no sign; base 0: 0b/0o/0x prefixes
    when three or more bytes long, otherwise a leading 0 means octal)."""
    if base == 0:
        if _DECIMAL.fullmatch(text):
            value = int(text)
            return value if value <= _UINT64_MAX else None
        base = 10
        if text[:1] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
            else:
                base, text = 8, text[1:]
    elif not text:
        return None
    value = 0
    for char in text:
        digit = _DIGITS.get(char.lower() if char.isascii() else char)
        if digit is None or digit >= base:
            return None
        value = value * base + digit
    return value if value <= _UINT64_MAX else None


def _parse_int(text: str, base: int = 0) -> int | None:
    """strconv.ParseInt(text, base, 64), or None where it returns an error."""
    if not text:
        return None
    negative = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
        if not text:
            return None
    value = _parse_uint(text, base)
    if value is None:
        return None
    value = -value if negative else value
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _finite(text: str) -> float | None:
    """strconv.ParseFloat for text that already has Go float syntax: None on overflow (Go's ErrRange)."""
    value = float(text)
    return None if math.isinf(value) else value


def _resolve_number(text: str):
    """resolve.go, `case 'D', 'S'`: a scalar starting with a digit or a sign. (The timestamp attempt that comes
    first only ever yields the scalar itself, which is what falling through yields too.)"""
    plain = text.replace("_", "")
    value = _parse_int(plain)
    if value is not None:
        return value
    if plain[:1] != "-":
        value = _parse_uint(plain)
        if value is not None:
            return value
    if _YAML_FLOAT.fullmatch(plain):
        number = _finite(plain)
        if number is not None:
            return number
    if plain.startswith("0b"):
        value = _parse_int(plain[2:], 2)
        if value is None and plain[2:3] not in ("+", "-"):
            value = _parse_uint(plain[2:], 2)
        if value is not None:
            return value
    elif plain.startswith("-0b"):
        value = _parse_int("-" + plain[3:], 2)
        if value is not None:
            return value
    return text


def resolve_plain(text: str):
    """The value of an untagged plain scalar: resolve.go `resolve("", text)`."""
    value = _KEYWORDS.get(text, _MISSING)
    if value is not _MISSING:
        return value
    first = text[0]
    if first == ".":
        if _DOT_FLOAT.fullmatch(text):
            value = _finite(text.replace("_", ""))
            if value is not None:
                return value
        return text
    if first in "0123456789+-":
        return _resolve_number(text)
    return text


def _tag_of(value) -> str:
    if value is None:
        return NULL
    cls = value.__class__
    return BOOL if cls is bool else INT if cls is int else FLOAT if cls is float else STR


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def resolve_tagged(tag: str, text: str, mark):
    """The value of a scalar with an explicit tag (`!!int "5"`, `!foo bar`): resolve.go `resolve(tag, text)`,
    including its deferred check that the result has the tag asked for (an int may become a float)."""
    if tag == BINARY or tag == TIMESTAMP:
        raise KubernetesYAMLError(
            f"the {_short(tag)} tag is not supported by the scanner; write the value as a plain string instead", mark
        )
    if tag not in _RESOLVABLE or tag == STR:
        return text  # any other tag: the scalar's text (decode.go `scalar`: an unknown tag resolves to itself)
    value = resolve_plain(text) if text else None
    resolved = _tag_of(value)
    if resolved == tag:
        return value
    if tag == FLOAT and resolved == INT and isinstance(value, int) and value <= _INT64_MAX:  # int and int64 become float64; uint64 does not
        return float(value)
    raise KubernetesYAMLError(
        f"cannot decode {_short(resolved)} `{text}` as a {_short(tag)}; remove the tag or change the value", mark
    )


# --- map keys: sigs.k8s.io/yaml convertToJSONableObject -------------------------------------------------------------


def _float32_text(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), with sigs.k8s.io/yaml's names for infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(1, 10):  # the shortest digits that read back as the same float32
        text = f"{single:.{precision - 1}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    exp = int(exponent)
    if exp < -4 or exp >= 6:  # ftoa.go formatDigits: %e when the exponent is < -4 or >= 6 (shortest)
        rest = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def json_key(key, mark) -> str:
    """A map key as sigs.k8s.io/yaml converts it for JSON: strings as they are, ints in decimal, floats like Go's
    %g for float32, booleans as true/false; anything else is an error there."""
    cls = key.__class__
    if cls is str:
        return key
    if cls is bool:
        return "true" if key else "false"
    if cls is int:
        if key > _INT64_MAX:
            raise KubernetesYAMLError(f"the map key {key} is an unsigned 64-bit number, which Kubernetes cannot use as a "
                                      "key; quote it", mark)
        return str(key)
    if cls is float:
        return _float32_text(key)
    if key is None:
        raise KubernetesYAMLError("a null map key (empty, `~` or `null`); Kubernetes cannot use it as a key: quote it", mark)
    raise KubernetesYAMLError("a map or list as a map key; Kubernetes cannot use it as a key", mark)


# --- documents: decode.go ----------------------------------------------------------------------------------------------

try:
    from yaml.cyaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml
    _Parser = None
_ScalarEvent, _AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
_MappingStartEvent, _SequenceStartEvent = yaml.MappingStartEvent, yaml.SequenceStartEvent
_MappingEndEvent, _SequenceEndEvent = yaml.MappingEndEvent, yaml.SequenceEndEvent
_DocumentStartEvent, _DocumentEndEvent, _StreamEndEvent = yaml.DocumentStartEvent, yaml.DocumentEndEvent, yaml.StreamEndEvent

#: Plain scalars repeat a lot across manifests (`true`, `1`, `100m`); their resolution depends on the text only.
_PLAIN_CACHE: dict[str, object] = {}
_PLAIN_CACHE_SIZE = 50_000


def _events(content: bytes):
    if _Parser is not None:
        parser = _Parser(content)
    else:  # PyYAML without libyaml: the pure-Python port of the same parser
        parser = yaml.BaseLoader(content)
    try:
        get = parser.get_event
        while True:
            event = get()
            yield event
            if event.__class__ is _StreamEndEvent:
                return
    finally:
        parser.dispose()


class _MergeKey:
    """Stands for a `<<` merge key while its value is built (decode.go isMerge)."""

    __slots__ = ("mark",)

    def __init__(self, mark):
        self.mark = mark


def load_documents(content: bytes) -> list:
    """Every document of a YAML stream as Kubernetes reads it (None for an empty document). Raises
    `yaml.YAMLError` for YAML that does not parse and `KubernetesYAMLError` for YAML Kubernetes will not read."""
    documents: list = []
    cache, cache_get = _PLAIN_CACHE, _PLAIN_CACHE.get
    anchors: dict[str, object] = {}
    # The open containers, innermost last, each [value, is_map, key (_MISSING while the next node is a key), mark].
    stack: list[list] = []
    has_alias = False
    special_float = None  # where the document's first NaN or infinity value is
    result = None
    key_sources: _KeySources = {}  # the YAML keys behind maps' JSON keys, for maps with a key that was not a string

    for event in _events(content):
        cls = event.__class__
        merge_key = False
        if cls is _ScalarEvent:
            text, tag = event.value, event.tag
            if tag is None and event.implicit[0]:
                result = cache_get(text, _MISSING)
                if result is _MISSING:
                    result = resolve_plain(text)
                    if len(cache) >= _PLAIN_CACHE_SIZE:
                        cache.clear()
                    cache[text] = result
            elif tag is None or tag == "!":
                result = text  # quoted, or the non-specific tag `!`: decode.go `scalar` keeps the text
            else:
                result = resolve_tagged(tag, text, event.start_mark)
            if event.anchor is not None:
                anchors[event.anchor] = result
            merge_key = text == "<<" and (event.implicit[0] or tag == MERGE)
            mark = event.start_mark
        elif cls is _MappingStartEvent or cls is _SequenceStartEvent:
            # Tags on maps and sequences do not matter to go-yaml v2 (decode.go `mapping`, `sequence`).
            container: dict | list = {} if cls is _MappingStartEvent else []
            if event.anchor is not None:
                anchors[event.anchor] = container  # registered when the node starts, as parser.go `anchor` does
            if len(stack) >= MAX_DEPTH:
                raise KubernetesYAMLError(f"nesting deeper than {MAX_DEPTH} levels, which the API server does not decode",
                                          event.start_mark)
            stack.append([container, cls is _MappingStartEvent, _MISSING, event.start_mark])
            continue
        elif cls is _MappingEndEvent or cls is _SequenceEndEvent:
            result, _, _, mark = stack.pop()
        elif cls is _AliasEvent:
            has_alias = True
            name = event.anchor
            result = anchors.get(name, _MISSING)
            if result is _MISSING:
                raise KubernetesYAMLError(f"unknown anchor '{name}' referenced", event.start_mark)
            if any(frame[0] is result for frame in stack):
                raise KubernetesYAMLError(f"anchor '{name}' value contains itself", event.start_mark)
            mark = event.start_mark
        elif cls is _DocumentStartEvent:
            anchors = {}
            key_sources = {}
            has_alias = False
            special_float = None
            result = None
            continue
        elif cls is _DocumentEndEvent:
            if has_alias:
                _check_aliasing(content, len(documents))
            if special_float is not None and _has_special_float(result):
                raise KubernetesYAMLError(
                    "`.inf`, `-.inf` and `.nan` are floats JSON cannot hold, so Kubernetes cannot read this document; "
                    "quote the value if you mean the text",
                    special_float,
                )
            documents.append(result)
            continue
        else:
            continue

        # A node is complete: it is a map key, a map value or a list item (or the document itself).
        if stack:
            top = stack[-1]
            if top[1]:
                key = top[2]
                if key is _MISSING:
                    if merge_key:
                        top[2] = _MergeKey(mark)
                    elif result.__class__ is str:
                        if key_sources and result in top[0]:
                            _claim_key(key_sources, top[0], result, result, mark)
                        top[2] = result
                    else:
                        top[2] = _claim_key(key_sources, top[0], json_key(result, mark), result, mark)
                    continue
                top[2] = _MISSING
                if key.__class__ is _MergeKey:
                    _merge(top[0], result, cls is _AliasEvent, key.mark, key_sources)
                    continue
                top[0][key] = result
            else:
                top[0].append(result)
        if result.__class__ is float and special_float is None and not math.isfinite(result):
            special_float = mark
    return documents


#: id(map) -> (the map, kept alive so its id is not reused; {JSON key: the YAML key it came from}), for the maps
#: of one document that have a key that was not a string.
_KeySources = dict[int, tuple[dict, dict[str, object]]]


def _claim_key(key_sources: _KeySources, target: dict, key: str, source, mark) -> str:
    """Record that `key` in `target` came from the YAML key `source`, refusing two different YAML keys that become
    one JSON key (`1` and `'1'`, `1` and `1.0`, `true` and `'true'`, two `.nan`). go-yaml v2 decodes them as two
    entries of a map[interface{}]interface{}, and sigs.k8s.io/yaml yaml.go `convertToJSONableObject` then writes
    both to one string key while ranging over that Go map, whose order is random: Kubernetes keeps either value."""
    entry = key_sources.get(id(target))
    if key in target:
        before = entry[1].get(key, key) if entry is not None else key
        if not (before.__class__ is source.__class__ and before == source):
            raise KubernetesYAMLError(
                f"the map keys {before!r} and {source!r} both become the JSON key {key!r}, and Kubernetes keeps one of "
                "their values at random; keep one key, quoted", mark)
    if source.__class__ is not str:
        if entry is None:
            entry = key_sources[id(target)] = (target, {})
        entry[1][key] = source
    return key


def _merge(target: dict, value, from_alias: bool, mark, key_sources: _KeySources) -> None:
    """decode.go `merge`: a map's entries are written into the target over what it holds already; for a sequence of
    maps the last is written first, so earlier maps win over later ones."""
    if value.__class__ is dict:
        _merge_map(target, value, mark, key_sources)
        return
    if value.__class__ is list and not from_alias and all(item.__class__ is dict for item in value):
        for item in reversed(value):
            _merge_map(target, item, mark, key_sources)
        return
    raise KubernetesYAMLError("map merge requires map or sequence of maps as the value", mark)


def _merge_map(target: dict, source: dict, mark, key_sources: _KeySources) -> None:
    if key_sources:
        entry = key_sources.get(id(source))
        for key in source:
            _claim_key(key_sources, target, key, entry[1].get(key, key) if entry is not None else key, mark)
    target.update(source)


def _has_special_float(value) -> bool:
    """Whether a NaN or infinity is left in the document (a later duplicate key may have replaced it)."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        cls = item.__class__
        if cls is float:
            if not math.isfinite(item):
                return True
        elif cls is dict or cls is list:
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item.values() if cls is dict else item)
    return False


# --- aliases: decode.go `unmarshal` ------------------------------------------------------------------------------------

_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decodes: int) -> float:
    """decode.go `allowedAliasRatio`."""
    if decodes <= _ALIAS_LOW:
        return 0.99
    if decodes >= _ALIAS_HIGH:
        return 0.10
    return 0.99 - 0.89 * ((decodes - _ALIAS_LOW) / (_ALIAS_HIGH - _ALIAS_LOW))


def _excessive(aliases: int, decodes: int) -> bool:
    return aliases > 100 and decodes > 1000 and aliases / decodes > _allowed_alias_ratio(decodes)


class _Node:
    __slots__ = ("kind", "children", "merges", "mark", "size")

    def __init__(self, kind: str, mark, size: int = 1):
        self.kind, self.mark, self.size = kind, mark, size
        self.children: list[_Node] = []
        self.merges: set[int] = set()  # indexes of the merge keys among a map's children


def _document_tree(content: bytes, index: int) -> _Node | None:
    """The nodes of the stream's document `index`, each with `size`: how many nodes decode.go `unmarshal` visits
    to decode it, aliases expanded (an alias counts itself and its target; a merge key does not count, nor does
    the sequence of a merge, only its maps)."""
    documents = -1
    stack: list[_Node] = []
    anchors: dict[str, _Node] = {}
    root = None
    for event in _events(content):
        cls = event.__class__
        if cls is _DocumentStartEvent:
            documents += 1
            continue
        if documents != index:
            if documents > index:
                break
            continue
        if cls is _MappingStartEvent or cls is _SequenceStartEvent:
            node = _Node("map" if cls is _MappingStartEvent else "seq", event.start_mark)
            if event.anchor is not None:
                anchors[event.anchor] = node
            stack.append(node)
            continue
        if cls is _ScalarEvent:
            node = _Node("scalar", event.start_mark)
            if event.anchor is not None:
                anchors[event.anchor] = node
        elif cls is _AliasEvent:
            node = _Node("alias", event.start_mark, 1 + anchors[event.anchor].size)
        elif cls is _MappingEndEvent or cls is _SequenceEndEvent:
            node = stack.pop()
            if node.kind == "seq":
                node.size = 1 + sum(child.size for child in node.children)
            else:
                for position in range(0, len(node.children), 2):
                    value = node.children[position + 1]
                    if position in node.merges:
                        node.size += sum(item.size for item in value.children) if value.kind == "seq" else value.size
                    else:
                        node.size += node.children[position].size + value.size
        else:
            continue
        if not stack:
            root = node
            continue
        parent = stack[-1]
        if parent.kind == "map" and len(parent.children) % 2 == 0 and cls is _ScalarEvent:
            if event.value == "<<" and (event.implicit[0] or event.tag == MERGE):
                parent.merges.add(len(parent.children))
        parent.children.append(node)
    return root


def _check_aliasing(content: bytes, index: int) -> None:
    """go-yaml v2 refuses a document whose decoding is mostly alias expansion ("document contains excessive
    aliasing", its defence against alias bombs): it counts every node it decodes and every one it decodes inside an
    alias, and checks their ratio at each node. This replays the count in its order without expanding anything:
    inside one expansion both counts grow together, so the ratio only rises while the allowed ratio only falls,
    and checking at the expansion's end decides it."""
    root = _document_tree(content, index)
    if root is None:
        return
    decodes, aliases = 1, 0  # the document node
    pending = [root]
    while pending:
        node = pending.pop()
        decodes += 1
        if _excessive(aliases, decodes):
            raise KubernetesYAMLError("document contains excessive aliasing", node.mark)
        if node.kind == "alias":
            decodes += node.size - 1
            aliases += node.size - 1
            if _excessive(aliases, decodes):
                raise KubernetesYAMLError("document contains excessive aliasing", node.mark)
        elif node.kind == "seq":
            pending.extend(reversed(node.children))
        elif node.kind == "map":
            order: list[_Node] = []
            for position in range(0, len(node.children), 2):
                value = node.children[position + 1]
                if position not in node.merges:
                    order += (node.children[position], value)
                elif value.kind == "seq":
                    order += reversed(value.children)  # decode.go `merge`: the last map of the sequence first
                else:
                    order.append(value)
            pending.extend(reversed(order))
