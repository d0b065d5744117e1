"""Every shipped stack's Kubernetes layer as a render target: its own config with the infrastructure swapped.

A render variant of a stack is its stack file with `infrastructure` replaced by `kind: render` and its charts taken
from the offline chart mirror (`charts.source: local`); environment, site, teams, services and policy stay as the
file says, the way `python -m stacks parity` holds two sites to the same teams, services and policy. The variants
of the six stacks live together in one copy of the project under their own names, so what the loader resolves
between sites (a secondary's primary, a primary's secondaries) is resolved between the variants. The stack files'
secrets are encrypted with the reference sites' passphrase, which is not ours: each variant stack sets a test value
for each of them with `pulumi config set --secret`, so they stay Pulumi secrets. The variants of STACKS_WITH_STORAGE_CA
also name a CA of their S3 endpoint (`storage.ca_certificate`), made by openssl for the run, as a site with an internal
CA's certificate on its endpoint does.

Each variant is previewed with the policy pack and its generated pack config (`python -m stacks policy-config`),
as a merge request does, and then rendered with `pulumi up`. The preview's engine events (streamed as JSON) carry
every policy verdict with its enforcement level; the render directory holds every object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.lib.kube_yaml import load_documents
from components.storage.object_storage import storage_account_name
from stacks.model.infrastructure import ContainerRegistry
from tests.engine.object_store import SiteTls
from tests.tooling import without_automatic_logs

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["Pulumi.yaml", "__main__.py", "requirements.txt", "components", "stacks", "policies"]
NAMESPACE = "complete-cluster:"
# `local` as shipped is a render target already (what `scripts/up` renders): its variant differs only in the secrets set.
RENDERED_STACKS = ("local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2")
# The file backend rewrites the whole checkpoint after every step; a render of a stack with its charts writes a
# 16 MB checkpoint ~400 times (6m24s for the local stack against 49s without, bench/engine). The engine then saves
# only the final state, which is all a test reads.
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}
# Streams the preview's engine events as JSON lines (policy events included, which `--json` alone leaves out).
STREAM_EVENTS = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}


def copy_project(destination: Path) -> Path:
    """The program, its stacks and the policy pack copied into `destination`, with the repository's .venv linked."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def secret_paths(value: Any, path: str = "") -> list[str]:
    """`pulumi config set --path` paths of the `{secure: ...}` leaves under `value`."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [found for key, item in value.items() for found in secret_paths(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in secret_paths(item, f"{path}[{index}]")]
    return []


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def without_secrets(value: Any) -> Any:
    """`value` with its `{secure: ...}` leaves left out (the variant stack sets them again)."""
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items() if not _is_secret(item)}
    if isinstance(value, list):
        return [without_secrets(item) for item in value if not _is_secret(item)]
    return value


# The load balancer a render variant of an AKS stack names for its ingress Service (render_variant).
RENDER_LOAD_BALANCER = {"provider": "metallb", "address_pool": "internal"}
# Harbor is applied by the cluster tier (tests/cluster), not rendered here.
UNRENDERED_SERVICES = ("registry",)
# The resource group a render variant of an AKS stack names for its pre-created storage account (render_variant).
RENDER_STORAGE_GROUP = "platform-storage"
# The render variants whose S3 endpoint's certificate an internal CA issued (`storage.ca_certificate`), a CA made by
# openssl for the run (RenderProject): the primary, so its clients verify their own endpoint with it and the
# secondary's clients that read its buckets (a standby database, Velero's read-only location) verify it too.
STACKS_WITH_STORAGE_CA = ("onprem-dc1",)


def render_storage(storage: dict[str, Any], environment: str, site: str) -> dict[str, Any]:
    """A stack's object storage as its render target keeps it (stacks/model/storage.py): an S3 endpoint and its buckets
    without the credentials; for Azure the account the stack would create (its name is derived from the environment
    and site) as an existing one in the resource group `platform-storage`, with the same containers."""
    if storage["kind"] == "s3":
        return {key: value for key, value in storage.items() if key != "credentials"}
    return {"kind": "azure_blob", "account": storage_account_name(environment, site), "resource_group": RENDER_STORAGE_GROUP,
            **({"buckets": storage["buckets"]} if "buckets" in storage else {})}


def render_variant(document: dict[str, Any], charts_directory: str) -> tuple[dict[str, Any], list[str]]:
    """The render variant of a stack file (module docstring) and the config paths of the secrets it must set.

    Only what a render target cannot hold changes, each the way the model requires of one:
    - `infrastructure` is `kind: render`, `charts` come from the mirror; the render target names the site's load
      balancer (an on-prem site's MetalLB pool; for an AKS stack, which has no such pool, a MetalLB pool `internal`
      stands in for Azure's internal load balancer), so the ingress Service is internal where the environment says;
    - teams keep everything but their `releases`, which Fleet deploys at Rancher sites only (the model refuses
      them elsewhere);
    - an AKS stack's container registry (`infrastructure.registry`), its first approved registry, stays first in
      `policy.allowed_registries`;
    - the object storage is kept as a render target holds it (`render_storage`): no credentials, which the render
      target would write to files, and no Azure resources to create; Velero, Loki with Fluent Bit, Tempo with the
      Collector and the databases' WAL archive render on it, naming the credential Secrets the cluster holds;
    - Harbor is off (the cluster tier applies it), and its hostname joins `policy.allowed_registries`, so the
      stack's approved registries are the same as the stack file's.
    """
    config = document["config"]
    variant = {key: without_secrets(value) for key, value in config.items()}
    infrastructure = config[f"{NAMESPACE}infrastructure"]
    if infrastructure["kind"] != "render":  # `local` is a render target as shipped: kept as it is
        variant[f"{NAMESPACE}infrastructure"] = {"kind": "render",
                                                 "load_balancer": infrastructure.get("load_balancer", RENDER_LOAD_BALANCER)}
    variant[f"{NAMESPACE}charts"] = {"source": "local", "directory": charts_directory}
    if f"{NAMESPACE}storage" in config:
        variant[f"{NAMESPACE}storage"] = render_storage(config[f"{NAMESPACE}storage"], config[f"{NAMESPACE}environment"],
                                                        config[f"{NAMESPACE}site"]["name"])
    policy = variant.setdefault(f"{NAMESPACE}policy", {})
    if "registry" in infrastructure:  # an AKS cluster's container registry is its first approved registry
        acr = ContainerRegistry.model_validate(infrastructure["registry"]).login_server
        policy["allowed_registries"] = [acr, *(r for r in policy.get("allowed_registries", []) if r != acr)]
    if f"{NAMESPACE}teams" in variant:  # Fleet deploys teams' releases at Rancher sites only
        variant[f"{NAMESPACE}teams"] = [{key: value for key, value in team.items() if key != "releases"}
                                        for team in variant[f"{NAMESPACE}teams"]]
    services = variant.setdefault(f"{NAMESPACE}services", {})
    registry = services.get("registry") or {}
    if registry.get("enabled"):
        policy["allowed_registries"] = [*policy.get("allowed_registries", []), registry["hostname"]]
    for service in UNRENDERED_SERVICES:
        services[service] = {"enabled": False}
    dropped = (f"{NAMESPACE}storage.credentials", *(f"{NAMESPACE}services.{service}" for service in UNRENDERED_SERVICES))
    secrets = [f"{key}.{path}" for key, value in config.items() for path in secret_paths(value)
               if not f"{key}.{path}".startswith(dropped)]
    return {"config": variant}, secrets


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def failure(self) -> str:
        errors = [line.strip() for line in self.stdout.splitlines() if "error:" in line]
        return (f"pulumi {' '.join(self.args[:3])} failed ({self.returncode}):\n" + "\n".join(errors[:40]) +
                f"\n...\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}")


@dataclass(frozen=True)
class PolicyVerdict:
    """One policy event of the preview: a violation, with the pack's enforcement level for it."""

    policy: str
    enforcement: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.enforcement}] {self.policy} ({self.resource}): {self.message}"


