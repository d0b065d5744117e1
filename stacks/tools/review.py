"""Offline policy review of a stack: `python -m stacks review STACK [--markdown] [--config FILE]`.

The verdicts of `pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json`
without the CLI, a cloud account or a cluster:

1. The program is evaluated under the mock runtime, exactly as `python -m stacks inventory` does,
   and every RegisterResource request is kept in its raw wire form (`record`).
2. Each request becomes what the engine hands a policy pack (`EngineResource`): the engine's URN,
   the inputs marshalled the way the engine marshals them for analyzers (secrets stay secrets,
   unknowns stay the engine's unknown sentinels, resource references become IDs or URNs, internal
   `__` keys dropped), and the options (protect, parent, provider, dependencies, ...).
3. The pack runs behind pulumi-policy's own analyzer service (`PackAnalyzer`): `Configure` with
   the environment's config reconciled the way the engine reconciles it, `Analyze` for every
   resource and `AnalyzeStack` once for the whole stack.

Analysis and presentation are separate: `review()` returns a `Review`, and the renderers are tuples
of sections (`TEXT_SECTIONS`, `MARKDOWN_SECTIONS`), so later sections are added as functions of a
`Review` without touching the others: the cost estimate (stacks/tools/cost.py, with its change against a
base commit) and a Mermaid diagram of the complete cluster (stacks/tools/diagram.py).

The servicer runs in-process rather than behind a gRPC server on 127.0.0.1: it is the very object
pulumi-policy's `PolicyPack` registers on its server, and the only thing gRPC adds in between is
protobuf wire encoding, which `PackAnalyzer` reproduces by round-tripping every request and
response through its serialized bytes. That keeps the same code path and the same bytes without a
port, server threads or a subprocess (the pack's own boot as `python -m pulumi.policy` is tested in
tests/policies/test_policy_pack.py).

Known differences from a real preview: providers' Check is not run (e.g. the Kubernetes provider's
auto-naming of `metadata.name`), default providers are not synthesised, alias specs are not
resolved to URNs, and remediations are not run (the pack has none).
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc

from . import inventory
from ..loader import STACKS_DIR, ConfigError, display_path, load
from ..model import PROJECT

ROOT = STACKS_DIR.parent
POLICY_DIR = ROOT / "policies"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
COMPLETE_CLUSTER_TYPE = "platform:index:CompleteCluster"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"
#: The layer row for resources that belong to no component under the CompleteCluster.
TOP_LEVEL = "(top level)"

_SIG = rpc._special_sig_key
_SECRET = rpc._special_secret_sig
#: The SDK sends every unknown as this sentinel; the engine reads it as an unknown string and hands
#: analyzers the same sentinel back (its UnknownStringValue).
UNKNOWN = rpc.UNKNOWN

MANDATORY = "mandatory"
ADVISORY = "advisory"


# --- what the engine hands a policy pack ---------------------------------------------------------


@dataclass(frozen=True)
class EngineResource:
    """One resource as the engine describes it to an analyzer: properties in wire form (secrets as
    secret objects, unknowns as the engine's sentinels) and the resource options."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str = ""
    #: What `Analyze` receives (the resource's inputs).
    inputs: Mapping[str, Any] = field(default_factory=dict)
    #: What `AnalyzeStack` receives; None means the inputs (a custom resource previewed for create).
    outputs: Mapping[str, Any] | None = None
    #: Provider reference `urn::id`, "" for none (or the default provider, which is not synthesised).
    provider: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: create, update, delete in seconds.
    custom_timeouts: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def key(self) -> str:
        """`type::name`, the way the inventory and the report name a resource."""
        return resource_key(self.urn)


def qualified_type(urn: str) -> str:
    return urn.split("::", 3)[2]


def resource_key(urn: str) -> str:
    parts = urn.split("::", 3)
    return f"{parts[2].split('$')[-1]}::{parts[3]}" if len(parts) == 4 else urn


def engine_urn(stack: str, project: str, type_: str, name: str, parent: str = "") -> str:
    """The URN the engine gives a resource: parent types chained with `$`, the root stack left out."""
    if parent and qualified_type(parent) != ROOT_STACK_TYPE:
        type_ = f"{qualified_type(parent)}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def engine_value(value: Any, urns: Mapping[str, str] | None = None) -> Any:
    """A property value the SDK sent to RegisterResource, as the engine marshals it for analyzers
    (`KeepUnknowns`, `KeepSecrets`, `SkipInternalKeys`, resources as their ID or URN).

    `urns` maps URNs as the monitor named them to the engine's URNs.
    """
    urns = urns or {}
    if isinstance(value, dict):
        signature = value.get(_SIG)
        if signature == _SECRET:
            return {_SIG: _SECRET, "value": engine_value(value.get("value"), urns)}
        if signature == rpc._special_resource_sig:
            if "id" in value:  # a custom resource: its ID, unknown until it is created
                return value["id"] or UNKNOWN
            return urns.get(value.get("urn", ""), value.get("urn", ""))
        if signature == rpc._special_output_value_sig:
            if "value" not in value:
                return UNKNOWN
            known = engine_value(value["value"], urns)
            return {_SIG: _SECRET, "value": known} if value.get("secret") else known
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return value
        return {key: engine_value(item, urns) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        return [engine_value(item, urns) for item in value]
    return value


_DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """A Go duration (`"10m"`, `"1h30m"`) in seconds, as the engine parses custom timeouts."""
    if not text or text == "0":
        return 0.0
    sign, body = (-1.0, text[1:]) if text[0] == "-" else (1.0, text.lstrip("+"))
    parts = _DURATION.findall(body)
    if not parts or "".join(number + unit for number, unit in parts) != body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


# --- recording the evaluation --------------------------------------------------------------------


class _Recorder(inventory.RecordingMonitor):
    """The inventory's monitor, additionally keeping every raw request (the root stack's too) and
    every RegisterResourceOutputs, in the order the program sees them answered."""

    def __init__(self, mocks_, registrations, *, sink: list, outputs: dict):
        super().__init__(mocks_, registrations)
        self._sink = sink
        self._outputs = outputs
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        copy = type(request)()
        copy.CopyFrom(request)
        with self._lock:  # before answering: a child's request cannot arrive before its parent is kept
            self._sink.append((response.urn, copy))
        return response

    def RegisterResourceOutputs(self, request):
        with self._lock:
            self._outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


def record(stack: str, path: Path | None = None) -> list[EngineResource]:
    """Every resource the program registers for `stack`, the root stack first, as the engine would
    describe it to a policy pack. Raises loader.ConfigError on invalid config."""
    sink: list = []
    outputs: dict = {}
    # One evaluation path (config loading, runtime reset) for the inventory and the review.
    inventory.evaluate(stack, path, recorder=functools.partial(_Recorder, sink=sink, outputs=outputs))
    return _from_requests(stack, PROJECT, sink, outputs)


def _from_requests(stack: str, project: str, sink: list, outputs: Mapping[str, dict]) -> list[EngineResource]:
    urns: dict[str, str] = {}  # the monitor's URN -> the engine's URN

    def ref(urn: str) -> str:
        return urns.get(urn, urn)

    resources = []
    for monitor_urn, request in sink:
        parent = ref(request.parent) if request.parent else ""
        urn = engine_urn(stack, project, request.type, request.name, parent)
        urns[monitor_urn] = urn
        provider = ""
        if request.provider:
            provider_urn, _, provider_id = request.provider.rpartition("::")
            provider = f"{ref(provider_urn)}::{provider_id}"
        timeouts = request.customTimeouts
        registered = outputs.get(monitor_urn)
        resources.append(
            EngineResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=parent,
                inputs=engine_value(json_format.MessageToDict(request.object), urns),
                outputs=None if registered is None else engine_value(registered, urns),
                provider=provider,
                dependencies=tuple(ref(dependency) for dependency in request.dependencies),
                property_dependencies={
                    key: tuple(ref(u) for u in deps.urns) for key, deps in request.propertyDependencies.items() if deps.urns
                },
                protect=bool(request.protect),
                ignore_changes=tuple(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None,
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                aliases=tuple(request.aliasURNs) + tuple(alias.urn for alias in request.aliases if alias.urn),
                custom_timeouts=(duration_seconds(timeouts.create), duration_seconds(timeouts.update), duration_seconds(timeouts.delete)),
            )
        )
    return resources


def _readable_to_wire(value: Any, keys: Mapping[str, EngineResource]) -> Any:
    if value == inventory.SECRET:
        return {_SIG: _SECRET, "value": UNKNOWN}  # a secret whose value the inventory does not show
    if value == inventory.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        if set(value) == {"resource"} and isinstance(value["resource"], str):
            target = keys.get(value["resource"])
            return target.urn if target is not None and not target.custom else UNKNOWN
        return {key: _readable_to_wire(item, keys) for key, item in value.items()}
    if isinstance(value, list):
        return [_readable_to_wire(item, keys) for item in value]
    return value


def from_registrations(
    registrations: Iterable[inventory.Registration], stack: str = "review", project: str = PROJECT
) -> list[EngineResource]:
    """The engine view of inventory registrations (e.g. synthetic ones in tests), the root stack
    first. Their readable forms map back as far as they can: `[unknown]` becomes the engine's
    unknown sentinel, `[secret]` a secret with an unknown value, and a reference to a custom
    resource its (unknown) ID. `record()` keeps the raw form and needs none of this."""
    root_name = f"{project}-{stack}"
    root = EngineResource(engine_urn(stack, project, ROOT_STACK_TYPE, root_name), ROOT_STACK_TYPE, root_name, custom=False)
    keys = {root.key: root}
    resources = [root]
    for registration in registrations:
        parent = keys[registration.parent].urn if registration.parent in keys else root.urn
        options = registration.options
        provider = options.get("provider")
        resource = EngineResource(
            urn=engine_urn(stack, project, registration.type, registration.name, parent),
            type=registration.type,
            name=registration.name,
            custom=registration.custom,
            parent=parent,
            inputs=_readable_to_wire(registration.inputs, keys),
            provider=f"{keys[provider].urn}::{keys[provider].name}-id" if provider in keys else "",
            dependencies=tuple(keys[key].urn for key in options.get("depends_on", ()) if key in keys),
            protect=bool(options.get("protect")),
            ignore_changes=tuple(options.get("ignore_changes", ())),
        )
        keys[resource.key] = resource
        resources.append(resource)
    return resources


# --- pulumi-policy's analyzer service ------------------------------------------------------------


def pack_version() -> str:
    """The pack's version from PulumiPolicy.yaml (the engine reports that one, not the SDK's)."""
    import yaml

    return str(yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text()).get("version", "0.0.1"))


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    #: `type::name` of the resource, None for a stack policy's verdict on the whole stack.
    resource: str | None
    message: str
    description: str = ""


class PackAnalyzer:
    """The CrossGuard pack behind pulumi-policy's analyzer service, configured like the engine
    configures it from `--policy-pack-config` (raises policies.enforcement.ConfigError)."""

    def __init__(self, config_path: str | Path | None = None):
        from pulumi.runtime import proto
        from pulumi_policy import EnforcementLevel
        from pulumi_policy.policy import _PolicyAnalyzerServicer

        from policies import enforcement
        from policies.pack import PACK_NAME, SPECS, pulumi_policies

        self._proto = proto
        self.name = PACK_NAME
        self.version = pack_version()
        source = str(config_path) if config_path is not None else "config"
        parsed = enforcement.load(str(config_path)) if config_path is not None else None
        self.effective = enforcement.reconcile(SPECS, parsed, source)
        self.order = [spec.name for spec in SPECS]
        self._servicer = _PolicyAnalyzerServicer(PACK_NAME, self.version, pulumi_policies(), EnforcementLevel.MANDATORY)
        levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "remediate": proto.REMEDIATE, "disabled": proto.DISABLED}
        self._levels = {value: name for name, value in levels.items()}
        config = {
            name: proto.PolicyConfig(enforcementLevel=levels[value.enforcement], properties=_struct(value.config))
            for name, value in self.effective.items()
        }
        self._call("Configure", proto.ConfigureAnalyzerRequest(policyConfig=config))

    def _call(self, method: str, request):
        """One RPC, with the request and response passed through their wire encoding as gRPC would."""
        request = type(request).FromString(request.SerializeToString())
        response = getattr(self._servicer, method)(request, None)
        return type(response).FromString(response.SerializeToString())

    def configure_stack(self, stack: str, project: str = PROJECT) -> None:
        self._call(
            "ConfigureStack",
            self._proto.AnalyzerStackConfigureRequest(stack=stack, project=project, organization="organization", dry_run=True),
        )

    # Requests, built the way the engine builds them (pkg/resource/plugin/analyzer_plugin.go).

    def _options(self, resource: EngineResource):
        proto = self._proto
        create, update, delete = resource.custom_timeouts
        return proto.AnalyzerResourceOptions(
            protect=resource.protect,
            ignoreChanges=list(resource.ignore_changes),
            deleteBeforeReplace=bool(resource.delete_before_replace),
            deleteBeforeReplaceDefined=resource.delete_before_replace is not None,
            additionalSecretOutputs=list(resource.additional_secret_outputs),
            aliases=list(resource.aliases),
            customTimeouts=proto.AnalyzerResourceOptions.CustomTimeouts(create=create, update=update, delete=delete),
            parent=resource.parent,
        )

    def _provider(self, resource: EngineResource, by_urn: Mapping[str, EngineResource]):
        provider = by_urn.get(resource.provider.rpartition("::")[0]) if resource.provider else None
        if provider is None:
            return None
        return self._proto.AnalyzerProviderResource(
            type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
        )

    def analyze_request(self, resource: EngineResource, by_urn: Mapping[str, EngineResource]):
        return self._proto.AnalyzeRequest(
            type=resource.type,
            properties=_struct(resource.inputs),
            urn=resource.urn,
            name=resource.name,
            options=self._options(resource),
            provider=self._provider(resource, by_urn),
        )

    def analyze_stack_request(self, resources: Sequence[EngineResource]):
        proto = self._proto
        by_urn = {resource.urn: resource for resource in resources}
        return proto.AnalyzeStackRequest(
            resources=[
                proto.AnalyzerResource(
                    type=resource.type,
                    properties=_struct(resource.inputs if resource.outputs is None else resource.outputs),
                    urn=resource.urn,
                    name=resource.name,
                    options=self._options(resource),
                    provider=self._provider(resource, by_urn),
                    parent=resource.parent,
                    dependencies=list(resource.dependencies),
                    propertyDependencies={
                        key: proto.AnalyzerPropertyDependencies(urns=list(urns)) for key, urns in resource.property_dependencies.items()
                    },
                )
                for resource in resources
            ]
        )

    def analyze(self, resources: Sequence[EngineResource]) -> list[Violation]:
        """Every resource through `Analyze`, then the stack through `AnalyzeStack`."""
        by_urn = {resource.urn: resource for resource in resources}
        violations = []
        for resource in resources:
            response = self._call("Analyze", self.analyze_request(resource, by_urn))
            violations += [self._violation(d, resource.key) for d in response.diagnostics]
        response = self._call("AnalyzeStack", self.analyze_stack_request(resources))
        for diagnostic in response.diagnostics:
            target = by_urn.get(diagnostic.urn)
            violations.append(
                self._violation(diagnostic, target.key if target else (resource_key(diagnostic.urn) if diagnostic.urn else None))
            )
        return violations

    def _violation(self, diagnostic, resource: str | None) -> Violation:
        level = self._levels.get(diagnostic.enforcementLevel, ADVISORY)
        if level == "remediate":  # the engine reports a remediate-level violation as mandatory
            level = MANDATORY
        description, message = diagnostic.description, diagnostic.message
        if description and message.startswith(description + "\n"):
            message = message[len(description) + 1 :]
        return Violation(diagnostic.policyName, level, resource, message, description)


