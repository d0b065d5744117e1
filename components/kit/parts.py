"""What a shared service tells the rest of the platform about itself, beside its component: one
`ServicePart`, declared at the end of the service's own module (components/services/<service>.py)
and listed once in components/services/parts.py. From the parts:

- observability/monitors.py makes a monitor and a Prometheus network policy per `Target`;
- observability/rules.py a PrometheusRule group per monitored service: `<title>MetricsDown`, then
  the part's own `alerts`;
- observability/dashboards.py the overview's health panel (`health`) and each team dashboard's rows
  of the data-service instances the team declares (`instances`);
- workloads/connections.py the environment of a workload that `uses` the service (`client_env`);
- the cost estimate (stacks/tools/cost.py) reads the volumes of the custom resources in
  `volume_claims`, and the review's diagram draws `label`;
- the policy pack protects `stateful_types` in prod; the pack imports nothing of the platform, so a
  test (tests/architecture/test_service_parts.py) keeps its list in step with the parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from stacks.model.services import Services
from stacks.model.teams import Team
from stacks.shared_services import Endpoint

# Target labels every monitor adds and the alert rules and dashboards select by.
SERVICE_LABEL = "platform_service"
INSTANCE_LABEL = "platform_instance"
# The runbook every alert links to, in the repository; where it is read is the stack's
# `services.monitoring.runbook_base_url` (an https address), plus `#<alert name lower-cased>`.
RUNBOOK_FILE = "docs/runbooks/alerts.md"


@dataclass(frozen=True)
class Target:
    """One monitor: what it selects, where, and on which port."""

    service: str  # the config key under `services` (ingress, cert_manager, postgres, ...)
    name: str  # the monitor's name, unique in its namespace
    namespace: str
    kind: str  # PodMonitor or ServiceMonitor
    selector: dict[str, str]
    port: int
    instance: str | None = None  # `<team>/<instance>` for instances teams declare
    team: str | None = None
    endpoint: dict[str, Any] = field(default_factory=dict)  # scheme, TLS, port name


def runbook_url(base_url: str, alert: str) -> str:
    """The alert's section of the runbook published at `base_url` (its heading's anchor)."""
    return f"{base_url}#{alert.lower()}"


# The label every metric and log line carries: the site it comes from (the central view on a primary
# holds every site's). Alerts keep it through their aggregations, for the same reason.
SITE_LABEL = "site"

# Stands for this site's name in an alert's expression, filled in when the rule is written: an
# `absent()` names this site (`site="<THIS_SITE>"`), because a primary also holds its secondaries'
# series, which would hide that its own are missing, and absent()'s result carries only the labels
# its selector fixes (the alert must say which site it is about).
THIS_SITE = "<this site>"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str  # critical | warning
    service: str  # a shared service (the `services` config key) or `platform`
    summary: str
    description: str
    for_: str | None = None

    def rule(self, site: str, runbooks: str) -> dict[str, Any]:
        """The PrometheusRule entry, on the site `site` (filling in THIS_SITE), its `runbook_url` in the runbook published at `runbooks`."""
        rule: dict[str, Any] = {
            "alert": self.name,
            "expr": self.expr.replace(THIS_SITE, site),
            "labels": {"severity": self.severity, "service": self.service},
            "annotations": {"summary": self.summary, "description": self.description, "runbook_url": runbook_url(runbooks, self.name)},
        }
        if self.for_:
            rule["for"] = self.for_
        return rule


@dataclass(frozen=True)
class ConnectionSettings:
    """What the stack decides about its instances' credentials."""

    redis_password: bool
    """The Redis instances have an auth Secret (the program generates passwords only on clusters it
    deploys to, not into a render target's files)."""


def env_value(name: str, value: str | int) -> dict[str, Any]:
    """A container `env` entry with a plain value."""
    return {"name": name, "value": str(value)}


def env_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    """A container `env` entry read from a Secret's key (credentials are never values)."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def login_env(prefix: str, endpoint: Endpoint, values: dict[str, str | int] | None = None) -> list[dict[str, Any]]:
    """`<prefix>_HOST` and `_PORT`, then `values`, as plain values, and `_USERNAME` and `_PASSWORD`
    from the instance's Secret, whose keys are `username` and `password` (Zalando's role Secret and
    the RabbitMQ operator's default-user Secret both hold those)."""
    assert endpoint.secret is not None
    return [
        env_value(f"{prefix}_HOST", endpoint.host),
        env_value(f"{prefix}_PORT", endpoint.port),
        *(env_value(f"{prefix}_{name}", value) for name, value in (values or {}).items()),
        env_secret(f"{prefix}_USERNAME", endpoint.secret, "username"),
        env_secret(f"{prefix}_PASSWORD", endpoint.secret, "password"),
    ]


InstanceRow = tuple[str, str, str]
"""(label, namespace, StatefulSet) of one data-service instance on its team's dashboard."""
VolumePaths = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""Where in a custom resource are its volume size, its replica count and its storage class."""
ClientEnv = Callable[[ConnectionSettings, str, Endpoint], list[dict[str, Any]]]
"""(settings, variable prefix, the instance's endpoint) -> a client's `env` entries."""


@dataclass(frozen=True, kw_only=True)
class ServicePart:
    """One shared service, as the rest of the platform sees it (module docstring)."""

    service: str
    """Its `services` section."""
    component: type[pulumi.ComponentResource]
    """The component that runs it; monitors come after its chart and namespace."""
    title: str
    """Its name in alert names (`<title>MetricsDown`)."""
    label: str
    """Its name in the review's diagram."""
    holds_data: bool
    """The diagram draws it as a data store."""
    health: tuple[str, str]
    """(name, namespace) on the overview's "Targets up per shared service" panel."""
    targets: Callable[[Services, list[Team]], list[Target]]
    """Its monitors when the service is enabled."""
    alerts: tuple[Alert, ...] = ()
    """Its alerts beside `<title>MetricsDown`."""
    instances: Callable[[Team], list[InstanceRow]] | None = None
    """The instances a team declares, for the team's dashboard."""
    client_env: ClientEnv | None = None
    """How a workload that `uses` it connects (stacks/shared_services.py has the endpoints)."""
    volume_claims: dict[str, VolumePaths] = field(default_factory=dict)
    """Custom resource type -> where its volumes are, for the cost estimate."""
    stateful_types: tuple[str, ...] = ()
    """Resource types that hold its data, protected in prod."""
    object_storage: str | None = None
    """What it keeps in the stack's object storage, for the diagram."""
