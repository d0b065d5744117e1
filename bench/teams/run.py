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
    """The SDK alone: `count` plain custom resources under one component, with Kubernetes-sized
    properties, through the same recording mock monitor as the program."""
    import pulumi

    from stacks.inventory import run_program

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for i in range(count - 1):
            pulumi.CustomResource(
                "bench:index:Thing",
                f"thing-{i}",
                {"metadata": {"name": f"thing-{i}", "namespace": "bench", "labels": {"a": "b", "c": "d"}}, "spec": {"replicas": 1, "selector": {"x": "y"}}},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    # The same harness as the program (recording mock monitor), so the difference is ours.
    started = time.perf_counter()
    registered = run_program(program, "bench")
    return {"resources": len(registered), "seconds": time.perf_counter() - started}


def measure_bare_kubernetes(count: int) -> dict:
    """pulumi-kubernetes alone: `count` plain ConfigMaps (typed SDK classes, no components of
    ours), through the same recording mock monitor."""
    import pulumi
    import pulumi_kubernetes as k8s

    from stacks.inventory import run_program

    def program():
        parent = pulumi.ComponentResource("bench:index:Parent", "parent")
        for i in range(count - 1):
            k8s.core.v1.ConfigMap(
                f"config-{i}",
                metadata={"name": f"config-{i}", "namespace": "bench", "labels": {"a": "b", "c": "d"}},
                data={"replicas": "1", "selector": "x"},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    started = time.perf_counter()
    registered = run_program(program, "bench")
    return {"resources": len(registered), "seconds": time.perf_counter() - started}


def child(mode: str, size: int) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    measure = {"program": measure_program, "bare": measure_bare, "bare-kubernetes": measure_bare_kubernetes}[mode]
    result = measure(size)
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
    print("per size: ours, then the bare SDK (plain pulumi.CustomResource) and bare pulumi-kubernetes (ConfigMaps), same count and harness")
    print(f"{'teams':>6} {'resources':>9} {'seconds':>8} {'res/s':>7} {'peak MiB':>8} | {'sdk res/s':>9} {'sdk MiB':>7} {'x sdk':>6} | {'k8s res/s':>9} {'k8s MiB':>7} {'x k8s':>6}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        ours = run("program", size)
        sdk = run("bare", ours["resources"])
        kubernetes = run("bare-kubernetes", ours["resources"])
        per = lambda result: result["seconds"] / result["resources"]  # noqa: E731
        rows.append((size, ours, per(ours) / per(sdk), per(ours) / per(kubernetes)))
        print(
            f"{size:>6} {ours['resources']:>9} {ours['seconds']:>8.2f} {1 / per(ours):>7.0f} {ours['peak_mib']:>8.0f} | "
            f"{1 / per(sdk):>9.0f} {sdk['peak_mib']:>7.0f} {per(ours) / per(sdk):>6.2f} | {1 / per(kubernetes):>9.0f} {kubernetes['peak_mib']:>7.0f} {per(ours) / per(kubernetes):>6.2f}"
        )
    first, last = rows[0], rows[-1]
    growth = (last[1]["seconds"] / last[1]["resources"]) / (first[1]["seconds"] / first[1]["resources"])
    print(f"time per resource at {last[0]} teams vs {first[0]} teams: {growth:.2f}x (1.0 = linear)")
    for label, index in (("plain SDK", 2), ("pulumi-kubernetes", 3)):
        worst = max(row[index] for row in rows)
        print(f"worst cost per resource over bare {label}: {worst:.2f}x (budget 1.50x) -> {'within' if worst <= 1.5 else 'OVER'} budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
