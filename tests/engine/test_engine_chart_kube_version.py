"""Charts rendered without a cluster see the Kubernetes version the provider's client libraries target.

In render mode (`renderYamlToDirectory`) the kubernetes provider has no cluster to ask, so helm.v4.Chart renders
with Helm's default capabilities. scripts/engine stamps those the way Helm's release build does (docs/engine.md);
the real provider and the real Helm answer here: a chart that needs Kubernetes >= 1.33 renders and reports the
version it was rendered for, and one that needs a newer Kubernetes is refused with Helm's own message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]

# The pinned provider requires k8s.io/client-go v0.33.3; Helm's rule (client-go v0.X -> Kubernetes 1.X) makes it 1.33.
STAMPED_KUBE_VERSION = ("v1.33.0", "1", "33")

PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s

render = k8s.Provider("render", render_yaml_to_directory="rendered")
k8s.helm.v4.Chart("capabilities", chart="./chart", namespace="demo", opts=pulumi.ResourceOptions(provider=render))
"""

CAPABILITIES_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-capabilities
data:
  version: {{ .Capabilities.KubeVersion.Version | quote }}
  major: {{ .Capabilities.KubeVersion.Major | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
"""




def chart_project(root: Path, kube_version_constraint: str) -> Path:
    """A Pulumi project rendering one chart, written here, that needs `kube_version_constraint`."""
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "capabilities", "version": "0.1.0", "kubeVersion": kube_version_constraint,
    }))
    (chart / "templates" / "configmap.yaml").write_text(CAPABILITIES_TEMPLATE)
    (root / "Pulumi.yaml").write_text("name: capabilities\nruntime:\n  name: python\n  options:\n"
                                      "    virtualenv: .venv\n")
    (root / "__main__.py").write_text(PROGRAM)
    (root / ".venv").symlink_to(ROOT / ".venv")
    return root


def pulumi(project: Path, engine_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **engine_env, "PULUMI_BACKEND_URL": f"file://{project / '.state'}"}
    (project / ".state").mkdir(exist_ok=True)
    return subprocess.run(["pulumi", *args, "--non-interactive"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_a_chart_needing_kubernetes_1_33_renders_for_the_stamped_version(engine_env, tmp_path):
    project = chart_project(tmp_path / "project", ">=1.33.0-0")
    assert pulumi(project, engine_env, "stack", "init", "render").returncode == 0
    up = pulumi(project, engine_env, "up", "--stack", "render", "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    [manifest] = [d for path in (project / "rendered").rglob("*.yaml") for d in yaml.safe_load_all(path.read_text())
                  if d]
    assert manifest["metadata"]["name"] == "capabilities-capabilities"
    data = manifest["data"]
    assert (data["version"], data["major"], data["minor"]) == STAMPED_KUBE_VERSION


def test_a_chart_needing_a_newer_kubernetes_is_refused_by_helm(engine_env, tmp_path):
    project = chart_project(tmp_path / "project", ">=1.34.0-0")
    assert pulumi(project, engine_env, "stack", "init", "render").returncode == 0
    preview = pulumi(project, engine_env, "preview", "--stack", "render")
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0, output
    assert "chart requires kubeVersion: >=1.34.0-0 which is incompatible with Kubernetes v1.33.0" in output
    assert not (project / "rendered").exists()
