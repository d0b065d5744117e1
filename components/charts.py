"""Helm charts, rendered client-side by helm.v4.Chart so the policy pack sees every object a chart
creates. Which charts a part installs, and where each comes from, the config layer decides and
resolves (stacks/chart_sources.py); a component installs only what its part declares."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.catalogue import ChartRef
from stacks.chart_sources import PartCharts


def pinned_chart(
    name: str,
    ref: ChartRef,
    charts: PartCharts,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart | None:
    """The chart `ref` at its pinned version from its resolved source, or None (with a warning) when
    charts are off. Raises UndeclaredChart when `ref` is not one of the part's declared charts."""
    source = charts.source(ref)
    if source is None:
        pulumi.log.warn(f"{name}: chart {ref.name} {ref.version} not installed (charts.source is off)")
        return None
    stored = pulumi.ResourceOptions(transforms=[crd_schemas_as_stored])
    return k8s.helm.v4.Chart(name, namespace=namespace, values=values, **source, opts=pulumi.ResourceOptions.merge(opts, stored))


CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

# The fields of a CRD's JSONSchemaProps the API server drops when they hold their type's zero value: every field
# tagged `omitempty` that is not a pointer (k8s.io/apiextensions-apiserver v0.37.2,
# pkg/apis/apiextensions/v1/types_jsonschema.go). A chart's CRD that spells one out (Strimzi 1.2.0's Kafka CRD has
# `properties: {}` at status.clusterSecurity) is stored without it, so the provider, comparing the chart's object with
# the live one, would update the CRD on every `up`. A null is dropped from every field (nil pointer or zero value).
_OMITTED_WHEN_ZERO = {
    **dict.fromkeys(("id", "$schema", "description", "type", "format", "title", "pattern"), ""),
    **dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum", "uniqueItems", "nullable", "x-kubernetes-embedded-resource",
                     "x-kubernetes-int-or-string"), False),
    **dict.fromkeys(("enum", "required", "allOf", "oneOf", "anyOf", "x-kubernetes-list-map-keys", "x-kubernetes-validations",
                     "properties", "patternProperties", "dependencies", "definitions"), ()),  # () stands for empty
}
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "dependencies")  # name -> schema (or string list)
_SCHEMA_LISTS = ("allOf", "oneOf", "anyOf")
_SCHEMA_OR_OTHER = ("items", "not", "additionalProperties", "additionalItems")  # a schema, a list of them, or a bool


def schema_as_stored(schema: Any) -> Any:
    """A JSONSchemaProps as the API server stores it: the zero-valued `omitempty` fields dropped, in every nested
    schema (not inside `default`, `example` or `enum`, which are JSON values kept as written)."""
    if isinstance(schema, list):
        return [schema_as_stored(item) for item in schema]
    if not isinstance(schema, dict):
        return schema  # a bool (additionalProperties: false) or a dependency's string list
    stored = {}
    for key, value in schema.items():
        if value is None or (key in _OMITTED_WHEN_ZERO and _is_zero(value, _OMITTED_WHEN_ZERO[key])):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: schema_as_stored(item) for name, item in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_OR_OTHER:
            value = schema_as_stored(value)
        stored[key] = value
    return stored


def _is_zero(value: Any, zero: Any) -> bool:
    if zero == ():
        return isinstance(value, (list, dict)) and not value
    return value == zero and type(value) is type(zero)


def crd_schemas_as_stored(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """A Pulumi transform for a chart: each CustomResourceDefinition it renders with its versions' schemas as the API
    server stores them (`schema_as_stored`), so a second `up` finds the CRD unchanged; every other object as rendered."""
    spec = args.props.get("spec")
    if args.type_ != CRD_TYPE or not isinstance(spec, dict) or not isinstance(spec.get("versions"), list):
        return None
    spec = dict(spec)
    spec["versions"] = [_version_as_stored(version) for version in spec["versions"]]
    return pulumi.ResourceTransformResult(props={**args.props, "spec": spec}, opts=args.opts)


def _version_as_stored(version: Any) -> Any:
    schema = version.get("schema") if isinstance(version, dict) else None
    if not isinstance(schema, dict) or not isinstance(schema.get("openAPIV3Schema"), dict):
        return version
    return {**version, "schema": {**schema, "openAPIV3Schema": schema_as_stored(schema["openAPIV3Schema"])}}
