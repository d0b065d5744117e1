"""The pack's Pod Security verdicts against Kubernetes' own: thousands of generated pods and workloads, written with
every YAML spelling Kubernetes accepts for the fields the checks read, go through the scanner (reading included)
and through scripts/oracle, a Go program that reads them as kubectl and the API server do (sigs.k8s.io/yaml, the
API's JSON decoding and defaulting) and evaluates them with k8s.io/pod-security-admission v0.37.2. Every pod's
forbidden reasons must be the library's, at baseline and restricted, at v1.33 (what the catalogue pins for
namespaces) and at latest. With CI=true a missing oracle is a failure, never a skip.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import unavailable

from policies import scan
from policies.enforcement import parse
from policies.evaluate import Evaluator

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ("baseline:v1.33", "restricted:v1.33", "baseline:latest", "restricted:latest")
POD_COUNT = 4000
SEED = 18


@pytest.fixture(scope="session")
def oracle():
    """Runs the oracle over YAML documents: one result per document (see scripts/oracle.d/main.go)."""
    build = subprocess.run([sys.executable, str(ROOT / "scripts" / "oracle"), "build"], capture_output=True, text=True,
                           timeout=7200, stdin=subprocess.DEVNULL)
    if build.returncode != 0:
        unavailable(f"scripts/oracle build failed:\n{build.stderr.strip()}")
    binary = build.stdout.strip()

    def run(documents: list[str]) -> list[dict]:
        stream = "".join(f"---\n{document}" for document in documents)
        result = subprocess.run([binary, "-levels", ",".join(LEVELS)], input=stream, capture_output=True, text=True,
                                timeout=300, check=True)
        results = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(results) == len(documents), "the oracle must answer once per document"
        return results

    return run


# --- YAML spellings ---------------------------------------------------------------------------------------------------
# Written as YAML text, not values: what they mean is for the two readers to decide.

TRUE = ["true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "!!bool y", "!!bool 'yes'"]
FALSE = ["false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", "!!bool n"]
NOT_BOOLEAN = ['"true"', "'y'", "1", "0", "~", "null", "", "!!str y"]  # strings the API refuses, or unset
ZERO = ["0", "00", "0o0", "0O0", "0x0", "0b0", "0e0", "0E0", "0.0", "0.", ".0", "-0", "+0", "0_0", "-0.0", "0e5",
        "!!int 0", "!!float 0", "!!int 0o0", "!!int '0x0'", "0b-0"]
UID = ["1000", "0o1750", "0x3e8", "1e3", "1_000", "1000.0", "0b1111101000", "01750", "65534", "1.0e3", "+1000", "!!float 1000"]
NOT_INT = ["'0'", "\"1000\"", "1000.5", "y", "~", "1:00"]
PORT = ["0", "80", "0o120", "0x50", "8e1", "8_0", "080", "80.0", "~", "'80'", "0e0", "443"]
CAPABILITIES = ["ALL", "all", "NET_BIND_SERVICE", "SYS_ADMIN", "CHOWN", "NET_RAW", "'ALL'", "KILL", "SETUID", "y", "Y"]
SECCOMP = ["RuntimeDefault", "Localhost", "Unconfined", "runtimedefault", '"RuntimeDefault"', "''", "y"]
APPARMOR_TYPE = ["RuntimeDefault", "Localhost", "Unconfined", "'Unconfined'", "n"]
APPARMOR_ANNOTATION = ["runtime/default", "localhost/profile", "unconfined", "''", "y", "'unconfined'"]
SELINUX_TYPE = ["container_t", "container_init_t", "container_kvm_t", "container_engine_t", "spc_t", "''", "y"]
SYSCTLS = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
           "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_rmem", "net.ipv4.tcp_slow_start_after_idle",
           "net.ipv4.tcp_notsent_lowat", "kernel.msgmax", "net.core.somaxconn", "y"]
PROC_MOUNT = ["Default", "Unmasked", "'Default'", "n"]
HOSTS = ["''", "localhost", "10.0.0.1", "'example.com'", "~", "y"]
VOLUMES = {
    "emptyDir": "{}",
    "configMap": "{name: settings}",
    "secret": "{secretName: credentials}",
    "persistentVolumeClaim": "{claimName: data}",
    "projected": "{sources: []}",
    "downwardAPI": "{}",
    "csi": "{driver: csi.example.com}",
    "ephemeral": "{volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce]}}}",
    "image": "{reference: registry.example.com/data:1}",
    "hostPath": "{path: /var/run}",
    "nfs": "{server: nfs.example.com, path: /}",
    "gitRepo": "{repository: https://example.com/r.git}",
    "iscsi": "{targetPortal: '10.0.0.1:3260', iqn: 'iqn.2001-04.com.example:storage', lun: 0}",
    None: "",  # no source: the API server defaults it to emptyDir
}


class Pod:
    """A pod spec being generated: nested dicts of field names with YAML scalar text (or lists) as leaves."""

    def __init__(self, rng: random.Random, compliant: bool):
        self.rng = rng
        self.meta: dict = {}
        self.spec: dict = {}
        lists = {"containers": ["app"] + (["sidecar"] if rng.random() < 0.3 else [])}
        if rng.random() < 0.3:
            lists["initContainers"] = ["init"]
        if rng.random() < 0.15:
            lists["ephemeralContainers"] = ["debug"]
        for key, names in lists.items():
            self.spec[key] = [{"name": name, "image": "registry.example.com/app:1.0"} for name in names]
        if compliant:  # what restricted asks for, written the ordinary way
            self.spec["securityContext"] = {"runAsNonRoot": "true", "seccompProfile": {"type": "RuntimeDefault"}}
            for container in self.containers():
                container["securityContext"] = {"allowPrivilegeEscalation": "false", "capabilities": {"drop": ["ALL"]}}

    def containers(self) -> list[dict]:
        return [c for key in ("initContainers", "containers", "ephemeralContainers") for c in self.spec.get(key, [])]

    def pick(self, values: list[str]) -> str:
        return self.rng.choice(values)

    def boolean(self) -> str:
        roll = self.rng.random()
        return self.pick(TRUE) if roll < 0.45 else self.pick(FALSE) if roll < 0.9 else self.pick(NOT_BOOLEAN)

    def integer(self, zero_share: float = 0.5) -> str:
        roll = self.rng.random()
        return self.pick(ZERO) if roll < zero_share else self.pick(UID) if roll < 0.95 else self.pick(NOT_INT)

    def context(self, pod_level: bool) -> dict:
        if pod_level:
            return self.spec.setdefault("securityContext", {})
        return self.rng.choice(self.containers()).setdefault("securityContext", {})

    # Each mutation sets one field the Pod Security checks read.

    def host_namespace(self):
        self.spec[self.pick(["hostNetwork", "hostPID", "hostIPC"])] = self.boolean()

    def host_users(self):
        self.spec["hostUsers"] = self.boolean()

    def windows(self):
        self.spec["os"] = {"name": self.pick(["windows", "linux", "Windows"])}

    def run_as_non_root(self):
        self.context(self.rng.random() < 0.5)["runAsNonRoot"] = self.boolean()

    def run_as_user(self):
        self.context(self.rng.random() < 0.5)["runAsUser"] = self.integer()

    def profile(self, field: str, types: list[str], localhost: str):
        profile = {"type": self.pick(types)}
        if profile["type"] == "Localhost":
            profile["localhostProfile"] = localhost
        self.context(self.rng.random() < 0.5)[field] = profile

    def seccomp(self):
        self.profile("seccompProfile", SECCOMP, "profiles/audit.json")

    def selinux(self):
        options = {"type": self.pick(SELINUX_TYPE)}
        if self.rng.random() < 0.2:
            options[self.pick(["user", "role"])] = self.pick(["system_u", "''", "object_r"])
        self.context(self.rng.random() < 0.5)["seLinuxOptions"] = options

    def sysctls(self):
        names = self.rng.sample(SYSCTLS, self.rng.randint(1, 2))
        self.context(True)["sysctls"] = [{"name": name, "value": "'1'"} for name in names]

    def host_process(self):
        self.context(self.rng.random() < 0.5)["windowsOptions"] = {"hostProcess": self.boolean()}

    def apparmor(self):
        self.profile("appArmorProfile", APPARMOR_TYPE, "k8s-apparmor-example")

    def apparmor_annotation(self):
        name = self.rng.choice(self.containers())["name"]
        annotations = self.meta.setdefault("annotations", {})
        annotations[f"container.apparmor.security.beta.kubernetes.io/{name}"] = self.pick(APPARMOR_ANNOTATION)

    def volume(self):
        kind = self.rng.choice(list(VOLUMES))
        volumes = self.spec.setdefault("volumes", [])
        volume = {"name": f"v{len(volumes)}"}
        if kind is not None:
            volume[kind] = VOLUMES[kind]
        volumes.append(volume)

    def privileged(self):
        self.context(False)["privileged"] = self.boolean()

    def escalation(self):
        self.context(False)["allowPrivilegeEscalation"] = self.boolean()

    def capabilities(self):
        capabilities = self.context(False).setdefault("capabilities", {})
        for key in ("add", "drop"):
            if self.rng.random() < 0.6:
                capabilities[key] = self.rng.sample(CAPABILITIES, self.rng.randint(0, 2))

    def proc_mount(self):
        self.context(False)["procMount"] = self.pick(PROC_MOUNT)

    def host_port(self):
        container = self.rng.choice(self.containers())
        port = {"containerPort": self.pick(["80", "8080", "0o120"])}
        if self.rng.random() < 0.8:
            port["hostPort"] = self.pick(PORT)
        container.setdefault("ports", []).append(port)

    def probe_host(self):
        container = self.rng.choice(self.containers())
        handler = self.pick(["httpGet", "tcpSocket"])
        action = {"port": "8080", "host": self.pick(HOSTS)}
        where = self.pick(["livenessProbe", "readinessProbe", "startupProbe", "lifecycle"])
        if where == "lifecycle":
            container["lifecycle"] = {self.pick(["postStart", "preStop"]): {handler: action}}
        else:
            container[where] = {handler: action}

    MUTATIONS = ("host_namespace", "host_users", "windows", "run_as_non_root", "run_as_user", "seccomp", "selinux",
                 "sysctls", "host_process", "apparmor", "apparmor_annotation", "volume", "privileged", "escalation",
                 "capabilities", "proc_mount", "host_port", "probe_host")


def emit(value, indent: int = 0) -> list[str]:
    """Block YAML for nested dicts and lists whose leaves are YAML scalar text, written as is."""
    pad = " " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines += [f"{pad}{key}:"] + emit(item, indent + 2) if item else [f"{pad}{key}: {{}}"]
        elif isinstance(item, list):
            lines.append(f"{pad}{key}:" if item else f"{pad}{key}: []")
            for element in item:
                if isinstance(element, dict):
                    body = emit(element, indent + 4)
                    lines += [f"{pad}  - {body[0].lstrip()}"] + body[1:]
                else:
                    lines.append(f"{pad}  - {element}")
        else:
            lines.append(f"{pad}{key}: {item}".rstrip())
    return lines


WORKLOADS = {  # kind: (apiVersion, path from the object to the pod template)
    "Deployment": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "DaemonSet": ("apps/v1", ("spec", "template")),
    "ReplicaSet": ("apps/v1", ("spec", "template")),
    "Job": ("batch/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
    "ReplicationController": ("v1", ("spec", "template")),
    "PodTemplate": ("v1", ("template",)),
}


def generate(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        pod = Pod(rng, compliant=rng.random() < 0.5)
        for mutation in rng.sample(Pod.MUTATIONS, rng.randint(0, 4)):
            getattr(pod, mutation)()
        template = {"metadata": pod.meta, "spec": pod.spec} if pod.meta else {"spec": pod.spec}
        kind = "Pod" if rng.random() < 0.6 else rng.choice(list(WORKLOADS))
        if kind == "Pod":
            document = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{index}", **pod.meta}, "spec": pod.spec}
        else:
            api_version, path = WORKLOADS[kind]
            document = {"apiVersion": api_version, "kind": kind, "metadata": {"name": f"p{index}"}}
            node = document
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = template
        documents.append("\n".join(emit(document)) + "\n")
    return documents


def pack_reasons(path: Path, level_version: str) -> dict[str, list[str]]:
    """The pod-security reasons the scanner reports per object name at one level and version."""
    level, version = level_version.split(":")
    config = parse({"all": "disabled", "pod-security": {"enforcementLevel": "mandatory", "level": level, "version": version}})
    rows, _ = scan.scan([str(path)], Evaluator(config), workers=1)
    reasons: dict[str, list[str]] = {}
    for row in rows:
        reasons.setdefault(row["name"], []).append(row["message"].split(": ", 1)[0])
    return reasons


def test_pod_security_verdicts_match_the_library(oracle, tmp_path, capsys):
    documents = generate(POD_COUNT, SEED)
    path = tmp_path / "pods.yaml"
    path.write_text("".join(f"---\n{document}" for document in documents))
    results = oracle(documents)
    unreadable = [result for result in results if "readError" in result]
    assert not unreadable, f"the generator wrote YAML Kubernetes cannot read: {unreadable[:3]}"
    ours = {level: pack_reasons(path, level) for level in LEVELS}

    disagreements, compared, refused = [], 0, 0
    for document, result in zip(documents, results, strict=True):
        if "decodeError" in result:
            refused += 1  # the API server refuses the object before admission: no verdict to compare
            continue
        name = f"p{result['doc']}"
        for level in LEVELS:
            theirs = sorted(result["verdicts"][level]["reasons"] or [])
            mine = sorted(ours[level].get(name, []))
            compared += 1
            if mine != theirs:
                disagreements.append((level, document, theirs, result["verdicts"][level]["details"], mine))
    with capsys.disabled():
        print(f"\npod-security oracle: {len(documents)} objects, {refused} refused by the API's decoding, "
              f"{compared} verdicts compared, {len(disagreements)} disagreements")
    report = "\n\n".join(
        f"{level}: library {theirs} ({details}), pack {mine}, for\n{document}"
        for level, document, theirs, details, mine in disagreements[:5]
    )
    assert not disagreements, f"{len(disagreements)} verdicts differ from k8s.io/pod-security-admission:\n{report}"
    assert refused < len(documents) * 0.3, "most generated objects must be ones the API server accepts"
