"""The handle on a running control plane that the `cluster` tier's tests use (scripts/cluster start's answer)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path



ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "scripts" / "cluster"
# The stack whose node pools the fake nodes mirror: dev has every kind of pool the program places pods on
# (system, general, the tainted database pool, the tainted GPU pool).
POOLS_STACK = "dev"


def cluster(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLUSTER), *args], capture_output=True, text=True, timeout=timeout)


@dataclass
class ControlPlane:
    """A running control plane: where it is, and small ways to ask it things."""

    dir: Path
    server: str
    kubeconfig: Path
    bin: Path
    nodes: list[str]
    versions: dict[str, str]
    start_seconds: float
    rss_bytes: int
    _identities: dict[str, Path] = field(default_factory=dict)

    def kubectl(self, *args: str, identity: Path | None = None, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.bin / "kubectl"), "--kubeconfig", str(identity or self.kubeconfig), *args],
                                input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, *documents: dict, identity: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(documents)})
        return self.kubectl("apply", "--server-side", "--field-manager=cluster-tests", "-f", "-", input=body,
                            identity=identity, check=check)

    def identity(self, name: str, *groups: str) -> Path:
        """A kubeconfig for user `name` in `groups`, by a client certificate of this run's CA."""
        if name not in self._identities:
            made = cluster("identity", str(self.dir), name, *(f"--group={g}" for g in groups))
            assert made.returncode == 0, made.stderr
            self._identities[name] = Path(made.stdout.strip())
        return self._identities[name]

    def can_i(self, verb: str, resource: str, *, namespace: str | None = None, subresource: str | None = None,
              identity: Path | None = None, as_user: str | None = None, as_groups: tuple[str, ...] = ()) -> bool:
        """The API server's own answer (a SelfSubjectAccessReview, or a SubjectAccessReview through impersonation)."""
        args = ["auth", "can-i", verb, resource, *(["--namespace", namespace] if namespace else []),
                *([f"--subresource={subresource}"] if subresource else [])]
        if as_user:
            args += [f"--as={as_user}", *(f"--as-group={g}" for g in as_groups)]
        answer = self.kubectl(*args, identity=identity, check=False)
        assert answer.stdout.strip() in ("yes", "no"), answer.stderr
        return answer.stdout.strip() == "yes"

    def wait_until(self, what: str, probe: Callable[[], object], timeout: float = 60) -> object:
        """Poll until probe() returns something truthy; fail naming `what` after a bounded wait."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.5)
        raise AssertionError(f"not within {timeout:g}s: {what} (last answer: {last!r})")
