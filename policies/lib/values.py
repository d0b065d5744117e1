"""Values as the policy engine hands them over, including the ones unknown during preview.

During `pulumi preview` an input that depends on another resource's output is not known yet.
The engine sends it as one of the sentinel strings below (pulumi-policy's `proxy.py` defines the
same constants; they are copied so the rules need no pulumi-policy import). A rule that would
need such a value to decide treats the question as *undecided*: it reports nothing rather than a
violation that may not exist.

Rules signal "undecided" by raising `Undecided`; the smallest enclosing scope (a container, a
check, a policy) catches it and moves on.
"""

from __future__ import annotations

from typing import Any

UNKNOWN_BOOLEAN = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
UNKNOWN_NUMBER = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
UNKNOWN_ASSET = "030794c1-ac77-496b-92df-f27374a8bd58"
UNKNOWN_ARCHIVE = "e48ece36-62e2-4504-bad9-02848725956a"
UNKNOWN_OBJECT = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"

UNKNOWNS = frozenset(
    {
        UNKNOWN_BOOLEAN,
        UNKNOWN_NUMBER,
        UNKNOWN_STRING,
        UNKNOWN_ARRAY,
        UNKNOWN_ASSET,
        UNKNOWN_ARCHIVE,
        UNKNOWN_OBJECT,
    }
)


class Undecided(Exception):
    """A value needed for the verdict is unknown during preview."""


def is_unknown(value: Any) -> bool:
    return value.__class__ is str and value in UNKNOWNS


def known(value: Any) -> Any:
    """The value itself, or `Undecided` if it is unknown."""
    if value.__class__ is str and value in UNKNOWNS:
        raise Undecided
    return value


def obj(value: Any) -> dict | None:
    """A mapping, or None when absent or null. Malformed values count as absent (the API
    server would reject them before any admission check)."""
    if value.__class__ is dict:
        return value
    if value is None:
        return None
    if value.__class__ is str and value in UNKNOWNS:
        raise Undecided
    return None


def seq(value: Any) -> list | tuple:
    """A list, or an empty tuple when absent, null or malformed."""
    if value.__class__ is list:
        return value
    if value is None:
        return ()
    if value.__class__ is str and value in UNKNOWNS:
        raise Undecided
    return ()


def flag(value: Any) -> bool | None:
    """True, False, or None when absent/null/not a boolean."""
    if value is True or value is False:
        return value
    if value.__class__ is str and value in UNKNOWNS:
        raise Undecided
    return None


def text(value: Any) -> str:
    """A string, '' when absent or null; numbers are rendered like the API would."""
    if value.__class__ is str:
        if value in UNKNOWNS:
            raise Undecided
        return value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return num(value)


def num(value: Any) -> str:
    """Renders a number without the `.0` that protobuf's doubles add to integers."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def name_of(item: Any) -> str:
    """`item.name` for messages; an unknown name is shown as `<unknown>`."""
    if item.__class__ is dict:
        value = item.get("name")
        if value.__class__ is str:
            return "<unknown>" if value in UNKNOWNS else value
        return "" if value is None else str(value)
    return ""


def quote(items) -> str:
    """`"a", "b"` like the Pod Security library's joinQuote."""
    return ", ".join(f'"{item}"' for item in items)


def plural(count: int, singular: str, many: str) -> str:
    return singular if count == 1 else many


def contains_unknown(value: Any) -> bool:
    """True if any value nested anywhere in `value` is unknown."""
    if value.__class__ is str:
        return value in UNKNOWNS
    if value.__class__ is dict:
        return any(contains_unknown(v) for v in value.values())
    if value.__class__ is list:
        return any(contains_unknown(v) for v in value)
    return False
