"""The platform's alert rules: PrometheusRule objects in the `monitoring` namespace, one per concern.

Every alert carries `severity` (critical pages, warning posts), `service` (the shared service it
is about, or `platform`) and the annotations `summary`, `description` and `runbook_url`, a link to
its section of docs/runbooks/alerts.md where the stack says it is published
(`services.monitoring.runbook_base_url`; the anchor is the alert name lower-cased).

| group          | alerts                                                                        |
|----------------|-------------------------------------------------------------------------------|
| nodes          | NodeNotReady, NodeFilesystemAlmostFull (> 80%)                                |
| workloads      | PodCrashLooping, PersistentVolumeClaimAlmostFull (> 80%), TeamQuotaAlmostExhausted (> 90%, every team) |
| <service>      | <Title>MetricsDown for each monitored shared service, plus its part's own `alerts`: |
|                | ingress: IngressHighServerErrorRate; certificates: CertificateExpiringSoon (< 14 days), CertificateNotReady; |
|                | postgres: PostgresReplicationLag, PostgresDown; redis: RedisDown;             |
|                | rabbitmq: RabbitMQQueueGrowing; kafka: KafkaUnderReplicatedPartitions;        |
|                | registry: HarborComponentDown; backup: VeleroBackupMissing (> 26 h), VeleroBackupNeverSucceeded, VeleroBackupFailed |
| sites          | SiteDown per secondary, on a primary that has secondaries                      |

Metric names are the ones the exporters the stack runs publish: kube-state-metrics, node-exporter,
the kubelet's volume statistics, ingress-nginx, cert-manager, Patroni's REST API (`/metrics`),
redis_exporter, rabbitmq_prometheus, Strimzi's JMX exporter rules (components/services/kafka.py),
the Harbor exporter and Velero. Shared-service targets are selected by the `platform_service`
label the monitors add (monitors.py), so an alert cannot pick up another workload's series, and
`absent(...)` in each `<Service>MetricsDown` fires when a monitor stops finding its pods at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.services import Services
from stacks.model.site import Site
from stacks.model.teams import Team

from ..kit.parts import SERVICE_LABEL, THIS_SITE, Alert, ServicePart
from ..labels import StackIdentity, kubernetes_labels
from ..services.parts import PARTS
from .common import MONITORING_NAMESPACE, SITE_LABEL
from .monitors import MONITORING_API

# Thresholds of the platform's own alerts (issue 6); each service's are in its module.
FILESYSTEM_FULL_RATIO = 0.80
VOLUME_FULL_RATIO = 0.80
QUOTA_USED_RATIO = 0.90
TEAM_QUOTA_NAME = "team-quota"  # the ResourceQuota every team namespace has (components/access/team.py)
# File systems that are not the node's disks.
PSEUDO_FILESYSTEMS = "tmpfs|overlay|squashfs|ramfs|nsfs|fuse.lxcfs"


def _selector(service: str) -> str:
    return f'{SERVICE_LABEL}="{service}"'


def _metrics_down(part: ServicePart) -> Alert:
    service, title = part.service, part.title
    return Alert(
        f"{title}MetricsDown",
        f'(up{{{_selector(service)}}} == 0) or absent(up{{{_selector(service)}, {SITE_LABEL}="{THIS_SITE}"}})',
        "warning", service,
        f"Prometheus cannot scrape {title}",
        f"A {service} metrics target ({{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}}) is down, or the monitor finds no target at all; "
        f"the {service} alerts are blind until it is back.",
        "10m",
    )


def node_alerts() -> list[Alert]:
    return [
        Alert(
            "NodeNotReady",
            'kube_node_status_condition{condition="Ready",status="true"} == 0',
            "critical",
            "platform",
            "Node {{ $labels.node }} is not Ready",
            "The node has not reported Ready for 10 minutes; its pods are being evicted or are unreachable.",
            "10m",
        ),
        Alert(
            "NodeFilesystemAlmostFull",
            f'(1 - node_filesystem_avail_bytes{{fstype!~"{PSEUDO_FILESYSTEMS}"}} / '
            f'node_filesystem_size_bytes{{fstype!~"{PSEUDO_FILESYSTEMS}"}}) '
            f"> {FILESYSTEM_FULL_RATIO}",
            "warning",
            "platform",
            "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is over 80% full",
            "{{ $value | humanizePercentage }} of the file system is used; the kubelet starts evicting pods when it runs out.",
            "15m",
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class AlertRulesArgs:
    services: Services
    """Which services the stack runs: each monitored one gets its alerts."""
    teams: list[Team]
    site: Site
    secondary_sites: dict[str, str] = field(default_factory=dict)
    """Stack name -> site name of each secondary, resolved by the loader (stacks.sites.OtherSites)."""
    identity: StackIdentity
    runbooks: str
    """The https address of the published runbook (`services.monitoring.runbook_base_url`)."""
    after: list[pulumi.Resource | None] = field(default_factory=list)
    """What the rules need first: the metrics chart (the PrometheusRule CRD) and the monitoring namespace."""


def workload_alerts(teams: list[Team]) -> list[Alert]:
    names = "|".join(team.name for team in teams)
    quota = f'kube_resourcequota{{namespace=~"{names}",resourcequota="{TEAM_QUOTA_NAME}"'
    alerts = [
        Alert(
            "PodCrashLooping",
            'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
            "warning", "platform",
            "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is crash-looping",
            "The container keeps restarting and has been in CrashLoopBackOff for 15 minutes.",
            "15m",
        ),
        Alert(
            "PersistentVolumeClaimAlmostFull",
            f"kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes > {VOLUME_FULL_RATIO}",
            "warning", "platform",
            "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is over 80% full",
            "{{ $value | humanizePercentage }} of the claim is used; the workload fails to write when it fills.",
            "15m",
        ),
    ]
    if teams:
        alerts.append(Alert(
            "TeamQuotaAlmostExhausted",
            f'{quota},type="used"}} / ignoring(type) ({quota},type="hard"}} > 0) > {QUOTA_USED_RATIO}',
            "warning", "platform",
            "Team {{ $labels.namespace }} uses over 90% of its {{ $labels.resource }} quota",
            "{{ $value | humanizePercentage }} of the team's quota is used; new pods or volumes will be refused when it is reached.",
            "15m",
        ))
    return alerts


def service_alerts(services: Services, teams: list[Team]) -> dict[str, list[Alert]]:
    """The alerts of every shared service that has monitors on this stack: `<title>MetricsDown`,
    then the service's own (its part's `alerts`, in components/services/<service>.py)."""
    return {
        part.service: [_metrics_down(part), *part.alerts]
        for part in PARTS
        if getattr(services, part.service).enabled and part.targets(services, teams)
    }


def site_alerts(args: AlertRulesArgs) -> list[Alert]:
    """SiteDown per secondary (`secondary_sites`: stack name -> site name, resolved by the loader from
    their stack files), on a primary that receives its secondaries' telemetry."""
    central = args.services.monitoring.central
    if args.site.role != "primary" or not central.hostname:
        return []
    minutes = central.site_down_after_minutes
    return [
        Alert(
            "SiteDown",
            f'absent_over_time(up{{{SITE_LABEL}="{site}"}}[{minutes}m])',
            "critical", "platform",
            f"Site {site} has sent no metrics for {minutes} minutes",
            f"No series labelled {SITE_LABEL}={site} has arrived from {stack} for {minutes} minutes: the site, its Prometheus or the "
            "link to this site is down.",
        )
        for stack, site in args.secondary_sites.items()
    ]


