"""The platform's alert rules: PrometheusRule objects in the `monitoring` namespace, one per concern.

Every alert carries `severity` (critical pages, warning posts), `service` (the shared service it
is about, or `platform`) and the annotations `summary`, `description` and `runbook_url`, a link to
its section of docs/runbooks/alerts.md (the anchor is the alert name lower-cased).

| group          | alerts                                                                        |
|----------------|-------------------------------------------------------------------------------|
| nodes          | NodeNotReady, NodeFilesystemAlmostFull (> 80%)                                |
| workloads      | PodCrashLooping, PersistentVolumeClaimAlmostFull (> 80%), TeamQuotaAlmostExhausted (> 90%, every team) |
| <service>      | <Service>MetricsDown for each enabled shared service, plus its own:           |
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
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.services import Services
from stacks.model.site import Site
from stacks.model.teams import Team

from ..labels import StackIdentity, kubernetes_labels
from .common import MONITORING_NAMESPACE, SITE_LABEL
from .monitors import INSTANCE_LABEL, MONITORING_API, SERVICE_LABEL, targets

# Where each alert's runbook is: the repository's docs, relative to its root (the repository's
# web address differs per installation); `<RUNBOOK_BASE>#<alert name lower-cased>`.
RUNBOOK_BASE = "docs/runbooks/alerts.md"

# Thresholds (issue 6).
FILESYSTEM_FULL_RATIO = 0.80
VOLUME_FULL_RATIO = 0.80
QUOTA_USED_RATIO = 0.90
CERTIFICATE_MIN_DAYS = 14
BACKUP_MAX_AGE_HOURS = 26
# A replica this far behind its primary's WAL (bytes: four 16 MiB segments) is lagging.
REPLICATION_LAG_BYTES = 64 * 1024 * 1024
# Ready messages a RabbitMQ cluster holds before a steady rise is worth a look.
QUEUE_READY_MESSAGES = 1000
INGRESS_ERROR_RATIO = 0.05
TEAM_QUOTA_NAME = "team-quota"  # the ResourceQuota every team namespace has (components/access/team.py)
BACKUP_SCHEDULE = "daily"  # the Velero Schedule (components/services/backup.py)
# File systems that are not the node's disks.
PSEUDO_FILESYSTEMS = "tmpfs|overlay|squashfs|ramfs|nsfs|fuse.lxcfs"

SERVICE_TITLES = {
    "ingress": "Ingress",
    "cert_manager": "CertManager",
    "postgres": "Postgres",
    "redis": "Redis",
    "rabbitmq": "RabbitMQ",
    "kafka": "Kafka",
    "registry": "Harbor",
    "backup": "Velero",
}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str  # critical | warning
    service: str  # a shared service (the `services` config key) or `platform`
    summary: str
    description: str
    for_: str | None = None

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "alert": self.name,
            "expr": self.expr,
            "labels": {"severity": self.severity, "service": self.service},
            "annotations": {"summary": self.summary, "description": self.description, "runbook_url": runbook_url(self.name)},
        }
        if self.for_:
            rule["for"] = self.for_
        return rule


def runbook_url(alert: str) -> str:
    return f"{RUNBOOK_BASE}#{alert.lower()}"


def _selector(service: str) -> str:
    return f'{SERVICE_LABEL}="{service}"'


def _metrics_down(service: str) -> Alert:
    title = SERVICE_TITLES[service]
    return Alert(
        f"{title}MetricsDown",
        f"(up{{{_selector(service)}}} == 0) or absent(up{{{_selector(service)}}})",
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
    """The alerts of every shared service that has monitors on this stack."""
    monitored = {target.service for target in targets(services, teams)}
    by_service: dict[str, list[Alert]] = {}
    specific: dict[str, list[Alert]] = {
        "ingress": [
            Alert(
                "IngressHighServerErrorRate",
                f'sum by (ingress, exported_namespace) (rate(nginx_ingress_controller_requests{{status=~"5.."}}[5m])) '
                f"/ sum by (ingress, exported_namespace) (rate(nginx_ingress_controller_requests[5m])) > {INGRESS_ERROR_RATIO}",
                "warning",
                "ingress",
                "Ingress {{ $labels.exported_namespace }}/{{ $labels.ingress }} answers over 5% of requests with 5xx",
                "{{ $value | humanizePercentage }} of the requests through the ingress controller fail with a server error.",
                "10m",
            )
        ],
        "cert_manager": [
            Alert(
                "CertificateExpiringSoon",
                f"certmanager_certificate_expiration_timestamp_seconds - time() < {CERTIFICATE_MIN_DAYS} * 86400",
                "warning",
                "cert_manager",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in under 14 days",
                "cert-manager renews well before this; a certificate this close to expiry means renewal is failing.",
                "1h",
            ),
            Alert(
                "CertificateNotReady",
                'certmanager_certificate_ready_status{condition="False"} == 1',
                "warning",
                "cert_manager",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
                "cert-manager cannot issue or renew the certificate.",
                "30m",
            ),
        ],
        "postgres": [
            Alert(
                "PostgresReplicationLag",
                f"max by (namespace, {INSTANCE_LABEL}) (patroni_xlog_location) - on (namespace, {INSTANCE_LABEL}) group_right () "
                f"(patroni_xlog_replayed_location and on (namespace, pod) (patroni_replica == 1)) > {REPLICATION_LAG_BYTES}",
                "warning",
                "postgres",
                "Replica {{ $labels.pod }} of {{ $labels." + INSTANCE_LABEL + " }} lags its leader",
                "The replica has replayed {{ $value | humanize1024 }}B less WAL than the leader has written; a failover now loses or "
                "delays that much.",
                "10m",
            ),
            Alert(
                "PostgresDown",
                "patroni_postgres_running == 0",
                "critical",
                "postgres",
                "PostgreSQL is not running in {{ $labels.pod }} ({{ $labels." + INSTANCE_LABEL + " }})",
                "Patroni reports its PostgreSQL stopped for 5 minutes.",
                "5m",
            ),
        ],
        "redis": [
            Alert(
                "RedisDown",
                "redis_up == 0",
                "critical",
                "redis",
                "Redis in {{ $labels.pod }} ({{ $labels." + INSTANCE_LABEL + " }}) is down",
                "The exporter beside Redis cannot reach it.",
                "5m",
            )
        ],
        "rabbitmq": [
            Alert(
                "RabbitMQQueueGrowing",
                f"sum by (namespace, {INSTANCE_LABEL}) (rabbitmq_queue_messages_ready) > {QUEUE_READY_MESSAGES} "
                f"and sum by (namespace, {INSTANCE_LABEL}) (delta(rabbitmq_queue_messages_ready[30m])) > 0",
                "warning",
                "rabbitmq",
                "Messages pile up in {{ $labels." + INSTANCE_LABEL + " }}",
                "{{ $value }} messages are ready and the backlog has grown for 30 minutes: consumers are slower than producers, or "
                "stopped.",
                "30m",
            )
        ],
        "kafka": [
            Alert(
                "KafkaUnderReplicatedPartitions",
                "sum by (namespace, pod) (kafka_server_replicamanager_underreplicatedpartitions) > 0",
                "warning",
                "kafka",
                "Broker {{ $labels.pod }} has under-replicated partitions",
                "{{ $value }} partitions led by this broker have fewer in-sync replicas than configured; another broker loss can lose "
                "data or availability.",
                "10m",
            )
        ],
        "registry": [
            Alert(
                "HarborComponentDown",
                "harbor_up == 0",
                "critical",
                "registry",
                "Harbor {{ $labels.component }} is down",
                "The Harbor exporter reports the component unhealthy; pulls through the registry or its proxy cache may fail.",
                "10m",
            )
        ],
        "backup": [
            Alert(
                "VeleroBackupMissing",
                f'time() - velero_backup_last_successful_timestamp{{schedule="{BACKUP_SCHEDULE}"}} > {BACKUP_MAX_AGE_HOURS} * 3600',
                "critical",
                "backup",
                "No successful backup for over 26 hours",
                "The last successful `daily` backup is older than 26 hours: the cluster cannot be restored to yesterday.",
                "5m",
            ),
            Alert(
                "VeleroBackupNeverSucceeded",
                f'absent(velero_backup_last_successful_timestamp{{schedule="{BACKUP_SCHEDULE}"}})',
                "critical",
                "backup",
                "The daily backup has never succeeded",
                "Velero has recorded no successful `daily` backup for 26 hours.",
                f"{BACKUP_MAX_AGE_HOURS}h",
            ),
            Alert(
                "VeleroBackupFailed",
                f'increase(velero_backup_failure_total{{schedule="{BACKUP_SCHEDULE}"}}[1h]) > 0',
                "warning",
                "backup",
                "A daily backup failed",
                "Velero marked a `daily` backup Failed in the last hour.",
            ),
        ],
    }
    for service in SERVICE_TITLES:
        if service in monitored:
            by_service[service] = [_metrics_down(service), *specific[service]]
    return by_service


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
                spec={"groups": [{"name": f"platform.{group}", "rules": [alert.rule() for alert in alerts]}]},
                opts=after,
            )
            self.summary[group] = [alert.name for alert in alerts]
        self.register_outputs({"summary": self.summary})