# --- the review ----------------------------------------------------------------------------------


@dataclass
class Review:
    """What a review found for one stack; renderers read only this."""

    stack: str
    environment: str
    config_file: str
    pack: str
    pack_version: str
    #: Every resource the program registers (the root stack is analysed too but not listed).
    resources: list[EngineResource]
    violations: list[Violation]
    #: The stack's validated config (stacks.model.StackConfig), for sections that need it.
    config: Any = None
    #: The cost estimate (stacks.tools.cost.Estimate) and its change against a base (stacks.tools.cost.Change).
    estimate: Any = None
    cost_change: Any = None

    @property
    def counts(self) -> Counter:
        return Counter(violation.enforcement for violation in self.violations)

    @property
    def passed(self) -> bool:
        return self.counts[MANDATORY] == 0

    @property
    def unevaluated_charts(self) -> list[str]:
        """`name version` of each chart the stack installs: the review runs the program without Helm, so it sees each
        chart as one resource and none of the objects the chart would render."""
        return sorted(
            f"{str(resource.inputs.get('chart', resource.name)).rsplit('/', 1)[-1]} {resource.inputs.get('version', '')}".strip()
            for resource in self.resources
            if resource.type == HELM_CHART
        )

    def unevaluated_note(self) -> str:
        """What the verdict does not cover, said plainly; empty when the stack installs no chart."""
        charts = self.unevaluated_charts
        if not charts:
            return ""
        return (f"not evaluated: the objects of {_plural(len(charts), 'chart')} ({', '.join(charts)}), which only Helm renders; "
                "`pulumi preview --policy-pack policies` evaluates them")


