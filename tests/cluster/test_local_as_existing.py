"""The complete `local` stack, as a `kind: existing` stack applied to the control plane with `pulumi up`.

The stack file is `stacks/Pulumi.local.yaml` with only its infrastructure changed (and charts off, as in the file:
the charts tier is separate). The operators' CRDs are installed first from the offline chart mirror
(`cluster_crds.py`), so every custom resource is checked against its CRD's schema as the API server serves it;
nothing reconciles those resources, since no operator runs here. KWOK plays the kubelet (pods Running, Jobs'
pods Succeeded) and the ingress controller's status update (`scripts/cluster.d/stages/ingress-address.yaml`).
NetworkPolicies are only checked to exist: no CNI runs here, so nothing enforces them.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from cluster_crds import crds_for, custom_resource_kinds
from cluster_engine import ROOT, ExistingStack, engine_environment
from cluster_pod_security import MUTATIONS, Pack, admissions, mutated, refusal, workloads
from stacks.loader import load_stack
from stacks.tools.inventory import evaluate
from stacks.tools.policy_config import pack_config

pytestmark = pytest.mark.cluster

STACK = "cluster-local"


# The engine has no `random` provider plugin yet (scripts/engine builds only the kubernetes provider), and on a
# cluster the program generates passwords with pulumi-random's RandomPassword: Redis auth and Grafana's admin. Until
# the engine provides it, `up` stops at "no resource plugin 'pulumi-resource-random' found"; so this tier applies
# the local stack without the two services that generate passwords (and without the Redis cache a team declares).
NEEDS_RANDOM_PROVIDER = ("redis", "monitoring")


def local_config_as_existing() -> dict:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    services = config["complete-cluster:services"]
    for name in NEEDS_RANDOM_PROVIDER:
        services[name] = {**services.get(name, {}), "enabled": False}
    for team in config["complete-cluster:teams"]:
        team.pop("caches", None)
        for workload in team.get("workloads", []):
            workload["uses"] = [u for u in workload.get("uses", []) if u["service"] not in NEEDS_RANDOM_PROVIDER]
    return {**config, "complete-cluster:infrastructure": {"kind": "existing"}}


def located(kind: str, name: str, namespace: str | None) -> list[str]:
    return [kind, name, *(["-n", namespace] if namespace else [])]


@pytest.fixture(scope="module")
def applied(control_plane, tmp_path_factory):
    """The complete stack after `pulumi up`, its registrations, and the time the first `up` took; destroyed after."""
    stack = ExistingStack(tmp_path_factory.mktemp("complete") / "project", engine_environment(), STACK,
                          local_config_as_existing(), control_plane.kubeconfig)
    registrations = [r for r in evaluate(STACK, stack.stack_file) if r.type.startswith("kubernetes:")]
    crds = crds_for(custom_resource_kinds({r.type for r in registrations}))
    for _, crd in crds:
        control_plane.kubectl("apply", "--server-side", "--field-manager=chart-mirror-crds", "-f", "-", input=yaml.safe_dump(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          *(f"crd/{crd['metadata']['name']}" for _, crd in crds))
    started = time.monotonic()
    stack("up", "--yes")
    seconds = time.monotonic() - started
    try:
        yield stack, registrations, seconds
    finally:
        stack("destroy", "--yes", check=False)
        for _, crd in crds:
            control_plane.kubectl("delete", "crd", crd["metadata"]["name"], "--ignore-not-found", check=False)


def test_every_object_of_the_complete_stack_is_applied_and_a_second_up_and_a_refresh_find_nothing_to_change(
        control_plane, applied):
    stack, registrations, seconds = applied
    for r in registrations:
        metadata = r.inputs["metadata"]
        control_plane.kubectl("get", *located(r.inputs["kind"], metadata["name"], metadata.get("namespace")))
    print(f"\npulumi up applied {len(registrations)} Kubernetes objects in {seconds:.0f}s")
    stack("up", "--yes", "--expect-no-changes")
    stack("refresh", "--yes", "--expect-no-changes")


def namespaces_of(registrations) -> set[str]:
    return {r.inputs["metadata"]["name"] for r in registrations if r.inputs["kind"] == "Namespace"}


@pytest.fixture(scope="module")
def ran(control_plane, applied):
    """The stack's pods: the Deployments' (the controllers made them), and a Job's made from each CronJob now, as its
    schedule would (its pods complete)."""
    _, registrations, _ = applied
    for r in registrations:
        if r.inputs["kind"] == "CronJob":
            name, ns = r.inputs["metadata"]["name"], r.inputs["metadata"]["namespace"]
            control_plane.kubectl("create", "job", f"{name}-now", f"--from=cronjob/{name}", "-n", ns)
            control_plane.kubectl("wait", "--for=condition=Complete", f"job/{name}-now", "-n", ns, "--timeout=60s")
    return applied


def test_every_pod_is_admitted_within_quota_and_runs_on_a_pool_its_tolerations_allow(control_plane, ran):
    """Pods admitted by Pod Security and quota, Running (or Succeeded) on a node whose taints they tolerate."""
    _, registrations, _ = ran
    deployments = [r for r in registrations if r.inputs["kind"] == "Deployment"]
    assert deployments
    for r in deployments:
        found = control_plane.get("deployment", r.inputs["metadata"]["name"], "-n", r.inputs["metadata"]["namespace"])
        assert found["status"].get("readyReplicas") == found["spec"]["replicas"], found["status"]

    nodes = {n["metadata"]["name"]: n for n in control_plane.get("nodes")["items"]}
    pods = [p for ns in namespaces_of(registrations) for p in control_plane.get("pods", "-n", ns)["items"]]
    assert pods
    print(f"\n{len(pods)} pods: {sorted(p['metadata']['name'] for p in pods)}")
    for p in pods:
        where = f"pod {p['metadata']['namespace']}/{p['metadata']['name']}"
        assert p["status"]["phase"] in ("Running", "Succeeded"), f"{where}: {p['status']}"
        node = nodes[p["spec"]["nodeName"]]
        if any(t["key"] == "nodeType" for t in node["spec"].get("taints") or []):
            assert {"key": "nodeType", "operator": "Equal", "value": "database", "effect": "NoSchedule"} in p["spec"].get(
                "tolerations", []), f"{where} runs on the database pool without its toleration"
    refusals = [e["message"] for ns in namespaces_of(registrations)
                for e in control_plane.get("events", "-n", ns, "--field-selector", "reason=FailedCreate")["items"]]
    assert not refusals, refusals
    for ns in namespaces_of(registrations):
        for quota in control_plane.get("resourcequotas", "-n", ns)["items"]:
            for resource, used in quota["status"]["used"].items():
                assert quantity(used) <= quantity(quota["status"]["hard"][resource]), (ns, resource, quota["status"])


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (the suffixes the quota controller writes)."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * suffixes[suffix]
    return float(value)


def test_team_access_follows_the_dev_environment_and_stays_in_the_teams_own_namespace(control_plane, applied):
    _, registrations, _ = applied
    config = local_config_as_existing()
    teams = {t["name"]: t["groups"][0] for t in config["complete-cluster:teams"]}
    for team, group in teams.items():
        member = control_plane.identity(f"{team}-complete-member", group)
        others = [t for t in teams if t != team]
        assert control_plane.can_i("create", "deployments", namespace=team, identity=member)
        assert control_plane.can_i("create", "pods", subresource="exec", namespace=team, identity=member)  # dev
        for other in others:
            assert not control_plane.can_i("get", "pods", namespace=other, identity=member)
            assert not control_plane.can_i("create", "pods", subresource="exec", namespace=other, identity=member)
        assert not control_plane.can_i("create", "namespaces", identity=member)
        assert not control_plane.can_i("create", "customresourcedefinitions", identity=member)
    admins = {(s["kind"], s["name"]) for b in control_plane.get("clusterrolebindings")["items"]
              if b["roleRef"]["name"] == "cluster-admin" for s in b.get("subjects") or []}
    assert admins == {("Group", "system:masters"), ("Group", "platform-operators")}


def stack_pack(stack) -> Pack:
    """The pack as a merge-request preview of this stack runs it (its generated policy-config)."""
    return Pack(pack_config(load_stack(STACK, stack.stack_file).config))


def test_the_packs_pod_security_verdict_on_each_template_is_the_admissions_on_its_pods(control_plane, ran):
    """Every pod-carrying object the engine holds: the pack's verdict on its template (under the stack's own pack
    config) is Pod Security admission's on the pods the controllers made from it, reason for reason."""
    stack, registrations, _ = ran
    pack = stack_pack(stack)
    live = admissions(control_plane, namespaces_of(registrations))
    compared = []
    for workload in workloads(stack.resources()):
        admission = live.get(workload.key)
        assert admission is not None and not admission.other_refusals, (
            f"{workload.key}: no pod of it reached Pod Security: {admission}")
        ours, theirs = pack.reasons(workload.type, workload.props), admission.reasons()
        assert ours == theirs, f"{workload.key}: the pack says {ours}, Pod Security admission says {theirs}"
        compared.append(workload.key)
    assert compared
    print(f"\n{len(compared)} templates agree with admission: {sorted(compared)}")


