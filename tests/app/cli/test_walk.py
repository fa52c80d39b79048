"""Every command and group of ``pyros``, walked from the Typer app itself: ``--help``, no
arguments, a bad option (and for groups an unknown sub-command), with ``--json`` where a command
has it. Never an internal error, never a traceback, and only the exit codes docs/cli.md
documents. Run in-process through ``main`` (what the console script runs) inside Typer's
``CliRunner`` isolation, on a temporary home and database, never against a running stack.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from app.cli.main import app, main

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"

#: Commands that start long-running processes or talk to devices on the configured ports: only
#: their help and a bad option are tried.
NOT_RUN = {
    ("up",),
    ("night",),  # its options start a whole simulated night; bare, it shows its help
    ("gateways", "start"),
    ("gateways", "status"),  # probes the configured gateway ports
    ("monitor", "run"),
    ("alert", "listen"),
    ("simulators", "start"),
    ("nrt", "run"),
    ("previews", "serve"),  # serves on the configured port until stopped
}


@dataclass(frozen=True)
class Node:
    path: tuple[str, ...]
    group: bool
    has_json: bool
    required: bool
    has_argument: bool

    @property
    def name(self) -> str:
        return " ".join(("pyros", *self.path))


def _walk(command, path: tuple[str, ...] = ()) -> list[Node]:
    subcommands = getattr(command, "commands", None)
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    node = Node(
        path=path,
        group=subcommands is not None,
        has_json="--json" in options,
        required=any(param.required for param in command.params),
        has_argument=any(param.param_type_name == "argument" for param in command.params),
    )
    found = [node]
    for name, sub in sorted((subcommands or {}).items()):
        found.extend(_walk(sub, (*path, name)))
    return found


NODES = _walk(typer.main.get_command(app))


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def _run(*args: str) -> Outcome:
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, out.getvalue().decode(), err.getvalue().decode())


def _documented() -> tuple[set[int], set[str]]:
    """The exit codes of docs/cli.md's table, and the commands it says need the stack."""
    text = DOCS.read_text(encoding="utf-8")
    codes = {int(code) for code in re.findall(r"^\| `(\d+)` \|", text, re.MULTILINE)}
    section = text.split("## Commands that need the running stack", 1)[1].split("\n## ", 1)[0]
    needing = set(re.findall(r"^- `(pyros [a-z -]+)`", section, re.MULTILINE))
    return codes, needing


CODES, NEEDS_STACK = _documented()


def _clean(outcome: Outcome, what: str) -> None:
    for stream in (outcome.out, outcome.err):
        assert "Traceback" not in stream, f"{what}: a traceback\n{stream}"
        assert "internal error" not in stream, f"{what}: an internal error\n{stream}"
    assert outcome.code in CODES, f"{what}: exit code {outcome.code} is not documented"
    assert outcome.code != 1, f"{what}: exit code 1\n{outcome.err}"


def test_the_walk_covers_the_whole_app():
    names = {node.name for node in NODES}
    assert len(NODES) > 40 and {"pyros", "pyros request submit", "pyros schedule"} <= names
    assert {0, 1, 2, 3, 130} == CODES
    # The documented list names real commands.
    assert NEEDS_STACK and names >= NEEDS_STACK


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_help_and_a_bad_option(node: Node):
    helped = _run(*node.path, "--help")
    _clean(helped, f"{node.name} --help")
    assert helped.code == 0 and "Usage: pyros" in helped.out and not helped.err

    bad = _run(*node.path, "--no-such-option")
    _clean(bad, f"{node.name} --no-such-option")
    assert bad.code == 2 and "No such option" in bad.err and not bad.out
    if node.has_json:
        bad = _run(*node.path, "--no-such-option", "--json")
        assert bad.code == 2
        assert json.loads(bad.out) == {
            "ok": False,
            "error": "No such option: --no-such-option",
            "exit_code": 2,
        }
    if node.group:
        unknown = _run(*node.path, "no-such-command")
        _clean(unknown, f"{node.name} no-such-command")
        assert unknown.code == 2 and "No such command" in unknown.err


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize("node", NODES, ids=lambda n: n.name)
def test_without_arguments(node: Node, engine, sim_clock):
    if node.path in NOT_RUN and not node.group:
        pytest.skip(f"{node.name} starts processes or probes devices: only --help is tried")
    bare = _run(*node.path)
    _clean(bare, node.name)
    if node.group:
        assert bare.code == 0 and "Usage: pyros" in bare.out and not bare.err
        return
    if node.required:
        assert bare.code == 2 and "Missing" in bare.err, bare.err
        return
    if node.name in NEEDS_STACK or bare.code == 3:
        # Without a running stack: one line saying so, and only for the documented commands.
        assert node.name in NEEDS_STACK, f"{node.name} exits 3 without a stack: document it"
        assert bare.code == 3 and bare.err.count("\n") == 1, bare.err
        return
    assert bare.code == 0, f"{node.name}: {bare.err}"
    assert not bare.err, f"{node.name} wrote to stderr: {bare.err}"
    if node.has_json:
        answered = _run(*node.path, "--json")
        assert answered.code == 0, answered.err
        assert not answered.err, f"{node.name} --json wrote to stderr: {answered.err}"
        json.loads(answered.out)  # exactly one document: anything more fails to parse
        assert answered.out.count("\n") == 1


BAD_VALUE = "/no/such/place-and-not-a-number"


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize(
    "node",
    [n for n in NODES if n.has_argument and n.path not in NOT_RUN],
    ids=lambda n: n.name,
)
def test_a_bad_argument(node: Node, engine, sim_clock):
    """A value no command accepts as its first argument (no such file, revision, mode, night,
    not a number): exit 2 with one line, or Typer's usage message."""
    bad = _run(*node.path, BAD_VALUE)
    _clean(bad, f"{node.name} {BAD_VALUE}")
    assert bad.code == 2, f"{node.name}: {bad.code}\n{bad.err}"
    assert bad.err.startswith(("pyros: ", "Usage: pyros")), bad.err