def default_config(environment: str) -> Path:
    return POLICY_DIR / "config" / f"{environment}.json"


def _sorted(violations: Iterable[Violation], order: Sequence[str]) -> list[Violation]:
    """Mandatory first, then the pack's policy order, then resource and message."""
    rank = {name: index for index, name in enumerate(order)}
    return sorted(
        violations,
        key=lambda v: (v.enforcement != MANDATORY, rank.get(v.policy, len(rank)), v.policy, v.resource or "", v.message),
    )


def analyse(
    resources: Sequence[EngineResource],
    stack: str,
    environment: str,
    config_path: str | Path | None = None,
    analyzer: PackAnalyzer | None = None,
) -> Review:
    """Run the pack over `resources` (root stack first, as `record` and `from_registrations` give
    them) under `config_path`, default `policies/config/<environment>.json` (or with an analyzer
    already configured from that file)."""
    path = Path(config_path) if config_path is not None else default_config(environment)
    analyzer = analyzer or PackAnalyzer(path)
    analyzer.configure_stack(stack)
    violations = _sorted(analyzer.analyze(resources), analyzer.order)
    listed = [resource for resource in resources if resource.type != ROOT_STACK_TYPE]
    return Review(stack, environment, display_path(path), analyzer.name, analyzer.version, listed, violations)


