"""The policy pack's `pod-security` verdict on a template beside the real Pod Security admission's verdict on the pods
made from it (issue 16, item 3).

The pack's side: `policies.evaluate.Evaluator` under the stack's own pack config (`python -m stacks policy-config`:
level, version and exempt namespaces, as a merge-request preview runs it) over each pod-carrying object exactly as
the engine holds it (the inputs in the stack's state, charts' objects included). The admission's side: the API
server's answer for the pods the controllers made (admitted: the pod exists; refused: the controller's
`FailedCreate` event carries PSA's `violates PodSecurity` message), traced to the object through owner references.

Verdicts are compared as lists of PSA's forbidden reasons (`privileged`, `runAsNonRoot != true`, ...): the pack's
messages start with the library's reason (policies/rules/pod_security.py), and the admission message is
`violates PodSecurity "<level>:<version>": <reason> (<detail>), <reason> (<detail>), ...`
(`AggregateCheckResult.ForbiddenDetail`, k8s.io/pod-security-admission v0.37.2 policy/checks.go).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cluster_plane import ControlPlane
from policies.enforcement import parse
from policies.evaluate import Evaluator
from policies.lib import kube

POLICY = "pod-security"
VIOLATES = re.compile(r'violates PodSecurity "([^"]+)": (.*)$')
# Admission plugins run in a fixed order (kube-apiserver's AllOrderedPlugins): ResourceQuota after PodSecurity. A
# pod that quota refuses has therefore been admitted by Pod Security.
AFTER_POD_SECURITY = ("exceeded quota",)
# ServiceAccount admission runs before PodSecurity (kube-apiserver's AllOrderedPlugins, pkg/kubeapiserver/options/
# plugins.go): a chart's objects are applied together, not in Helm's kind order, so a ReplicaSet may try its first pod
# before the chart's ServiceAccount exists, which this plugin refuses until it does. Such a pod never reached Pod
# Security; the controller's next try does.
SERVICE_ACCOUNT_NOT_YET = re.compile(r'error looking up service account \S+: serviceaccount "[^"]+" not found')
# Controllers whose pods are made from a template, and the owner kinds a template's object can be (a CronJob's Jobs
# by its controller or by `kubectl create job --from`).
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}


def admission_reasons(detail: str) -> list[str]:
    """PSA's forbidden reasons from `reason (detail), reason, ...`: commas split reasons only outside parentheses."""
    reasons, depth, start = [], 0, 0
    for i, char in enumerate(detail + ","):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            reasons.append(detail[start:i].split(" (", 1)[0].strip())
            start = i + 1
    return sorted(r for r in reasons if r)


def refusal(message: str) -> tuple[str, list[str]] | None:
    """(level:version, reasons) of a PSA refusal message, or None when the message is not one."""
    found = VIOLATES.search(message.strip())
    return (found.group(1), admission_reasons(found.group(2))) if found else None


class Pack:
    """The pack's pod-security verdicts under one stack's pack config."""

    def __init__(self, pack_config: dict):
        self.evaluator = Evaluator(parse(pack_config), source="the stack's policy-config")

    def reasons(self, type_token: str, props: dict) -> list[str]:
        findings = self.evaluator.resource(type_token, props)
        return sorted(f.message.split(": ", 1)[0] for f in findings if f.policy == POLICY)


@dataclass(frozen=True)
class Workload:
    """A pod-carrying object of the stack, as the engine holds it."""

    type: str
    kind: str
    namespace: str
    name: str
    props: dict

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.namespace, self.name


def workloads(resources: Iterable[dict]) -> list[Workload]:
    """The pod-carrying objects among a stack's state resources (`pulumi stack export`), charts' included."""
    found = []
    for r in resources:
        if r.get("custom") and kube.carries_pod(r["type"]) and r.get("inputs"):
            props = r["inputs"]
            found.append(Workload(r["type"], props["kind"], kube.namespace(props), kube.metadata_name(props), props))
    return found


