"""Application teams: a namespace each, with quota and the directory groups that act for it."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import DnsLabel, Quantity, Strict

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Quota(Strict):
    """The team namespace's ResourceQuota: totals over all its pods and claims."""

    cpu: Quantity = "4"
    memory: Quantity = "8Gi"
    pods: int = Field(default=50, ge=1)
    storage: Quantity = "50Gi"


class ContainerDefaults(Strict):
    """The LimitRange defaults for containers that declare no requests or limits of their own."""

    cpu_request: Quantity = "100m"
    memory_request: Quantity = "128Mi"
    cpu_limit: Quantity = "500m"
    memory_limit: Quantity = "512Mi"


class Team(Strict):
    name: DnsLabel
    groups: list[str] = Field(min_length=1)
    """Directory (Entra ID / LDAP) groups whose members act for the team."""
    quota: Quota = Quota()
    container_defaults: ContainerDefaults = ContainerDefaults()

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMESPACES or name.startswith("kube-"):
            raise ValueError(f"`{name}` is reserved by Kubernetes; choose another team name")
        return name