def review(
    stack: str,
    path: Path | None = None,
    config_path: str | Path | None = None,
    *,
    base: str | None = None,
    base_file: str | Path | None = None,
) -> Review:
    """Evaluate `stack` (from `path`, default its stack file) and review it, under `config_path` or,
    by default, the config `python -m stacks policy-config` generates for the stack (its
    environment's file plus its registries, platform groups, budget and cost estimate). The cost
    estimate is compared with the same stack at commit `base`, or with an estimate saved in
    `base_file`. Raises loader.ConfigError or policies.enforcement.ConfigError on invalid config."""
    import tempfile

    from . import cost, policy_config

    config = load(stack, path)
    if config_path is not None:
        analyzer = PackAnalyzer(Path(config_path))  # a broken policy config fails before the evaluation
        resources = record(stack, path)
        result = analyse(resources, stack, config.environment, config_path, analyzer)
        estimate = cost.estimate(config, stack, resources)
    else:
        resources = record(stack, path)
        estimate = cost.estimate(config, stack, resources)
        with tempfile.TemporaryDirectory() as directory:
            generated = Path(directory) / f"{stack}.json"
            generated.write_text(policy_config.render(config, estimate.to_json()))
            analyzer = PackAnalyzer(generated)
            result = analyse(resources, stack, config.environment, generated, analyzer)
        source = display_path(policy_config.environment_config_file(config.environment))
        result.config_file = f"{source} + stack {stack} (python -m stacks policy-config {stack})"
    result.config = config
    result.estimate = estimate
    result.cost_change = cost.resolve_base(stack, estimate, base, str(base_file) if base_file else None)
    return result


