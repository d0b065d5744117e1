"""An API: a Deployment behind the ingress controller with TLS, autoscaling and a disruption budget."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import catalogue
from ..labels import INGRESS_TARGET_LABEL
from stacks.model.workloads import Api as ApiSettings

from .base import WorkloadArgs, WorkloadComponent
from .pod import http_probe, pod_template


class Api(WorkloadComponent):
    """Creates a ServiceAccount, a Deployment (restricted pod, probes, spread over nodes), a
    ClusterIP Service, an Ingress with TLS from the platform issuer, a PodDisruptionBudget, a
    HorizontalPodAutoscaler, and the egress policy for the services it uses."""

    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:workloads:Api", name, args, opts)
        api = args.workload
        if not isinstance(api, ApiSettings):
            raise TypeError(f"{name}: an Api component takes an `api` workload, not `{api.kind}`")
        # The team's allow-ingress-controller policy admits traffic to pods with this label.
        pod_labels = {**self.labels, INGRESS_TARGET_LABEL: "true"}
        probes = {
            "readinessProbe": http_probe("http", api.health_path, period=5, failures=3),
            "livenessProbe": http_probe("http", api.health_path, period=10, failures=6),
        }
        spread = {
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": self.selector},
                }
            ]
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=self.meta(args),
            spec={
                "replicas": api.replicas,
                "selector": {"matchLabels": self.selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": pod_template(
                    pod_labels, args.workload.name, api.image, api.resources, api.env, self.connections,
                    ports=[{"name": "http", "containerPort": api.port, "protocol": "TCP"}], probes=probes, extra_spec=spread,
                ),
            },
            # The autoscaler owns the replica count once it runs.
            opts=pulumi.ResourceOptions.merge(self.with_account, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=self.meta(args),
            spec={
                "type": "ClusterIP",
                "selector": self.selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=self.child,
        )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={**self.meta(args), "annotations": {"cert-manager.io/cluster-issuer": catalogue.CLUSTER_ISSUER}},
            spec={
                "ingressClassName": catalogue.INGRESS_CLASS,
                "tls": [{"hosts": [api.host], "secretName": f"{api.name}-tls"}],
                "rules": [
                    {
                        "host": api.host,
                        "http": {
                            "paths": [
                                {
                                    "path": api.path,
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": api.name, "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=self.child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=self.meta(args),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": self.selector}},
            opts=self.child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=self.meta(args),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": api.name},
                "minReplicas": api.replicas,
                "maxReplicas": api.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
            },
            opts=self.child,
        )
        self.register_outputs({})
