"""The two on-premises sites (onprem-dc1, onprem-dc2) as `kind: existing` stacks of one project copy, each pointed at
a control plane of its own, and what the disaster-recovery runbook tells an operator to type, read from the runbook.

Both stack files sit in the copy's stacks/, as in the repository: each site's program reads the other's file (a
secondary follows what its primary's file says), so the runbook's config change is made to both with `pulumi config`,
exactly as written there. The Rancher layer cannot run here (no Rancher server): each site's Kubernetes layer is
applied to its control plane, with its own config, the way `python -m stacks parity` compares them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cluster_complete import config_as_existing, located
from cluster_engine import ROOT, ExistingStack
from cluster_plane import ControlPlane
from stacks.tools.inventory import evaluate
from tests.crds import crds_for, custom_resource_kinds

SITES = ("onprem-dc1", "onprem-dc2")
RUNBOOK = ROOT / "docs" / "runbooks" / "disaster-recovery.md"
# Harbor needs what the engine does not provide: pulumi-harbor's provider plugin for the sites' replication (its
# passwords need none: components/kit/generated.py). Redis and the monitoring stack are applied.
NEEDS_OTHER_PROVIDERS = ("registry",)


def site_config(stack: str, storage_ca: str | None = None) -> tuple[dict, dict[str, str]]:
    """The shipped site's config as `kind: existing`, without the services the engine cannot apply yet; with
    `storage_ca`, that CA as the issuer of its S3 endpoint's certificate (`storage.ca_certificate`)."""
    config, secrets = config_as_existing(stack)
    if storage_ca is not None:
        config["complete-cluster:storage"]["ca_certificate"] = storage_ca
    services = config["complete-cluster:services"]
    for name in NEEDS_OTHER_PROVIDERS:
        services[name] = {**services.get(name, {}), "enabled": False}
    secrets = {path: value for path, value in secrets.items() if not path.startswith("complete-cluster:services.registry.")}
    services["registry"].pop("replication_secret", None)
    return config, secrets


def runbook_commands(step: str) -> list[list[str]]:
    """The commands of the first `sh` block after the runbook line that starts with `step` (e.g. `2. **Make dc2`),
    one argv per line, comments and blank lines left out."""
    text = RUNBOOK.read_text()
    start = text.index(step)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block, f"{RUNBOOK.name}: no sh block after {step!r}"
    return [shlex.split(line) for line in block.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]


@dataclass
class Sites:
    """One copy of the project holding both sites' stacks, each applied to its own control plane."""

    project: Path
    planes: dict[str, ControlPlane]
    stacks: dict[str, ExistingStack] = field(default_factory=dict)

    @classmethod
    def deployed(cls, project: Path, planes: dict[str, ControlPlane], engine_env: dict[str, str],
                 storage_ca: str | None = None) -> Sites:
        """Both stack files written first (each site's load reads the other's), then each stack initialised with its
        plane's kubeconfig and its secrets, and the operators' CRDs installed on each plane (charts are off)."""
        sites = cls(project, planes)
        configs = {stack: site_config(stack, storage_ca) for stack in SITES}
        for i, stack in enumerate(SITES):
            config, secrets = configs[stack]
            sites.stacks[stack] = ExistingStack(project, engine_env, stack, config, planes[stack].kubeconfig, secrets,
                                                copy_project=i == 0)
            if i == 0:  # the copy now exists: put the other site's file in place before anything loads either
                for other in SITES[1:]:
                    (project / "stacks" / f"Pulumi.{other}.yaml").write_text(
                        yaml.safe_dump({"config": configs[other][0]}, sort_keys=False))
        # Each plane gets the CRDs of what either site registers, as a real site has its charts' every CRD: a site changes
        # role in the drill (a secondary's KafkaMirrorMaker2 comes to dc1 when it returns as dc2's secondary).
        types = {r.type for stack in SITES for r in evaluate(stack, sites.stacks[stack].stack_file, sites=project / "stacks")}
        crds = crds_for(custom_resource_kinds({token for token in types if token.startswith("kubernetes:")}))
        for stack in SITES:
            plane = planes[stack]
            for _, crd in crds:
                plane.kubectl("apply", "--server-side", "--field-manager=chart-mirror-crds", "-f", "-", input=yaml.safe_dump(crd))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{c['metadata']['name']}" for _, c in crds))
        return sites

    def run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """A command as the runbook writes it (`pulumi ...`, `.venv/bin/python -m stacks ...`), in the project copy."""
        env = self.stacks[SITES[0]].env
        result = subprocess.run(argv, cwd=self.project, env=env, capture_output=True, text=True, timeout=1800)
        if check and result.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}")
        return result

    def live_objects(self, stack: str) -> list[dict]:
        """Every Kubernetes object the stack's state holds, as its control plane serves it now."""
        plane = self.planes[stack]
        objects = [r["outputs"] for r in self.stacks[stack].resources()
                   if r.get("custom") and r["type"].startswith("kubernetes:") and "kind" in (r.get("outputs") or {})]
        return [plane.get(*located(o)) for o in objects]