@dataclass
class Admission:
    """What the API server decided for one workload's pods: pods admitted, and PSA refusals (level, reasons)."""

    admitted: int = 0
    refused: list[tuple[str, list[str]]] | None = None
    other_refusals: list[str] | None = None

    def reasons(self) -> list[str] | None:
        """PSA's reasons ([] when admitted), or None when no pod of it reached Pod Security."""
        if self.refused:
            return self.refused[-1][1]
        return [] if self.admitted else None


def admissions(plane: ControlPlane, namespaces: Iterable[str]) -> dict[tuple[str, str, str], Admission]:
    """Per top-level owner (kind, namespace, name): the pods the controllers made and the pod creations refused."""
    objects: dict[str, dict] = {}
    pods, events = [], []
    for ns in sorted(set(namespaces)):
        listed = plane.get("pods,replicasets,jobs,deployments,statefulsets,daemonsets,cronjobs", "-n", ns)["items"]
        for item in listed:
            objects[item["metadata"]["uid"]] = item
        pods += [i for i in listed if i["kind"] == "Pod"]
        events += plane.get("events", "-n", ns, "--field-selector", "reason=FailedCreate")["items"]

    def top(item: dict) -> tuple[str, str, str]:
        while True:
            owner = next((o for o in item["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
            if owner is None or owner["uid"] not in objects:
                return item["kind"], item["metadata"]["namespace"], item["metadata"]["name"]
            item = objects[owner["uid"]]

    found: dict[tuple[str, str, str], Admission] = {}
    for pod in pods:
        if pod["metadata"].get("ownerReferences"):
            found.setdefault(top(pod), Admission()).admitted += 1
    for event in events:
        involved = objects.get(event["involvedObject"].get("uid", ""))
        if involved is None:
            continue
        admission = found.setdefault(top(involved), Admission())
        psa = refusal(event["message"])
        if psa:
            admission.refused = [*(admission.refused or []), psa]
        elif any(text in event["message"] for text in AFTER_POD_SECURITY):
            admission.admitted += 1
        elif not SERVICE_ACCOUNT_NOT_YET.search(event["message"]):
            admission.other_refusals = [*(admission.other_refusals or []), event["message"]]
    return found


# --- mutations: the stack's own templates, each changed in one place Pod Security looks at -----------------------------

Mutation = Callable[[dict], None]


def _container(spec: dict) -> dict:
    return spec["containers"][0]


def _context(spec: dict) -> dict:
    return _container(spec).setdefault("securityContext", {})


def _pod_context(spec: dict) -> dict:
    return spec.setdefault("securityContext", {})


def _host_path(spec: dict) -> None:
    spec.setdefault("volumes", []).append({"name": "psa-host", "hostPath": {"path": "/var/log"}})
    _container(spec).setdefault("volumeMounts", []).append({"name": "psa-host", "mountPath": "/psa-host"})


def _nfs(spec: dict) -> None:
    spec.setdefault("volumes", []).append({"name": "psa-nfs", "nfs": {"server": "192.0.2.1", "path": "/exports"}})


def _no_seccomp(spec: dict) -> None:
    _pod_context(spec).pop("seccompProfile", None)
    for container in spec["containers"] + spec.get("initContainers", []):
        (container.get("securityContext") or {}).pop("seccompProfile", None)


def _no_run_as_non_root(spec: dict) -> None:
    _pod_context(spec).pop("runAsNonRoot", None)
    for container in spec["containers"] + spec.get("initContainers", []):
        (container.get("securityContext") or {}).pop("runAsNonRoot", None)


def _host_port(spec: dict) -> None:
    _container(spec)["ports"] = [{"containerPort": 8443, "hostPort": 8443, "protocol": "TCP"}]


def _probe_host(spec: dict) -> None:
    _container(spec)["readinessProbe"] = {"httpGet": {"host": "192.0.2.1", "path": "/", "port": 8080}}


def _user_namespace_unmasked(spec: dict) -> None:
    spec["hostUsers"] = False
    _context(spec)["procMount"] = "Unmasked"


MUTATIONS: dict[str, Mutation] = {
    "unchanged": lambda spec: None,
    # The API server refuses privileged=true beside allowPrivilegeEscalation=false (validation, before admission).
    "privileged": lambda spec: _context(spec).update(privileged=True, allowPrivilegeEscalation=True),
    "privilege escalation": lambda spec: _context(spec).update(allowPrivilegeEscalation=True),
    "adds SYS_ADMIN": lambda spec: _context(spec).setdefault("capabilities", {}).update(add=["SYS_ADMIN"]),
    "adds NET_BIND_SERVICE": lambda spec: _context(spec).setdefault("capabilities", {}).update(add=["NET_BIND_SERVICE"]),
    "drops nothing": lambda spec: _context(spec).setdefault("capabilities", {}).update(drop=[]),
    "runAsNonRoot false": lambda spec: _context(spec).update(runAsNonRoot=False),
    "runAsNonRoot unset": _no_run_as_non_root,
    "runAsUser 0": lambda spec: _context(spec).update(runAsUser=0),
    "seccomp Unconfined": lambda spec: _context(spec).update(seccompProfile={"type": "Unconfined"}),
    "seccomp Localhost": lambda spec: _context(spec).update(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}),
    "seccomp unset": _no_seccomp,
    "hostNetwork": lambda spec: spec.update(hostNetwork=True),
    "hostPID": lambda spec: spec.update(hostPID=True),
    "hostIPC": lambda spec: spec.update(hostIPC=True),
    "hostPath volume": _host_path,
    "nfs volume": _nfs,
    "hostPort": _host_port,
    "unsafe sysctl": lambda spec: _pod_context(spec).update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
    "safe sysctl": lambda spec: _pod_context(spec).update(sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]),
    "SELinux spc_t": lambda spec: _context(spec).update(seLinuxOptions={"type": "spc_t"}),
    "AppArmor Unconfined": lambda spec: _context(spec).update(appArmorProfile={"type": "Unconfined"}),
    "probe host": _probe_host,
    "user namespace, procMount Unmasked": _user_namespace_unmasked,
}


def mutated(workload: Workload, mutation: Mutation) -> tuple[dict, dict]:
    """(the workload's props with its template mutated, the Pod a controller would make from that template: the
    template's metadata and spec, as the ReplicaSet, Job, StatefulSet and DaemonSet controllers copy them)."""
    props = copy.deepcopy(workload.props)
    meta, spec = kube.pod_template(workload.type, props) or ({}, {})
    mutation(spec)
    pod_meta = {"namespace": workload.namespace, **{k: meta[k] for k in ("labels", "annotations") if meta.get(k)}}
    return props, {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": with_claim_volumes(workload, spec)}


def with_claim_volumes(workload: Workload, spec: dict) -> dict:
    """A StatefulSet's pod spec with the volume the controller adds for each volumeClaimTemplate, which its containers
    mount (pkg/controller/statefulset/stateful_set_utils.go updateStorage: a PersistentVolumeClaim named
    <claim>-<set>-<ordinal>, in place of a template volume of the same name). Without it the API server refuses the
    pod as invalid before Pod Security sees it."""
    claims = (workload.props.get("spec") or {}).get("volumeClaimTemplates") or []
    if workload.kind != "StatefulSet" or not claims:
        return spec
    names = {c["metadata"]["name"] for c in claims}
    claimed = [{"name": name, "persistentVolumeClaim": {"claimName": f"{name}-{workload.name}-0"}}
               for name in sorted(names)]
    return {**spec, "volumes": [*claimed, *(v for v in spec.get("volumes") or [] if v.get("name") not in names)]}
