"""Application teams: a namespace each, with quota and the directory groups that act for it."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .base import DnsLabel, Quantity, Strict, check, quantity_value
from .workloads import Workload

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
    workloads: list[Workload] = []

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMESPACES or name.startswith("kube-"):
            raise ValueError(f"`{name}` is reserved by Kubernetes; choose another team name")
        return name

    @model_validator(mode="after")
    def _workloads_fit(self):
        problems = []
        seen: set[str] = set()
        for index, workload in enumerate(self.workloads):
            if workload.name in seen:
                problems.append((f"workloads[{index}].name", f"workload `{workload.name}` is declared twice in this team"))
            seen.add(workload.name)
        # At peak (APIs at max_replicas) the namespace must still admit every pod: the quota
        # caps requests and limits alike, so both totals must fit.
        for resource in ("cpu", "memory"):
            for bound in ("request", "limit"):
                total = sum(workload.peak_pods() * quantity_value(getattr(workload.resources, f"{resource}_{bound}")) for workload in self.workloads)
                allowed = getattr(self.quota, resource)
                if total > quantity_value(allowed):
                    problems.append((f"quota.{resource}", f"{allowed} is below the {bound}s of this team's workloads at peak ({_format(total, resource)}); raise the quota or shrink the workloads"))
        pods = sum(workload.peak_pods() for workload in self.workloads)
        if pods > self.quota.pods:
            problems.append(("quota.pods", f"{self.quota.pods} is below the pods this team's workloads run at peak ({pods})"))
        check(problems)
        return self


def _format(total: float, resource: str) -> str:
    if resource == "cpu":
        return f"{round(total * 1000)}m"
    return f"{total / 2**20:g}Mi"
