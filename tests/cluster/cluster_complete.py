"""A shipped stack's complete config, as a `kind: existing` stack applied to a control plane, and the checks issue 16
asks of it: every object applied, a second `up` and a `refresh` with nothing to do, every pod admitted and Running
where its tolerations allow, the policy pack agreeing with Pod Security admission, team access as the environment
promises, and `destroy` leaving nothing.

The stack file is the shipped one with its infrastructure made `kind: existing` (the kubeconfig a Pulumi secret),
its storage made the S3 kind (no cloud here; added where the stack has none), a Harbor added (TEST_HARBOR), and
every secret of the file set again for the test stack (the shipped ciphertexts belong to their own stacks' keys).
KWOK plays the kubelet (pods Running, Jobs' pods Succeeded) and the ingress controller's status update
(`scripts/cluster.d/stages/ingress-address.yaml`). Nothing runs in the pods: operators reconcile nothing, and
NetworkPolicies are only checked to exist (no CNI enforces them).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml

from cluster_engine import ROOT, ExistingStack, engine_environment
from cluster_plane import ControlPlane, cluster
from cluster_pod_security import MUTATIONS, SERVICE_ACCOUNT_NOT_YET, Pack, Workload, admissions, mutated, refusal, workloads
from policies.lib import kube
from stacks.loader import load_stack
from stacks.tools.inventory import Registration, evaluate
from stacks.tools.policy_config import pack_config
from tests.crds import crds_for, custom_resource_kinds
from tests.tooling import chart_mirror, unavailable

DATABASE_TOLERATION = {"key": "nodeType", "operator": "Equal", "value": "database", "effect": "NoSchedule"}
DATABASE_TOLERATION_TAINT = {"key": "nodeType", "value": "database", "effect": "NoSchedule"}
TEST_S3 = {"kind": "s3", "endpoint": "https://s3.cluster-tier.example.com"}

GENERATED_PASSWORD = "pulumi-python:dynamic/platform:GeneratedPassword"
# Harbor ships only in the on-prem sites' stacks, whose proxy-cache projects and replication live in a running
# Harbor's API (the pulumiverse-harbor provider), which nothing serves here. So each stack gets a Harbor with neither
# (on the S3 storage above): everything the program declares for it is applied, its generated passwords and bcrypt
# htpasswd and its token-signing Certificate included, and no Harbor provider is registered.
TEST_HARBOR = {"enabled": True, "hostname": "harbor.cluster-tier.example.com"}


def _secret_paths(value: object, path: str) -> Iterator[tuple[str, object]]:
    """Each `{secure: ...}` leaf of a stack file's config, as (pulumi config --path, parent container)."""
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if isinstance(item, dict) and set(item) == {"secure"}:
                yield inner, value
            else:
                yield from _secret_paths(item, inner)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{i}]")


