"""Certificates from the cluster's internal CA: cert-manager issues them from the `platform-internal-ca`
ClusterIssuer (components/services/cert_manager.py), keeps the key in the Secret it names and renews it; the key
never passes through Pulumi's state."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue


def internal_certificate(
    name: str, metadata: dict[str, Any], secret: str, spec: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """A cert-manager Certificate from the cluster's internal CA (catalogue.INTERNAL_ISSUER), into Secret `secret`."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=catalogue.CERT_MANAGER_API,
        kind="Certificate",
        metadata=metadata,
        spec={
            "secretName": secret,
            **spec,
            "issuerRef": {"name": catalogue.INTERNAL_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
        opts=opts,
    )
