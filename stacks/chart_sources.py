"""Where each chart a stack installs comes from, resolved once by the loader.

The charts come from one declaration per part (`catalogue.PART_CHARTS`); a part's charts are
installed when its `services` section is enabled. The stack's `charts` setting says where they come
from: the pinned repository, an OCI mirror, a local directory (each chart must be there: a missing
one is a config problem under `charts.directory`, reported with the stack's other problems before
anything is registered; a directory missing on this machine gives way to `charts.fallback`), or off.
The loader resolves every needed chart's source into `ChartSources`, and each component installs its
charts through its part's `PartCharts` (components/charts.py), which refuses a chart its part does
not declare.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .catalogue import PART_CHARTS, ChartRef
from .model import StackConfig
from .model.charts import Charts

PROJECT_DIR = Path(__file__).resolve().parents[1]

HelmSource = dict[str, Any]
"""helm.v4.Chart arguments that select a chart: `chart`, and `version` / `repository_opts`."""


class UndeclaredChart(LookupError):
    """A component asked for a chart its part does not declare in catalogue.PART_CHARTS."""


@dataclass(frozen=True)
class PartCharts:
    """The charts one part installs, each with its resolved source (None: charts are off)."""

    part: str
    sources: tuple[tuple[ChartRef, HelmSource | None], ...]

    def source(self, ref: ChartRef) -> HelmSource | None:
        for declared, source in self.sources:
            if declared == ref:
                return source
        declared_names = ", ".join(f"{declared.name} {declared.version}" for declared, _ in self.sources) or "none"
        raise UndeclaredChart(
            f"the {self.part} part installs {ref.name} {ref.version}, which stacks/catalogue.py PART_CHARTS does not declare for it "
            f"(it declares: {declared_names}); declare it there, so the loader checks and resolves it"
        )


@dataclass(frozen=True)
class ChartSources:
    """The resolved charts of every enabled part of a stack."""

    parts: tuple[PartCharts, ...] = ()

    def of(self, part: str) -> PartCharts:
        for charts in self.parts:
            if charts.part == part:
                return charts
        raise UndeclaredChart(f"the {part} part is not enabled on this stack, so none of its charts were resolved")


def part_charts(config: StackConfig, part: str) -> list[ChartRef]:
    """The charts `part` installs on this stack (none when its service is off)."""
    return list(PART_CHARTS[part]) if getattr(config.services, part).enabled else []


def stack_charts(config: StackConfig) -> list[ChartRef]:
    """Every chart the stack installs, each once, in the declaration's order."""
    return list(dict.fromkeys(ref for part in PART_CHARTS for ref in part_charts(config, part)))


def chart_directory(charts: Charts) -> Path:
    """`charts.directory` as a resolved path: absolute as written, or relative to the project directory."""
    return (PROJECT_DIR / Path(charts.directory).expanduser()).resolve()


def effective_source(charts: Charts) -> str:
    """`charts.source`, except that a `local` directory missing on this machine gives way to its `fallback`."""
    if charts.source == "local" and charts.fallback is not None and not chart_directory(charts).is_dir():
        return charts.fallback
    return charts.source


def _local_chart(charts: Charts, ref: ChartRef) -> Path | None:
    """The packaged (`<name>-<version>.tgz`) or unpacked (`<name>/`, matching version) chart."""
    directory = chart_directory(charts)
    archive = directory / f"{ref.name}-{ref.version}.tgz"
    if archive.is_file():
        return archive
    unpacked = directory / ref.name / "Chart.yaml"
    if unpacked.is_file() and str((yaml.safe_load(unpacked.read_text()) or {}).get("version")) == ref.version:
        return unpacked.parent
    return None


def _pull_command(ref: ChartRef) -> str:
    if ref.repository.startswith("oci://"):  # a chart published only to an OCI registry
        return f"helm pull {ref.repository.rstrip('/')}/{ref.name} --version {ref.version}"
    return f"helm pull {ref.name} --repo {ref.repository} --version {ref.version}"


def _missing(charts: Charts, ref: ChartRef) -> tuple[str, str]:
    return (
        "charts.directory",
        f"{charts.directory}/ has no {ref.name} {ref.version} (`{ref.name}-{ref.version}.tgz` or `{ref.name}/`); "
        f"fetch it on a connected machine with `{_pull_command(ref)}`, "
        "or set `charts.source` to remote, oci or off",
    )


def _no_directory(charts: Charts) -> tuple[str, str]:
    return (
        "charts.directory",
        f"{charts.directory}/ does not exist on this machine (it resolves to {chart_directory(charts)}); put the pinned charts "
        "there, or set `charts.fallback: remote` to take them from their chart repositories where it is missing",
    )


def missing_charts(config: StackConfig, refs: list[ChartRef]) -> list[tuple[str, str]]:
    """Config problems for charts the stack needs but its local chart directory lacks."""
    if effective_source(config.charts) != "local" or not refs:
        return []
    if not chart_directory(config.charts).is_dir():
        return [_no_directory(config.charts)]
    return [_missing(config.charts, ref) for ref in refs if _local_chart(config.charts, ref) is None]


def chart_source(charts: Charts, ref: ChartRef) -> HelmSource | None:
    """helm.v4.Chart arguments that select `ref` from the configured source; None when off."""
    source = effective_source(charts)
    if source == "remote":
        if ref.repository.startswith("oci://"):  # Helm takes an OCI chart by reference, not by --repo
            return {"chart": f"{ref.repository.rstrip('/')}/{ref.name}", "version": ref.version}
        return {"chart": ref.name, "version": ref.version, "repository_opts": {"repo": ref.repository}}
    if source == "oci":
        return {"chart": f"oci://{charts.oci_registry}/{ref.name}", "version": ref.version}
    if source == "local":
        path = _local_chart(charts, ref)
        if path is None:
            raise UndeclaredChart(
                f"chart {ref.name} {ref.version} is missing from {charts.directory}/ (the loader reports this as a config problem)"
            )
        # Relative to the project directory, where the engine runs the program and the provider: the same on every
        # machine with the same layout, so state made on one shows no change on another.
        return {"chart": os.path.relpath(path, PROJECT_DIR)}
    return None


def resolve_charts(config: StackConfig) -> tuple[ChartSources, list[tuple[str, str]]]:
    """Every enabled part's charts with their sources; or none, with the problems under `charts.directory` of a
    local chart directory that is missing or lacks a chart (each chart once)."""
    problems = missing_charts(config, stack_charts(config))
    if problems:
        return ChartSources(), problems
    parts = tuple(
        PartCharts(part, tuple((ref, chart_source(config.charts, ref)) for ref in part_charts(config, part)))
        for part in PART_CHARTS
        if getattr(config.services, part).enabled
    )
    return ChartSources(parts), []


def declared_charts(part: str, charts: Charts) -> PartCharts:
    """A part's charts resolved from a `charts` setting alone (a component's own tests)."""
    return PartCharts(part, tuple((ref, chart_source(charts, ref)) for ref in PART_CHARTS[part]))
