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
    return k8s.helm.v4.Chart(name, namespace=namespace, values=values, **source, opts=opts)
