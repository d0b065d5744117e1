"""A scheduled job: a CronJob that runs to completion, one run at a time."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.workloads import ScheduledJob as ScheduledJobSettings

from .base import WorkloadArgs, WorkloadComponent
from .pod import pod_template


class ScheduledJob(WorkloadComponent):
    """Creates a ServiceAccount, a CronJob (restricted pod, no overlapping runs, a deadline and
    retries from config, finished jobs cleaned up after a day) and the egress policy for the
    services it uses."""

    cron_job: k8s.batch.v1.CronJob

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:workloads:ScheduledJob", name, args, opts)
        job = args.workload
        if not isinstance(job, ScheduledJobSettings):
            raise TypeError(f"{name}: a ScheduledJob component takes a `scheduled_job` workload, not `{job.kind}`")
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-cron-job",
            metadata=self.meta(args),
            spec={
                "schedule": job.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 300,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": self.labels},
                    "spec": {
                        "backoffLimit": job.retries,
                        "activeDeadlineSeconds": job.timeout_seconds,
                        "ttlSecondsAfterFinished": 86400,
                        "template": pod_template(
                            self.labels, args.workload.name, job.image, job.resources, job.env, self.connections, restart_policy="Never"
                        ),
                    },
                },
            },
            opts=self.with_account,
        )
        self.register_outputs({})
