"""Hostile stack files: every command answers each with a clear message naming the file, within 10 seconds.

Each generated input once made a command print a traceback (binary, UTF-16, a directory, deep nesting,
a self-referencing alias) or run without end (an alias bomb, a 10 MB file, a FIFO), or was accepted
silently (a key given twice). Commands run in-process through the CLI's `main`, each under a 10 s
alarm that interrupts even a blocked `open()` of a FIFO.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from stacks.loader import ConfigError, load
from stacks.tools.cli import main

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
PROD = (STACKS_DIR / "Pulumi.prod.yaml").read_text()
LIMIT_SECONDS = 10


def _alias_bomb() -> str:
    """Nine levels of nine aliases each: 9**9 values once expanded, a few hundred bytes on disk."""
    lines = ["config:", '  complete-cluster:teams: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"  complete-cluster:x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _line_of(text: str) -> int:
    """The line of prod's stack file that starts with `text`."""
    return next(number for number, line in enumerate(PROD.splitlines(), 1) if line.startswith(text))


# name -> (how to make it in a directory, the one problem every command reports)
HOSTILE = {
    "alias-bomb": (
        lambda path: path.write_text(_alias_bomb()),
        "line 7: its aliases expand to more than 100000 values, the limit for a stack file; write the values out",
    ),
    "ten-megabytes": (
        lambda path: path.write_text("config:\n" + "  # padding\n" * 1_000_000),
        "is larger than 1 MiB, the limit for a stack file; a real one is a few KiB",
    ),
    "deep-nesting": (
        lambda path: path.write_text("config:\n  complete-cluster:teams: " + "[" * 3000 + "]" * 3000 + "\n"),
        "line 2: nests deeper than 64 levels, the limit for a stack file",
    ),
    "self-alias": (
        lambda path: path.write_text("config:\n  complete-cluster:teams: &a [*a]\n"),
        "line 2: an alias refers to a node that contains it, which never ends; remove it",
    ),
    "binary": (
        lambda path: path.write_bytes(b"config:\n  complete-cluster:environment: \xff\xfe\x00prod\n"),
        "line 2: is not UTF-8 text (byte 40); save it as UTF-8",
    ),
    "utf-16": (lambda path: path.write_bytes(PROD.encode("utf-16")), "is UTF-16, not UTF-8; save it as UTF-8"),
    "fifo": (lambda path: os.mkfifo(path), "is a FIFO; name a stack file"),
    "directory": (lambda path: path.mkdir(), "is a directory; name a stack file"),
    "duplicate-key": (
        lambda path: path.write_text(PROD.replace("config:\n", "config:\n  complete-cluster:teams: []\n", 1)),
        f"line {_line_of('  complete-cluster:teams:') + 1}: key `complete-cluster:teams` is already defined at line "
        f"{_line_of('config:') + 1}; Pulumi refuses a key given twice: keep one",
    ),
}

COMMANDS = {
    "validate": lambda file: ["validate", file],
    "inventory": lambda file: ["inventory", file],
    "review": lambda file: ["review", file],
    "policy-config": lambda file: ["policy-config", file],
    "cost": lambda file: ["cost", file],
    "diff": lambda file: ["diff", file, "prod"],
    "parity": lambda file: ["parity", file, "prod"],
}


class _TooSlow(Exception):
    pass


def _run_bounded(argv: list[str]) -> tuple[int, float]:
    """`python -m stacks <argv>` in-process, interrupted after LIMIT_SECONDS; its exit code and duration."""

    def interrupt(signum, frame):
        raise _TooSlow(f"`{' '.join(argv)}` ran longer than {LIMIT_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(LIMIT_SECONDS)
    started = time.monotonic()
    try:
        code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, time.monotonic() - started


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_every_command_reports_hostile_input_at_once(tmp_path, capsys, hostile, command):
    make, problem = HOSTILE[hostile]
    path = tmp_path / "Pulumi.prod.yaml"
    make(path)
    code, _ = _run_bounded(COMMANDS[command](str(path)))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"{path} has 1 problem:\n  - {problem}\n"), err


def test_validate_reports_every_file_it_is_given(tmp_path, capsys):
    paths = []
    for hostile, (make, _) in HOSTILE.items():
        paths.append(tmp_path / hostile / "Pulumi.prod.yaml")
        paths[-1].parent.mkdir()
        make(paths[-1])
    code, _ = _run_bounded(["validate", *map(str, paths), "prod"])
    captured = capsys.readouterr()
    assert code == 1
    assert [line for line in captured.err.splitlines() if not line.startswith("  - ")] == [f"{path} has 1 problem:" for path in paths]
    assert captured.out == "prod: ok\n"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_broken_sibling_breaks_no_other_stack(tmp_path, hostile):
    """Another site's stack file that cannot be read leaves the other stacks valid; only a stack
    that depends on it reports it, and under its own name."""
    for stack in ("onprem-dc1", "onprem-dc2", "prod"):
        shutil.copy(STACKS_DIR / f"Pulumi.{stack}.yaml", tmp_path)
    make, _ = HOSTILE[hostile]
    make(tmp_path / "Pulumi.zz-broken.yaml")
    assert load("prod", tmp_path / "Pulumi.prod.yaml", sites=tmp_path).environment == "prod"
    (tmp_path / "Pulumi.onprem-dc1.yaml").unlink()
    make(tmp_path / "Pulumi.onprem-dc1.yaml")
    with pytest.raises(ConfigError) as raised:
        load("onprem-dc2", tmp_path / "Pulumi.onprem-dc2.yaml", sites=tmp_path)
    assert raised.value.file.endswith("Pulumi.onprem-dc2.yaml")
    assert ("site.primary", "there is no stack `onprem-dc1`; name the primary site's stack (stacks/Pulumi.<stack>.yaml)") in (
        raised.value.problems
    ), str(raised.value)


HOSTILE_JSON = {
    "fifo": lambda path: os.mkfifo(path),
    "directory": lambda path: path.mkdir(),
    "binary": lambda path: path.write_bytes(b"\xff\xfe{\x00"),
    "deep-nesting": lambda path: path.write_text("[" * 100_000 + "]" * 100_000),
    "nan": lambda path: path.write_text('{"total": NaN}'),
}


@pytest.mark.parametrize("hostile", HOSTILE_JSON)
def test_the_json_files_a_command_is_given_are_read_as_safely(tmp_path, capsys, hostile):
    """`review --config` (the policy pack's own reader, as `pulumi preview --policy-pack-config` hands it
    the file) and `cost --base-file` answer each hostile file at once, without a traceback."""
    from policies import enforcement

    path = tmp_path / "given.json"
    HOSTILE_JSON[hostile](path)
    with pytest.raises(enforcement.ConfigError) as raised:
        enforcement.load(str(path))
    assert str(raised.value).startswith(f"{path}: ")
    code, _ = _run_bounded(["cost", "dev", "--base-file", str(path)])
    assert code == 0
    assert f"no base estimate: cannot read `{path}` (" in capsys.readouterr().out
