"""Workloads do not get a Kubernetes API token they do not use.

A pod gets its service account's token unless its spec says `automountServiceAccountToken: false`
or, when the pod says nothing, its ServiceAccount does. Workloads that call the API (operators,
controllers) are listed in `exemptServiceAccounts` as `namespace/name`. The ServiceAccount may be
another resource of the stack, so this is a stack policy.
"""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, Resource, string_list
from ..lib.values import Undecided, flag, text

SERVICE_ACCOUNT = ("core", "ServiceAccount")


def _spec_path(type_token: str) -> str:
    kind = kube.group_kind(type_token)
    path = kube.POD_TEMPLATE_PATHS.get(kind) if kind is not None else None
    return ".".join((path or ()) + ("spec",))


def token_automount_problems(resources: list[Resource], config: dict) -> list[tuple[str, Resource | None]]:
    exempt_namespaces = set(config.get("exemptNamespaces") or ())
    exempt_accounts = set(config.get("exemptServiceAccounts") or ())
    accounts: dict[tuple[str, str], Resource] = {}
    workloads = []
    for resource in resources:
        key = kube.group_kind(resource.type)
        try:
            if key == SERVICE_ACCOUNT:
                accounts[(kube.namespace(resource.props), kube.metadata_name(resource.props))] = resource
            elif key in kube.WORKLOAD_KINDS:
                workloads.append(resource)
        except Undecided:
            continue
    problems: list[tuple[str, Resource | None]] = []
    for resource in workloads:
        try:
            ns = kube.namespace(resource.props)
            if ns in exempt_namespaces:
                continue
            template = kube.pod_template(resource.type, resource.props)
            if template is None:
                continue
            spec = template[1]
            own = flag(spec.get("automountServiceAccountToken"))
            if own is False:
                continue
            account = text(spec.get("serviceAccountName")) or text(spec.get("serviceAccount")) or "default"
            if f"{ns}/{account}" in exempt_accounts:
                continue
            where = kube.describe(resource.type, resource.props)
            path = _spec_path(resource.type)
            if own is True:
                problems.append(
                    (
                        f'{where} in namespace "{ns}" sets {path}.automountServiceAccountToken: true; set it to false, '
                        f'or list "{ns}/{account}" in exemptServiceAccounts if the workload calls the Kubernetes API',
                        resource,
                    )
                )
                continue
            sa = accounts.get((ns, account))
            if sa is not None and flag((sa.props or {}).get("automountServiceAccountToken")) is False:
                continue
        except Undecided:
            continue
        problems.append(
            (
                f'{where} in namespace "{ns}" mounts the API token of ServiceAccount "{account}"; set '
                f"{path}.automountServiceAccountToken: false (or automountServiceAccountToken: false on the "
                f'ServiceAccount), or list "{ns}/{account}" in exemptServiceAccounts if the workload calls the '
                "Kubernetes API",
                resource,
            )
        )
    return problems


POLICY = PolicySpec(
    name="workload-token-automount",
    description="Workloads do not mount a service account token unless they are allowed to call the Kubernetes API.",
    kind="stack",
    check=token_automount_problems,
    config_schema={
        "exemptServiceAccounts": string_list(
            "Service accounts (`namespace/name`) whose workloads call the Kubernetes API and keep their token.",
        ),
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