def config_as_existing(stack: str, cert_manager_webhook: str | None = None) -> tuple[dict, dict[str, str]]:
    """The shipped stack's config as `kind: existing`, and the secrets to set for it (config path -> a test value).

    With `cert_manager_webhook` (the host `scripts/cluster cert-manager` serves the webhook on) every chart comes from
    the offline chart mirror, and the two webhooks the API server would call in pods are answered otherwise, through
    stack config a site whose API server cannot reach pods would set too (docs/services.md): cert-manager's webhook
    on the host (`services.cert_manager.webhook_host`), and ingress-nginx's admission webhook off
    (`services.ingress.admission_webhook`: it tests each Ingress's NGINX configuration inside the controller, whose
    nginx nothing here runs). The Prometheus operator's webhook stays on with its `failurePolicy: Ignore`
    (components/observability/metrics.py): its calls fail here and the rules are admitted unchecked, as they are
    in a cluster while the operator starts. Without it, charts off, and the operators' CRDs from the mirror
    (`apply`)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    registry = (config["complete-cluster:infrastructure"] or {}).get("registry")
    if registry:
        # An AKS stack's images come from its own registry (`infrastructure.registry`); as an existing
        # cluster, the stack names that registry as its approved one instead.
        policy = config.setdefault("complete-cluster:policy", {}) or {}
        policy["allowed_registries"] = [f"{registry['name'].lower()}.azurecr.io", *policy.get("allowed_registries", [])]
        config["complete-cluster:policy"] = policy
    config["complete-cluster:infrastructure"] = {"kind": "existing"}
    config["complete-cluster:charts"] = {"source": "off"}
    storage = config.get("complete-cluster:storage")
    if not storage or storage.get("kind") == "azure_blob":
        credentials = {"access_key_id": {"secure": ""}, "secret_access_key": {"secure": ""}}  # set below, as secrets
        config["complete-cluster:storage"] = {**TEST_S3, "credentials": credentials}
    for team in config.get("complete-cluster:teams", []):
        team.pop("releases", None)  # Fleet is Rancher's; an existing cluster has none (components/access/fleet.py)
    services = config.setdefault("complete-cluster:services", {})
    services["registry"] = {**services.get("registry", {}), **TEST_HARBOR}
    if cert_manager_webhook:
        config["complete-cluster:charts"] = {"source": "local", "directory": str(chart_mirror())}
        services["cert_manager"] = {**services.get("cert_manager", {}), "webhook_host": cert_manager_webhook}
        services["ingress"] = {**services.get("ingress", {}), "admission_webhook": False}
    secrets = {}
    for path, parent in list(_secret_paths(config, "")):
        key = path.rsplit(".", 1)[-1]
        parent[key] = None  # placeholder, set encrypted after `stack init`
        secrets[path] = f"cluster-tier-{key.replace('_', '-')}"
    return config, secrets


@dataclass
class Applied:
    """A complete stack after its first `pulumi up` (destroyed by the fixture that made it)."""

    name: str
    plane: ControlPlane
    stack: ExistingStack
    config: dict
    registrations: list[Registration]  # the Kubernetes objects the program registers itself (charts' come from state)
    seconds: float

    @property
    def environment(self) -> str:
        return self.config["complete-cluster:environment"]

    def namespaces(self) -> set[str]:
        return {r.inputs["metadata"]["name"] for r in self.registrations if r.inputs["kind"] == "Namespace"}

    def objects(self) -> list[dict]:
        """Every Kubernetes object the engine holds after `up` (outputs: kind, name, namespace as applied)."""
        return [r["outputs"] for r in self.stack.resources()
                if r.get("custom") and r["type"].startswith("kubernetes:") and not r["type"].startswith("pulumi:providers")
                and "kind" in (r.get("outputs") or {})]

    def pack(self) -> Pack:
        """The pack as a merge-request preview of this stack runs it (its generated policy-config)."""
        return Pack(pack_config(load_stack(self.name, self.stack.stack_file).config))


def located(outputs: dict) -> list[str]:
    namespace = outputs["metadata"].get("namespace")
    return [outputs["kind"], outputs["metadata"]["name"], *(["-n", namespace] if namespace else [])]


def held(plane: ControlPlane, objects: list[dict]) -> list[str]:
    """Which of `objects` (the engine's outputs) the API server holds, as `kind namespace/name`: one `kubectl get -f`
    for all (a GET of each by its apiVersion and kind; with a chart's 471 objects, one kubectl each cost a minute). A
    kind the API server no longer serves (its CRD gone) holds nothing; any other error fails."""
    def reference(o: dict) -> dict:
        meta = {k: o["metadata"][k] for k in ("name", "namespace") if o["metadata"].get(k)}
        return {"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": meta}

    answer = plane.kubectl("get", "--ignore-not-found", "-o", "json", "-f", "-", check=False,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [reference(o) for o in objects]}))
    unserved = r'no matches for kind|^ensure CRDs are installed first$'  # kubectl's two lines for an unserved kind
    errors = [line for line in answer.stderr.splitlines() if line.strip() and not re.search(unserved, line)]
    assert not errors, "\n".join(errors[:20])
    found = json.loads(answer.stdout) if answer.stdout.strip() else {}
    return described(found["items"] if "items" in found else [found] if "kind" in found else [])


def described(objects: list[dict]) -> list[str]:
    return sorted(f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objects)


def apply(plane: ControlPlane, directory: Path, name: str, config: dict, secrets: dict[str, str]) -> Iterator[Applied]:
    """`pulumi up` of `config` as stack `name` (the operators' CRDs first, from the chart mirror, when the stack does
    not install its charts); yields it, then destroys it and removes those CRDs (and any the charts keep)."""
    stack = ExistingStack(directory, engine_environment(), name, config, plane.kubeconfig, secrets)
    # Objects only: with charts on, each chart is registered too (kubernetes:helm.sh/v4:Chart, a component with no
    # `kind`), and its objects come from the engine's state.
    registrations = [r for r in evaluate(name, stack.stack_file) if r.type.startswith("kubernetes:") and "kind" in r.inputs]
    charts_off = config["complete-cluster:charts"]["source"] == "off"
    crds = crds_for(custom_resource_kinds({r.type for r in registrations})) if charts_off else []
    for _, crd in crds:
        plane.kubectl("apply", "--server-side", "--field-manager=chart-mirror-crds", "-f", "-", input=yaml.safe_dump(crd))
    if crds:
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{crd['metadata']['name']}" for _, crd in crds))
    started = time.monotonic()
    up = stack("up", "--yes")
    print(f"\n{name}: the slowest creations: {slowest(up.stdout, 'created')}")
    try:
        yield Applied(name, plane, stack, config, registrations, time.monotonic() - started)
    finally:
        kept = [located(r["outputs"]) for r in stack.resources() if r.get("retainOnDelete") and "kind" in (r.get("outputs") or {})]
        stack("state", "unprotect", "--all", "--yes", check=False)
        stack("destroy", "--yes", check=False)
        for _, crd in crds:
            plane.kubectl("delete", "crd", crd["metadata"]["name"], "--ignore-not-found", check=False)
        for where in kept:  # what a chart keeps on uninstall (cert-manager's CRDs), so the next stack starts clean
            plane.kubectl("delete", *where, "--ignore-not-found", check=False)


# The cert-manager chart's release name (components/services/cert_manager.py: the component's name and `-chart`),
# which prefixes its ServiceAccounts and the webhook's CA Secret.
CERT_MANAGER_RELEASE = "platform-cert-manager-chart"


def serve_cert_manager(plane: ControlPlane) -> str:
    """cert-manager's webhook and CA injector on the host beside `plane` (`scripts/cluster cert-manager`, built at
    the chart's appVersion), as the chart's ServiceAccounts; returns the host for `services.cert_manager.webhook_host`.
    With CI=true a build that fails is a failure, as for the control plane."""
    served = cluster("cert-manager", str(plane.dir), "--release", CERT_MANAGER_RELEASE, timeout=3 * 3600)
    if served.returncode != 0 and "cert-manager build" in served.stderr:
        unavailable(f"scripts/cluster cert-manager could not build:\n{served.stderr.strip()[-3000:]}")
    assert served.returncode == 0, served.stderr
    return served.stdout.strip()


def run_scheduled_jobs(applied: Applied) -> None:
    """A Job from each CronJob now, as its schedule would make it; its pods complete (KWOK)."""
    for r in applied.registrations:
        if r.inputs["kind"] == "CronJob":
            name, ns = r.inputs["metadata"]["name"], r.inputs["metadata"]["namespace"]
            applied.plane.kubectl("create", "job", f"{name}-now", f"--from=cronjob/{name}", "-n", ns)
            applied.plane.kubectl("wait", "--for=condition=Complete", f"job/{name}-now", "-n", ns, "--timeout=60s")


# --- the checks --------------------------------------------------------------------------------------------------------


def settle(applied: Applied) -> None:
    """A second `up` and a `refresh`, each failing if it finds anything to change (once per stack: the checks after
    it read the stack as they leave it)."""
    applied.stack("up", "--yes", "--expect-no-changes")
    applied.stack("refresh", "--yes", "--expect-no-changes")


def check_every_object_applied(applied: Applied) -> int:
    objects = applied.objects()
    assert len(objects) >= len(applied.registrations)
    there = held(applied.plane, objects)
    assert there == described(objects), sorted(set(described(objects)) - set(there))
    return len(objects)


CIPHERTEXT = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}  # Pulumi's secret signature


# Generated passwords that go only into a chart's values, not into a Secret of ours; with charts off nothing reads them.
INTO_CHART_VALUES_ONLY = {"platform-registry-database-password"}  # Harbor's internal PostgreSQL (database.internal.password)


def check_generated_passwords(applied: Applied) -> int:
    """The passwords the program generates on a cluster (Redis auth, Grafana's admin password and key, Harbor's
    secrets: Pulumi's Python dynamic-provider plugin running components/kit/generated.py) are ciphertext in state,
    appear nowhere in it in plain text, and are what the Kubernetes Secrets built from them hold in the cluster, after
    the first `up`, a second `up` and a `refresh` (which must neither rotate nor reveal them); a bcrypt hash (Harbor's
    registry htpasswd) is secret too and verifies the password with pyca's bcrypt. `applied` has been settled."""
    exported = applied.stack("stack", "export").stdout
    state = json.loads(exported)["deployment"]["resources"]
    shown = {r["urn"]: r for r in json.loads(applied.stack("stack", "export", "--show-secrets").stdout)["deployment"]["resources"]}
    generated = [r for r in state if r["type"] == GENERATED_PASSWORD]
    assert generated
    for r in generated:
        outputs, name = r["outputs"], r["urn"].rsplit("::", 1)[-1]
        secret_outputs = ["result", *(["bcrypt_hash"] if outputs["bcrypt"] else [])]
        plain = {key: json.loads(shown[r["urn"]]["outputs"][key]["plaintext"]) for key in secret_outputs}
        for key in secret_outputs:
            assert CIPHERTEXT.items() <= outputs[key].items() and "ciphertext" in outputs[key], (name, key)
            assert plain[key] not in exported, f"{name}: its {key} is in the state in plain text"
        value = plain["result"]
        assert re.fullmatch(rf"[A-Za-z0-9]{{{int(outputs['length'])}}}", value), name
        readers = [s for s in state if s["type"] == "kubernetes:core/v1:Secret" and r["urn"] in (s.get("dependencies") or [])]
        assert bool(readers) is (name not in INTO_CHART_VALUES_ONLY), f"{name}: read by {[s['urn'] for s in readers]}"
        for secret in readers:
            live = applied.plane.get(*located(secret["outputs"]))
            held = {key: base64.b64decode(v).decode() for key, v in live["data"].items()}
            assert value in held.values(), f"{name}: Secret {live['metadata']['name']} does not hold the generated password"
            if outputs["bcrypt"]:
                htpasswd = [line for line in held.values() if line.endswith(":" + plain["bcrypt_hash"])]
                assert htpasswd and bcrypt.checkpw(value.encode(), plain["bcrypt_hash"].encode()), f"{name}: no htpasswd line"
    return len(generated)


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (the suffixes the quota controller writes)."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * suffixes[suffix]
    return float(value)


def tolerated(pod: dict, taint: dict) -> bool:
    """The scheduler's rule (k8s.io/api/core/v1 Toleration.ToleratesTaint): effect, key, and Exists or Equal."""
    for t in pod["spec"].get("tolerations") or []:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("key") and t["key"] != taint["key"]:
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def check_pods(applied: Applied) -> list[dict]:
    """Every controller's pods admitted (by Pod Security and quota), Running or Succeeded, on a node whose taints
    they tolerate and whose labels their nodeSelector names; database pods only on the database pool; quotas not
    exceeded."""
    for deployment in (d for ns in applied.namespaces() for d in applied.plane.get("deployments", "-n", ns)["items"]):
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"], (
            deployment["metadata"]["name"], deployment["status"])
    nodes = {n["metadata"]["name"]: n for n in applied.plane.get("nodes")["items"]}
    pods = [p for ns in sorted(applied.namespaces()) for p in applied.plane.get("pods", "-n", ns)["items"]]
    assert pods
    for p in pods:
        where = f"pod {p['metadata']['namespace']}/{p['metadata']['name']}"
        assert p["status"]["phase"] in ("Running", "Succeeded"), f"{where}: {p['status']}"
        node = nodes[p["spec"]["nodeName"]]
        for taint in node["spec"].get("taints") or []:
            assert tolerated(p, taint), f"{where} runs on {node['metadata']['name']} without tolerating {taint}"
        for key, value in (p["spec"].get("nodeSelector") or {}).items():
            assert node["metadata"]["labels"].get(key) == value, f"{where}: node {node['metadata']['name']} lacks {key}={value}"
        if DATABASE_TOLERATION in (p["spec"].get("tolerations") or []) and p["spec"].get("nodeSelector"):
            assert any(t["key"] == "nodeType" for t in node["spec"].get("taints") or []), f"{where} is off the database pool"
    # A ReplicaSet's first pods may come before the chart's ServiceAccount (SERVICE_ACCOUNT_NOT_YET; the pods above are
    # there). Every other refusal (Pod Security, quota, LimitRange) fails the check.
    refusals = [e["message"] for ns in applied.namespaces()
                for e in applied.plane.get("events", "-n", ns, "--field-selector", "reason=FailedCreate")["items"]
                if not SERVICE_ACCOUNT_NOT_YET.search(e["message"])]
    assert not refusals, refusals
    for ns in applied.namespaces():
        for quota in applied.plane.get("resourcequotas", "-n", ns)["items"]:
            for resource, used in quota["status"]["used"].items():
                assert quantity(used) <= quantity(quota["status"]["hard"][resource]), (ns, resource, quota["status"])
    return pods


# Where each operator takes the placement of the pods it makes from its custom resource (no operator runs here): the
# mapping that holds it, and which of its keys become which pod spec fields. Zalando's postgresql: spec.tolerations
# and spec.nodeAffinity (-> affinity.nodeAffinity of the Spilo pods); RabbitmqCluster: spec.tolerations and
# spec.affinity; Strimzi's KafkaNodePool: spec.template.pod; Spotahome's RedisFailover: spec.redis and spec.sentinel.
OPERATOR_PLACEMENT: dict[str, tuple[tuple[str, ...], ...]] = {
    "postgresql": (("spec",),),
    "RabbitmqCluster": (("spec",),),
    "KafkaNodePool": (("spec", "template", "pod"),),
    "RedisFailover": (("spec", "redis"), ("spec", "sentinel")),
}
PROBE_CONTAINER = {
    "name": "probe", "image": "registry.example.com/placement-probe:1.0",
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}},
}