# --- layers --------------------------------------------------------------------------------------


def layer_of(resource: EngineResource, by_urn: Mapping[str, EngineResource]) -> str:
    """The layer a resource belongs to: the area of its ancestor directly under the CompleteCluster
    (`platform:<area>:<Kind>`, e.g. infrastructure, storage, services, access), so layers added
    later show up by themselves. Anything else is top level."""
    chain = [resource]
    while chain[-1].parent in by_urn:
        chain.append(by_urn[chain[-1].parent])
    for child, parent in itertools.pairwise(chain):
        if parent.type == COMPLETE_CLUSTER_TYPE:
            package, _, rest = child.type.partition(":")
            area = rest.partition(":")[0]
            return area if package == "platform" and area else child.type
    return TOP_LEVEL


def layer_counts(resources: Sequence[EngineResource]) -> list[tuple[str, int, int]]:
    """(layer, components, resources) per layer, layers in name order, top level last."""
    by_urn = {resource.urn: resource for resource in resources}
    components: Counter = Counter()
    customs: Counter = Counter()
    for resource in resources:
        (customs if resource.custom else components)[layer_of(resource, by_urn)] += 1
    layers = sorted(set(components) | set(customs), key=lambda name: (name == TOP_LEVEL, name))
    return [(layer, components[layer], customs[layer]) for layer in layers]


