"""Observability settings: metrics and alerting, central logs with a long-term archive, traces, and
the cross-site view (a secondary site's metrics and logs reach its primary's central view).

What each environment gets comes from the profiles (stacks/profiles/<env>.yaml); the components
that build it are in components/observability/.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from .base import DnsLabel, Secret, Strict, check

Severity = Literal["critical", "warning", "info"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


def _hostname(value: str) -> str:
    if value and not _HOSTNAME.fullmatch(value):
        raise ValueError(f"`{value}` is not a DNS host name such as `grafana.dc1.example.com` (lower-case, no scheme, no port)")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]


def _https_url(value: str) -> str:
    """An absolute https address a person's browser opens from a page or a chat message."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme != "https" or not _HOSTNAME.fullmatch(host) or parts.username or parts.password or any(c.isspace() for c in value):
        raise ValueError(f"`{value}` is not an absolute https URL such as `https://git.example.com/platform/complete-cluster/-/blob/main/"
                         "docs/runbooks/alerts.md` (https, a host name, no credentials, no spaces)")
    if parts.fragment or value.endswith("#"):
        raise ValueError(f"`{value}` has a fragment (`#...`); give the page's address: each alert adds `#<alert name lower-cased>`")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]

# Where the alerts' runbook (docs/runbooks/alerts.md) is read when a stack does not say: the file as
# the platform team's Git server renders it, at the branch releases are cut from. Markdown renderers
# (GitLab, GitHub, Gitea) give each `### <alert>` heading the anchor `#<alert>`, which each alert's
# `runbook_url` ends with. Set `services.monitoring.runbook_base_url` (once per environment profile)
# to your own copy's address.
DEFAULT_RUNBOOK_BASE_URL = "https://gitlab.example.com/platform/complete-cluster/-/blob/main/docs/runbooks/alerts.md"


# --- Alertmanager receivers ----------------------------------------------------------------------


class BasicAuth(Strict):
    """HTTP basic authentication for a webhook receiver."""

    username: str = Field(min_length=1)
    """The user name sent."""
    password: Secret
    """A Pulumi secret."""


def _paged_severities() -> list[Severity]:
    return ["critical", "warning"]


class _Receiver(Strict):
    name: DnsLabel
    """The receiver's name in Alertmanager's configuration, unique in the stack."""
    severities: list[Severity] = Field(default_factory=_paged_severities, min_length=1)
    """The alert severities routed to this receiver."""


class WebhookReceiver(_Receiver):
    """An HTTP endpoint that takes Alertmanager's webhook payload (an incident tool, a chat bridge).
    The URL and its credentials are secrets: a receiver without credentials would let anyone who
    learns the URL post alerts, so one of `bearer_token` or `basic_auth` is required."""

    kind: Literal["webhook"]
    url: Secret
    """The endpoint, a Pulumi secret."""
    bearer_token: Secret | None = None
    """Sent as `Authorization: Bearer`, a Pulumi secret; or give `basic_auth`."""
    basic_auth: BasicAuth | None = None
    """User name and password; or give `bearer_token`."""

    @model_validator(mode="after")
    def _credentials(self):
        if self.bearer_token is None and self.basic_auth is None:
            check([("bearer_token", "a webhook receiver needs credentials: set `bearer_token` or `basic_auth` "
                                    "(with `pulumi config set --secret --path ...`)")])
        if self.bearer_token is not None and self.basic_auth is not None:
            check([("basic_auth", "set either `bearer_token` or `basic_auth`, not both")])
        return self


class SlackReceiver(_Receiver):
    """A Slack channel through an incoming-webhook URL (the URL is the credential, so a secret)."""

    kind: Literal["slack"]
    api_url: Secret
    """The incoming-webhook URL, a Pulumi secret."""
    channel: Annotated[str, Field(pattern=r"^[#@]?[a-z0-9][a-z0-9._-]{0,79}$")]
    """The channel (`#alerts`) or user (`@on-call`) to post to."""


class PagerDutyReceiver(_Receiver):
    """A PagerDuty service through its Events API v2 integration (routing) key, a secret."""

    kind: Literal["pagerduty"]
    routing_key: Secret
    """The integration's routing key, a Pulumi secret."""


Receiver = Annotated[WebhookReceiver | SlackReceiver | PagerDutyReceiver, Field(discriminator="kind")]


# --- the cross-site view -------------------------------------------------------------------------


class CentralView(Strict):
    """How the sites of an environment share one view, following the sites' roles.

    Every site of a multi-site environment names its own telemetry `hostname` (HTTPS through the
    platform ingress, basic auth). The primary receives there: Prometheus remote-write and Loki
    pushes from its secondaries, and it alerts when one stops reporting. A secondary sends to its
    primary's hostname, read from the primary's stack file. A failover switches only the sites'
    roles: the new primary starts receiving at its own hostname. `send_to` may name the target
    explicitly; it must then be the site's primary. Both sites hold the same `password` (a secret)."""

    hostname: Hostname = ""
    """This site's telemetry host, where it receives when it is the primary."""
    send_to: str | None = None
    """The stack a secondary sends to; it must be the site's primary (default: the primary)."""
    password: Secret | None = None
    """The basic-auth password shared by the environment's sites, a Pulumi secret."""
    site_down_after_minutes: int = Field(default=10, ge=2, le=120)
    """How long a site may send nothing before the `SiteDown` alert fires on the primary."""


