"""The real engine: `pulumi preview` / `pulumi up` on the local stack, rendered manifests checked
against the Kubernetes OpenAPI schemas, and the policy pack stopping a violating preview.

Each test works on a copy of the project in a temporary directory (with the repository's .venv
linked in), so a developer's own .state/ and rendered/ are never touched. With CI=true these
tests never skip: a missing engine is a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks import catalogue
from stacks.tools.inventory import evaluate
from tests.engine.object_store import CREDENTIALS
from tests.engine.stack_renders import copy_project

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE_BUCKET = "local-stack-state"
KUBERNETES_VERSION = "1.33.0"  # the minor the catalogue pins for Pod Security
# Custom resources have no schema in kubernetes-validate; these are the APIs the catalogue pins.
CUSTOM_RESOURCE_APIS = (
    catalogue.CERT_MANAGER_API, catalogue.POSTGRES_API, catalogue.REDIS_API, catalogue.RABBITMQ_API, catalogue.KAFKA_API,
    catalogue.PROMETHEUS_OPERATOR_API,
)


class Pulumi:
    """The CLI in a project copy; state in the copy's own file backend, or at `backend` (an object store's URL)."""

    def __init__(self, project: Path, engine_env: dict[str, str], backend: str | None = None):
        self.project = project
        self.env = {**os.environ, **engine_env, "PULUMI_BACKEND_URL": backend or f"file://{project / '.state'}",
                    **(CREDENTIALS if backend else {})}
        (project / ".state").mkdir(exist_ok=True)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"], cwd=self.project, env=self.env, capture_output=True, text=True, timeout=1200
        )
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def without_charts(project: Path) -> Path:
    """The copy's local stack with `charts.source: off`: these tests compare the rendered files with the objects the
    program registers itself (the inventory, where a chart is one resource); the shipped stack's charts come from the
    chart mirror beside the project (`charts.directory: ../shared/charts`), which a copy in a temporary directory
    does not have beside it."""
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["complete-cluster:charts"] = {"source": "off"}
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return project


@pytest.fixture(scope="module")
def local_up(engine_env, object_store, tmp_path_factory):
    """The local stack after one `pulumi up`, shared by the tests that read its results; its state in an object store
    as the sites keep theirs (tests/engine/object_store.py)."""
    project = without_charts(copy_project(tmp_path_factory.mktemp("local") / "project"))
    pulumi = Pulumi(project, engine_env, object_store.bucket(LOCAL_STATE_BUCKET))
    pulumi("stack", "init", "local")
    first = pulumi("up", "--stack", "local", "--yes")
    return project, pulumi, first


def rendered_documents(project: Path) -> list[tuple[Path, dict]]:
    documents = []
    for path in sorted((project / "rendered" / "local").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path, document))
    return documents


def test_up_renders_every_kubernetes_resource_and_a_second_run_changes_nothing(local_up, object_store):
    project, pulumi, _ = local_up
    kubernetes_resources = [r for r in evaluate("local", project / "stacks" / "Pulumi.local.yaml") if r.type.startswith("kubernetes:")]
    rendered = rendered_documents(project)
    assert len(rendered) == len(kubernetes_resources)
    assert {(d["kind"], d["metadata"]["name"]) for _, d in rendered} == {
        (r.inputs["kind"], r.inputs["metadata"]["name"]) for r in kubernetes_resources
    }
    again = pulumi("preview", "--stack", "local", "--expect-no-changes")
    assert again.returncode == 0
    assert ".pulumi/stacks/complete-cluster/local.json" in object_store.keys(LOCAL_STATE_BUCKET, ".pulumi/stacks/")
    assert not any((project / ".state").iterdir())  # nothing kept beside the project


def test_rendered_manifests_validate_against_the_kubernetes_schemas(local_up):
    import kubernetes_validate

    project, _, _ = local_up
    documents = rendered_documents(project)
    assert documents
    for path, document in documents:
        if document["apiVersion"] in CUSTOM_RESOURCE_APIS:
            continue  # the operators' CRDs come with their charts, which the local stack leaves out
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.relative_to(project)}: {error.message}")


def test_rendered_custom_resources_use_the_api_versions_the_pinned_operators_serve(local_up):
    project, _, _ = local_up
    custom = {(d["apiVersion"], d["kind"]) for _, d in rendered_documents(project) if "." in d["apiVersion"].split("/")[0]
              and not d["apiVersion"].split("/")[0].endswith("k8s.io")}
    assert custom and {api for api, _ in custom} <= set(CUSTOM_RESOURCE_APIS)


def test_preview_with_the_policy_pack_passes_on_local(local_up, tmp_path):
    project, pulumi, _ = local_up
    config = tmp_path / "policy-local.json"
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "stacks", "policy-config", "local", "--output", str(config)], cwd=project, check=True
    )
    result = pulumi("preview", "--stack", "local", "--policy-pack", str(project / "policies"), "--policy-pack-config", str(config))
    assert "complete-cluster@v0.1.0" in result.stdout  # the pack ran (its name is in the policy summary)


def test_invalid_config_stops_the_engine_with_every_problem_and_no_traceback(engine_env, tmp_path):
    project = copy_project(tmp_path / "project")
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["complete-cluster:teams"][0]["nmae"] = "x"
    document["config"]["complete-cluster:site"]["role"] = "secondary"
    stack_file.write_text(yaml.safe_dump(document))
    pulumi = Pulumi(project, engine_env)
    pulumi("stack", "init", "local")
    result = pulumi("preview", "--stack", "local", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "stacks/Pulumi.local.yaml has 2 problems:" in output
    assert "site.primary: a secondary site must name its primary site's stack" in output
    assert "teams[0].nmae: unknown key (did you mean `name`?)" in output
    assert "Traceback" not in output
    assert not (project / "rendered").exists()


VIOLATING_PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s

render = k8s.Provider("render", render_yaml_to_directory="rendered")
k8s.core.v1.Pod(
    "privileged",
    metadata={"name": "privileged", "namespace": "payments"},
    spec={"containers": [{"name": "app", "image": "registry.example.com/app:1.0", "securityContext": {"privileged": True}}]},
    opts=pulumi.ResourceOptions(provider=render),
)
'''


def test_policy_pack_fails_a_preview_with_a_violating_resource(engine_env, tmp_path):
    project = tmp_path / "violating"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: violating\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (project / "__main__.py").write_text(VIOLATING_PROGRAM)
    (project / ".venv").symlink_to(ROOT / ".venv")
    policies = copy_project(tmp_path / "pack") / "policies"
    pulumi = Pulumi(project, engine_env)
    pulumi("stack", "init", "dev")
    result = pulumi(
        "preview",
        "--stack",
        "dev",
        "--policy-pack",
        str(policies),
        "--policy-pack-config",
        str(policies / "config" / "prod.json"),
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "[mandatory]  pod-security  (kubernetes:core/v1:Pod: privileged)" in output
    assert 'privileged: container "app" must not set securityContext.privileged=true' in output
    assert not (project / "rendered").exists()


CHART_PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s

from components.charts import pinned_chart
from stacks.catalogue import ChartRef
from stacks.chart_sources import PartCharts, chart_source
from stacks.model.charts import Charts

render = k8s.Provider("render", render_yaml_to_directory="rendered")
demo = ChartRef(name="demo", version="0.1.0", repository="https://charts.example.com")
charts = PartCharts("demo", ((demo, chart_source(Charts(source="local"), demo)),))
pinned_chart("demo", demo, charts, "payments", {"greeting": "hello"}, pulumi.ResourceOptions(provider=render))
'''


def test_a_local_chart_renders_through_the_engine_without_a_network(engine_env, tmp_path):
    """The chart path end to end: helm.v4.Chart renders a chart the test creates, client-side."""
    import kubernetes_validate

    project = copy_project(tmp_path / "project")
    (project / "__main__.py").write_text(CHART_PROGRAM)
    chart = project / "charts" / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  greeting: {{ .Values.greeting | "
        "quote }}\n"
    )
    pulumi = Pulumi(project, engine_env)
    pulumi("stack", "init", "charts")
    pulumi("up", "--stack", "charts", "--yes")
    [manifest] = [d for path in (project / "rendered").rglob("*.yaml") for d in yaml.safe_load_all(path.read_text()) if d]
    assert (manifest["kind"], manifest["metadata"]["name"], manifest["metadata"]["namespace"], manifest["data"]) == (
        "ConfigMap", "demo-settings", "payments", {"greeting": "hello"},
    )
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
