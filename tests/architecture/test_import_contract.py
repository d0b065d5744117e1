"""The import contract holds on the project, and the checker finds each kind of violation planted in
a small tree of its own."""

from __future__ import annotations

from pathlib import Path

from import_contract import cycles, imports, violations

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_keeps_the_contract():
    assert violations(ROOT) == []


def test_the_checker_reads_the_whole_project():
    edges = imports(ROOT)
    sources = {edge.source for edge in edges}
    # Every layer is seen, relative imports included (the components import each other relatively).
    assert {"__main__", "components.program", "components.complete_cluster", "components.services.postgres", "stacks.loader",
            "stacks.tools.review", "policies.pack"} <= sources
    assert any(edge.source == "components.services.postgres" and edge.target == "components.kit.namespaces" for edge in edges)


def plant(root: Path, files: dict[str, str]) -> Path:
    """A tree of modules: the three packages with empty __init__ files, and `files` (path -> source)."""
    for package in ("components", "stacks", "stacks/tools", "stacks/model", "policies"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for path, source in files.items():
        (root / path).write_text(source)
    return root


def test_an_upward_import_is_a_violation(tmp_path):
    root = plant(tmp_path, {
        "stacks/loader.py": "from components.charts import install\n",
        "components/charts.py": "def install(): ...\n",
        "components/kit.py": "from .program import build\n",
        "components/program.py": "def build(): ...\n",
    })
    assert violations(root) == [
        "components/kit.py:1: components.kit (components) imports components.program (program), a layer above it; "
        "layers run tools -> program -> components -> config",
        "stacks/loader.py:1: stacks.loader (config) imports components.charts (components), a layer above it; "
        "layers run tools -> program -> components -> config",
    ]


def test_a_config_module_may_not_import_a_tool(tmp_path):
    root = plant(
        tmp_path,
        {
            "stacks/loader.py": "def load(): ...\n",
            "stacks/model/site.py": "from ..tools import inventory\n",
            "stacks/tools/inventory.py": "",
        },
    )
    assert violations(root) == [
        "stacks/model/site.py:1: stacks.model.site (config) imports stacks.tools.inventory (tools), a layer above it; "
        "layers run tools -> program -> components -> config",
    ]


def test_a_cycle_within_a_layer_is_a_violation(tmp_path):
    root = plant(tmp_path, {
        "components/a.py": "from . import b\n",
        "components/b.py": "def f():\n    from .a import g\n",
    })
    assert cycles(imports(root)) == [["components.a", "components.b"]]
    assert violations(root) == ["import cycle: components.a <-> components.b"]


def test_the_policy_pack_stands_apart(tmp_path):
    root = plant(tmp_path, {
        "policies/pack.py": "import stacks.model\n",
        "components/scan.py": "from policies import pack\n",
        "stacks/tools/review.py": "from policies.pack import rules\n",
    })
    assert violations(root) == [
        "components/scan.py:1: components.scan (components) imports policies.pack; only the tools use the policy pack",
        "policies/pack.py:1: policies.pack imports stacks.model; the policy pack imports nothing of components or stacks",
    ]


def test_a_component_may_not_take_the_whole_config(tmp_path):
    root = plant(tmp_path, {
        "stacks/model/__init__.py": "class StackConfig: ...\nclass Team: ...\n",
        "components/team.py": "from stacks.model import Team\n",
        "components/ingress.py": "from stacks.model import StackConfig, Team\n",
        "components/program.py": "from stacks.model import StackConfig\n",
    })
    assert violations(root) == [
        "components/ingress.py:1: components.ingress (components) imports StackConfig; a component takes narrow args, "
        "which components/complete_cluster.py makes from the config",
    ]