# --- the three pillars ---------------------------------------------------------------------------


class Monitoring(Strict):
    """Prometheus, Alertmanager and Grafana (kube-prometheus-stack), monitors for every shared
    service, and the platform's alert rules.

    `reduced` (dev) runs one Prometheus with short retention and Grafana, the monitors and the rule
    set, but no Alertmanager: alerts show in Grafana and Prometheus, nobody is paged. `full` adds
    Alertmanager with the receivers below and, from two replicas up, highly available Prometheus."""

    enabled: bool = False
    """Run the monitoring stack."""
    mode: Literal["reduced", "full"] = "full"
    """`reduced`: no Alertmanager, nobody is paged; `full`: Alertmanager and the receivers."""
    retention_days: int = Field(default=7, ge=1, le=365)
    """How long Prometheus keeps metrics."""
    volume_gi: int = Field(default=50, ge=5, le=4096)
    """Prometheus's volume per replica; retention is also bounded by size (90% of it)."""
    replicas: int = Field(default=1, ge=1, le=3)
    """Prometheus replicas (at least 2 in prod with `full`)."""
    receivers: list[Receiver] = Field(default_factory=list)
    """Where Alertmanager sends alerts (`full` only; at least one in prod)."""
    grafana_hostname: Hostname = ""
    """Grafana's HTTPS host behind the platform ingress; empty: reached by port-forward only."""
    central: CentralView = CentralView()
    """The sites' shared view (multi-site environments)."""
    runbook_base_url: HttpsUrl = DEFAULT_RUNBOOK_BASE_URL
    """The https address of the alert runbook (this repository's docs/runbooks/alerts.md as your Git
    server shows it); every alert's `runbook_url` is this address plus `#<alert name lower-cased>`,
    which pagers, chat messages and Grafana link to."""

    @model_validator(mode="after")
    def _receivers(self, info: ValidationInfo):
        problems = []
        names: dict[str, int] = {}
        for index, receiver in enumerate(self.receivers):
            if receiver.name in names:
                problems.append(
                    (f"receivers[{index}].name", f"receiver `{receiver.name}` is already declared at receivers[{names[receiver.name]}]")
                )
            names.setdefault(receiver.name, index)
        if self.mode == "reduced" and self.receivers:
            problems.append(
                (
                    "receivers",
                    "`reduced` monitoring runs no Alertmanager, so receivers would never be called; set `mode: full` or remove them",
                )
            )
        environment = (info.context or {}).get("environment")
        if self.enabled and self.mode == "full" and environment == "prod" and not self.receivers:
            problems.append(("receivers", "prod alerts must reach someone: declare at least one receiver (webhook, slack or pagerduty)"))
        if self.enabled and self.mode == "full" and environment == "prod" and self.replicas < 2:
            problems.append(("replicas", f"prod runs at least 2 Prometheus replicas (alerting survives a node loss), not {self.replicas}"))
        check(problems)
        return self


class Logging(Strict):
    """A log agent on every node (Fluent Bit) shipping container logs and the Kubernetes audit log
    to Loki for search (`retention_days`), and the same logs to the `logs` bucket as a compressed
    archive kept `archive_days` (compliance)."""

    enabled: bool = False
    """Run the log agent and Loki."""
    retention_days: int = Field(default=7, ge=1, le=365)
    """How long logs stay searchable in Loki."""
    archive_days: int = Field(default=30, ge=1, le=3650)
    """How long the archive in object storage keeps them."""
    compliance_min_days: int = Field(default=0, ge=0, le=3650)
    """The shortest archive the organisation's compliance rules allow (0: none); set by the profile."""
    audit_logs: bool = True
    """Ship the Kubernetes API audit log too."""
    volume_gi: int = Field(default=10, ge=1, le=1024)
    """Loki's volume per replica (its write-ahead log and index cache; the logs are in object storage)."""

    @model_validator(mode="after")
    def _retention(self):
        problems = []
        if self.archive_days < self.compliance_min_days:
            problems.append(("archive_days", f"the archive must keep logs at least {self.compliance_min_days} days "
                                             f"(compliance_min_days), not {self.archive_days}; raise archive_days"))
        if self.archive_days < self.retention_days:
            problems.append(
                (
                    "archive_days",
                    f"the archive ({self.archive_days} days) must keep logs at least as long as search ({self.retention_days} days)",
                )
            )
        check(problems)
        return self


class Tracing(Strict):
    """An OpenTelemetry Collector endpoint for applications (OTLP gRPC 4317 and HTTP 4318) and Tempo
    storing traces in the `traces` bucket for `retention_days`."""

    enabled: bool = False
    """Run the collector and Tempo."""
    retention_days: int = Field(default=3, ge=1, le=365)
    """How long Tempo keeps traces."""
    sampling_percent: float = Field(default=100, gt=0, le=100)
    """The share of traces the collector keeps (head sampling by trace ID)."""
