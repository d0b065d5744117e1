"""The project's own engine (scripts/engine) driving a copy of the project against a control plane, with the stack's
kubeconfig set as a Pulumi secret, the way a platform team points a `kind: existing` stack at its cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.tooling import unavailable, without_automatic_logs

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["Pulumi.yaml", "__main__.py", "requirements.txt", "components", "stacks", "policies"]
KUBECONFIG_KEY = "complete-cluster:infrastructure.kubeconfig"


def engine_environment() -> dict[str, str]:
    """scripts/engine's variables (`env` builds the engine first when needed). With CI=true an engine that cannot
    be had is a failure, as in the engine tier."""
    env = subprocess.run([str(ROOT / "scripts" / "engine"), "env", "--json"], capture_output=True, text=True, timeout=5400)
    if env.returncode != 0:
        unavailable(f"scripts/engine env failed:\n{env.stderr.strip()}")
    return json.loads(env.stdout)


def project_files_only(directory: str, names: list[str]) -> set[str]:
    """copytree's ignore: at the repository root only the files a Pulumi run needs; caches nowhere."""
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    if Path(directory) == ROOT:
        ignored |= set(names) - set(PROJECT_FILES)
    return ignored


class ExistingStack:
    """A copy of the project (its .venv linked in) holding one extra stack file, `kind: existing`, whose kubeconfig
    (and `secrets`: config path -> value) are set with `pulumi config set --secret --path`; state in the copy's own
    file backend. With `copy_project=False`, `directory` is an earlier stack's copy and this stack joins it (two sites
    in one project, each reading the other's stack file, as in stacks/)."""

    def __init__(self, directory: Path, engine_env: dict[str, str], stack: str, config: dict, kubeconfig: Path,
                 secrets: dict[str, str] | None = None, copy_project: bool = True):
        self.project = directory
        self.stack = stack
        if copy_project:
            shutil.copytree(ROOT, directory, ignore=project_files_only)
            (directory / ".venv").symlink_to(ROOT / ".venv")
            (directory / ".state").mkdir()
        home = directory / ".pulumi-home"
        if not home.exists():
            without_automatic_logs(Path(engine_env["PULUMI_HOME"]), home)
        # PULUMI_SKIP_CHECKPOINTS: the file backend writes the state once at the end of a command instead of after
        # every step (bench/engine measured an `up` of 100 teams at 1,727 ms per resource with the per-step write and
        # 24 without). What this tier proves is what the API server and admission answer, not how the engine survives
        # an interrupted `up`; the engine tier's own stacks keep the default.
        self.env = {**os.environ, **engine_env, "PULUMI_BACKEND_URL": f"file://{directory / '.state'}",
                    "PULUMI_HOME": str(home), "PULUMI_SKIP_CHECKPOINTS": "true"}
        self.stack_file = directory / "stacks" / f"Pulumi.{stack}.yaml"
        self.stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        self("stack", "init")
        for path, value in {KUBECONFIG_KEY: kubeconfig.read_text(), **(secrets or {})}.items():
            self("config", "set", "--secret", "--path", path, value)

    def __call__(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        result = subprocess.run(["pulumi", *args, "--stack", self.stack, "--non-interactive"], cwd=self.project,
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            # The engine's diagnostics (the API server's refusals among them) first: the summary after them is long.
            errors = [line.strip() for line in result.stdout.splitlines() if "error:" in line]
            raise AssertionError(f"pulumi {' '.join(args[:2])} failed ({result.returncode}):\n" + "\n".join(errors[:40]) +
                                 f"\n...\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def resources(self) -> list[dict]:
        exported = json.loads(self("stack", "export").stdout)
        return exported["deployment"].get("resources") or []