def postgres_clusters(plane: ControlPlane) -> list[dict]:
    return plane.get("postgresqls.acid.zalan.do", "-A")["items"]


def backup_locations(plane: ControlPlane) -> dict[str, dict]:
    return {b["metadata"]["name"]: b["spec"] for b in plane.get("backupstoragelocations.velero.io", "-A")["items"]}


def kafka_mirroring(plane: ControlPlane) -> dict:
    """What the API server serves of Kafka between the sites: the cluster's cross-site listeners' advertised hosts,
    the KafkaMirrorMaker2s' (target alias, source alias, source bootstrap), and the mirror users."""
    served = plane.get("kafkas.kafka.strimzi.io,kafkamirrormaker2s.kafka.strimzi.io,kafkausers.kafka.strimzi.io", "-n", "kafka")["items"]
    [cluster] = [item for item in served if item["kind"] == "Kafka"]
    mirrors = [item for item in served if item["kind"] == "KafkaMirrorMaker2"]
    users = [item for item in served if item["kind"] == "KafkaUser"]
    return {
        "site_listeners": [listener["configuration"]["advertisedHostTemplate"]
                           for listener in cluster["spec"]["kafka"]["listeners"] if listener["name"] == "site"],
        "mirrors": [(m["spec"]["target"]["alias"], flow["source"]["alias"], flow["source"]["bootstrapServers"])
                    for m in mirrors for flow in m["spec"]["mirrors"]],
        "mirror_users": sorted(u["metadata"]["name"] for u in users if u["metadata"]["name"].startswith("mirror-")),
    }


def central_view(plane: ControlPlane) -> dict:
    """What the API server serves of the central view (docs/observability.md): the sites the SiteDown alerts watch
    (PrometheusRule `platform-sites`, the `site` label each alert's expression asks for) and the receiving Ingresses
    (`central-*`: remote write, log push) with their hosts."""
    rules = plane.get("prometheusrules.monitoring.coreos.com", "-n", "monitoring")["items"]
    watched = sorted(
        match
        for rule in rules if rule["metadata"]["name"] == "platform-sites"
        for group in rule["spec"]["groups"] for alert in group["rules"] if alert.get("alert") == "SiteDown"
        for match in re.findall(r'site="([^"]+)"', alert["expr"])
    )
    ingresses = plane.get("ingresses.networking.k8s.io", "-A")["items"]
    receivers = sorted((item["metadata"]["name"], rule["host"]) for item in ingresses
                       if item["metadata"]["name"].startswith("central-") for rule in item["spec"]["rules"])
    return {"site_down_watches": watched, "receivers": receivers}


def environment_of(cluster: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in cluster["spec"].get("env", [])}

