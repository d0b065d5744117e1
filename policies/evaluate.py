"""Runs the pack's rules directly on property dictionaries, with the engine's config semantics.

This is what the scanner and the tests use; `pulumi preview` and the offline review run the same
rules through pulumi-policy (`policies.pack.pulumi_policies()`).
"""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Iterable, Mapping

from . import enforcement
from .lib.spec import DISABLED, MANDATORY, REMEDIATE, PolicySpec, Resource
from .lib.values import Undecided


class Finding(NamedTuple):
    policy: str
    enforcement: str
    message: str
    #: The resource the finding is about (stack policies may report on the stack: None).
    resource: Resource | None = None


class Evaluator:
    """The pack under one configuration (a parsed `--policy-pack-config` file, or None for the
    defaults)."""

    def __init__(self, config: Mapping[str, tuple] | None = None, specs: Iterable[PolicySpec] | None = None, source: str = "config"):
        if specs is None:
            from .pack import SPECS

            specs = SPECS
        self.specs = tuple(specs)
        self.effective = enforcement.reconcile(self.specs, config, source)
        active = []
        for spec in self.specs:
            level, props = self.effective[spec.name]
            if level == DISABLED:
                continue
            active.append((spec, MANDATORY if level == REMEDIATE else level, props))
        self._resource = [entry for entry in active if entry[0].kind == "resource"]
        self._stack = [entry for entry in active if entry[0].kind == "stack"]
        self._by_type: dict[str, list] = {}

    def policies_for(self, type_token: str) -> list:
        found = self._by_type.get(type_token)
        if found is None:
            found = self._by_type[type_token] = [entry for entry in self._resource if entry[0].applies_to(type_token)]
        return found

    def resource(self, type_token: str, props: dict, resource: Resource | None = None) -> list[Finding]:
        findings: list[Finding] = []
        for spec, level, config in self.policies_for(type_token):
            try:
                messages = spec.check(type_token, props, config)
            except Undecided:
                continue
            findings.extend(Finding(spec.name, level, message, resource) for message in messages)
        return findings

    def stack(self, resources: list[Resource], with_options: bool = True) -> list[Finding]:
        findings: list[Finding] = []
        for spec, level, config in self._stack:
            if spec.needs_options and not with_options:
                continue
            try:
                problems = spec.check(resources, config)
            except Undecided:
                continue
            findings.extend(Finding(spec.name, level, message, res) for message, res in problems)
        return findings

    def all(self, resources: list[Resource], with_options: bool = True) -> list[Finding]:
        findings: list[Finding] = []
        for resource in resources:
            findings += self.resource(resource.type, resource.props, resource)
        return findings + self.stack(resources, with_options)
