"""Least-privilege RBAC.

* Roles and ClusterRoles grant no wildcard verbs or resources, none of the verbs that hand out
  more than the holder has (`bind`, `escalate`, `impersonate`), and - unless `allowExec` - no
  `pods/exec`, `pods/attach` or `pods/portforward`. An operator that runs commands in the pods it
  manages has its role listed in `execRoles` (it may grant exec, attach and port-forward; its other
  rules are still checked); platform roles that need more are listed in `exemptRoles`.
* RoleBindings and ClusterRoleBindings give `cluster-admin` (or any role in `privilegedRoles`) only
  to platform subjects - the groups, users and service-account namespaces configured as platform -
  and never bind anything to `system:anonymous`, `system:unauthenticated` or
  `system:authenticated`.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, boolean, string_list
from ..lib.values import Undecided, is_unknown, obj, quote, seq, text

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
ESCALATING_VERBS = ("bind", "escalate", "impersonate")
EXEC_RESOURCES = ("pods/exec", "pods/attach", "pods/portforward")
EVERYONE = {("Group", "system:unauthenticated"), ("Group", "system:authenticated"), ("User", "system:anonymous")}


def applies(type_token: str) -> bool:
    parsed = kube.parse_type(type_token)
    return parsed is not None and parsed[0] == RBAC_GROUP and parsed[2] in ROLE_KINDS | BINDING_KINDS


def _strings(values) -> list[str]:
    return [v for v in seq(values) if v.__class__ is str and not is_unknown(v)]


def _role_problems(kind: str, name: str, props: dict, config: dict) -> list[str]:
    if any(fnmatchcase(name, pattern) for pattern in config.get("exemptRoles") or ()):
        return []
    messages = []
    allow_exec = config.get("allowExec", False) or any(fnmatchcase(name, pattern) for pattern in config.get("execRoles") or ())
    for index, rule in enumerate(seq(props.get("rules")), start=1):
        if rule.__class__ is not dict:
            continue
        try:
            verbs, resources = _strings(rule.get("verbs")), _strings(rule.get("resources"))
            urls = _strings(rule.get("nonResourceURLs"))
        except Undecided:
            continue
        where = f'{kind} "{name}" rule {index}'
        wild = [field for field, values in (("verbs", verbs), ("resources", resources), ("nonResourceURLs", urls)) if "*" in values]
        if wild:
            messages.append(f'{where} grants "*" in {" and ".join(wild)}; list only the verbs and resources it needs')
        escalating = [verb for verb in ESCALATING_VERBS if verb in verbs]
        if escalating:
            messages.append(
                f"{where} grants {quote(escalating)}, which let the holder gain permissions it does not have; remove "
                f"{'it' if len(escalating) == 1 else 'them'}"
            )
        if not allow_exec:
            shells = [r for r in resources if r in EXEC_RESOURCES or r == "pods/*"]
            if shells:
                messages.append(
                    f"{where} grants {quote(shells)}; exec, attach and port-forward into pods are not allowed in this "
                    "environment (use logs, metrics and traces, or debug in dev)"
                )
    return messages



def _is_platform(kind: str, name: str, namespace: str, config: dict) -> bool:
    if kind == "Group":
        return name in (config.get("platformGroups") or ())
    if kind == "User":
        return name in (config.get("platformUsers") or ())
    if kind == "ServiceAccount":
        return namespace in (config.get("platformServiceAccountNamespaces") or ())
    return False


def _binding_problems(kind: str, name: str, props: dict, config: dict) -> list[str]:
    try:
        ref = obj(props.get("roleRef")) or {}
        role_kind, role_name = text(ref.get("kind")), text(ref.get("name"))
    except Undecided:
        return []
    try:
        own_namespace = kube.namespace(props) if kind == "RoleBinding" else ""
    except Undecided:
        own_namespace = ""
    privileged = role_kind == "ClusterRole" and role_name in (config.get("privilegedRoles") or ())
    everyone, outsiders = [], []
    for subject in seq(props.get("subjects")):
        if subject.__class__ is not dict:
            continue
        try:
            s_kind, s_name = text(subject.get("kind")), text(subject.get("name"))
            s_namespace = text(subject.get("namespace")) or own_namespace
        except Undecided:
            continue
        label = f'ServiceAccount "{s_namespace}/{s_name}"' if s_kind == "ServiceAccount" else f'{s_kind} "{s_name}"'
        if (s_kind, s_name) in EVERYONE:
            everyone.append(label)
        elif privileged and not _is_platform(s_kind, s_name, s_namespace, config):
            outsiders.append(label)
    messages = []
    where = f'{kind} "{name}"'
    if everyone:
        messages.append(
            f'{where} binds {role_kind} "{role_name}" to {", ".join(everyone)}, i.e. to every caller; bind it to '
            "named groups or service accounts"
        )
    if outsiders:
        messages.append(
            f'{where} grants {role_kind} "{role_name}" to {", ".join(outsiders)}; only platform subjects may hold it '
            "(configured platformGroups, platformUsers, platformServiceAccountNamespaces): bind a narrower role"
        )
    return messages


def rbac_problems(type_token: str, props: dict, config: dict) -> list[str]:
    parsed = kube.parse_type(type_token)
    if parsed is None:
        return []
    kind = parsed[2]
    try:
        if kind in ("Role", "RoleBinding") and kube.is_exempt(props, config):
            return []
    except Undecided:
        return []
    name = kube.metadata_name(props)
    try:
        if kind in ROLE_KINDS:
            return _role_problems(kind, name, props, config)
        return _binding_problems(kind, name, props, config)
    except Undecided:
        return []


POLICY = PolicySpec(
    name="rbac-least-privilege",
    description=(
        "RBAC grants least privilege: no wildcards, bind/escalate/impersonate or (unless allowed) pod exec in "
        "roles; cluster-admin only for platform subjects; nothing bound to everyone."
    ),
    kind="resource",
    check=rbac_problems,
    applies_to=applies,
    config_schema={
        "platformGroups": string_list("Groups of the platform team; they may hold the privileged roles."),
        "platformUsers": string_list("Users of the platform team; they may hold the privileged roles."),
        "platformServiceAccountNamespaces": string_list(
            "Service accounts in these namespaces (platform operators) may hold the privileged roles.",
            ["kube-system"],
        ),
        "privilegedRoles": string_list("ClusterRoles only platform subjects may be bound to.", ["cluster-admin"]),
        "allowExec": boolean("Allow roles to grant pods/exec, pods/attach and pods/portforward.", False),
        "execRoles": string_list(
            "Names (glob patterns) of Roles and ClusterRoles that may grant pods/exec, pods/attach and pods/portforward "
            "(operators that run commands in the pods they manage); their other rules are checked."
        ),
        "exemptRoles": string_list(
            "Names (glob patterns) of Roles and ClusterRoles whose rules are not checked, e.g. operator roles.",
            ["system:*"],
        ),
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