def test_the_pack_and_admission_agree_on_each_template_changed_where_pod_security_looks(control_plane, ran):
    """Each template of the stack, changed in one place Pod Security looks at (MUTATIONS), sent to the API server as
    the Pod its controller would make (server-side dry run, in the template's own namespace): the pack's verdict on
    the changed template and the admission's on the pod must be the same, refusals and reasons included."""
    stack, _, _ = ran
    pack = stack_pack(stack)
    cases, pods = [], []
    for workload in workloads(stack.resources()):
        for what, mutation in MUTATIONS.items():
            props, pod = mutated(workload, mutation)
            pod["metadata"]["name"] = f"psa-{len(pods)}"
            cases.append((workload, what, pack.reasons(workload.type, props)))
            pods.append(pod)
    answer = control_plane.kubectl("create", "--dry-run=server", "-f", "-", check=False,
                                   input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}), timeout=600)
    admitted = set(re.findall(r"^pod/(psa-\d+) created \(server dry run\)$", answer.stdout, re.MULTILINE))
    refused, other = {}, []
    for line in answer.stderr.splitlines():
        name = re.search(r'pods "(psa-\d+)" is forbidden: ', line)
        psa = refusal(line)
        if name and psa:
            refused[name.group(1)] = psa[1]
        elif name and "exceeded quota" in line:  # quota admission runs after Pod Security: PSA admitted it
            admitted.add(name.group(1))
        elif line.strip():
            other.append(line)
    assert not other, "the API server answered other than Pod Security:\n" + "\n".join(other[:20])
    disagreements, refusals = [], 0
    for i, (workload, what, ours) in enumerate(cases):
        name = f"psa-{i}"
        assert (name in admitted) != (name in refused), f"{name}: no single answer from the API server"
        theirs = refused.get(name, [])
        refusals += bool(theirs)
        if ours != theirs:
            disagreements.append(f"{workload.key} {what}: the pack says {ours}, admission says {theirs}")
    assert not disagreements, "\n".join(disagreements)
    assert refusals and refusals < len(cases), "the mutations must give both verdicts"
    print(f"\n{len(cases)} changed templates: {refusals} refused, {len(cases) - refusals} admitted, pack and admission agree")


def test_destroy_leaves_nothing_of_the_stack_behind(control_plane, applied):
    stack, registrations, _ = applied
    stack("destroy", "--yes")
    left = []
    for r in registrations:
        metadata = r.inputs["metadata"]
        found = control_plane.kubectl("get", *located(r.inputs["kind"], metadata["name"], metadata.get("namespace")),
                                      check=False)
        if found.returncode == 0:
            left.append(f"{r.inputs['kind']}/{metadata['name']}")
    assert not left
