"""Chart sources: remote repository, OCI mirror, local directory, or off — and a chart the test
creates, registered through helm.v4.Chart."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from components.charts import crd_schemas_as_stored, pinned_chart
from stacks import chart_sources as charts_module
from stacks.catalogue import ChartRef
from stacks.chart_sources import PartCharts, UndeclaredChart, chart_source, missing_charts
from stacks.tools.inventory import run_program
from stacks.loader import load
from stacks.model.charts import Charts

DEMO = ChartRef(name="demo", version="0.1.0", repository="https://charts.example.com")


@pytest.fixture
def chart_dir(tmp_path, monkeypatch):
    """A project directory with one unpacked chart, `charts/demo/`, made by the test."""
    monkeypatch.setattr(charts_module, "PROJECT_DIR", tmp_path)
    chart = tmp_path / "charts" / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "demo", "version": "0.1.0"}))
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  greeting: {{ .Values.greeting | "
        "quote }}\n"
    )
    return tmp_path


def test_remote_uses_the_pinned_repository_and_version():
    assert chart_source(Charts(source="remote"), DEMO) == {"chart": "demo", "version": "0.1.0", "repository_opts": {"repo": "https://charts.example.com"}}


def test_oci_uses_the_mirror_with_the_pinned_version():
    assert chart_source(Charts(source="oci", oci_registry="harbor.dc1.example.com/charts"), DEMO) == {
        "chart": "oci://harbor.dc1.example.com/charts/demo", "version": "0.1.0",
    }


def test_local_finds_an_unpacked_chart_of_the_pinned_version(chart_dir):
    assert chart_source(Charts(source="local"), DEMO) == {"chart": "charts/demo"}


def test_local_prefers_a_packaged_chart(chart_dir):
    (chart_dir / "charts" / "demo-0.1.0.tgz").write_bytes(b"")
    assert chart_source(Charts(source="local"), DEMO) == {"chart": "charts/demo-0.1.0.tgz"}


@pytest.fixture
def mirror_beside(tmp_path, monkeypatch):
    """A project directory and, beside it, a read-only site mirror `shared/charts/` holding `demo/`."""
    project = tmp_path / "site" / "project"
    project.mkdir(parents=True)
    monkeypatch.setattr(charts_module, "PROJECT_DIR", project)
    chart = tmp_path / "site" / "shared" / "charts" / "demo"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "demo", "version": "0.1.0"}))
    return project, chart.parent


def test_local_finds_a_chart_directory_beside_the_project(mirror_beside):
    assert chart_source(Charts(source="local", directory="../shared/charts"), DEMO) == {"chart": "../shared/charts/demo"}


def test_local_takes_an_absolute_chart_directory_and_names_the_chart_relative_to_the_project(mirror_beside):
    _, mirror = mirror_beside
    assert chart_source(Charts(source="local", directory=str(mirror)), DEMO) == {"chart": "../shared/charts/demo"}


def test_local_resolves_a_chart_directory_reached_through_a_link(mirror_beside, tmp_path):
    project, mirror = mirror_beside
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "charts").symlink_to(mirror)
    for directory in (tmp_path / "elsewhere" / "charts", "../../elsewhere/charts", "../project/../shared/charts"):
        assert chart_source(Charts(source="local", directory=str(directory)), DEMO) == {"chart": "../shared/charts/demo"}


def test_a_missing_chart_directory_takes_its_fallback(mirror_beside):
    charts = Charts(source="local", directory="../nowhere/charts", fallback="remote")
    assert chart_source(charts, DEMO) == chart_source(Charts(source="remote"), DEMO)
    present = Charts(source="local", directory="../shared/charts", fallback="remote")
    assert chart_source(present, DEMO) == {"chart": "../shared/charts/demo"}


def test_a_missing_chart_directory_without_a_fallback_is_one_config_problem(mirror_beside):
    project, _ = mirror_beside
    config = load("dev").model_copy(update={"charts": Charts(source="local", directory="../nowhere/charts")})
    newer = ChartRef(name="demo", version="0.2.0", repository="https://charts.example.com")
    assert missing_charts(config, [DEMO, newer]) == [
        (
            "charts.directory",
            f"../nowhere/charts/ does not exist on this machine (it resolves to {project.parent / 'nowhere' / 'charts'}); put the "
            "pinned charts there, or set `charts.fallback: remote` to take them from their chart repositories where it is missing",
        )
    ]


def test_only_a_local_chart_directory_has_a_fallback():
    with pytest.raises(ValueError, match="only a `local` chart directory has a fallback; `remote` has none, remove it"):
        Charts(source="remote", fallback="remote")


def test_local_with_another_version_is_missing(chart_dir):
    config = load("local").model_copy(update={"charts": Charts(source="local")})
    newer = ChartRef(name="demo", version="0.2.0", repository="https://charts.example.com")
    assert missing_charts(config, [DEMO, newer]) == [
        (
            "charts.directory",
            "charts/ has no demo 0.2.0 (`demo-0.2.0.tgz` or `demo/`); fetch it on a connected machine with "
            "`helm pull demo --repo https://charts.example.com --version 0.2.0`, or set `charts.source` to remote, oci or off",
        )
    ]


def test_off_installs_nothing():
    assert chart_source(Charts(source="off"), DEMO) is None


def test_oci_without_a_registry_is_a_config_error():
    with pytest.raises(ValueError, match="an OCI chart source needs the registry path"):
        Charts(source="oci")


def test_a_chart_registers_as_helm_v4_chart_with_its_source(chart_dir):
    def program():
        provider = pulumi.ProviderResource("kubernetes", "render", {"renderYamlToDirectory": "rendered"})
        charts = PartCharts("demo", ((DEMO, chart_source(Charts(source="local"), DEMO)),))
        pinned_chart("demo", DEMO, charts, "payments", {"greeting": "hi"}, pulumi.ResourceOptions(provider=provider))

    [provider, chart] = run_program(program, "charts")
    assert chart.type == "kubernetes:helm.sh/v4:Chart"
    assert (chart.inputs["chart"], chart.inputs["namespace"], chart.inputs["values"]) == ("charts/demo", "payments", {"greeting": "hi"})
    assert chart.options["transforms"] == ["components.charts.crd_schemas_as_stored"]


def crd_args(schema: dict, kind: str = "CustomResourceDefinition") -> pulumi.ResourceTransformArgs:
    props = {"apiVersion": "apiextensions.k8s.io/v1", "kind": kind, "metadata": {"name": "widgets.example.com"},
             "spec": {"group": "example.com", "versions": [{"name": "v1", "served": True, "storage": True,
                                                             "schema": {"openAPIV3Schema": schema}}]}}
    return pulumi.ResourceTransformArgs(custom=True, type_=f"kubernetes:apiextensions.k8s.io/v1:{kind}", name="crd",
                                        props=props, opts=pulumi.ResourceOptions())


def test_a_crd_schema_loses_what_the_api_server_does_not_store_and_keeps_json_values():
    """(The API server's own answer for every CRD of the mirror: tests/cluster/test_crd_schemas.py.)"""
    schema = {"type": "object", "description": "", "nullable": False, "required": [], "properties": {
        "status": {"type": "object", "properties": {"clusterSecurity": {"type": "object", "properties": {}}}},
        "mode": {"type": "string", "enum": ["", "a"], "default": ""},
        "extra": {"type": "object", "default": {}, "x-kubernetes-preserve-unknown-fields": False, "example": {"properties": {}}},
        "list": {"type": "array", "items": {"type": "object", "properties": {}, "title": None}},
        "either": {"anyOf": [{"type": "integer", "properties": {}}, {"type": "string"}], "x-kubernetes-int-or-string": True},
    }}
    result = crd_schemas_as_stored(crd_args(schema))
    assert result is not None
    [version] = result.props["spec"]["versions"]
    assert version["schema"]["openAPIV3Schema"] == {"type": "object", "properties": {
        "status": {"type": "object", "properties": {"clusterSecurity": {"type": "object"}}},
        "mode": {"type": "string", "enum": ["", "a"], "default": ""},
        "extra": {"type": "object", "default": {}, "x-kubernetes-preserve-unknown-fields": False, "example": {"properties": {}}},
        "list": {"type": "array", "items": {"type": "object"}},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
    }}
    assert schema["properties"]["status"]["properties"]["clusterSecurity"] == {"type": "object", "properties": {}}  # not changed


def test_every_other_object_a_chart_renders_is_left_as_rendered():
    assert crd_schemas_as_stored(crd_args({"type": "object", "properties": {}}, kind="Widget")) is None


def test_charts_off_registers_nothing():
    charts = PartCharts("demo", ((DEMO, chart_source(Charts(source="off"), DEMO)),))
    registered = run_program(lambda: pinned_chart("demo", DEMO, charts, "payments", {}, pulumi.ResourceOptions()), "charts")
    assert registered == []


def test_a_chart_its_part_does_not_declare_fails_loudly_and_registers_nothing():
    """A component installs only the charts catalogue.PART_CHARTS declares for its part: those are
    the ones the loader checked and resolved."""
    charts = PartCharts("demo", ((DEMO, chart_source(Charts(source="remote"), DEMO)),))
    other = ChartRef(name="other", version="1.0.0", repository="https://charts.example.com")
    with pytest.raises(
        UndeclaredChart,
        match=r"^the demo part installs other 1.0.0, which stacks/catalogue.py PART_CHARTS does not declare for it "
        r"\(it declares: demo 0.1.0\); declare it there, so the loader checks and resolves it$",
    ):
        run_program(lambda: pinned_chart("other", other, charts, "payments", {}, pulumi.ResourceOptions()), "charts")
