"""The config's platform rules agree with the real API server: each value the model refuses or accepts is
sent to kube-apiserver as the object it becomes (a server-side dry run), and the API server's verdict must be
the model's. So the cron reading (robfig/cron as Kubernetes vendors it), the name limits and the Ingress
path rules are Kubernetes' own, not a guess at them (issue 18 items 4 and 6).
"""

from __future__ import annotations

import json

import pytest

from cluster_plane import ControlPlane
from stacks.model.workloads import _ingress_path, cron_problem
from stacks.naming import CRONJOB_MAX, dns1035_label_problem, dns1123_label_problem, dns1123_subdomain_problem

pytestmark = pytest.mark.cluster

SCHEDULES = [
    "30 2 * * *", "0 3 * * 0", "0 3 * * 6", "0 3 * * 7", "0 3 * * 1-", "0 3 * * -1", "*/ 2 * * *", "*/0 2 * * *", "5/15 * * * *",
    "1-2-3 * * * *", "*-5 * * * *", "0 0 * * MON", "0 0 * * mon-fri", "0 0 1 jan *", "mon 0 * * *", "0 24 * * *", "60 0 * * *",
    "0 0 0 * *", "0 0 32 * *", "0 0 * 13 *", "0 0 31 2 *", "? 0 * * *", "0 0 ? * ?", "1,,2 * * * *", "@daily", "@hourly",
    "@daily ", "@every 1h", "@reboot", "CRON_TZ=UTC 0 0 * * *", "0 0 * *", "0 0 * * * *", "+5 * * * *", "05 * * * *",
    "0 0 * * 1/2", "0-59/60 * * * *", "59-0 * * * *", "@every 1h30m", "@every 1.5h", "@every 0",
    "@every -1h", "@every 1", "@every h", "0 0 , * *",
]

NAMES = ["a", "a" * 52, "a" * 53, "a" * 63, "a" * 64, "2fa-api", "api-", "-api", "Api", "a.b", "a_b"]

PATHS = ["/", "/api", "api", "/api//v1", "/api/./v1", "/api/../v1", "/api/..", "/api/.", "/a%2fb", "/api/", "/a b"]


def dry_run(plane: ControlPlane, document: dict) -> tuple[bool, str]:
    """Whether the API server would create `document`, and what it said."""
    result = plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(document), check=False)
    return result.returncode == 0, result.stderr.strip()


def cron_job(name: str, schedule: str) -> dict:
    pod = {"restartPolicy": "Never", "containers": [{"name": "job", "image": "registry.example.com/team/job:1.0.0"}]}
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }


def test_the_model_reads_schedules_as_kubernetes_does(control_plane):
    disagreements = []
    for schedule in SCHEDULES:
        accepted, said = dry_run(control_plane, cron_job("schedule-check", schedule))
        if accepted != (cron_problem(schedule) is None):
            disagreements.append((schedule, accepted, cron_problem(schedule), said))
    assert not disagreements, "\n".join(map(str, disagreements))


def test_the_model_names_as_kubernetes_does(control_plane):
    disagreements = []
    for name in NAMES:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"ports": [{"port": 80}]}}
        for document, problem in [
            (namespace, dns1123_label_problem(name, "namespace")),
            # 1.37 names Services as DNS-1123 labels (RelaxedServiceNameValidation is GA); the model keeps
            # the DNS-1035 rule of the 1.33 clusters the stacks run, stricter only on a leading digit.
            (service, dns1123_label_problem(name, "Service name")),
            (cron_job(name, "0 0 * * *"), dns1123_subdomain_problem(name, "CronJob name", CRONJOB_MAX)),
        ]:
            accepted, said = dry_run(control_plane, document)
            if accepted != (problem is None):
                disagreements.append((document["kind"], name, accepted, problem, said))
    assert not disagreements, "\n".join(map(str, disagreements))
    stricter = [name for name in NAMES if dns1035_label_problem(name, "Service name") and not dns1123_label_problem(name, "Service name")]
    assert stricter == ["2fa-api"]


def _path_problem(path: str) -> str | None:
    try:
        _ingress_path(path)
    except ValueError as error:
        return str(error)
    return None


def test_the_model_reads_ingress_paths_as_kubernetes_does(control_plane):
    disagreements = []
    for path in PATHS:
        backend = {"service": {"name": "api", "port": {"number": 80}}}
        ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "path-check", "namespace": "default"},
                   "spec": {"rules": [{"host": "api.example.com",
                                       "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]}}]}}
        accepted, said = dry_run(control_plane, ingress)
        refused_by_model = _path_problem(path) is not None
        # The model also refuses whitespace, which Kubernetes leaves to the ingress controller.
        if accepted == refused_by_model and not (accepted and " " in path):
            disagreements.append((path, accepted, _path_problem(path), said))
    assert not disagreements, "\n".join(map(str, disagreements))
