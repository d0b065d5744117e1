"""Benchmark: program evaluation under the mock runtime at 10, 100 and 1,000 teams.

Each team declares one API, one worker and one scheduled job. For each size a fresh process
evaluates the generated stack (stacks.tools.inventory.evaluate, as the tests do: config loading and
validation included) and, each in its own fresh process through the same recording mock monitor,
three baselines with the same number of resources:

- replay (the budget's baseline): exactly the resources the program registered, same types and
  same inputs, through the same pulumi-kubernetes classes, flat under one parent, without our
  components, options, dependencies or config. What the program costs beyond this is what our
  components add.
- plain SDK: `pulumi.CustomResource` with small, fixed properties.
- pulumi-kubernetes: typed ConfigMaps with small, fixed properties.

The last two are kept for comparison with earlier runs but do not measure our overhead: a bare
`pulumi.CustomResource` called from a loop has too few `__init__` frames for the SDK to capture a
source stack trace and has no aliases, and both carry inputs about a tenth the size of a
Deployment (the SDK serializes, checks for unknowns and translates every property node), so
their ratios mostly measure what pulumi-kubernetes itself costs per Kubernetes object.

Where the time goes (2026-11): under cProfile well under 1% of the program's CPU time is in our own
code (components/, stacks/, pydantic models and label dicts included); reading the site stack files
for the cross-site rules was most of a small stack's fixed cost until they were parsed with libyaml
(stacks/model/site.py then, stacks/sites.py now; 10 teams 0.88 -> 0.57-0.80 CPU seconds); the rest is
the SDK, pulumi-kubernetes, asyncio and the recording mock monitor (which runs on the SDK's worker
threads, the same for the replay). What we added over the replay was CPython's
cyclic garbage collector: with it off (`gc.disable()`), ours and the replay cost the same per
resource (400 teams: 590 and 584 resources/s of CPU), with it on 184 and 247, and the collector's
passes over the growing set of live objects made the cost per resource grow with the stack. The
program now raises the collector's first threshold (components/runtime.py, applied by `__main__.py`
and by `stacks.tools.inventory.run_program`, so the replay and the other baselines run with it too):
2026-11-21, 100 teams 10.9 -> 6.3 CPU seconds, 1000 teams 122 -> 81.

Last run (2026-11-21, `--sizes 10,100,1000`, after both changes): 10 teams 0.80 CPU s (1.32x the
replay), 100 teams 6.67 (1.37x), 1000 teams 79.3 (1.25x); per resource ours grows 1.38x from 10 to
1000 teams, the replay itself 1.45x. Runs on this shared machine vary by up to a third at 10 teams.

Every process warms up before its timed run (the program and the replay with a 1-team evaluation,
the plain baselines by importing the class they use): pulumi-kubernetes imports its modules lazily
on first use, and import time is not evaluation.

It reports resources, seconds, resources per second, peak memory, and our cost per resource over
each baseline (the budget is at most 1.5x over the replay), and checks growth is linear.

    .venv/bin/python bench/teams/run.py [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def stack_document(teams: int) -> dict:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    config = document["config"]
    config["complete-cluster:teams"] = [
        {
            "name": f"team-{i:04d}",
            "groups": [f"team-{i:04d}-developers"],
            "workloads": [
                {"kind": "api", "name": "api", "image": "registry.example.com/t/api:1.0.0", "host": f"t{i}.example.com"},
                {"kind": "worker", "name": "worker", "image": "registry.example.com/t/worker:1.0.0"},
                {"kind": "scheduled_job", "name": "job", "image": "registry.example.com/t/job:1.0.0", "schedule": "0 1 * * *"},
            ],
        }
        for i in range(teams)
    ]
    return document


def _evaluate(teams: int, directory: str) -> list:
    from stacks.tools.inventory import evaluate

    path = Path(directory) / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(stack_document(teams)))
    return evaluate("local", path)


def measure_program(teams: int, record: str | None = None) -> dict:
    """Our program; writes what it registered to `record` (JSON) for the replay baseline."""
    from stacks.tools.inventory import evaluate

    with tempfile.TemporaryDirectory() as directory:
        _evaluate(1, directory)  # warm-up: lazy imports of pulumi-kubernetes modules
        path = Path(directory) / "Pulumi.local.yaml"
        path.write_text(yaml.safe_dump(stack_document(teams)))
        started, cpu = time.perf_counter(), time.process_time()
        registrations = evaluate("local", path)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    if record:
        Path(record).write_text(json.dumps([[r.type, r.name, r.inputs, r.custom] for r in registrations]))
    return {"resources": len(registrations), "seconds": seconds, "cpu_seconds": cpu_seconds}


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def kubernetes_class(type_token: str):
    """The pulumi-kubernetes class for `kubernetes:<group>/<version>:<Kind>`, or None for a custom
    resource (a kind no pulumi-kubernetes module has: it goes through apiextensions.CustomResource)."""
    import pulumi_kubernetes as k8s

    _, api, kind = type_token.split(":")
    group, version = api.split("/")
    module = group.removesuffix(".k8s.io").split(".")[0] if group == "core" or group.endswith(".k8s.io") or "." not in group else None
    try:
        return getattr(getattr(getattr(k8s, module), version), kind) if module else None
    except AttributeError:
        return None


def measure_replay(record: str) -> dict:
    """The same resources the program registered (types, names, inputs), each through the
    pulumi-kubernetes class the program used, flat under one parent: no components of ours, no
    options or dependencies, no config loading. The first registration (the stack's top component)
    is the parent."""
    import pulumi
    import pulumi_kubernetes as k8s

    from stacks.tools.inventory import run_program

    recorded = json.loads(Path(record).read_text())

    def constructor(type_token: str, custom: bool):
        if not custom:
            return lambda name, inputs, opts: pulumi.ComponentResource(type_token, name, None, opts)
        if type_token.startswith("pulumi:providers:"):
            package = type_token.split(":")[-1]
            return lambda name, inputs, opts: pulumi.ProviderResource(package, name, inputs, opts)
        cls = kubernetes_class(type_token) if type_token.startswith("kubernetes:") else None
        if cls is not None:
            return lambda name, inputs, opts: cls(
                name, opts=opts, **{_snake(key): value for key, value in inputs.items() if key not in ("apiVersion", "kind")}
            )
        if type_token.startswith("kubernetes:"):
            return lambda name, inputs, opts: k8s.apiextensions.CustomResource(
                name, opts=opts, **{_snake(key): value for key, value in inputs.items()}
            )
        return lambda name, inputs, opts: pulumi.CustomResource(type_token, name, inputs, opts)

    # The same warm-up as the program's (it registers the same classes once), then resolving the
    # classes, before timing.
    with tempfile.TemporaryDirectory() as directory:
        _evaluate(1, directory)
    plan = [(constructor(type_token, custom), name, inputs) for type_token, name, inputs, custom in recorded[1:]]

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for make, name, inputs in plan:
            make(name, inputs, pulumi.ResourceOptions(parent=parent))

    return _timed(lambda: run_program(program, "bench"))


def _timed(evaluation) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    registered = evaluation()
    return {"resources": len(registered), "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def measure_bare(count: int) -> dict:
    """The SDK alone: `count` plain custom resources under one component, with small fixed
    properties, through the same recording mock monitor as the program."""
    import pulumi

    from stacks.tools.inventory import run_program

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for i in range(count - 1):
            pulumi.CustomResource(
                "bench:index:Thing",
                f"thing-{i}",
                {
                    "metadata": {"name": f"thing-{i}", "namespace": "bench", "labels": {"a": "b", "c": "d"}},
                    "spec": {"replicas": 1, "selector": {"x": "y"}},
                },
                opts=pulumi.ResourceOptions(parent=parent),
            )

    # The same harness as the program (recording mock monitor), so the difference is ours.
    return _timed(lambda: run_program(program, "bench"))


def measure_bare_kubernetes(count: int) -> dict:
    """pulumi-kubernetes alone: `count` plain ConfigMaps (typed SDK classes, no components of
    ours), through the same recording mock monitor."""
    import pulumi
    import pulumi_kubernetes as k8s

    from stacks.tools.inventory import run_program

    config_map = k8s.core.v1.ConfigMap  # the lazy import, before timing

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for i in range(count - 1):
            config_map(
                f"config-{i}",
                metadata={"name": f"config-{i}", "namespace": "bench", "labels": {"a": "b", "c": "d"}},
                data={"replicas": "1", "selector": "x"},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    return _timed(lambda: run_program(program, "bench"))


def child(mode: str, argument: str, record: str | None) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    if mode == "program":
        result = measure_program(int(argument), record)
    elif mode == "replay":
        result = measure_replay(argument)
    else:
        result = {"bare": measure_bare, "bare-kubernetes": measure_bare_kubernetes}[mode](int(argument))
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(mode: str, argument: str | int, record: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", mode, str(argument)] + (["--record", record] if record else [])
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(output.stdout.strip().splitlines()[-1])


BASELINES = (("replay", "replay (budget)"), ("bare", "plain SDK"), ("bare-kubernetes", "pulumi-kubernetes ConfigMaps"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--record")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.record)
        return 0
    print("res/s from CPU seconds; per size: ours, then each baseline with the same resource count and harness:")
    print("  replay = the same resources and inputs through the same pulumi-kubernetes classes, flat (the budget's baseline)")
    print("  sdk = plain pulumi.CustomResource, small inputs; k8s = pulumi-kubernetes ConfigMaps, small inputs")
    header = f"{'teams':>6} {'resources':>9} {'seconds':>8} {'cpu s':>7} {'res/s':>7} {'peak MiB':>8}"
    for short in ("replay", "sdk", "k8s"):
        header += f" | {short + ' res/s':>12} {short + ' MiB':>10} {'x ' + short:>8}"
    print(header)
    # Ratios and growth use CPU seconds (all threads of the process): on a shared machine wall
    # time also counts other processes' work. Wall seconds are shown for ours.
    per = lambda result: result["cpu_seconds"] / result["resources"]  # noqa: E731
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as directory:
            record = str(Path(directory) / "registrations.json")
            ours = run("program", size, record)
            baselines = {"replay": run("replay", record)}
        baselines["bare"] = run("bare", ours["resources"])
        baselines["bare-kubernetes"] = run("bare-kubernetes", ours["resources"])
        for mode, result in baselines.items():
            if result["resources"] != ours["resources"]:
                raise SystemExit(f"{mode} registered {result['resources']} resources, the program {ours['resources']}")
        ratios = {mode: per(ours) / per(result) for mode, result in baselines.items()}
        rows.append((size, ours, ratios))
        line = (f"{size:>6} {ours['resources']:>9} {ours['seconds']:>8.2f} {ours['cpu_seconds']:>7.2f} {1 / per(ours):>7.0f} "
                f"{ours['peak_mib']:>8.0f}")
        for mode, _ in BASELINES:
            result = baselines[mode]
            line += f" | {1 / per(result):>12.0f} {result['peak_mib']:>10.0f} {ratios[mode]:>8.2f}"
        print(line, flush=True)
    first, last = rows[0], rows[-1]
    growth = per(last[1]) / per(first[1])
    print(f"time per resource at {last[0]} teams vs {first[0]} teams: {growth:.2f}x (1.0 = linear)")
    # The SDK's own growth on the same resources: what is left when the two are compared is ours.
    replay_growth = (per(last[1]) / last[2]["replay"]) / (per(first[1]) / first[2]["replay"])
    print(f"  the replay of the same resources: {replay_growth:.2f}x; ours relative to it: {growth / replay_growth:.2f}x")
    for mode, label in BASELINES:
        worst = max(row[2][mode] for row in rows)
        verdict = f"(budget 1.50x) -> {'within' if worst <= 1.5 else 'OVER'} budget" if mode == "replay" else "(comparison only)"
        print(f"worst cost per resource over {label}: {worst:.2f}x {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
