"""`charts.source: local`: `python -m stacks validate` and `inventory` report every chart the stack
installs that its chart directory lacks, the same way (exit 1, one problem each under
`charts.directory`, nothing registered), for every chart: the operators, the registry, backups and
the observability parts."""

from __future__ import annotations

import pytest
import yaml

from stacks import chart_sources as charts_module
from stacks.tools.cli import main
from stacks.chart_sources import stack_charts
from stacks.loader import load, stack_file

DIRECTORY = "vendor/charts"
# What onprem-dc1 installs besides the observability parts (which their own modules name).
SERVICE_CHARTS = {
    ("ingress-nginx", "4.14.1"), ("cert-manager", "v1.20.2"), ("postgres-operator", "2.0.1"), ("redis-operator", "3.2.9"),
    ("rabbitmq-cluster-operator", "0.6.5"), ("strimzi-kafka-operator", "1.2.0"), ("harbor", "1.18.3"), ("velero", "10.1.1"),
}


@pytest.fixture
def airgap(tmp_path, monkeypatch):
    """onprem-dc1 as an air-gapped site: charts from `vendor/charts/` under a project directory the
    test owns (empty until a test puts charts there)."""
    monkeypatch.setattr(charts_module, "PROJECT_DIR", tmp_path)
    (tmp_path / DIRECTORY).mkdir(parents=True)
    document = yaml.safe_load(stack_file("onprem-dc1").read_text())
    document["config"]["complete-cluster:charts"] = {"source": "local", "directory": DIRECTORY}
    # The file keeps the stack's name: the cross-site rules match sites by stack name.
    path = tmp_path / "Pulumi.onprem-dc1.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def charts_of(path):
    """(name, version) of every chart the stack installs, read with the source switched off."""
    document = yaml.safe_load(path.read_text())
    document["config"]["complete-cluster:charts"] = {"source": "off"}
    off = path.parent / "off" / path.name
    off.parent.mkdir(exist_ok=True)
    off.write_text(yaml.safe_dump(document, sort_keys=False))
    return [(ref.name, ref.version) for ref in stack_charts(load("onprem-dc1", off))]


def reported(stderr: str) -> list[tuple[str, str]]:
    prefix = f"  - charts.directory: {DIRECTORY}/ has no "
    lines = stderr.splitlines()[1:]
    assert lines and all(line.startswith(prefix) for line in lines), stderr
    return [tuple(line.removeprefix(prefix).split(" ")[:2]) for line in lines]


def test_validate_names_every_missing_chart_under_charts_directory(airgap, capsys):
    assert main(["validate", str(airgap)]) == 1
    out, err = capsys.readouterr()
    expected = charts_of(airgap)
    assert out == ""
    assert err.splitlines()[0] == f"{airgap} has {len(expected)} problems:"
    assert reported(err) == expected
    assert SERVICE_CHARTS <= set(expected)
    assert len(expected) > len(SERVICE_CHARTS)  # the observability parts' charts are checked too
    assert (
        f"  - charts.directory: {DIRECTORY}/ has no velero 10.1.1 (`velero-10.1.1.tgz` or `velero/`); fetch it on a connected machine "
        "with `helm pull velero --repo https://vmware-tanzu.github.io/helm-charts --version 10.1.1`, or set `charts.source` to remote, "
        "oci or off"
    ) in err.splitlines()


def test_inventory_reports_them_the_same_way_and_registers_nothing(airgap, capsys):
    assert main(["validate", str(airgap)]) == 1
    validate_err = capsys.readouterr().err
    assert main(["inventory", str(airgap)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", validate_err)
    assert main(["inventory", str(airgap), "--json"]) == 1
    assert capsys.readouterr() == ("", validate_err)


def test_with_every_chart_in_the_directory_the_stack_is_valid(airgap, capsys):
    directory = airgap.parent / DIRECTORY
    for index, (name, version) in enumerate(charts_of(airgap)):
        if index % 2:  # packaged and unpacked charts both count
            (directory / f"{name}-{version}.tgz").write_bytes(b"")
        else:
            (directory / name).mkdir()
            (directory / name / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}))
    assert main(["validate", str(airgap)]) == 0
    assert capsys.readouterr().out == "onprem-dc1: ok\n"


def test_an_unpacked_chart_of_another_version_is_still_missing(airgap, capsys):
    directory = airgap.parent / DIRECTORY
    expected = charts_of(airgap)
    for name, version in expected:
        (directory / f"{name}-{version}.tgz").write_bytes(b"")
    (directory / "velero-10.1.1.tgz").unlink()
    (directory / "velero").mkdir()
    (directory / "velero" / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "velero", "version": "10.0.0"}))
    assert main(["validate", str(airgap)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"{airgap} has 1 problem:"
    assert reported(err) == [("velero", "10.1.1")]


@pytest.mark.parametrize(
    "charts", [{"source": "remote"}, {"source": "oci", "oci_registry": "harbor.dc1.example.com/charts"}, {"source": "off"}]
)
def test_other_sources_need_no_chart_directory(airgap, capsys, charts):
    document = yaml.safe_load(airgap.read_text())
    document["config"]["complete-cluster:charts"] = charts
    airgap.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(airgap)]) == 0
    assert capsys.readouterr().out == "onprem-dc1: ok\n"
