"""The lint and type checks scripts/test runs cover every Python file of the repository, also the
scripts without a .py suffix (pyproject.toml lists those)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent


def python_files() -> set[str]:
    """Every tracked file that is Python: a .py suffix, or a python shebang."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = set()
    for name in tracked:
        path = ROOT / name
        if name.endswith(".py"):
            found.add(name)
        elif path.is_file() and path.read_bytes()[:64].startswith(b"#!") and b"python" in path.read_bytes().split(b"\n", 1)[0]:
            found.add(name)
    return found


def test_ruff_checks_every_python_file():
    shown = subprocess.run([str(TOOLS / "ruff"), "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    checked = {str(Path(line).relative_to(ROOT)) for line in shown.split() if line.startswith(str(ROOT))}
    assert python_files() - checked == set()


def test_mypy_reads_the_program_the_tools_and_every_script():
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    scripts = {name for name in python_files() if name.startswith("scripts/") and not name.endswith(".py")}
    assert scripts <= set(files)
    assert {"__main__.py", "components", "stacks", "policies"} <= set(files)