def placement_of(custom_resource: dict) -> list[dict]:
    """The placement fields each pod an operator makes from this resource gets (OPERATOR_PLACEMENT)."""
    found = []
    for path in OPERATOR_PLACEMENT.get(custom_resource["kind"], ()):
        source: dict = custom_resource
        for key in path:
            source = source.get(key) or {}
        spec = {k: source[k] for k in ("tolerations", "nodeSelector", "affinity") if source.get(k)}
        if source.get("nodeAffinity"):
            spec["affinity"] = {**spec.get("affinity", {}), "nodeAffinity": source["nodeAffinity"]}
        found.append(spec)
    return found


def check_data_services_placed_on_the_database_pool(applied: Applied) -> int:
    """No operator runs here, so no database pod is ever made; instead a probe pod per pod kind of each data service,
    with the placement its operator copies from the custom resource, is scheduled by the real scheduler: each lands
    on the tainted database pool, so the resources ask for what the pools offer."""
    plane = applied.plane
    probes = []
    for r in applied.registrations:
        for spec in placement_of(r.inputs):
            assert spec.get("tolerations") and spec.keys() & {"nodeSelector", "affinity"}, f"{r.name}: {spec}"
            name = f"placement-probe-{len(probes)}"
            probes.append((r.name, r.inputs["metadata"]["namespace"], name))
            plane.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": probes[-1][1]},
                         "spec": {**spec, "containers": [PROBE_CONTAINER]}})
    nodes = {n["metadata"]["name"]: n for n in plane.get("nodes")["items"]}
    try:
        for what, ns, name in probes:
            node = plane.wait_until(f"{what}'s probe scheduled", lambda ns=ns, name=name: plane.get(
                "pod", name, "-n", ns)["spec"].get("nodeName"), timeout=60)
            assert DATABASE_TOLERATION_TAINT in (nodes[node]["spec"].get("taints") or []), f"{what}'s pods land on {node}"
    finally:
        for _, ns, name in probes:
            plane.kubectl("delete", "pod", name, "-n", ns, "--wait=false", check=False)
    return len(probes)