def rule_groups(args: AlertRulesArgs) -> dict[str, list[Alert]]:
    """Group name -> alerts, for every group this stack has."""
    groups: dict[str, list[Alert]] = {"nodes": node_alerts(), "workloads": workload_alerts(args.teams)}
    for service, alerts in service_alerts(args.services, args.teams).items():
        groups[service.replace("_", "-")] = alerts
    sites = site_alerts(args)
    if sites:
        groups["sites"] = sites
    return groups


class AlertRules(pulumi.ComponentResource):
    """A PrometheusRule `platform-<group>` per group of `rule_groups` (module docstring)."""

    rules: dict[str, k8s.apiextensions.CustomResource]
    summary: dict[str, list[str]]
    """Alert names per group."""

    def __init__(self, name: str, args: AlertRulesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:observability:AlertRules", name, None, opts)
        labels = kubernetes_labels(args.identity, "monitoring")
        after = pulumi.ResourceOptions(parent=self, depends_on=[resource for resource in args.after if resource is not None])
        self.rules, self.summary = {}, {}
        for group, alerts in rule_groups(args).items():
            self.rules[group] = k8s.apiextensions.CustomResource(
                f"{name}-{group}",
                api_version=MONITORING_API,
                kind="PrometheusRule",
                metadata={"name": f"platform-{group}", "namespace": MONITORING_NAMESPACE, "labels": labels},
                spec={"groups": [{"name": f"platform.{group}", "rules": [alert.rule(args.site.name, args.runbooks) for alert in alerts]}]},
                opts=after,
            )
            self.summary[group] = [alert.name for alert in alerts]
        self.register_outputs({"summary": self.summary})