# --- renderers -----------------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(review: Review) -> str:
    counts = review.counts
    note = review.unevaluated_note()
    return (
        f"{review.stack}: {_plural(len(review.resources), 'resource')} analysed, "
        f"{counts[ADVISORY]} advisory, {counts[MANDATORY]} mandatory "
        f"{'violation' if counts[ADVISORY] + counts[MANDATORY] == 1 else 'violations'}"
        + (f"; {note}" if note else "")
    )


def grouped(violations: Sequence[Violation]) -> list[tuple[tuple[str, str], list[Violation]]]:
    """Consecutive violations of one policy at one enforcement level, in review order."""
    groups: list[tuple[tuple[str, str], list[Violation]]] = []
    for violation in violations:
        key = (violation.policy, violation.enforcement)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(violation)
        else:
            groups.append((key, [violation]))
    return groups


Section = Callable[[Review], str]


def _text_heading(review: Review) -> str:
    return (f"Policy review of stack {review.stack} (environment {review.environment}): pack {review.pack} {review.pack_version}, "
            f"config {review.config_file}")


def _text_violations(review: Review) -> str:
    if not review.violations:
        return "No policy violations."
    blocks = []
    for (policy, level), violations in grouped(review.violations):
        lines = [f"{policy} ({level})"]
        lines += [f"  {violation.resource or '(stack)'}: {violation.message}" for violation in violations]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _markdown_heading(review: Review) -> str:
    counts = review.counts
    verdict = "passed" if review.passed else "failed"
    return "\n".join(
        [
            f"<!-- stacks review: {review.stack} -->",
            f"## Policy review: stack `{review.stack}` (environment `{review.environment}`)",
            "",
            f"**{verdict}**: {_plural(len(review.resources), 'resource')} analysed by pack `{review.pack}` {review.pack_version} "
            f"with `{review.config_file}`; {counts[MANDATORY]} mandatory, {counts[ADVISORY]} advisory "
            f"{'violation' if counts[MANDATORY] + counts[ADVISORY] == 1 else 'violations'}."
            + (f" Passed over the program's own objects only; {review.unevaluated_note()}." if review.unevaluated_note() else ""),
        ]
    )


def _markdown_layers(review: Review) -> str:
    rows = layer_counts(review.resources)
    lines = ["### Resources by layer", "", "| Layer | Components | Resources |", "|---|---:|---:|"]
    lines += [f"| {_cell(layer)} | {components} | {customs} |" for layer, components, customs in rows]
    lines.append(f"| **Total** | **{sum(row[1] for row in rows)}** | **{sum(row[2] for row in rows)}** |")
    return "\n".join(lines)


