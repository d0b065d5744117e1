"""Pod Security Standards, baseline and restricted, as `k8s.io/pod-security-admission` checks them.

Each function below mirrors one check of the library's `policy/check_*.go` at policy version
v1.37 ("latest" in Kubernetes 1.37), with the same notion of "set" (null and absent are the same,
an empty object is set), the same pod/container combination and the same exemptions:

* Windows pods (`spec.os.name: windows`) skip exactly the three Linux-only restricted checks
  the library exempts them from since v1.25: allowPrivilegeEscalation, capabilities (restricted)
  and seccompProfile (restricted).
* User-namespaced pods (`spec.hostUsers: false`) skip, from v1.35, the restricted runAsNonRoot and
  runAsUser checks and the *baseline* procMount check; restricted still allows only the default
  procMount.
* The library's "overlap" checks (capabilities, hostPath volumes, seccomp and procMount at
  baseline) run only at the baseline level; restricted replaces them with stricter checks.

Older policy versions can be pinned with the `version` config property (v1.25 or newer); the
version-dependent parts are the safe sysctls (1.27, 1.29, 1.32, 1.37), the SELinux type
`container_engine_t` (1.31), the probe/lifecycle host check (1.34) and the user-namespace
relaxations (1.35).

Messages start with the library's reason (e.g. `privileged:`) and say what to change.
Values unknown during preview make the verdict undecided for the container (container-level
values) or the check (pod-level values) that needs them: nothing is reported for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec
from ..lib.values import (
    Undecided,
    flag,
    is_unknown,
    name_of,
    num,
    obj,
    plural,
    quote,
    seq,
    text,
)

LATEST_MINOR = 37
OLDEST_MINOR = 25
BASELINE = "baseline"
RESTRICTED = "restricted"


def resolve_version(version: str) -> int:
    """The policy minor version for `latest` or `v1.N` (newer than the library clamps down)."""
    if version == "latest":
        return LATEST_MINOR
    match = re.fullmatch(r"v1\.(\d+)", version)
    if not match or int(match.group(1)) < OLDEST_MINOR:
        raise ValueError(f"pod-security version must be `latest` or v1.{OLDEST_MINOR} or newer, not {version!r}")
    return min(int(match.group(1)), LATEST_MINOR)


# --- helpers -------------------------------------------------------------------------------


def _containers_phrase(names) -> str:
    return f"{plural(len(names), 'container', 'containers')} {quote(names)}"


def _setters(pod: bool, names) -> str:
    parts = ["pod"] if pod else []
    if names:
        parts.append(_containers_phrase(names))
    return " and ".join(parts)


def _sc(container: dict) -> dict | None:
    return obj(container.get("securityContext"))


def _pod_sc(spec: dict) -> dict | None:
    return obj(spec.get("securityContext"))


def _each(containers, visit: Callable[[dict], None]) -> None:
    """Calls `visit` for every known container; an unknown container or value leaves that
    container undecided."""
    for container in containers:
        if container.__class__ is not dict:
            continue
        try:
            visit(container)
        except Undecided:
            pass


def _is_windows(spec: dict) -> bool:
    return text((obj(spec.get("os")) or {}).get("name")) == "windows"


def _user_namespaced(spec: dict) -> bool:
    return flag(spec.get("hostUsers")) is False


def _exempt_if(message: str | None, exempt: Callable[[], bool]) -> str | None:
    """A violation unless the pod is exempt; an unknown exemption condition leaves it undecided."""
    if message is None:
        return None
    return None if exempt() else message


class Pod:
    """The pod under evaluation: metadata, spec and its containers (None when the container lists
    themselves are unknown)."""

    __slots__ = ("meta", "spec", "containers", "minor")

    def __init__(self, meta: dict, spec: dict, minor: int):
        self.meta = meta
        self.spec = spec
        self.minor = minor
        found: list = []
        for key in kube.CONTAINER_LISTS:
            try:
                found.extend(seq(spec.get(key)))
            except Undecided:
                pass  # that list is unknown: its containers stay undecided
        self.containers = found


# --- baseline ------------------------------------------------------------------------------


def check_windows_host_process(pod: Pod) -> str | None:
    bad: list[str] = []

    def visit(c):
        options = obj((_sc(c) or {}).get("windowsOptions"))
        if options and flag(options.get("hostProcess")) is True:
            bad.append(name_of(c))

    _each(pod.containers, visit)
    pod_bad = False
    try:
        options = obj((_pod_sc(pod.spec) or {}).get("windowsOptions"))
        pod_bad = options is not None and bool(options) and flag(options.get("hostProcess")) is True
    except Undecided:
        pass
    if not pod_bad and not bad:
        return None
    return f"hostProcess: {_setters(pod_bad, bad)} must not set securityContext.windowsOptions.hostProcess=true"


def check_host_namespaces(pod: Pod) -> str | None:
    used = []
    for key in ("hostIPC", "hostNetwork", "hostPID"):
        try:
            if flag(pod.spec.get(key)) is True:
                used.append(f"{key}=true")
        except Undecided:
            pass
    if not used:
        return None
    return f"host namespaces: pod must not set {', '.join(used)}"


def check_privileged(pod: Pod) -> str | None:
    bad: list[str] = []

    def visit(c):
        if flag((_sc(c) or {}).get("privileged")) is True:
            bad.append(name_of(c))

    _each(pod.containers, visit)
    if not bad:
        return None
    return f"privileged: {_containers_phrase(bad)} must not set securityContext.privileged=true"


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def check_capabilities_baseline(pod: Pod) -> str | None:
    bad: list[str] = []
    forbidden: set[str] = set()

    def visit(c):
        capabilities = obj((_sc(c) or {}).get("capabilities"))
        if capabilities is None:
            return
        found = False
        for cap in seq(capabilities.get("add")):
            if is_unknown(cap):
                continue
            cap = text(cap)
            if cap not in BASELINE_CAPABILITIES:
                found = True
                forbidden.add(cap)
        if found:
            bad.append(name_of(c))

    _each(pod.containers, visit)
    if not bad:
        return None
    return (
        f"non-default capabilities: {_containers_phrase(bad)} must not include {quote(sorted(forbidden))} "
        f"in securityContext.capabilities.add (allowed: {', '.join(sorted(BASELINE_CAPABILITIES))})"
    )


def _volumes(spec: dict) -> list:
    return list(seq(spec.get("volumes")))


def check_host_path_volumes(pod: Pod) -> str | None:
    bad = []
    for volume in _volumes(pod.spec):
        if volume.__class__ is not dict:
            continue
        value = volume.get("hostPath")
        if value is not None and not is_unknown(value):
            bad.append(name_of(volume))
    if not bad:
        return None
    return (
        f"hostPath volumes: {plural(len(bad), 'volume', 'volumes')} {quote(bad)} must not use hostPath; "
        "use a persistentVolumeClaim, emptyDir, configMap or secret volume instead"
    )


def _host_network_defaults(pod: Pod) -> set[int]:
    """The containers whose unset hostPorts the API server sets to their containerPort before admission: init and
    regular containers of a Pod with hostNetwork (k8s.io/kubernetes v1.37.2 pkg/apis/core/v1/defaults.go
    SetDefaults_Pod, defaultHostNetworkPorts). A template is not defaulted so, but Pod Security enforces on the pods
    its controller makes from it, and those are: a template is judged as its pods (the control-plane tier found the
    pack leaving hostPort out for a hostNetwork Deployment whose pods admission refused for it)."""
    try:
        if flag(pod.spec.get("hostNetwork")) is not True:
            return set()
        return {id(c) for key in ("initContainers", "containers") for c in seq(pod.spec.get(key))}
    except Undecided:
        return set()


def check_host_ports(pod: Pod) -> str | None:
    bad: list[str] = []
    ports: set[str] = set()
    defaulted = _host_network_defaults(pod)

    def visit(c):
        found = False
        for port in seq(c.get("ports")):
            if port.__class__ is not dict:
                continue
            value = port.get("hostPort")
            if id(c) in defaulted and (value is None or value == 0) and value is not False:
                value = port.get("containerPort")
            if value is None or is_unknown(value) or value is False or value == 0:
                continue
            found = True
            ports.add(num(value))
        if found:
            bad.append(name_of(c))

    _each(pod.containers, visit)
    if not bad:
        return None
    return (
        f"hostPort: {_containers_phrase(bad)} {plural(len(bad), 'uses', 'use')} "
        f"{plural(len(ports), 'hostPort', 'hostPorts')} {', '.join(sorted(ports))}; "
        "remove ports[].hostPort and expose the port through a Service"
    )


APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def check_apparmor(pod: Pod) -> str | None:
    values: set[str] = set()
    pod_bad = False
    try:
        profile = obj((_pod_sc(pod.spec) or {}).get("appArmorProfile"))
        if profile is not None:
            kind = text(profile.get("type"))
            if kind not in APPARMOR_TYPES:
                pod_bad = True
                values.add(kind)
    except Undecided:
        pass
    bad: list[str] = []

    def visit(c):
        profile = obj((_sc(c) or {}).get("appArmorProfile"))
        if profile is not None:
            kind = text(profile.get("type"))
            if kind not in APPARMOR_TYPES:
                bad.append(name_of(c))
                values.add(kind)

    _each(pod.containers, visit)
    annotations = []
    try:
        for key, value in (obj(pod.meta.get("annotations")) or {}).items():
            if key.__class__ is not str or not key.startswith(APPARMOR_ANNOTATION_PREFIX) or is_unknown(value):
                continue
            value = text(value)
            if value and value != "runtime/default" and not value.startswith("localhost/"):
                annotations.append(f'{key}="{value}"')
    except Undecided:
        pass
    parts = []
    if pod_bad or bad:
        parts.append(
            f"{_setters(pod_bad, bad)} must not set securityContext.appArmorProfile.type to {quote(sorted(values))} "
            '(use "RuntimeDefault" or "Localhost")'
        )
    if annotations:
        parts.append(
            f"{plural(len(annotations), 'annotation', 'annotations')} {', '.join(sorted(annotations))} "
            'must be "runtime/default" or "localhost/<profile>" (or use securityContext.appArmorProfile)'
        )
    if not parts:
        return None
    count = len(values) + len(annotations)
    return f"{plural(count, 'forbidden AppArmor profile', 'forbidden AppArmor profiles')}: {'; '.join(parts)}"


SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t")
SELINUX_TYPES_1_31 = SELINUX_TYPES + ("container_engine_t",)


def check_selinux(pod: Pod) -> str | None:
    allowed = SELINUX_TYPES_1_31 if pod.minor >= 31 else SELINUX_TYPES
    bad_types: set[str] = set()
    state = {"user": False, "role": False}

    def valid(options: dict) -> bool:
        kind, user, role = text(options.get("type")), text(options.get("user")), text(options.get("role"))
        ok = True
        if kind not in allowed:
            ok = False
            bad_types.add(kind)
        if user:
            ok = False
            state["user"] = True
        if role:
            ok = False
            state["role"] = True
        return ok

    pod_bad = False
    try:
        options = obj((_pod_sc(pod.spec) or {}).get("seLinuxOptions"))
        pod_bad = options is not None and not valid(options)
    except Undecided:
        pass
    bad: list[str] = []

    def visit(c):
        options = obj((_sc(c) or {}).get("seLinuxOptions"))
        if options is not None and not valid(options):
            bad.append(name_of(c))

    _each(pod.containers, visit)
    if not pod_bad and not bad:
        return None
    details = []
    if bad_types:
        details.append(f"{plural(len(bad_types), 'type', 'types')} {quote(sorted(bad_types))}")
    if state["user"]:
        details.append("user may not be set")
    if state["role"]:
        details.append("role may not be set")
    allowed_text = ", ".join(t for t in allowed if t)
    return (
        f"seLinuxOptions: {_setters(pod_bad, bad)} set forbidden securityContext.seLinuxOptions: "
        f"{'; '.join(details)} (allowed types: {allowed_text} or none; leave user and role empty)"
    )


def _proc_mount_violation(pod: Pod) -> str | None:
    bad: list[str] = []
    kinds: set[str] = set()

    def visit(c):
        sc = _sc(c)
        if sc is None:
            return
        value = sc.get("procMount")
        if value is None:
            return
        value = text(value)
        if value != "Default":
            bad.append(name_of(c))
            kinds.add(value)

    _each(pod.containers, visit)
    if not bad:
        return None
    return (
        f"procMount: {_containers_phrase(bad)} must not set securityContext.procMount to {quote(sorted(kinds))} "
        '(use "Default" or leave it unset)'
    )


def check_proc_mount_baseline(pod: Pod) -> str | None:
    message = _proc_mount_violation(pod)
    if pod.minor < 35:
        return message
    return _exempt_if(message, lambda: _user_namespaced(pod.spec))


SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _seccomp_explicit(pod: Pod, values: set, implicit: list | None = None):
    """(pod set a bad type, containers that set a bad type); `implicit` collects containers that set
    nothing while the pod sets no valid profile (restricted only)."""
    pod_bad = False
    pod_valid: bool | None = False
    try:
        profile = obj((_pod_sc(pod.spec) or {}).get("seccompProfile"))
        if profile is not None:
            kind = text(profile.get("type"))
            if kind in SECCOMP_TYPES:
                pod_valid = True
            else:
                pod_bad = True
                values.add(kind)
    except Undecided:
        pod_valid = None
    bad: list[str] = []

    def visit(c):
        profile = obj((_sc(c) or {}).get("seccompProfile"))
        if profile is not None:
            kind = text(profile.get("type"))
            if kind not in SECCOMP_TYPES:
                bad.append(name_of(c))
                values.add(kind)
        elif implicit is not None and pod_valid is False:
            implicit.append(name_of(c))

    _each(pod.containers, visit)
    return pod_bad, bad


def check_seccomp_baseline(pod: Pod) -> str | None:
    values: set[str] = set()
    pod_bad, bad = _seccomp_explicit(pod, values)
    if not pod_bad and not bad:
        return None
    return (
        f"seccompProfile: {_setters(pod_bad, bad)} must not set securityContext.seccompProfile.type to "
        f'{quote(sorted(values))} (use "RuntimeDefault" or "Localhost")'
    )


SYSCTLS_1_0 = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
)
SYSCTLS_1_27 = SYSCTLS_1_0 + ("net.ipv4.ip_local_reserved_ports",)
SYSCTLS_1_29 = SYSCTLS_1_27 + (
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
)
SYSCTLS_1_32 = SYSCTLS_1_29 + ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")
SYSCTLS_1_37 = SYSCTLS_1_32 + ("net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat")


def safe_sysctls(minor: int) -> frozenset[str]:
    for since, names in ((37, SYSCTLS_1_37), (32, SYSCTLS_1_32), (29, SYSCTLS_1_29), (27, SYSCTLS_1_27)):
        if minor >= since:
            return frozenset(names)
    return frozenset(SYSCTLS_1_0)


def check_sysctls(pod: Pod) -> str | None:
    allowed = safe_sysctls(pod.minor)
    forbidden = []
    try:
        for sysctl in seq((_pod_sc(pod.spec) or {}).get("sysctls")):
            if sysctl.__class__ is not dict:
                continue
            try:
                name = text(sysctl.get("name"))
            except Undecided:
                continue
            if name not in allowed:
                forbidden.append(name)
    except Undecided:
        pass
    if not forbidden:
        return None
    return (
        f"forbidden sysctls: pod must not set {', '.join(forbidden)} in securityContext.sysctls "
        "(only the Kubernetes safe sysctls are allowed)"
    )


def check_probe_hosts(pod: Pod) -> str | None:
    bad: set[str] = set()
    hosts: set[str] = set()

    def handler_hosts(handler) -> list[str]:
        handler = obj(handler)
        if handler is None:
            return []
        found = []
        for kind in ("httpGet", "tcpSocket"):
            try:
                action = obj(handler.get(kind))
                host = text((action or {}).get("host"))
            except Undecided:
                continue
            if host:
                found.append(host)
        return found

    def visit(c):
        found = []
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            try:
                found += handler_hosts(c.get(probe))
            except Undecided:
                pass
        try:
            lifecycle = obj(c.get("lifecycle")) or {}
        except Undecided:
            lifecycle = {}
        for hook in ("postStart", "preStop"):
            try:
                found += handler_hosts(lifecycle.get(hook))
            except Undecided:
                pass
        if found:
            bad.add(name_of(c))
            hosts.update(found)

    _each(pod.containers, visit)
    if not bad:
        return None
    return (
        f"probe or lifecycle host: {_containers_phrase(sorted(bad))} {plural(len(bad), 'uses', 'use')} "
        f"{plural(len(hosts), 'probe or lifecycle host', 'probe or lifecycle hosts')} {quote(sorted(hosts))}; "
        "remove the host field so probes and hooks target the pod itself"
    )


# --- restricted ----------------------------------------------------------------------------

RESTRICTED_ALLOWED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# Every other volume source the API knows, in the order the library names them.
RESTRICTED_VOLUME_TYPES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def check_restricted_volumes(pod: Pod) -> str | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for volume in _volumes(pod.spec):
        if volume.__class__ is not dict:
            continue
        allowed = unknown = False
        restricted = None
        for key in RESTRICTED_ALLOWED_VOLUMES:
            value = volume.get(key)
            if value is not None:
                if is_unknown(value):
                    unknown = True
                else:
                    allowed = True
        if allowed:
            continue
        for key in RESTRICTED_VOLUME_TYPES:
            value = volume.get(key)
            if value is not None:
                if is_unknown(value):
                    unknown = True
                elif restricted is None:
                    restricted = key
        # A volume with no source at all is defaulted to emptyDir by the API server before
        # admission, so the library never sees it without one.
        if restricted is None or unknown:
            continue
        bad.append(name_of(volume))
        kinds.add(restricted)
    if not bad:
        return None
    return (
        f"restricted volume types: {plural(len(bad), 'volume', 'volumes')} {quote(bad)} "
        f"{plural(len(bad), 'uses', 'use')} {plural(len(kinds), 'restricted volume type', 'restricted volume types')} "
        f"{quote(sorted(kinds))}; use only {', '.join(RESTRICTED_ALLOWED_VOLUMES)} volumes"
    )


def check_allow_privilege_escalation(pod: Pod) -> str | None:
    bad: list[str] = []

    def visit(c):
        if flag((_sc(c) or {}).get("allowPrivilegeEscalation")) is not False:
            bad.append(name_of(c))

    _each(pod.containers, visit)
    message = None
    if bad:
        message = (
            f"allowPrivilegeEscalation != false: {_containers_phrase(bad)} "
            "must set securityContext.allowPrivilegeEscalation=false"
        )
    return _exempt_if(message, lambda: _is_windows(pod.spec))


def check_run_as_non_root(pod: Pod) -> str | None:
    pod_bad = False
    pod_value: bool | None = False  # None: unknown
    try:
        value = flag((_pod_sc(pod.spec) or {}).get("runAsNonRoot"))
        if value is False:
            pod_bad = True
        pod_value = value is True
    except Undecided:
        pod_value = None
    explicit: list[str] = []
    implicit: list[str] = []

    def visit(c):
        value = flag((_sc(c) or {}).get("runAsNonRoot"))
        if value is False:
            explicit.append(name_of(c))
        elif value is None and pod_value is False:
            implicit.append(name_of(c))

    _each(pod.containers, visit)
    message = None
    if pod_bad or explicit:
        message = f"runAsNonRoot != true: {_setters(pod_bad, explicit)} must not set securityContext.runAsNonRoot=false"
    elif implicit:
        message = f"runAsNonRoot != true: pod or {_containers_phrase(implicit)} must set securityContext.runAsNonRoot=true"
    if pod.minor < 35:
        return message
    return _exempt_if(message, lambda: _user_namespaced(pod.spec))


def _is_zero(value) -> bool:
    if value is None or value is True or value is False:
        return False
    if is_unknown(value):
        raise Undecided
    return value == 0


def check_run_as_user(pod: Pod) -> str | None:
    pod_bad = False
    try:
        pod_bad = _is_zero((_pod_sc(pod.spec) or {}).get("runAsUser"))
    except Undecided:
        pass
    bad: list[str] = []

    def visit(c):
        if _is_zero((_sc(c) or {}).get("runAsUser")):
            bad.append(name_of(c))

    _each(pod.containers, visit)
    message = None
    if pod_bad or bad:
        message = f"runAsUser=0: {_setters(pod_bad, bad)} must not set runAsUser=0 (run as a non-zero UID)"
    if pod.minor < 35:
        return message
    return _exempt_if(message, lambda: _user_namespaced(pod.spec))


def check_seccomp_restricted(pod: Pod) -> str | None:
    values: set[str] = set()
    implicit: list[str] = []
    pod_bad, bad = _seccomp_explicit(pod, values, implicit)
    message = None
    if pod_bad or bad:
        message = (
            f"seccompProfile: {_setters(pod_bad, bad)} must not set securityContext.seccompProfile.type to "
            f'{quote(sorted(values))} (use "RuntimeDefault" or "Localhost")'
        )
    elif implicit:
        message = (
            f"seccompProfile: pod or {_containers_phrase(implicit)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost"'
        )
    return _exempt_if(message, lambda: _is_windows(pod.spec))


def check_capabilities_restricted(pod: Pod) -> str | None:
    missing_drop: list[str] = []
    adding: list[str] = []
    forbidden: set[str] = set()

    def visit(c):
        capabilities = obj((_sc(c) or {}).get("capabilities"))
        if capabilities is None:
            missing_drop.append(name_of(c))
            return
        try:
            drops = seq(capabilities.get("drop"))
            if not any(cap == "ALL" for cap in drops):
                if not any(is_unknown(cap) for cap in drops):
                    missing_drop.append(name_of(c))
        except Undecided:
            pass
        found = False
        try:
            for cap in seq(capabilities.get("add")):
                if is_unknown(cap):
                    continue
                cap = text(cap)
                if cap != "NET_BIND_SERVICE":
                    found = True
                    forbidden.add(cap)
        except Undecided:
            pass
        if found:
            adding.append(name_of(c))

    _each(pod.containers, visit)
    details = []
    if missing_drop:
        details.append(f'{_containers_phrase(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(
            f"{_containers_phrase(adding)} must not include {quote(sorted(forbidden))} in "
            'securityContext.capabilities.add (only "NET_BIND_SERVICE" may be added)'
        )
    message = f"unrestricted capabilities: {'; '.join(details)}" if details else None
    return _exempt_if(message, lambda: _is_windows(pod.spec))


def check_proc_mount_restricted(pod: Pod) -> str | None:
    return _proc_mount_violation(pod)


# --- levels --------------------------------------------------------------------------------

Check = Callable[[Pod], "str | None"]

#: Checks run at both levels.
COMMON_BASELINE: tuple[Check, ...] = (
    check_windows_host_process,
    check_host_namespaces,
    check_privileged,
    check_host_ports,
    check_apparmor,
    check_selinux,
    check_sysctls,
)
#: Baseline checks that restricted replaces with a stricter one.
BASELINE_ONLY: tuple[Check, ...] = (
    check_capabilities_baseline,
    check_host_path_volumes,
    check_proc_mount_baseline,
    check_seccomp_baseline,
)
RESTRICTED_ONLY: tuple[Check, ...] = (
    check_restricted_volumes,
    check_allow_privilege_escalation,
    check_run_as_non_root,
    check_run_as_user,
    check_seccomp_restricted,
    check_capabilities_restricted,
    check_proc_mount_restricted,
)


def checks_for(level: str, minor: int) -> tuple[Check, ...]:
    common = COMMON_BASELINE + ((check_probe_hosts,) if minor >= 34 else ())
    if level == BASELINE:
        return common + BASELINE_ONLY
    if level == RESTRICTED:
        return common + RESTRICTED_ONLY
    raise ValueError(f"pod-security level must be `baseline` or `restricted`, not {level!r}")


def evaluate_pod(meta: dict, spec: dict, level: str = RESTRICTED, version: str = "latest") -> list[str]:
    """Violation messages of one pod (metadata + spec, of a Pod or of the pods a template makes) at a level and
    policy version."""
    pod = Pod(meta, spec, resolve_version(version))
    messages = []
    for check in checks_for(level, pod.minor):
        try:
            message = check(pod)
        except Undecided:
            continue
        if message:
            messages.append(message)
    return messages


def pod_security_problems(type_token: str, props: dict, config: dict) -> list[str]:
    """The `pod-security` rule over any object that carries a pod."""
    try:
        template = kube.pod_template(type_token, props)
        if template is None:
            return []
        exempt = config.get("exemptNamespaces") or ()
        if exempt and kube.namespace(props) in exempt:
            return []
    except Undecided:
        return []
    meta, spec = template
    return evaluate_pod(meta, spec, config.get("level", RESTRICTED), config.get("version", "latest"))


POLICY = PolicySpec(
    name="pod-security",
    description=(
        "Pods and pod templates meet the Kubernetes Pod Security Standards "
        "(level `restricted` unless configured `baseline`)."
    ),
    kind="resource",
    check=pod_security_problems,
    applies_to=kube.carries_pod,
    config_schema={
        "level": {
            "type": "string",
            "enum": [BASELINE, RESTRICTED],
            "default": RESTRICTED,
            "description": "Pod Security Standards level to enforce.",
        },
        "version": {
            "type": "string",
            "pattern": r"^(latest|v1\.(2[5-9]|[3-9][0-9]))$",
            "default": "latest",
            "description": "Policy version like a namespace's pod-security.kubernetes.io/enforce-version "
            f"(v1.{OLDEST_MINOR} or newer; latest is v1.{LATEST_MINOR}).",
        },
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
