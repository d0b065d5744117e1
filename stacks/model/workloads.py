"""Workloads a team declares: APIs, workers and scheduled jobs, and the shared services they use."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..shared_services import SharedServiceName
from .base import DnsLabel, Quantity, SecretValue, Strict, check, quantity_value

# `registry/path/name:tag` or `registry/path/name@sha256:<64 hex>`; the registry is the part before
# the first '/' and must look like a host (it has a '.' or ':' or is `localhost`). Path components and
# tags as the OCI distribution spec names them (spec.md, "Pulling manifests"): a component is
# `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, so `settlement--worker` is one; a tag `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    r"^(?P<registry>(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::[0-9]+)?|localhost(?::[0-9]+)?|[a-z0-9-]+:[0-9]+)/"
    rf"(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_registry(image: str) -> str:
    match = _IMAGE.fullmatch(image)
    return match.group("registry") if match else ""


def _image(value: str) -> str:
    match = _IMAGE.fullmatch(value)
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

# Environment variable names that carry credentials by convention (DB_PASSWORD, API_TOKEN, AWS_SECRET_ACCESS_KEY, ...).
_CREDENTIAL_NAME = re.compile(r".*(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL).*", re.IGNORECASE)

# --- HTTP paths ----------------------------------------------------------------------------------


def _request_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"`{value}` is not an absolute HTTP path: start it with `/`, without spaces or control characters")
    return value


# Kubernetes' rules for a Prefix or Exact Ingress path (k8s.io/kubernetes pkg/apis/networking/validation
# validateHTTPIngressPath: absolute, none of invalidPathSequences, none of invalidPathSuffixes).
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


def _ingress_path(value: str) -> str:
    _request_path(value)
    for sequence in _INVALID_PATH_SEQUENCES:
        if sequence in value:
            raise ValueError(f"`{value}` must not contain `{sequence}` (Kubernetes refuses it in an Ingress path)")
    for suffix in _INVALID_PATH_SUFFIXES:
        if value.endswith(suffix):
            raise ValueError(f"`{value}` must not end with `{suffix}` (Kubernetes refuses it in an Ingress path)")
    return value


RequestPath = Annotated[str, AfterValidator(_request_path)]
IngressPath = Annotated[str, AfterValidator(_ingress_path)]

# --- cron ----------------------------------------------------------------------------------------

# Kubernetes validates a CronJob's schedule with robfig/cron v3's standard parser (k8s.io/kubernetes
# pkg/apis/batch/validation validateScheduleFormat -> cron.ParseStandard; RKE2's etcd snapshot
# schedule goes through the same parser). This mirrors github.com/robfig/cron/v3@v3.0.1 parser.go:
# descriptors only as the whole spec, five whitespace-separated fields, each a comma list of
# `*`/`?` or `N` or `N-M`, optionally `/step` (getRange); numbers by strconv.Atoi, non-negative
# (mustParseInt); names only in month and day of week; day of week 0-6 (spec.go `dow`), so 7 is
# refused, and an open range (`1-`), an empty step (`*/`) or a second hyphen are errors there.
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELDS = [  # (name, low, high, names)
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    ("day of week", 0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
]
_ATOI = re.compile(r"[+-]?[0-9]+")
# `@every <duration>` (parseDescriptor) takes Go's time.ParseDuration: `0`, or signed number-unit pairs.
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)")


def _cron_number(text: str, names: dict[str, int] | None = None) -> int:
    """parseIntOrName: a name of the field, else strconv.Atoi's decimal, not negative."""
    if names and text.lower() in names:
        return names[text.lower()]
    if not _ATOI.fullmatch(text) or int(text) < 0:
        raise ValueError(text)
    return int(text)


def _cron_range(expr: str, low: int, high: int, names: dict[str, int]) -> None:
    """getRange: raises ValueError where robfig/cron's does."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if len(range_and_step) > 2 or len(low_and_high) > 2 and low_and_high[0] not in ("*", "?"):
        raise ValueError(expr)
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _cron_number(low_and_high[0], names)
        end = _cron_number(low_and_high[1], names) if len(low_and_high) == 2 else start
    if len(range_and_step) == 2:
        step = _cron_number(range_and_step[1])
        if len(low_and_high) == 1:
            end = high  # "N/step" means "N-max/step"
        if step == 0:
            raise ValueError(expr)
    if start < low or end > high or start > end:
        raise ValueError(expr)


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule the Kubernetes CronJob controller accepts, or None."""
    if "TZ" in expression:
        return f"`{expression}` names a time zone; Kubernetes refuses TZ or CRON_TZ in a schedule"
    if expression.startswith("@"):
        if expression in _CRON_MACROS or (expression.startswith("@every ") and _GO_DURATION.fullmatch(expression[len("@every "):])):
            return None
        return (f"`{expression}` is not a cron expression: the descriptors are {', '.join(sorted(_CRON_MACROS))} and "
                "`@every <duration>` (e.g. `@every 1h30m`)")
    fields = expression.split()
    if len(fields) != 5:
        return f"`{expression}` is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in [part for part in text.split(",") if part]:  # getField: strings.FieldsFunc drops empty items
            try:
                _cron_range(part, low, high, names)
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
    """Plain environment variables (no secrets: their values land in the Deployment in plain text)."""

    @field_validator("env", mode="before")
    @classmethod
    def _no_credentials(cls, env: Any) -> Any:
        if not isinstance(env, dict):
            return env
        problems = []
        for name, value in env.items():
            if isinstance(value, SecretValue):
                problems.append((str(name), "a workload's env is plain text in its Deployment; it cannot carry a Pulumi secret: "
                                            "credentials come from the services it `uses` (their Secrets are referenced, never copied)"))
            elif isinstance(name, str) and isinstance(value, str) and value and _CREDENTIAL_NAME.fullmatch(name):
                problems.append((name, "looks like a credential, and a workload's env is plain text in its Deployment; take it from the "
                                       "services the workload `uses` (their Secrets are referenced, never copied), or remove it"))
        check(problems)
        return env

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
    path: IngressPath = "/"
    """The path prefix the ingress routes to it."""
    health_path: RequestPath = "/healthz"
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
    health_path: RequestPath = "/healthz"
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