def check_pod_security_agreement(applied: Applied) -> list[tuple[str, str, str]]:
    """Every pod-carrying object the engine holds: the pack's verdict on its template (under the stack's own pack
    config) is Pod Security admission's on the pods the controllers made from it, reason for reason."""
    pack = applied.pack()
    live = admissions(applied.plane, applied.namespaces())
    compared = []
    for workload in workloads(applied.stack.resources()):
        admission = live.get(workload.key)
        assert admission is not None and not admission.other_refusals, f"{workload.key}: no pod of it reached Pod Security: {admission}"
        ours, theirs = pack.reasons(workload.type, workload.props), admission.reasons()
        assert ours == theirs, f"{workload.key}: the pack says {ours}, Pod Security admission says {theirs}"
        compared.append(workload.key)
    assert compared
    return compared


def check_pod_security_mutations(applied: Applied) -> tuple[int, int, int]:
    """Each template of the stack, changed in one place Pod Security looks at (MUTATIONS), sent to the API server as
    the Pod its controller would make (server-side dry run, in the template's own namespace): the pack's verdict on
    the changed template and the admission's on the pod are the same, refusals and reasons included. A change that
    makes no valid pod of a template in the host's namespaces (a `net.*` sysctl with hostNetwork, hostUsers false
    with any host namespace: the node exporter's) is refused by validation, before admission, and compared with
    nothing; any other invalid pod fails. Returns (cases, refused, invalid)."""
    pack = applied.pack()
    cases, pods = [], []
    for workload in workloads(applied.stack.resources()):
        for what, mutation in MUTATIONS.items():
            props, pod = mutated(workload, mutation)
            pod["metadata"]["name"] = f"psa-{len(pods)}"
            cases.append((workload, what, pack.reasons(workload.type, props)))
            pods.append(pod)
    answer = applied.plane.kubectl("create", "--dry-run=server", "-f", "-", check=False, timeout=600,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    admitted = set(re.findall(r"^pod/(psa-\d+) created \(server dry run\)$", answer.stdout, re.MULTILINE))
    refused, other, invalid = {}, [], set()
    for line in answer.stderr.splitlines():
        name = re.search(r'pods "(psa-\d+)" is forbidden: ', line)
        psa = refusal(line)
        not_a_pod = re.search(r'Pod "psa-(\d+)" is invalid: ', line)
        if not_a_pod and in_host_namespaces(cases[int(not_a_pod.group(1))][0]):
            invalid.add(f"psa-{not_a_pod.group(1)}")
        elif name and psa:
            refused[name.group(1)] = psa[1]
        elif name and "exceeded quota" in line:  # quota admission runs after Pod Security: PSA admitted it
            admitted.add(name.group(1))
        elif line.startswith("Warning: would violate PodSecurity"):
            pass  # a namespace enforcing less than restricted warns at restricted (components/kit/namespaces.py): no verdict
        elif line.strip():
            other.append(line)
    assert not other, "the API server answered other than Pod Security:\n" + "\n".join(other[:20])
    disagreements = []
    for i, (workload, what, ours) in enumerate(cases):
        name = f"psa-{i}"
        if name in invalid:
            continue
        assert (name in admitted) != (name in refused), f"{name}: no single answer from the API server"
        if ours != refused.get(name, []):
            disagreements.append(f"{workload.key} {what}: the pack says {ours}, admission says {refused.get(name, [])}")
    assert not disagreements, "\n".join(disagreements)
    assert refused and len(refused) < len(cases) - len(invalid), "the mutations must give both verdicts"
    return len(cases), len(refused), len(invalid)


def in_host_namespaces(workload: Workload) -> bool:
    _, spec = kube.pod_template(workload.type, workload.props) or ({}, {})
    return any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))


