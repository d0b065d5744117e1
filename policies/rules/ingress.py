"""Ingresses serve TLS for every host they route, and do not switch the HTTPS redirect off."""

from __future__ import annotations

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec
from ..lib.values import Undecided, is_unknown, obj, quote, seq, text

SSL_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect"


def _covered(host: str, tls_hosts: set[str]) -> bool:
    if host in tls_hosts:
        return True
    _, dot, parent = host.partition(".")
    return bool(dot) and f"*.{parent}" in tls_hosts


def ingress_tls_problems(type_token: str, props: dict, config: dict) -> list[str]:
    try:
        if kube.is_exempt(props, config):
            return []
        spec = obj(props.get("spec")) or {}
        tls = [entry for entry in seq(spec.get("tls")) if entry.__class__ is dict]
        tls_hosts: set[str] = set()
        for entry in tls:
            for host in seq(entry.get("hosts")):
                if is_unknown(host):
                    return []  # cannot tell which hosts are covered
                tls_hosts.add(text(host))
        hosts, hostless = [], False
        for rule in seq(spec.get("rules")):
            if rule.__class__ is not dict:
                continue
            host = rule.get("host")
            if is_unknown(host):
                continue
            host = text(host)
            if host:
                if host not in hosts:
                    hosts.append(host)
            else:
                hostless = True
        annotations = obj((obj(props.get("metadata")) or {}).get("annotations")) or {}
    except Undecided:
        return []
    where = kube.describe(type_token, props)
    messages = []
    uncovered = [host for host in hosts if not _covered(host, tls_hosts)]
    if uncovered:
        messages.append(
            f"{where} serves {plural_hosts(uncovered)} without TLS; add {'it' if len(uncovered) == 1 else 'them'} to "
            "spec.tls[].hosts with a secretName (cert-manager issues the certificate)"
        )
    if (hostless or (not hosts and spec.get("defaultBackend"))) and not tls:
        messages.append(f"{where} routes requests without a host but has no spec.tls; add a TLS entry")
    value = annotations.get(SSL_REDIRECT)
    if not is_unknown(value) and text(value).lower() == "false":
        messages.append(f'{where} sets {SSL_REDIRECT}: "false"; remove it so HTTP is redirected to HTTPS')
    return messages


def plural_hosts(hosts: list[str]) -> str:
    return f"{'host' if len(hosts) == 1 else 'hosts'} {quote(hosts)}"


POLICY = PolicySpec(
    name="ingress-tls",
    description="Ingresses terminate TLS for every host they route.",
    kind="resource",
    check=ingress_tls_problems,
    applies_to=lambda t: (kube.group_kind(t) or ("", ""))[1] == "Ingress"
    and (kube.group_kind(t) or ("", ""))[0] in ("networking.k8s.io", "extensions"),
    config_schema={"exemptNamespaces": EXEMPT_NAMESPACES},
)
