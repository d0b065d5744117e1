"""The import contract of the project: layers run one way, nothing imports in a cycle, and the
policy pack stands apart (docs/architecture.md).

    tools       stacks.tools, stacks.__main__          the offline commands
    program     __main__, components.program,          the Pulumi program: maps a loaded stack to
                components.complete_cluster            the components
    components  components                             component resources and the platform kit
    config      stacks                                 model, loader, sites, catalogue, tables

A module may import modules of its own layer and of the layers below it, never above. `policies`
imports nothing of `components` or `stacks`, and only the tools import it. Below the program no
module imports `StackConfig`: components take narrow args, made from the config in one place.

The graph is read from the source with `ast` (every import statement, also those inside functions),
relative imports resolved the way Python does; the checks are plain graph walks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("components", "stacks", "policies")
# Top to bottom; a module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tools", ("stacks.tools", "stacks.__main__")),
    ("program", ("__main__", "components.program", "components.complete_cluster")),
    ("components", ("components",)),
    ("config", ("stacks",)),
)
INDEPENDENT = "policies"
IMPORTS_INDEPENDENT = ("tools",)
WHOLE_CONFIG = ("stacks.model", "StackConfig")
MAY_IMPORT_WHOLE_CONFIG = ("tools", "program", "config")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    names: tuple[str, ...]
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for the project's packages and its top-level `__main__.py`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] not in PACKAGES and relative != Path("__main__.py"):
            continue
        name = ".".join(relative.with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[tuple[str, tuple[str, ...]]]:
    """The project modules an import statement loads, each with the names it takes from it."""
    if isinstance(node, ast.Import):
        candidates = [(alias.name, ()) for alias in node.names]
    else:
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = tuple(alias.name for alias in node.names)
        # `from package import module` loads the module; `from module import name` takes a name.
        candidates = [(base, names)] + [(f"{base}.{name}", ()) for name in names]
    found = []
    for candidate, names in candidates:
        while candidate and candidate not in known:
            candidate = candidate.rpartition(".")[0]
        if candidate and candidate != module:
            found.append((candidate, names))
    return found


def imports(root: Path) -> list[Import]:
    known = modules(root)
    edges = []
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges += [Import(module, target, names, node.lineno) for target, names in _targets(module, path, node, known)]
    return edges


def layer_of(module: str) -> str | None:
    matches = [
        (len(prefix), layer) for layer, prefixes in LAYERS for prefix in prefixes if module == prefix or module.startswith(f"{prefix}.")
    ]
    return max(matches)[1] if matches else None


def cycles(edges: list[Import]) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def violations(root: Path) -> list[str]:
    """Every broken rule of the contract, as `file:line: what and why` (one per import statement:
    its most specific module), sorted; empty when it holds."""
    known = modules(root)
    edges = imports(root)
    order = [layer for layer, _ in LAYERS]
    by_statement: dict[tuple[str, int, str], tuple[int, str]] = {}

    def report(edge: Import, rule: str, text: str) -> None:
        key = (edge.source, edge.line, rule)
        if key not in by_statement or len(edge.target) > by_statement[key][0]:
            by_statement[key] = (len(edge.target), f"{known[edge.source].relative_to(root)}:{edge.line}: {text}")

    for edge in edges:
        source_layer, target_layer = layer_of(edge.source), layer_of(edge.target)
        source_root, target_root = edge.source.split(".")[0], edge.target.split(".")[0]
        if source_root == INDEPENDENT and target_root != INDEPENDENT:
            report(edge, "independent", f"{edge.source} imports {edge.target}; the policy pack imports nothing of components or stacks")
        elif target_root == INDEPENDENT and source_root != INDEPENDENT and source_layer not in IMPORTS_INDEPENDENT:
            report(edge, "independent", f"{edge.source} ({source_layer}) imports {edge.target}; only the tools use the policy pack")
        elif source_layer and target_layer and order.index(target_layer) < order.index(source_layer):
            report(edge, "layers", f"{edge.source} ({source_layer}) imports {edge.target} ({target_layer}), a layer above it; "
                                   f"layers run {' -> '.join(order)}")
        module, name = WHOLE_CONFIG
        if edge.target == module and name in edge.names and source_layer not in MAY_IMPORT_WHOLE_CONFIG:
            report(edge, "config", f"{edge.source} ({source_layer}) imports {name}; a component takes narrow args, "
                                   "which components/complete_cluster.py makes from the config")
    problems = sorted(text for _, text in by_statement.values())
    return problems + [f"import cycle: {' <-> '.join(cycle)}" for cycle in cycles(edges)]