def check_team_access(applied: Applied) -> None:
    """RBAC as the API server's authorizer answers (SubjectAccessReview through client certificates): each team's
    group works in its own namespace only, may exec and read Secrets in dev and only view in test and prod, and
    creates nothing cluster-scoped; the platform group may; nobody else is bound to cluster-admin."""
    plane = applied.plane
    platform = (applied.config.get("complete-cluster:policy") or {}).get("platform_groups") or ["platform-operators"]
    teams = {t["name"]: t["groups"][0] for t in applied.config["complete-cluster:teams"]}
    dev = applied.environment == "dev"
    for team, group in teams.items():
        member = plane.identity(f"{applied.name}-{team}-member", group)
        assert plane.can_i("get", "deployments", namespace=team, identity=member)
        assert plane.can_i("create", "deployments", namespace=team, identity=member) is dev
        assert plane.can_i("create", "pods", subresource="exec", namespace=team, identity=member) is dev
        assert plane.can_i("get", "secrets", namespace=team, identity=member) is dev
        for other in set(teams) - {team}:
            assert not plane.can_i("get", "pods", namespace=other, identity=member)
            assert not plane.can_i("create", "pods", subresource="exec", namespace=other, identity=member)
        assert not plane.can_i("get", "pods", namespace="kube-system", identity=member)
        for cluster_scoped in ("namespaces", "clusterroles", "clusterrolebindings", "customresourcedefinitions"):
            assert not plane.can_i("create", cluster_scoped, identity=member)
    operator = plane.identity(f"{applied.name}-operator", platform[0])
    outsider = plane.identity(f"{applied.name}-outsider", "contractors")
    assert plane.can_i("create", "namespaces", identity=operator)
    assert plane.can_i("create", "pods", subresource="exec", namespace=next(iter(teams)), identity=operator)
    assert not plane.can_i("get", "pods", namespace=next(iter(teams)), identity=outsider)
    admins = {(s["kind"], s["name"]) for b in plane.get("clusterrolebindings")["items"]
              if b["roleRef"]["name"] == "cluster-admin" for s in b.get("subjects") or []}
    assert admins == {("Group", "system:masters"), *(("Group", g) for g in platform)}


