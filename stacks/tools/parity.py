"""Parity of two sites: `python -m stacks parity onprem-dc1 onprem-dc2 [--allow KEY ...]`.

The sites of an environment are built from the same code and the same team and service config;
only what belongs to a site (its name and role, network ranges, object storage, registry host)
may differ. This compares the two stacks' validated config and the inventories they register
(every resource, its inputs and options) and reports every other difference, one line each:

    teams[search].quota.cpu: 8 != 16
    inventory[rancher2:index/project:Project::platform-rancher-project-billing]: (absent) != (registered)

Inventory values that come from an allowed key are compared with that key's value replaced by a
placeholder (`harbor.dc1.example.com` and `harbor.dc2.example.com` both read
`<services.registry.hostname>`), so a site-specific value never counts as drift where it is used,
and anything else that differs does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from collections.abc import Iterator
from urllib.parse import urlparse

# Keys that belong to a site. `--allow` adds to these.
DEFAULT_ALLOW = (
    "site.name",
    "site.role",
    "site.primary",
    "site.secondaries",
    "infrastructure.data_centre",
    "infrastructure.network",  # node, pod and service ranges: disjoint per site by rule
    "infrastructure.etcd_snapshots.restore",  # a restore is an operation at one site
    "storage.endpoint",
    "storage.buckets",
    "storage.credentials",
    "services.registry.hostname",
    "services.monitoring.central.hostname",
    # A secondary restores its primary's backups through a read-only Velero location of its own.
    "inventory[kubernetes:velero.io/v1:BackupStorageLocation::platform-backup-primary-location]",
    # Harbor replication follows the roles: the primary grants the robot account, a secondary pulls.
    "inventory[harbor:index/robotAccount:RobotAccount::platform-harbor-replication-robot]",
    "inventory[harbor:index/registry:Registry::platform-harbor-primary]",
    "inventory[harbor:index/replication:Replication::platform-harbor-from-primary]",
    "services.registry.replication_secret",
    # A secondary's databases are standbys of the primary's (components/services/postgres.py).
    "inventory[kubernetes:acid.zalan.do/v1:postgresql::*].inputs.spec.standby",
    "inventory[kubernetes:acid.zalan.do/v1:postgresql::*].inputs.spec.env[STANDBY_*]",
    # The central view follows the roles too: the primary receives metrics and logs at its telemetry
    # host (Ingresses, basic-auth Secrets, the policies admitting the ingress controller, Prometheus's
    # remote-write receiver) and watches its secondaries (SiteDown rules); a secondary sends there
    # (Prometheus remote-write, a second Loki output of Fluent Bit, their credentials).
    "inventory[*::platform-observability-*central*]",
    "inventory[*::platform-observability-*remote-write*]",
    "inventory[kubernetes:networking.k8s.io/v1:NetworkPolicy::platform-observability-metrics-ingress-to-prometheus]",
    "inventory[kubernetes:monitoring.coreos.com/v1:PrometheusRule::platform-observability-alert-rules-sites]",
    "inventory[kubernetes:helm.sh/v4:Chart::platform-observability-metrics-kube-prometheus-stack].inputs.values.prometheus.prometheusSpec.enableRemoteWriteReceiver",
    "inventory[kubernetes:helm.sh/v4:Chart::platform-observability-metrics-kube-prometheus-stack].inputs.values.prometheus.prometheusSpec.remoteWrite",
    "inventory[kubernetes:helm.sh/v4:Chart::platform-observability-logs-fluent-bit].inputs.values.config.outputs",
    # Kafka between the sites follows the roles (components/services/kafka_mirror.py): the primary serves its cross-site
    # listener and a read-only user per secondary; a secondary runs MirrorMaker 2 with its certificate, user and egress.
    "services.kafka.site_listener",
    "inventory[kubernetes:kafka.strimzi.io/v1:Kafka::platform-kafka-cluster].inputs.spec.kafka.listeners[site]",
    "inventory[kubernetes:kafka.strimzi.io/v1:Kafka::platform-kafka-cluster].options.depends_on",  # on the listener's certificate
    "inventory[*::platform-kafka-site-listener-certificate]",
    "inventory[*::platform-kafka-allow-other-sites]",
    "inventory[*::platform-kafka-*mirror*]",
    # The environment's Fleet objects in Rancher's management cluster are written by the primary's stack
    # (components/access/fleet.py); every site has its teams' deployer accounts.
    "inventory[*::platform-releases*]",
)

ABSENT = object()
_OPAQUE = ("[secret]", "[unknown]")


class Difference:
    def __init__(self, key: str, left: Any, right: Any, present: str = "declared"):
        self.key, self.left, self.right, self.present = key, left, right, present

    def _show(self, value: Any) -> str:
        if value is ABSENT:
            return "(absent)"
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return f"({self.present})"
        return json.dumps(value, sort_keys=True)

    def __str__(self) -> str:
        return f"{self.key}: {self._show(self.left)} != {self._show(self.right)}"


def _glob(pattern: str) -> re.Pattern:
    # Only `*` is a wildcard; brackets are part of keys (`teams[search]`), not character classes.
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def allowed(key: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """`key` is one of the patterns, lies below one (`storage.buckets` allows `storage.buckets.logs`),
    or matches one with `*` as a wildcard (`teams[*].groups`, `inventory[*::team-search-*]*`)."""
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) or ("*" in p and _glob(p).match(key)) for p in patterns)


def _join(key: str, part: str) -> str:
    return part if not key else f"{key}{part}" if part.startswith("[") else f"{key}.{part}"


def _named(value: Any) -> dict[str, Any] | None:
    """A list of objects with unique `name`s, keyed by name (teams, workloads), else None."""
    if isinstance(value, list) and value and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value):
        names = [item["name"] for item in value]
        if len(set(names)) == len(names):
            return {f"[{item['name']}]": item for item in value}
    return None


def compare(left: Any, right: Any, key: str, skip, out: list[Difference], present: str = "declared") -> None:
    """Every difference between two values, deepest key first where both sides have the key."""
    if skip(key, left, right):
        return
    if left is ABSENT or right is ABSENT:
        out.append(Difference(key, left, right, present))
        return
    left_named, right_named = _named(left), _named(right)
    if left_named is not None and right_named is not None:
        left, right = left_named, right_named
    elif (
        isinstance(left, list)
        and isinstance(right, list)
        and len(left) == len(right)
        and any(isinstance(item, (dict, list)) for item in left)
    ):
        left, right = ({f"[{index}]": item for index, item in enumerate(side)} for side in (left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        for part in list(left) + [part for part in right if part not in left]:
            compare(left.get(part, ABSENT), right.get(part, ABSENT), _join(key, str(part)), skip, out, present)
    elif left != right:
        out.append(Difference(key, left, right, present))


# --- config --------------------------------------------------------------------------------------


def config_differences(left, right, allow) -> list[Difference]:
    out: list[Difference] = []
    compare(left.model_dump(mode="json"), right.model_dump(mode="json"), "", lambda key, *_: bool(key) and allowed(key, allow), out)
    return out


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    named = _named(value)
    if named is not None:
        value = named
    if isinstance(value, dict):
        for part, item in value.items():
            yield from _leaves(item, _join(key, str(part)))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    else:
        yield key, value


def placeholders(config, other, stack: str, allow) -> list[tuple[str, str]]:
    """(site-specific value, placeholder) pairs, longest value first: the string values of the
    allowed keys (URLs also as host and without the trailing slash) and the stack's own name.

    A key allowed beyond the defaults gives a placeholder only where both stacks have it, so the
    values of something one site alone declares (an extra team) are not mistaken for site values;
    a value shorter than three characters is none either, as it would match inside other values.
    """
    theirs = {key for key, _ in _leaves(other.model_dump(mode="json"))}
    pairs = {stack: "<stack>"}
    for key, value in _leaves(config.model_dump(mode="json")):
        if not isinstance(value, str) or len(value) < 3 or value in _OPAQUE or not allowed(key, allow):
            continue
        if key not in theirs and not allowed(key, DEFAULT_ALLOW):
            continue
        forms = {value}
        parsed = urlparse(value)
        if parsed.scheme in ("http", "https") and parsed.netloc:
            forms |= {parsed.netloc, value.rstrip("/")}
        for form in forms:
            pairs.setdefault(form, f"<{key}>")
    return sorted(pairs.items(), key=lambda pair: (-len(pair[0]), pair[1]))


def _substitute(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for text, placeholder in pairs:
            value = value.replace(text, placeholder)
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, pairs) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, pairs) for item in value]
    return value


def _only_placeholders(value: Any) -> bool:
    """A site-specific value as a whole: one placeholder, or a mapping of nothing but those."""
    if isinstance(value, dict):
        return bool(value) and all(_only_placeholders(item) for item in value.values())
    return isinstance(value, str) and value.startswith("<") and value.endswith(">") and "<" not in value[1:-1]


# --- inventory -----------------------------------------------------------------------------------


def inventory_differences(left_registrations, right_registrations, left_pairs, right_pairs, allow=()) -> list[Difference]:
    def resources(registrations, pairs) -> dict[str, Any]:
        return {
            f"inventory[{r.type}::{r.name}]": _substitute({"parent": r.parent, "inputs": r.inputs, "options": r.options}, pairs)
            for r in registrations
        }

    def site_specific(key: str, left: Any, right: Any) -> bool:
        # Allowed by name (`--allow 'inventory[<type>::<name>].inputs.spec'`), or a value that only
        # one site has and that is wholly site-specific (the standby annotation naming the primary).
        if allowed(key, allow):
            return True
        return "]." in key and ((left is ABSENT and _only_placeholders(right)) or (right is ABSENT and _only_placeholders(left)))

    left, right = resources(left_registrations, left_pairs), resources(right_registrations, right_pairs)
    out: list[Difference] = []
    for key in list(left) + [key for key in right if key not in left]:
        compare(left.get(key, ABSENT), right.get(key, ABSENT), key, site_specific, out, present="registered")
    return out


# --- command -------------------------------------------------------------------------------------


def _stack_and_path(argument: str) -> tuple[str, Path | None]:
    if argument.endswith((".yaml", ".yml")) or "/" in argument:
        path = Path(argument)
        return path.name.removeprefix("Pulumi.").rsplit(".", 1)[0], path
    return argument, None


def parity(first: str, second: str, allow=DEFAULT_ALLOW) -> tuple[list[Difference], int]:
    """Every difference between two stacks outside `allow`, and the first stack's resource count.

    Raises loader.ConfigError when either stack's config is invalid.
    """
    from .inventory import evaluate
    from ..loader import load

    (left_stack, left_path), (right_stack, right_path) = _stack_and_path(first), _stack_and_path(second)
    left, right = load(left_stack, left_path), load(right_stack, right_path)
    differences = config_differences(left, right, allow)
    left_registrations = evaluate(left_stack, left_path)
    right_registrations = evaluate(right_stack, right_path)
    differences += inventory_differences(
        left_registrations,
        right_registrations,
        placeholders(left, right, left_stack, allow),
        placeholders(right, left, right_stack, allow),
        allow,
    )
    return differences, len(left_registrations)


def run(args) -> int:
    from ..loader import ConfigError

    allow = tuple(DEFAULT_ALLOW) + tuple(args.allow)
    try:
        differences, resources = parity(args.first, args.second, allow)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    first, second = _stack_and_path(args.first)[0], _stack_and_path(args.second)[0]
    if not differences:
        print(f"{first} and {second} are in parity: config and {resources} resources; site-specific: {', '.join(allow)}")
        return 0
    print(f"{first} and {second} drift in {len(differences)} key{'s' if len(differences) != 1 else ''}:")
    for difference in differences:
        print(f"  {difference}")
    return 1


def add_parser(commands) -> None:
    """The `parity` subcommand of `python -m stacks`."""
    parser = commands.add_parser("parity", help="compare two sites' config and inventories; exit 1 on any difference not allowed")
    parser.add_argument("first", help="a stack name or stack file path (e.g. onprem-dc1)")
    parser.add_argument("second", help="a stack name or stack file path (e.g. onprem-dc2)")
    parser.add_argument(
        "--allow", action="append", default=[], metavar="KEY",
        help="a config key, or an inventory key as printed, or a glob of either, that may differ besides the site-specific "
        f"defaults ({', '.join(DEFAULT_ALLOW)}); repeat for more",
    )
    parser.set_defaults(run=run)
