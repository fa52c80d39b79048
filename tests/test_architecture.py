"""The house rules that no linter checks: functions short enough to read at once, few
parameters, and project imports at the top of the module (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The packages the size rules cover (the shell's CLI commands take their options as parameters).
RULED = ["flows", "tasks", "devices", "infra", "watchers"]
PROJECT = ("app", "flows", "watchers", "tasks", "simulators", "devices", "infra")
MAX_LINES = 80
MAX_PARAMETERS = 8


def _functions(package: str) -> list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((path.relative_to(ROOT), node))
    return found


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    arguments = node.args
    named = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    count = sum(1 for a in named if a.arg not in ("self", "cls"))
    return count + (arguments.vararg is not None) + (arguments.kwarg is not None)


@pytest.mark.parametrize("package", RULED)
def test_no_function_is_too_long_or_takes_too_many_parameters(package: str) -> None:
    offenders = []
    for path, node in _functions(package):
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > MAX_LINES or _parameters(node) > MAX_PARAMETERS:
            offenders.append(f"{path}:{node.lineno} {node.name} ({lines} lines, "
                             f"{_parameters(node)} parameters)")  # fmt: skip
    assert not offenders, "\n".join(offenders)


def _nested_project_imports(path: Path) -> list[tuple[int, str]]:
    """Project imports inside functions, with the source lines just above each."""
    source = path.read_text()
    lines = source.splitlines()
    nested = []
    for function in ast.walk(ast.parse(source, str(path))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[0] in PROJECT for name in names):
                above = "\n".join(lines[max(0, node.lineno - 4) : node.lineno - 1])
                nested.append((node.lineno, above))
    return nested


@pytest.mark.parametrize("package", [p for p in PROJECT if p != "app"])
def test_project_imports_sit_at_the_top_unless_import_time_is_said(package: str) -> None:
    # The CLI (app/cli) imports inside commands so that `pyros --help` answers in under 2 s
    # (app/cli/__init__.py); anywhere else a function-level import must say why.
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for lineno, above in _nested_project_imports(path):
            if "import time" not in above.lower():
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert not offenders, "function-level project imports without a reason:\n" + "\n".join(
        offenders
    )


def test_the_checks_see_a_long_function_and_a_hidden_import(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    bad = tmp_path / "bad.py"
    bad.write_text(f"def long(a, b, c, d, e, f, g, h, i):\n{body}\n    from tasks import sky\n")
    [node] = [n for n in ast.walk(ast.parse(bad.read_text())) if isinstance(n, ast.FunctionDef)]
    assert _parameters(node) == 9 and node.end_lineno - node.lineno + 1 > MAX_LINES
    assert [lineno for lineno, _ in _nested_project_imports(bad)] == [MAX_LINES + 2]