@dataclass(frozen=True)
class StackRender:
    """What one variant produced: the preview's verdicts, the rendered objects and what each step took."""

    stack: str
    policy_config: dict[str, Any]
    verdicts: list[PolicyVerdict]
    policies_run: int
    """How many (resource, policy) evaluations the pack reported passing or failing (the pack really ran)."""
    directory: Path
    objects: list[tuple[Path, dict]]
    outputs: dict[str, Any]
    """The stack's outputs after the render (`pulumi stack output --json`; secrets shown as `[secret]`)."""
    seconds: dict[str, float]
    storage_cas: dict[str, str]
    """The PEM of each rendered stack's S3 endpoint CA that names one (STACKS_WITH_STORAGE_CA), by stack."""


def preview_verdicts(events: str) -> tuple[list[PolicyVerdict], int]:
    """The policy violations in a preview's streamed engine events, and the number of policy evaluations."""
    verdicts, evaluated = [], 0
    for line in events.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if "policyEvent" in event:
            found = event["policyEvent"]
            urn = found.get("resourceUrn", "")
            resource = urn.rsplit("::", 1)[-1] if urn else "(stack)"
            # The message is the policy's description, then the violation itself.
            message = found["message"].split("\n", 1)[-1].strip()
            verdicts.append(PolicyVerdict(found["policyName"], found["enforcementLevel"], resource, message))
        summary = event.get("policyAnalyzeSummaryEvent")
        if summary:
            evaluated += len(summary.get("passed") or []) + len(summary.get("failed") or [])
    return verdicts, evaluated