def _markdown_violations(review: Review) -> str:
    if not review.violations:
        return "### Policy violations\n\nNo policy violations."
    lines = ["### Policy violations", "", "| Policy | Enforcement | Resource | Message |", "|---|---|---|---|"]
    for (policy, level), violations in grouped(review.violations):
        for violation in violations:
            resource = f"`{_cell(violation.resource)}`" if violation.resource else "(stack)"
            lines.append(f"| `{policy}` | {level} | {resource} | {_cell(violation.message)} |")
    return "\n".join(lines)


def _markdown_cost(review: Review) -> str:
    from . import cost

    return cost.markdown(review.estimate, review.cost_change) if review.estimate is not None else ""


def _markdown_diagram(review: Review) -> str:
    from . import diagram

    if review.config is None:
        return ""
    sizes = {layer: customs for layer, _, customs in layer_counts(review.resources)}
    return diagram.markdown(review.config, review.resources, sizes)


# --- at a failover -------------------------------------------------------------------------------

FAILOVER_MEANING = {
    "rebuilt_empty": "rebuilt empty: nothing replicates it between the sites; the secondary's instances take over without "
                     "the primary's data",
    "mirrored": "mirrored: MirrorMaker 2 at the secondary copies every team topic under its own name, with the teams' "
                "consumer-group offsets; what the primary wrote within the mirror's lag is lost, and the promoted site stops "
                "mirroring",
}


def failover_rows(config) -> list[tuple[str, str]]:
    """What each enabled data service holds at the secondary when it becomes the primary, for a stack with
    another site (as `services.<name>.at_failover` says, and the replication the program builds)."""
    site, services = config.site, config.services
    if site.role == "primary" and not site.secondaries:
        return []
    rows = []
    if services.postgres.enabled:
        rows.append(("PostgreSQL", "replicated: the secondary's clusters are standbys of the primary's WAL archive and are "
                                   "promoted; what the primary wrote after its last archived WAL segment is lost"))
    if services.registry.enabled:
        rows.append(("Harbor", "replicated: the secondary pulls the primary's images"))
    for name, label in (("redis", "Redis"), ("rabbitmq", "RabbitMQ"), ("kafka", "Kafka")):
        settings = getattr(services, name)
        if settings.enabled:
            rows.append((label, f"{FAILOVER_MEANING[settings.at_failover]} (`services.{name}.at_failover`)"))
    return rows


def _text_failover(review: Review) -> str:
    rows = failover_rows(review.config) if review.config is not None else []
    return "\n".join(["At a failover:", *(f"  {service}: {meaning}" for service, meaning in rows)]) if rows else ""


def _markdown_failover(review: Review) -> str:
    rows = failover_rows(review.config) if review.config is not None else []
    if not rows:
        return ""
    lines = ["### At a failover", "", "| Service | What the secondary holds when it becomes the primary |", "|---|---|"]
    return "\n".join([*lines, *(f"| {service} | {_cell(meaning)} |" for service, meaning in rows)])


TEXT_SECTIONS: tuple[Section, ...] = (_text_heading, _text_violations, _text_failover, summary)

# The policy violations come last: a long list would otherwise push the cost and the diagram out of
# a merge-request comment's first screen, and the heading already says passed or failed.
MARKDOWN_SECTIONS: tuple[Section, ...] = (
    _markdown_heading, _markdown_layers, _markdown_cost, _markdown_diagram, _markdown_failover, _markdown_violations,
)


def render(review: Review, sections: Sequence[Section]) -> str:
    """The sections in order; a section with nothing to show (an empty string) is left out."""
    return "\n\n".join(text for text in (section(review) for section in sections) if text) + "\n"


def render_text(review: Review) -> str:
    return render(review, TEXT_SECTIONS)


def render_markdown(review: Review) -> str:
    return render(review, MARKDOWN_SECTIONS)


# --- command line --------------------------------------------------------------------------------


def main(
    stack: str,
    path: Path | None = None,
    *,
    markdown: bool = False,
    config: str | Path | None = None,
    base: str | None = None,
    base_file: str | Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`python -m stacks review`: 1 when a mandatory violation is found or the config is invalid."""
    from policies import enforcement

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        result = review(stack, path, config, base=base, base_file=base_file)
    except (ConfigError, enforcement.ConfigError) as error:
        print(error, file=err)
        return 1
    out.write(render_markdown(result) if markdown else render_text(result))
    return 0 if result.passed else 1
