"""Workloads a team declares: APIs, workers and scheduled jobs, and the shared services they use."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ..shared_services import SharedServiceName
from .base import DnsLabel, Quantity, Strict, check, quantity_value

# `registry/path/name:tag` or `registry/path/name@sha256:<64 hex>`; the registry is the part before
# the first '/' and must look like a host (it has a '.' or ':' or is `localhost`).
_IMAGE = re.compile(
    r"^(?P<registry>(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::[0-9]+)?|localhost(?::[0-9]+)?|[a-z0-9-]+:[0-9]+)/"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_registry(image: str) -> str:
    match = _IMAGE.match(image)
    return match.group("registry") if match else ""


def _image(value: str) -> str:
    match = _IMAGE.match(value)
    if not match:
        raise ValueError(
            f"`{value}` is not a full image reference; write `registry.example.com/team/app:1.4.2` or pin a digest with `@sha256:...`"
        )
    if not match.group("tag") and not match.group("digest"):
        raise ValueError(f"`{value}` has no tag; pin a version tag or a digest, never an implicit `latest`")
    if match.group("tag") == "latest":
        raise ValueError(f"`{value}` uses the mutable tag `latest`; pin a version tag or a digest")
    return value


Image = Annotated[str, AfterValidator(_image)]

# --- cron ----------------------------------------------------------------------------------------

_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELDS = [  # (name, low, high, names)
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
]


def _cron_value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower()) if not text.isdigit() else int(text)
    if value is None or not low <= value <= high:
        raise ValueError(text)
    return value


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule the Kubernetes CronJob controller accepts, or None."""
    if expression.strip() in _CRON_MACROS:
        return None
    fields = expression.split()
    if len(fields) != 5:
        return f"`{expression}` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            try:
                if step and (not step.isdigit() or int(step) < 1):
                    raise ValueError(step)
                if base not in ("*", "?"):
                    start, _, end = base.partition("-")
                    first = _cron_value(start, low, high, names)
                    if end and _cron_value(end, low, high, names) < first:
                        raise ValueError(base)
            except ValueError:
                return f"`{expression}` is not a cron expression: `{part}` is not a valid {name} ({low}-{high})"
    return None


def _cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Schedule = Annotated[str, AfterValidator(_cron)]

# --- workloads -----------------------------------------------------------------------------------

class Uses(Strict):
    """A shared service instance the workload talks to; it gets network egress to exactly that."""

    service: SharedServiceName
    """The shared service."""
    instance: DnsLabel | None = None
    """The instance of the team's (`databases`, `caches`, `queues`); None: the service's default instance
    (`db`, `cache`, `queue`; for Kafka its one shared cluster `events`)."""


class Resources(Strict):
    """The container's requests and limits; limits count against the team quota at peak."""

    cpu_request: Quantity = "100m"
    """CPU the scheduler reserves for the container."""
    memory_request: Quantity = "128Mi"
    """Memory the scheduler reserves for the container."""
    cpu_limit: Quantity = "500m"
    """CPU the container may use at most (throttled above)."""
    memory_limit: Quantity = "256Mi"
    """Memory the container may use at most (killed above)."""

    @model_validator(mode="after")
    def _limits_cover_requests(self):
        problems = []
        for resource in ("cpu", "memory"):
            request, limit = getattr(self, f"{resource}_request"), getattr(self, f"{resource}_limit")
            if quantity_value(limit) < quantity_value(request):
                problems.append((f"{resource}_limit", f"must be at least {resource}_request ({limit} < {request})"))
        check(problems)
        return self


class _Workload(Strict):
    name: DnsLabel
    """The workload's objects' name (Deployment or CronJob, Service, ...). Forces replacement of them."""
    image: Image
    """A full image reference with a version tag or digest (`registry.example.com/team/app:1.4.2`),
    from an allowed registry."""
    resources: Resources = Resources()
    """The container's requests and limits."""
    uses: list[Uses] = []
    """The shared-service instances it talks to: egress to exactly those, and their connection
    variables (docs/onboarding.md)."""
    env: dict[str, str] = {}
    """Plain environment variables (no secrets)."""

    def peak_pods(self) -> int:
        return 1


class Api(_Workload):
    """An HTTP service behind the ingress controller, with TLS, autoscaling and a disruption budget."""

    kind: Literal["api"]
    replicas: int = Field(default=2, ge=1, le=100)
    """Pods at least (the autoscaler's lower bound)."""
    max_replicas: int = Field(default=4, ge=1, le=100)
    """Pods at most (the autoscaler's upper bound); the quota must admit them."""
    port: int = Field(default=8080, ge=1024, le=65535)
    """The container port it serves HTTP on."""
    host: str = Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
    """The host name the ingress routes to it, with TLS."""
    path: str = "/"
    """The path prefix the ingress routes to it."""
    health_path: str = "/healthz"
    """Answered with 2xx when ready (readiness and liveness probes)."""

    @model_validator(mode="after")
    def _scaling(self):
        if self.max_replicas < self.replicas:
            check([("max_replicas", f"must be at least replicas ({self.max_replicas} < {self.replicas})")])
        return self

    def peak_pods(self) -> int:
        return self.max_replicas


class Worker(_Workload):
    """A long-running consumer (queues, streams) with a health endpoint but no inbound traffic."""

    kind: Literal["worker"]
    replicas: int = Field(default=1, ge=1, le=100)
    """Pods."""
    health_port: int = Field(default=8081, ge=1024, le=65535)
    """The container port of its health endpoint."""
    health_path: str = "/healthz"
    """Answered with 2xx when healthy (readiness and liveness probes)."""

    def peak_pods(self) -> int:
        return self.replicas


class ScheduledJob(_Workload):
    """A CronJob that runs to completion on a schedule; one run at a time."""

    kind: Literal["scheduled_job"]
    schedule: Schedule
    """Cron schedule (five fields, or a macro such as `@daily`)."""
    timeout_seconds: int = Field(default=3600, ge=60, le=86400)
    """A run taking longer is stopped (`activeDeadlineSeconds`)."""
    retries: int = Field(default=2, ge=0, le=10)
    """Retries of a failed run (`backoffLimit`)."""


Workload = Annotated[Api | Worker | ScheduledJob, Field(discriminator="kind")]
