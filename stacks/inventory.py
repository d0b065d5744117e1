"""Evaluate the program for one stack under Pulumi's mock runtime and record every registration.

No CLI, no cloud and no cluster: the mock monitor stands in for the engine, and a recording monitor
keeps each RegisterResource request as the engine would receive it (type token, logical name,
parent, inputs with their wire names, and the resource options). Tests use this same evaluation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from .loader import load
from .model import PROJECT

SECRET = "[secret]"
UNKNOWN = "[unknown]"


@dataclass
class Registration:
    """One resource the program registers, as the engine sees it."""

    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    custom: bool = True

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("custom")
        return data


def _resource_key(urn: str) -> str | None:
    """`type::name` of a resource from its URN (the part a reader can recognise)."""
    if not urn:
        return None
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]}::{parts[3]}" if len(parts) >= 4 else urn


def _wire_value(value: Any) -> Any:
    """A property value as the engine receives it, with secrets, unknowns and references made readable."""
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == rpc._special_secret_sig:
            return SECRET
        if signature == rpc._special_resource_sig:
            return {"resource": _resource_key(value.get("urn", ""))}
        if signature == rpc._special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return _wire_value(value["value"]) if "value" in value else UNKNOWN
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {key: val for key, val in value.items() if key != rpc._special_sig_key}
        return {key: _wire_value(val) for key, val in value.items()}
    if isinstance(value, list):
        return [_wire_value(item) for item in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping every RegisterResource request in order."""

    def __init__(self, mocks_: mocks.Mocks, registrations: list[Registration]):
        super().__init__(mocks_)
        self.registrations = registrations

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
            provider = request.provider.split("::")[0:4]
            options = {
                "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete),
                "depends_on": sorted(filter(None, (_resource_key(urn) for urn in request.dependencies))),
                "provider": _resource_key("::".join(provider)) if request.provider else None,
                "ignore_changes": list(request.ignoreChanges),
            }
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    parent=_resource_key(request.parent),
                    inputs=_wire_value(raw),
                    options=options,
                    custom=bool(request.custom),
                )
            )
        return super().RegisterResource(request)


class InventoryMocks(mocks.Mocks):
    """Answers the engine's questions the way a fresh deployment would: a resource's state is its
    inputs, and invokes return what the program needs to go on."""

    # Rancher (rancher2) ids and outputs the program reads back, shaped like Rancher's own: cloud
    # credentials live in `cattle-global-data`, clusters get a `c-m-` management id, projects are
    # `<cluster id>:p-...`, and a cluster's kubeconfig and registration command exist (as
    # placeholders) once it is created.
    _RANCHER = {
        "rancher2:index/cloudCredential:CloudCredential": lambda state: (f"cattle-global-data:cc-{state.get('name')}", {}),
        "rancher2:index/clusterV2:ClusterV2": lambda state: (f"fleet-default/{state.get('name')}", {
            "clusterV1Id": f"c-m-{state.get('name')}", "kubeConfig": "[kubeconfig]",
            "clusterRegistrationToken": {"nodeCommand": "[registration command]"}}),
        "rancher2:index/clusterSync:ClusterSync": lambda state: (state.get("clusterId"), {"kubeConfig": "[kubeconfig]", "synced": True}),
        "rancher2:index/project:Project": lambda state: (f"{state.get('clusterId')}:p-{state.get('name')}", {}),
    }

    def new_resource(self, args: mocks.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ in self._RANCHER:
            resource_id, computed = self._RANCHER[args.typ](state)
            return resource_id, {**state, **computed}
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs):
        return {}


def evaluate(stack: str, path: Path | None = None, into: list[Registration] | None = None) -> list[Registration]:
    """Every resource the program registers for `stack` (from `path`, default its stack file), in
    registration order, appended to `into` as they happen.

    Raises loader.ConfigError, before anything is registered, when the config is invalid.
    """
    from components.program import build

    config = load(stack, path)
    monitor = RecordingMonitor(InventoryMocks(), into if into is not None else [])
    settings.ROOT.set(None)  # a fresh root stack resource for each evaluation
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(lambda: build(config)))
    return monitor.registrations


def as_json(registrations: list[Registration]) -> str:
    return json.dumps([registration.to_json() for registration in registrations], indent=2, sort_keys=False)


def as_text(registrations: list[Registration]) -> str:
    lines = []
    for registration in registrations:
        lines.append(f"{registration.type}  {registration.name}")
        lines.append(f"    parent:  {registration.parent}")
        options = {key: value for key, value in registration.options.items() if value not in (False, None, [])}
        if options:
            lines.append(f"    options: {json.dumps(options, sort_keys=True)}")
        if registration.inputs:
            body = json.dumps(registration.inputs, indent=2, sort_keys=True).replace("\n", "\n    ")
            lines.append(f"    inputs:  {body}")
    lines.append(f"{len(registrations)} resources")
    return "\n".join(lines)
