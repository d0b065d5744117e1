"""Helm charts from the source a stack chooses (`charts` in its config), rendered client-side by
helm.v4.Chart so the policy pack sees every object a chart creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stacks.model import StackConfig
from stacks.model.charts import Charts

from stacks.catalogue import ChartRef

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _local_chart(charts: Charts, ref: ChartRef) -> Path | None:
    """The packaged (`<name>-<version>.tgz`) or unpacked (`<name>/`, matching version) chart."""
    directory = PROJECT_DIR / charts.directory
    archive = directory / f"{ref.name}-{ref.version}.tgz"
    if archive.is_file():
        return archive
    unpacked = directory / ref.name / "Chart.yaml"
    if unpacked.is_file() and str((yaml.safe_load(unpacked.read_text()) or {}).get("version")) == ref.version:
        return unpacked.parent
    return None


def missing_charts(config: StackConfig, refs: list[ChartRef]) -> list[tuple[str, str]]:
    """Config problems for charts the stack needs but its local chart directory lacks."""
    if config.charts.source != "local":
        return []
    return [
        (
            "charts.directory",
            f"{config.charts.directory}/ has no {ref.name} {ref.version} (`{ref.name}-{ref.version}.tgz` or `{ref.name}/`); "
            f"fetch it on a connected machine with `{_pull_command(ref)}`, "
            "or set `charts.source` to remote, oci or off",
        )
        for ref in refs
        if _local_chart(config.charts, ref) is None
    ]


def _pull_command(ref: ChartRef) -> str:
    if ref.repository.startswith("oci://"):  # a chart published only to an OCI registry
        return f"helm pull {ref.repository.rstrip('/')}/{ref.name} --version {ref.version}"
    return f"helm pull {ref.name} --repo {ref.repository} --version {ref.version}"


def chart_source(charts: Charts, ref: ChartRef) -> dict[str, Any] | None:
    """helm.v4.Chart arguments that select `ref` from the configured source; None when off."""
    if charts.source == "remote":
        if ref.repository.startswith("oci://"):  # Helm takes an OCI chart by reference, not by --repo
            return {"chart": f"{ref.repository.rstrip('/')}/{ref.name}", "version": ref.version}
        return {"chart": ref.name, "version": ref.version, "repository_opts": {"repo": ref.repository}}
    if charts.source == "oci":
        return {"chart": f"oci://{charts.oci_registry}/{ref.name}", "version": ref.version}
    if charts.source == "local":
        path = _local_chart(charts, ref)
        if path is None:  # loading the config reports this first; reaching here is a bug
            raise RuntimeError(f"chart {ref.name} {ref.version} missing from {charts.directory}/")
        return {"chart": str(path.relative_to(PROJECT_DIR))}
    return None


def pinned_chart(
    name: str,
    ref: ChartRef,
    charts: Charts,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart | None:
    """The chart `ref` at its pinned version, or None (with a warning) when charts are off."""
    source = chart_source(charts, ref)
    if source is None:
        pulumi.log.warn(f"{name}: chart {ref.name} {ref.version} not installed (charts.source is off)")
        return None
    return k8s.helm.v4.Chart(name, namespace=namespace, values=values, **source, opts=opts)
