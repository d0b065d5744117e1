"""Scanner benchmark: how many Deployment manifests per second `python -m policies.scan DIR --json`
checks, end to end as a subprocess (interpreter start, YAML parsing, every policy, JSON output).

    .venv/bin/python bench/scan/run.py [--sizes 1000,10000] [--repeat 3] [--jobs N]

Generates N Deployments, one per file, about a third of them insecure in varied ways, into a
temporary directory, times the scan (best of --repeat runs), prints manifests per second per size
and checks that the time grows linearly with N (time per manifest at the largest size within
1.5x of the smallest). Not a test: it reports, and exits 1 only if growth is not linear.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SECURE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: registry.example.com/team/{name}:1.{index}.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {{}}
"""

# Each turns a compliant manifest into an insecure one, in a different way.
MUTATIONS = [
    lambda s: s.replace("allowPrivilegeEscalation: false", "privileged: true"),
    lambda s: s.replace("      automountServiceAccountToken: false\n", "      hostNetwork: true\n"),
    lambda s: s.replace(":1.", ":latest-").replace("-{0}.0", ""),
    lambda s: s.replace("runAsUser: 10001", "runAsUser: 0"),
    lambda s: s.replace("          emptyDir: {}", "          hostPath:\n            path: /var/run"),
    lambda s: s.replace('drop: ["ALL"]', 'add: ["SYS_ADMIN"]'),
    lambda s: s.replace(
        "          resources:\n            requests:\n              cpu: 100m\n              memory: 128Mi\n            limits:\n        "
        "      memory: 256Mi\n",
        "",
    ),
    lambda s: s.replace("        seccompProfile:\n          type: RuntimeDefault\n", ""),
    lambda s: s.replace("registry.example.com/team/", "docker.io/library/"),
]


def generate(directory: str, count: int) -> int:
    insecure = 0
    for index in range(count):
        text = SECURE.format(name=f"app-{index}", namespace=f"team-{index % 20}", index=index)
        if index % 3 == 0:
            text = MUTATIONS[(index // 3) % len(MUTATIONS)](text)
            insecure += 1
        with open(os.path.join(directory, f"deployment-{index:05d}.yaml"), "w") as handle:
            handle.write(text)
    # Each team namespace gets its default-deny policy, as the Team component creates it.
    for team in range(20):
        with open(os.path.join(directory, f"team-{team}-default-deny.yaml"), "w") as handle:
            handle.write(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
                f"  name: default-deny\n  namespace: team-{team}\nspec:\n  podSelector: {{}}\n"
                "  policyTypes: [Ingress, Egress]\n"
            )
    return insecure


def time_scan(directory: str, config: str, jobs: int) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "policies.scan", directory, "--json", "--config", config, "--jobs", str(jobs)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({result.returncode}): {result.stderr.decode()}")
    return elapsed, len(json.loads(result.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="passed to the scanner (0: one process per CPU)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    config = os.path.join(ROOT, "bench", "scan", "config.json")
    results = []
    print(f"{'manifests':>9}  {'insecure':>8}  {'violations':>10}  {'seconds':>8}  {'manifests/s':>11}")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="scan-bench-") as directory:
            insecure = generate(directory, size)
            best, violations = min(time_scan(directory, config, args.jobs) for _ in range(args.repeat))
        rate = size / best
        results.append((size, best))
        print(f"{size:>9}  {insecure:>8}  {violations:>10}  {best:>8.2f}  {rate:>11.0f}")
    (small, t_small), (large, t_large) = results[0], results[-1]
    growth = (t_large / large) / (t_small / small)
    linear = growth <= 1.5
    print(f"time per manifest at {large} vs {small}: {growth:.2f}x ({'linear' if linear else 'NOT linear'})")
    return 0 if linear else 1


if __name__ == "__main__":
    sys.exit(main())
