"""The typed model of one stack's configuration.

A stack file holds one key per section (`complete-cluster:infrastructure`, ...); the loader merges
built-in defaults, the environment profile and the stack file, then validates the result here.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import PROJECT, Problems, Secret, SecretValue, Strict, check
from .charts import Charts
from .infrastructure import Aks, Existing, Infrastructure, Rancher, Render, entra_group_problems
from .policy import Policy
from .services import InternalCaIssuer, Services
from .site import Environment, Ownership, Site
from .storage import S3, AzureBlob, ObjectStorage, placement_problems
from .teams import Team, service_instance_problems
from .workloads import Api, ScheduledJob, Worker, image_registry

__all__ = [
    "PROJECT", "Problems", "Secret", "SecretValue", "StackConfig", "Aks", "Rancher", "Render",
    "Existing", "AzureBlob", "S3", "Team", "Services", "Policy", "Site", "Ownership",
    "Api", "Worker", "ScheduledJob",
]

# Services whose data lives in object storage; enabling one without `storage` is a config error.
_NEEDS_STORAGE = ("registry", "backup", "logging", "tracing")


class StackConfig(Strict):
    """Everything one stack (one environment at one site) gets."""

    environment: Environment
    """dev, test or prod: the profile the stack starts from and the rules it must meet. Forces
    replacement: on AKS of the cluster (its DNS prefix) and the storage account (its name), on Rancher
    of the RKE2 cluster (its name), and of the team RoleBindings whose role it changes."""
    site: Site
    """Which site of the environment this stack is, and its role."""
    ownership: Ownership = Ownership()
    """Who owns and pays for the stack."""
    infrastructure: Infrastructure
    """Where the cluster comes from: `aks`, `rancher`, `existing` or `render`."""
    storage: ObjectStorage | None = None
    """Object storage for the registry, backups, WAL, logs and traces: `azure_blob` or `s3`."""
    services: Services = Services()
    """The shared services the stack runs."""
    teams: list[Team] = Field(default_factory=list)
    """The application teams."""
    policy: Policy = Policy()
    """How the policy pack treats the stack, and its budget."""
    charts: Charts = Charts()
    """Where the Helm charts come from."""

    @model_validator(mode="after")
    def _cross_section_rules(self):
        check(self.cross_section_problems(set(type(self).model_fields)))
        return self

    def cross_section_problems(self, valid: set[str]) -> list[tuple[str, str]]:
        """The rules between sections, each run only when every section it reads is in `valid`: all
        of them on a valid stack, and on an invalid one (the loader builds it from the sections that
        are valid on their own) those that do not read a broken section, so a team's bad `uses` is
        reported beside another section's error (issue 17 item 9)."""

        def reads(*sections: str) -> bool:
            return {"environment", *sections} <= valid

        problems = []
        if reads("teams"):
            seen: dict[str, int] = {}
            for index, team in enumerate(self.teams):
                if team.name in seen:
                    problems.append((f"teams[{index}].name", f"team `{team.name}` is already declared at teams[{seen[team.name]}]"))
                seen.setdefault(team.name, index)
        if reads("storage", "services") and self.storage is None:
            for service in _NEEDS_STORAGE:
                if getattr(self.services, service).enabled:
                    problems.append((f"services.{service}.enabled", "needs object storage; configure `storage` or disable the service"))
        if reads("storage", "infrastructure"):
            problems += placement_problems(self.storage, self.infrastructure.kind)
            if isinstance(self.infrastructure, Rancher) and not isinstance(self.storage, S3):
                problems.append(("storage", "a Rancher cluster ships etcd snapshots to S3-compatible storage; set `storage.kind: s3`"))
        if reads("teams", "policy", "infrastructure"):
            problems += self._group_problems()
        if reads("teams", "services", "policy"):
            # The allowed registries include an AKS cluster's own, so images are checked only with a valid infrastructure.
            problems += self._workload_problems(check_images=reads("infrastructure"))
        if reads("teams", "services", "storage", "infrastructure"):
            problems += self._service_problems()
        elif reads("teams", "services"):
            problems += service_instance_problems(self)
        if reads("services", "site"):
            problems += self._observability_problems()
        if reads("services") and self.services.registry.enabled and not self.services.registry.hostname:
            problems.append(("services.registry.hostname", "the registry needs a hostname (e.g. `harbor.dc1.example.com`)"))
        several_sites = reads("site") and (self.site.role == "secondary" or bool(self.site.secondaries))
        issuer = self.services.cert_manager.issuer if reads("services") else None
        if several_sites and isinstance(issuer, InternalCaIssuer) and self.services.cert_manager.enabled and issuer.ca is None:
            problems.append(
                (
                    "services.cert_manager.issuer.ca",
                    "this site is one of several, whose clients (log and metric shipping, Harbor replication, containerd) reach the "
                    "other sites' hosts, so all sites issue from one environment CA: set `ca.certificate` (PEM) and `ca.private_key` "
                    "(`pulumi config set --secret --path 'complete-cluster:services.cert_manager.issuer.ca.private_key' < ca.key`)",
                )
            )
        if reads("services", "site"):
            problems += self._mirroring_problems(several_sites)
        registry = self.services.registry if reads("services") else None
        if registry is not None and registry.enabled and several_sites and registry.replication_secret is None:
            problems.append(
                (
                    "services.registry.replication_secret",
                    "the sites' Harbors replicate images from the primary with a shared robot account "
                    "secret; set the same on each site with `pulumi config set --secret --path "
                    f"'{PROJECT}:services.registry.replication_secret' <value>`",
                )
            )
        if reads("teams", "infrastructure", "site", "ownership"):
            from ..naming import derived_name_problems  # names for the target systems, derived in one place

            problems += derived_name_problems(self)
        return problems

    def _mirroring_problems(self, several_sites: bool) -> list[tuple[str, str]]:
        """Kafka `mirrored` needs another site to mirror from or for, and the listener the other site reaches."""
        kafka = self.services.kafka
        if not kafka.enabled or kafka.at_failover != "mirrored":
            return []
        problems = []
        if not several_sites:
            problems.append((
                "services.kafka.at_failover",
                "`mirrored` copies the primary's topics to its secondaries, and this site has no peer: list the secondaries in "
                "`site.secondaries` (or make this site a secondary naming its `site.primary`), or use `rebuilt_empty`",
            ))
        if kafka.site_listener is None:
            problems.append((
                "services.kafka.site_listener",
                "`at_failover: mirrored` needs the cross-site listener the other sites' MirrorMaker 2 reaches: set `hostname` "
                "(e.g. `kafka.dc1.example.com`) and `peer_ranges` (the other sites' node ranges)",
            ))
        return problems

    def environment_ca(self) -> str | None:
        """The environment CA's certificate (PEM) the sites issue from, which every client reaching
        another site's hosts trusts; None where the stack has none (a single site, or ACME)."""
        issuer = self.services.cert_manager.issuer
        if self.services.cert_manager.enabled and isinstance(issuer, InternalCaIssuer) and issuer.ca is not None:
            return issuer.ca.certificate
        return None

    def allowed_registries(self) -> list[str]:
        """Registries workload images may come from: an AKS cluster's container registry first (the one
        place its name is configured), the configured ones, and the site's own Harbor."""
        acr = [self.infrastructure.registry.login_server] if isinstance(self.infrastructure, Aks) else []
        own = [self.services.registry.hostname] if self.services.registry.enabled else []
        return [*acr, *(r for r in self.policy.allowed_registries if r not in acr), *own]

    def _group_problems(self) -> list[tuple[str, str]]:
        """On AKS the team and platform groups Kubernetes RBAC binds are Entra ID object IDs. Rancher
        resolves names through `group_principal`, and an existing cluster's authenticator is its own."""
        if not isinstance(self.infrastructure, Aks):
            return []
        problems = entra_group_problems("policy.platform_groups", list(self.policy.platform_groups))
        for index, team in enumerate(self.teams):
            problems += entra_group_problems(f"teams[{index}].groups", list(team.groups))
        return problems

    def _service_problems(self) -> list[tuple[str, str]]:
        """Shared services against each other and against the teams that use them."""
        services = self.services
        problems = []
        issuer = services.cert_manager.issuer
        if services.cert_manager.enabled and issuer.kind == "acme" and services.ingress.enabled and services.ingress.internal_load_balancer:
            problems.append(
                (
                    "services.cert_manager.issuer.kind",
                    "ACME HTTP-01 challenges must reach the ingress controller from the internet, but "
                    "services.ingress.internal_load_balancer is true; use `internal_ca`, or a public ingress where the policy allows it",
                )
            )
        if services.ingress.enabled and services.ingress.admission_webhook and not services.cert_manager.enabled:
            problems.append(("services.ingress.admission_webhook", "the admission webhook's serving certificate is issued by "
                             "cert-manager (the chart's own certificate Jobs are Helm hooks, which the program does not run); "
                             "enable services.cert_manager, or set admission_webhook: false"))
        if services.registry.enabled and not services.cert_manager.enabled:
            problems.append(("services.registry.enabled", "Harbor's token-signing certificate is issued by cert-manager's internal CA; "
                             "enable services.cert_manager"))
        if any(workload.kind == "api" for team in self.teams for workload in team.workloads):
            for service in ("ingress", "cert_manager"):
                if not getattr(services, service).enabled:
                    problems.append(
                        (
                            f"services.{service}.enabled",
                            "teams declare APIs, which are served by the ingress controller with certificates from the platform issuer; "
                            "enable it",
                        )
                    )
        if not isinstance(self.infrastructure, Rancher):
            problems += [
                (f"teams[{index}].releases", "Fleet deploys teams' releases at Rancher sites only; remove `releases` "
                                             "(elsewhere teams deploy their releases themselves)")
                for index, team in enumerate(self.teams) if team.releases is not None
            ]
        if services.kafka.enabled and not services.cert_manager.enabled:
            problems.append(
                (
                    "services.kafka.enabled",
                    "Kafka clients authenticate with certificates of the internal CA that cert-manager runs "
                    "(docs/services.md); enable services.cert_manager or disable Kafka",
                )
            )
        # (a render target renders what it is given: its storage, when it names one, has no credentials)
        if (
            self.environment == "prod"
            and services.postgres.enabled
            and self.storage is None
            and not isinstance(self.infrastructure, Render)
        ):
            problems.append(
                (
                    "services.postgres.enabled",
                    "prod databases archive WAL and logical backups to object storage for point-in-time recovery; configure `storage`",
                )
            )
        return problems + service_instance_problems(self)

    def _observability_problems(self) -> list[tuple[str, str]]:
        """Logs and traces are viewed in the monitoring stack's Grafana; a secondary site's metrics
        and logs go to its primary, which receives them."""
        services = self.services
        monitoring, central = services.monitoring, services.monitoring.central
        problems = []
        for service in ("logging", "tracing"):
            if getattr(services, service).enabled and not monitoring.enabled:
                problems.append(
                    (f"services.{service}.enabled", "is viewed in Grafana, which the monitoring stack runs; enable services.monitoring")
                )
        if not monitoring.enabled:
            return problems
        key = "services.monitoring.central"
        if central.send_to is not None and self.site.role == "primary":
            problems.append((f"{key}.send_to", f"`{central.send_to}` is not a primary of this site: a primary site is the central view and "
                                               "sends nowhere; remove send_to"))
        elif central.send_to is not None and central.send_to != self.site.primary:
            problems.append((f"{key}.send_to", f"`{central.send_to}` is not this site's primary; remote-write goes to the primary site "
                                               f"`{self.site.primary}` (or leave send_to out)"))
        several_sites = self.site.role == "secondary" or bool(self.site.secondaries)
        if several_sites and not central.hostname:
            problems.append(
                (
                    f"{key}.hostname",
                    "this environment has several sites: the primary receives the others' metrics and logs at its "
                    "telemetry host, and any site may become the primary; set this site's (e.g. `telemetry.dc1.example.com`)",
                )
            )
        if several_sites and central.password is None:
            problems.append(
                (
                    f"{key}.password",
                    "the sites authenticate to each other with a shared password; set the same on each with "
                    f"`pulumi config set --secret --path '{PROJECT}:services.monitoring.central.password' <value>`",
                )
            )
        if central.hostname and not services.ingress.enabled:
            problems.append((f"{key}.hostname", "is served by the platform ingress; enable services.ingress"))
        if monitoring.grafana_hostname and not services.ingress.enabled:
            problems.append(("services.monitoring.grafana_hostname", "is served by the platform ingress; enable services.ingress"))
        return problems

    def _workload_problems(self, check_images: bool = True) -> list[tuple[str, str]]:
        problems = []
        allowed = self.allowed_registries() if check_images else []
        for t, team in enumerate(self.teams):
            for w, workload in enumerate(team.workloads):
                key = f"teams[{t}].workloads[{w}]"
                registry = image_registry(workload.image)
                if check_images and registry not in allowed:
                    where = ", ".join(allowed) if allowed else "none configured; set policy.allowed_registries"
                    problems.append((f"{key}.image", f"`{registry}` is not an allowed registry ({where})"))
                for u, uses in enumerate(workload.uses):
                    if not getattr(self.services, uses.service).enabled:
                        problems.append(
                            (
                                f"{key}.uses[{u}].service",
                                f"this stack does not run {uses.service}; enable services.{uses.service} or remove it",
                            )
                        )
        return problems
