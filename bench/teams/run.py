"""Benchmark: program evaluation under the mock runtime at 10, 100 and 1,000 teams.

Each team declares one API, one worker and one scheduled job. For each size a fresh process
evaluates the generated stack (stacks.inventory.evaluate, as the tests do) and, separately, the
bare SDK registering the same number of plain custom resources with similar property sizes. It
reports resources, seconds, resources per second, peak memory, and our cost per resource over the
bare SDK's (the budget is at most 1.5x), and checks growth is linear.

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


def measure_program(teams: int) -> dict:
    import components.program  # noqa: F401  imports are not evaluation: load them before timing
    from stacks.inventory import evaluate

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "Pulumi.local.yaml"
        path.write_text(yaml.safe_dump(stack_document(teams)))
        started = time.perf_counter()
        registrations = evaluate("local", path)
        seconds = time.perf_counter() - started
    return {"resources": len(registrations), "seconds": seconds}


def measure_bare(count: int) -> dict:
    """The SDK alone: `count` plain custom resources, parented in a chain of components like ours."""
    import pulumi
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from stacks.inventory import InventoryMocks

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for i in range(count):
            pulumi.CustomResource(
                "bench:index:Thing",
                f"thing-{i}",
                {"metadata": {"name": f"thing-{i}", "namespace": "bench", "labels": {"a": "b", "c": "d"}}, "spec": {"replicas": 1, "selector": {"x": "y"}}},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    settings.ROOT.set(None)
    mocks.set_mocks(InventoryMocks(), project="bench", stack="bench", preview=False)
    started = time.perf_counter()
    _sync_await(run_pulumi_func(program))
    return {"resources": count, "seconds": time.perf_counter() - started}


def child(mode: str, size: int) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    result = measure_program(size) if mode == "program" else measure_bare(size)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(mode: str, size: int) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", mode, str(size)], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    print(f"{'teams':>6} {'resources':>9} {'seconds':>8} {'res/s':>7} {'peak MiB':>8} | {'bare s':>7} {'bare res/s':>10} {'bare MiB':>8} | {'ours/bare':>9}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        ours = run("program", size)
        bare = run("bare", ours["resources"])
        ratio = (ours["seconds"] / ours["resources"]) / (bare["seconds"] / bare["resources"])
        rows.append((size, ours, bare, ratio))
        print(
            f"{size:>6} {ours['resources']:>9} {ours['seconds']:>8.2f} {ours['resources'] / ours['seconds']:>7.0f} {ours['peak_mib']:>8.0f} | "
            f"{bare['seconds']:>7.2f} {bare['resources'] / bare['seconds']:>10.0f} {bare['peak_mib']:>8.0f} | {ratio:>9.2f}"
        )
    first, last = rows[0], rows[-1]
    growth = (last[1]["seconds"] / last[1]["resources"]) / (first[1]["seconds"] / first[1]["resources"])
    print(f"time per resource at {last[0]} teams vs {first[0]} teams: {growth:.2f}x (1.0 = linear)")
    worst = max(ratio for *_, ratio in rows)
    print(f"worst cost per resource over the bare SDK: {worst:.2f}x (budget 1.50x) -> {'within' if worst <= 1.5 else 'OVER'} budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
