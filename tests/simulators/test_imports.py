"""``simulators/`` never imports ``flows/`` or ``tasks/`` (DESIGN §1), nor Prefect."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SIMULATORS = Path(__file__).resolve().parents[2] / "simulators"


def test_no_module_of_simulators_imports_flows_tasks_or_prefect():
    offenders = []
    for path in sorted(SIMULATORS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("prefect", "flows", "tasks"):
                    offenders.append(f"{path.relative_to(SIMULATORS.parent)}: {name}")
    assert offenders == []


def test_running_the_simulators_loads_no_flows_tasks_or_prefect():
    code = (
        "import sys, simulators.runner, simulators.control, infra.cli.simulatorscmd;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'flows', 'tasks'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
