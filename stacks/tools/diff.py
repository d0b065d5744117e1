"""How two stacks differ: `python -m stacks diff STACK_A STACK_B [--json]`.

Both stacks' validated config (defaults, profile and stack file merged) and the inventories they
register are compared key by key, with the comparison `python -m stacks parity` uses, but nothing
is allowed to differ: this answers "what does prod have that test does not" before a promotion,
not "are the two sites in parity". Each stack's own name is replaced by `<stack>` in the
inventory, so names derived from it do not hide the differences that matter.

    config (14):
      environment: test != prod
      infrastructure.sku_tier: Free != Standard
    inventory: test 72 resources, prod 80; only in prod (8), only in test (0), changed (31)
      + azure-native:authorization:ManagementLockAtResourceGroupLevel::platform-aks-lock
      ~ azure-native:containerservice:AgentPool::platform-aks-pool-general
          inputs.minCount: 0 != 2
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from .parity import ABSENT, Difference, _stack_and_path, config_differences, inventory_differences

_RESOURCE = re.compile(r"^inventory\[(?P<resource>[^\]]+)\](?P<rest>.*)$")


@dataclass
class StackDiff:
    left: str
    right: str
    left_count: int
    right_count: int
    config: list[Difference] = field(default_factory=list)
    only_left: list[str] = field(default_factory=list)
    only_right: list[str] = field(default_factory=list)
    #: resource -> its changed keys (relative to the resource, e.g. `inputs.minCount`).
    changed: dict[str, list[Difference]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.config or self.only_left or self.only_right or self.changed)

    def to_json(self) -> dict[str, Any]:
        def value(item: Any) -> Any:
            return None if item is ABSENT else item

        return {
            "left": self.left,
            "right": self.right,
            "resources": {self.left: self.left_count, self.right: self.right_count},
            "config": [{"key": d.key, self.left: value(d.left), self.right: value(d.right)} for d in self.config],
            "onlyIn": {self.left: self.only_left, self.right: self.only_right},
            "changed": {
                resource: [{"key": d.key, self.left: value(d.left), self.right: value(d.right)} for d in differences]
                for resource, differences in self.changed.items()
            },
        }


def diff(first: str, second: str) -> StackDiff:
    """Every difference between two stacks. Raises loader.ConfigError when either config is invalid."""
    from .inventory import evaluate
    from ..loader import load

    (left_stack, left_path), (right_stack, right_path) = _stack_and_path(first), _stack_and_path(second)
    left, right = load(left_stack, left_path), load(right_stack, right_path)
    left_registrations, right_registrations = evaluate(left_stack, left_path), evaluate(right_stack, right_path)
    result = StackDiff(left_stack, right_stack, len(left_registrations), len(right_registrations), config_differences(left, right, ()))
    names = lambda stack: [(stack, "<stack>")] if len(stack) >= 3 else []  # noqa: E731
    for difference in inventory_differences(left_registrations, right_registrations, names(left_stack), names(right_stack)):
        match = _RESOURCE.match(difference.key)
        assert match is not None, difference.key  # inventory_differences keys every difference `inventory[...]`
        resource, rest = match.group("resource"), match.group("rest").lstrip(".")
        if not rest and difference.left is ABSENT:
            result.only_right.append(resource)
        elif not rest and difference.right is ABSENT:
            result.only_left.append(resource)
        else:
            result.changed.setdefault(resource, []).append(Difference(rest, difference.left, difference.right, difference.present))
    return result


def render(result: StackDiff, limit: int = 8) -> str:
    """The differences as text; at most `limit` changed keys per resource (0: all)."""
    lines = [f"{result.left} -> {result.right}"]
    lines.append(f"config ({len(result.config)} difference{'s' if len(result.config) != 1 else ''}):")
    lines += [f"  {difference}" for difference in result.config] or ["  (none)"]
    lines.append(
        f"inventory: {result.left} {result.left_count} resources, {result.right} {result.right_count}; "
        f"only in {result.right} ({len(result.only_right)}), only in {result.left} ({len(result.only_left)}), changed "
        f"({len(result.changed)})"
    )
    lines += [f"  + {resource}  (only in {result.right})" for resource in result.only_right]
    lines += [f"  - {resource}  (only in {result.left})" for resource in result.only_left]
    for resource, differences in result.changed.items():
        lines.append(f"  ~ {resource}")
        shown = differences if not limit else differences[:limit]
        lines += [f"      {difference}" for difference in shown]
        if len(shown) < len(differences):
            lines.append(f"      ... {len(differences) - len(shown)} more (--limit 0 shows all)")
    return "\n".join(lines)


def run(args) -> int:
    from ..loader import ConfigError

    try:
        result = diff(args.first, args.second)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(result.to_json(), indent=2, default=str) if args.json else render(result, args.limit))
    return 0


def add_parser(commands) -> None:
    parser = commands.add_parser("diff", help="how two stacks' config and inventories differ (e.g. test against prod)")
    parser.add_argument("first", help="a stack name or stack file path (e.g. test)")
    parser.add_argument("second", help="a stack name or stack file path (e.g. prod)")
    parser.add_argument("--json", action="store_true", help="the differences as JSON")
    parser.add_argument("--limit", type=int, default=8, metavar="N", help="changed keys shown per resource (0: all; default 8)")
    parser.set_defaults(run=run)
