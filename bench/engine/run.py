"""Benchmark: the real engine (scripts/engine) rendering the program, against the engine's own floor.

Each scenario runs in a fresh copy of the project (its .venv linked in) with its own file backend, under two
engine settings:

- `default`: as `scripts/up` runs it today;
- `tuned`: `PULUMI_SKIP_CHECKPOINTS=true` (the file backend writes the state once at the end instead of after every
  step) and no automatic log (a Pulumi home whose `logs` is a file, so the CLI cannot keep its debug log; see
  tests/engine/stack_renders.py `without_automatic_logs`).

Scenarios (`--scenarios`, all by default):

- `local`: `pulumi up --stack local` with every chart from the offline chart mirror (`charts.source: local`), its
  objects rendered and wall time, next to `floor`: one program registering the same number of plain ConfigMaps
  through a render provider in one run. Goal: within 2x of the floor.
- `pack`: `pulumi preview --stack local` (its charts from the mirror) with the policy pack and its generated config,
  against the same preview without the pack. Goal: the pack adds at most 30%.
- `teams`: `pulumi preview` of generated render stacks (the local stack's services, charts off) at `--sizes` teams,
  each team an API, a worker and a scheduled job (bench/teams), seconds per resource; and `pulumi up` of the same
  stacks at `--up-sizes`, default and with `PULUMI_SKIP_CHECKPOINTS`, to show what the per-step checkpoint costs.

Prints one row per run (scenario, setting, resources, seconds, seconds per resource) and a JSON line per row with
`--json`. Times are wall clock on a shared two-core machine: compare rows of one run, not across days.

    .venv/bin/python bench/engine/run.py [--scenarios local,pack,teams] [--sizes 10,100,300,1000] [--up-sizes 10,100]

Where the time goes, and what Pulumi offers against it (read from pulumi/pulumi at v3.259.0):

- The automatic log (pkg/logging/encrypted.go, on for every command since pulumi/pulumi#23731, no switch): every
  RPC with its properties at debug level through slog's JSON handler, gzip-compressed and encrypted per chunk. In a
  CPU profile of `pulumi preview` of the dev stack with its charts (`pulumi --profiling`), 49% of the CLI's CPU was
  under the log's handler (JSON, property marshalling, deflate); the preview took 2m35s with it and 24s without.
- The file backend's checkpoint: the snapshot manager persists the whole deployment after each step
  (pkg/backend/snapshot.go `defaultServiceLoop`), so an `up` of n resources writes O(n^2) bytes; a stack with its
  charts carries 16 MB of state (the CRDs), written ~400 times. `PULUMI_SKIP_CHECKPOINTS` swaps in
  `unsafeServiceLoop`, which writes only the final deployment (an interrupted `up` then leaves the state of the
  previous run). Journaling, which appends entries instead, exists only for the Pulumi Cloud backend in this version
  (pkg/backend/httpstate; `PULUMI_DISABLE_JOURNALING`). `--parallel` bounds concurrent steps (default unbounded in
  this version), which does not reduce the checkpoint writes; `PULUMI_PARALLEL_ANALYZE` lets the policy pack's
  analyzer evaluate one resource's policies in parallel.
- A preview writes no checkpoint, so its growth with stack size is the engine's and the program's alone.
- The stack's whole config reaches the program in one environment variable, `PULUMI_CONFIG` (the Python SDK reads it
  in pulumi/runtime/config.py; pulumi/pulumi#8680 for the Node host, #20402 for policy packs, both open), and Linux
  refuses to start a process with one environment string over 128 KiB (MAX_ARG_STRLEN): at about 405 bytes per team
  of this shape, a stack of more than ~320 teams fails before the program runs (`fork/exec .../python: argument list
  too long`; 310 teams: PULUMI_CONFIG is 125,632 bytes and runs; 1,000 teams fails).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# The repository root is on the path only from here. The engine tier's project copy and engine settings are reused,
# so the benchmark measures what the tier runs.
from bench.teams.run import stack_document  # noqa: E402
from policies.lib.kube_yaml import load_documents  # noqa: E402
from tests.engine.stack_renders import copy_project  # noqa: E402
from tests.tooling import find_chart_mirror, without_automatic_logs  # noqa: E402

NAMESPACE = "complete-cluster:"

FLOOR_PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s

render = k8s.Provider("render", render_yaml_to_directory="rendered", enable_server_side_apply=False)
for index in range({count}):
    k8s.core.v1.ConfigMap(f"object-{{index}}", metadata={{"name": f"object-{{index}}", "namespace": "bench"}},
                          data={{"key": "value"}}, opts=pulumi.ResourceOptions(provider=render))
'''


class PulumiFailed(Exception):
    """A pulumi command failed; the message holds the end of its output."""

    def reason(self) -> str:
        """The first error line of the output."""
        return next((line.strip() for line in str(self).splitlines() if "error:" in line), str(self).splitlines()[0])


@dataclass
class Row:
    scenario: str
    setting: str
    resources: int
    seconds: float
    failed: str = ""

    def __str__(self) -> str:
        if self.failed:
            return f"{self.scenario:<34} {self.setting:<22} failed after {self.seconds:.1f} s: {self.failed}"
        per = self.seconds / self.resources * 1000 if self.resources else 0.0
        return f"{self.scenario:<34} {self.setting:<22} {self.resources:>7} {self.seconds:>9.1f} s {per:>8.1f} ms/resource"


def engine_env() -> dict[str, str]:
    done = subprocess.run([str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"scripts/engine env failed:\n{done.stderr}")
    return json.loads(done.stdout)


def chart_mirror() -> Path:
    mirror = find_chart_mirror()
    if mirror is None:
        sys.exit("no offline chart mirror (shared/charts beside the repository, or $CHART_MIRROR)")
    return mirror


class Project:
    """A fresh directory for the project (or a small program) with its own state, run under one engine setting."""

    def __init__(self, directory: Path, engine: dict[str, str], tuned: bool):
        self.directory = directory
        directory.mkdir(parents=True)
        (directory / ".state").mkdir()
        self.env = {**os.environ, **engine, "PULUMI_BACKEND_URL": f"file://{directory / '.state'}", "PULUMI_CONFIG_PASSPHRASE": "",
                    "PULUMI_SKIP_UPDATE_CHECK": "true"}
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        if tuned:
            home = without_automatic_logs(Path(engine["PULUMI_HOME"]), directory / ".pulumi-home")
            self.env.update({"PULUMI_HOME": str(home), "PULUMI_SKIP_CHECKPOINTS": "true"})

    @classmethod
    def of_program(cls, directory: Path, engine: dict[str, str], tuned: bool) -> Project:
        project = cls(directory, engine, tuned)
        copy_project(directory)
        return project

    @classmethod
    def of_floor(cls, directory: Path, engine: dict[str, str], tuned: bool, objects: int) -> Project:
        project = cls(directory, engine, tuned)
        (directory / ".venv").symlink_to(ROOT / ".venv")
        (directory / "Pulumi.yaml").write_text("name: floor\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
        (directory / "__main__.py").write_text(FLOOR_PROGRAM.format(count=objects))
        return project

    def stack_file(self, stack: str, document: dict) -> None:
        (self.directory / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    def pulumi(self, *args: str, env: dict[str, str] | None = None) -> tuple[float, int]:
        """Runs pulumi; the wall time and the number of resources its summary counts (`N to create`, `N created`)."""
        started = time.perf_counter()
        done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.directory, env={**self.env, **(env or {})},
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise PulumiFailed(f"pulumi {' '.join(args)} failed in {self.directory}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        summary = done.stdout.rsplit("Resources:", 1)[-1].split("\n\n", 1)[0]  # `up` prints its preview's summary first
        counted = re.findall(r"^\s*[+~-]?\s*(\d+) (?:to create|created|unchanged)$", summary, re.MULTILINE)
        return seconds, sum(int(n) for n in counted)

    def rendered_objects(self, directory: str) -> int:
        """Objects in the render directory, read as Kubernetes reads YAML (a chart's `=` key is a string there)."""
        return sum(1 for path in (self.directory / directory).rglob("*.yaml") for document in load_documents(path.read_bytes()) if document)


def local_with_charts(project: Project) -> None:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"][f"{NAMESPACE}charts"] = {"source": "local", "directory": str(chart_mirror())}
    project.stack_file("local", document)
    project.pulumi("stack", "init", "local")


def measure_local(engine: dict[str, str], work: Path, setting: str) -> list[Row]:
    tuned = setting == "tuned"
    project = Project.of_program(work / f"local-{setting}", engine, tuned)
    local_with_charts(project)
    seconds, _ = project.pulumi("up", "--stack", "local", "--yes")
    objects = project.rendered_objects("rendered/local")
    floor = Project.of_floor(work / f"floor-{setting}", engine, tuned, objects)
    floor.pulumi("stack", "init", "floor")
    floor_seconds, _ = floor.pulumi("up", "--stack", "floor", "--yes")
    return [Row("local up, every chart (objects)", setting, objects, seconds),
            Row("floor: as many plain ConfigMaps", setting, objects, floor_seconds)]


def measure_pack(engine: dict[str, str], work: Path, setting: str) -> list[Row]:
    project = Project.of_program(work / f"pack-{setting}", engine, setting == "tuned")
    local_with_charts(project)
    config = project.directory / "policy-local.json"
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "stacks", "policy-config", "local", "--output", str(config)],
                   cwd=project.directory, check=True, capture_output=True)
    without, resources = project.pulumi("preview", "--stack", "local")
    with_pack, _ = project.pulumi("preview", "--stack", "local", "--policy-pack", "policies", "--policy-pack-config", str(config))
    return [Row("local preview, no pack", setting, resources, without), Row("local preview, with the pack", setting, resources, with_pack)]