class RenderProject:
    """A copy of the project holding the render variants of the shipped stacks, with its own file backend."""

    def __init__(self, directory: Path, engine_env: dict[str, str], chart_mirror: Path, stacks: tuple[str, ...] = RENDERED_STACKS):
        self.directory = directory
        directory.mkdir(parents=True)
        self.env = {**os.environ, **engine_env, "PULUMI_BACKEND_URL": f"file://{directory / '.state'}",
                    "PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_SKIP_UPDATE_CHECK": "true",
                    "PULUMI_HOME": str(without_automatic_logs(Path(engine_env["PULUMI_HOME"]), directory / ".pulumi-home"))}
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        copy_project(directory)
        (directory / ".state").mkdir()
        self.secrets: dict[str, list[str]] = {}
        self.storage_cas = {stack: SiteTls.made(directory.parent / f"storage-ca-{stack}", (f"s3.{stack}.example.com",))
                            .ca_certificate.read_text() for stack in STACKS_WITH_STORAGE_CA if stack in stacks}
        for stack in stacks:
            path = directory / "stacks" / f"Pulumi.{stack}.yaml"
            variant, self.secrets[stack] = render_variant(yaml.safe_load(path.read_text()), str(chart_mirror))
            if stack in self.storage_cas:
                variant["config"][f"{NAMESPACE}storage"]["ca_certificate"] = self.storage_cas[stack]
            path.write_text(yaml.safe_dump(variant, sort_keys=False))

    def pulumi(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 1800) -> Run:
        started = time.monotonic()
        done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.directory, env={**self.env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def stacks_tool(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m stacks ...` in the copy, so it reads the variants."""
        return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "stacks", *args], cwd=self.directory,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    def render(self, stack: str) -> StackRender:
        """Initialise the variant stack, set its secrets, preview it with the pack, then render it with `up`."""
        seconds: dict[str, float] = {}
        for run in (self.pulumi("stack", "init", stack),
                    *(self.pulumi("config", "set", "--secret", "--path", "--stack", stack, key, f"test-{key.rsplit('.', 1)[-1]}")
                      for key in self.secrets[stack])):
            assert run.returncode == 0, run.failure()
        config_file = self.directory / f"policy-{stack}.json"
        generated = self.stacks_tool("policy-config", stack, "--output", str(config_file))
        assert generated.returncode == 0, f"python -m stacks policy-config {stack} failed:\n{generated.stderr}"
        preview = self.pulumi("preview", "--stack", stack, "--policy-pack", "policies", "--policy-pack-config", str(config_file), "--json",
                              extra_env=STREAM_EVENTS)
        seconds["preview with the pack"] = preview.seconds
        (self.directory / f"preview-{stack}.jsonl").write_text(preview.stdout)  # kept for whoever reads a failure
        verdicts, evaluated = preview_verdicts(preview.stdout)
        mandatory = [v for v in verdicts if v.enforcement == "mandatory"]
        # A preview fails on a mandatory violation; any other failure is the program's or the engine's.
        assert preview.returncode == 0 or mandatory, preview.failure()
        up = self.pulumi("up", "--yes", "--skip-preview", "--stack", stack, extra_env=SKIP_CHECKPOINTS)
        seconds["up (render)"] = up.seconds
        assert up.returncode == 0, up.failure()
        outputs = self.pulumi("stack", "output", "--json", "--stack", stack)
        assert outputs.returncode == 0, outputs.failure()
        directory = self.directory / "rendered" / stack
        objects = rendered_documents(directory)
        return StackRender(stack, json.loads(config_file.read_text()), verdicts, evaluated, directory, objects, json.loads(outputs.stdout),
                           seconds, self.storage_cas)


def rendered_documents(directory: Path) -> list[tuple[Path, dict]]:
    """Every object under a render directory (`0-crd/` and `1-manifest/`), with its file, read as Kubernetes reads
    YAML (a chart may write `=` as a key, a string to Kubernetes and a YAML 1.1 value tag to PyYAML)."""
    return [(path, document) for path in sorted(directory.rglob("*.yaml")) for document in load_documents(path.read_bytes()) if document]
