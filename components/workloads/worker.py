"""A worker: a Deployment with no inbound traffic, health-checked on its own port."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.model.workloads import Worker as WorkerSettings

from .base import WorkloadArgs, WorkloadComponent
from .pod import http_probe, pod_template


class Worker(WorkloadComponent):
    """Creates a ServiceAccount, a Deployment (restricted pod, liveness and readiness on the health
    port) and the egress policy for the services it uses. Nothing may connect to it."""

    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:workloads:Worker", name, args, opts)
        worker = args.workload
        if not isinstance(worker, WorkerSettings):
            raise TypeError(f"{name}: a Worker component takes a `worker` workload, not `{worker.kind}`")
        probes = {
            "readinessProbe": http_probe("health", worker.health_path, period=10, failures=3),
            "livenessProbe": http_probe("health", worker.health_path, period=20, failures=6),
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=self.meta(args),
            spec={
                "replicas": worker.replicas,
                "selector": {"matchLabels": self.selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
                "template": pod_template(
                    self.labels, args.workload.name, worker.image, worker.resources, worker.env, self.connections,
                    ports=[{"name": "health", "containerPort": worker.health_port, "protocol": "TCP"}], probes=probes,
                ),
            },
            opts=self.with_account,
        )
        self.register_outputs({})