def teams_project(engine: dict[str, str], work: Path, teams: int, setting: str, run: str) -> Project:
    project = Project.of_program(work / f"teams-{teams}-{setting}-{run}", engine, setting == "tuned")
    document = stack_document(teams)
    document["config"][f"{NAMESPACE}charts"] = {"source": "off"}
    project.stack_file("bench", document)
    project.pulumi("stack", "init", "bench")
    return project


def measure_teams(engine: dict[str, str], work: Path, sizes: list[int], up_sizes: list[int], settings: list[str]) -> list[Row]:
    rows = []
    for setting in settings:
        for teams in sizes:
            started = time.perf_counter()
            try:
                seconds, resources = teams_project(engine, work, teams, setting, "preview").pulumi("preview", "--stack", "bench")
                rows.append(Row(f"preview, {teams} teams", setting, resources, seconds))
            except PulumiFailed as failure:  # a size the engine cannot run is a result too (docstring: the config's size)
                rows.append(Row(f"preview, {teams} teams", setting, 0, time.perf_counter() - started, failure.reason()))
            print(rows[-1], flush=True)
    for teams in up_sizes:
        for run, label, checkpoints in (("up", "up, checkpoint per step", {}),
                                        ("up-skip", "up, PULUMI_SKIP_CHECKPOINTS", {"PULUMI_SKIP_CHECKPOINTS": "true"})):
            project = teams_project(engine, work, teams, "default", run)
            seconds, resources = project.pulumi("up", "--stack", "bench", "--yes", env=checkpoints)
            rows.append(Row(f"{label}, {teams} teams", "default", resources, seconds))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="local,pack,teams")
    parser.add_argument("--settings", default="default,tuned")
    parser.add_argument("--sizes", default="10,100,300,1000", help="teams for the preview growth")
    parser.add_argument("--up-sizes", default="10,100", help="teams for the checkpoint comparison of `up`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scenarios, settings = args.scenarios.split(","), args.settings.split(",")
    engine = engine_env()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as scratch:
        work = Path(scratch)
        for setting in settings:
            if "local" in scenarios:
                rows += measure_local(engine, work, setting)
            if "pack" in scenarios:
                rows += measure_pack(engine, work, setting)
            for row in rows[-4:]:
                print(row, flush=True)
        if "teams" in scenarios:
            rows += measure_teams(engine, work, [int(s) for s in args.sizes.split(",")],
                                  [int(s) for s in args.up_sizes.split(",") if s], settings)
    print("\n" + "\n".join(str(row) for row in rows))
    if args.json:
        for row in rows:
            print(json.dumps(row.__dict__))


if __name__ == "__main__":
    main()