def check_network_policies_present(applied: Applied) -> None:
    """Every NetworkPolicy the program declares is there (present only: no CNI here enforces them)."""
    declared = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in applied.registrations
                if r.inputs["kind"] == "NetworkPolicy" and "name" in r.inputs["metadata"]}
    present = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in applied.plane.get("networkpolicies", "-A")["items"]}
    assert declared and declared <= present, declared - present


def check_destroy(applied: Applied) -> None:
    """`destroy` leaves nothing; in prod it first refuses, naming the stateful resources the program protects, until
    an operator unprotects them (`pulumi state unprotect`), as decommissioning a production site requires."""
    objects = applied.objects()
    resources = applied.stack.resources()
    protected = [r["urn"] for r in resources if r.get("protect")]
    # What a chart marks `helm.sh/resource-policy: keep` (cert-manager's CRDs: its `crds.keep`) the Kubernetes provider
    # retains on delete, as Helm does on uninstall: it must outlive destroy, and nothing else may.
    kept = [r["outputs"] for r in resources if r.get("retainOnDelete") and "kind" in (r.get("outputs") or {})]
    for outputs in kept:
        assert (outputs["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep", located(outputs)
    assert bool(protected) == (applied.environment == "prod"), protected
    if protected:
        refused = applied.stack("destroy", "--yes", check=False)
        assert refused.returncode != 0
        named = set(re.findall(r'resource "([^"]+)" cannot be deleted', refused.stdout))
        assert named and named <= set(protected), (named, protected)
        applied.stack("state", "unprotect", "--all", "--yes")
    destroyed = applied.stack("destroy", "--yes")
    print(f"\n{applied.name}: the slowest deletes: {slowest(destroyed.stdout, 'deleted')}")
    assert held(applied.plane, objects) == described(kept)


def slowest(output: str, verb: str, count: int = 5) -> list[str]:
    """The `count` slowest steps of a Pulumi command's output (`<type> <name> <verb> (<seconds>s)`)."""
    steps = re.findall(rf"^\s*\S+\s+(\S+)\s+(\S+)\s+{verb} \((\d+)s\)", output, re.MULTILINE)
    return [f"{name} {seconds}s" for _, name, seconds in sorted(steps, key=lambda s: -int(s[2]))[:count]]
