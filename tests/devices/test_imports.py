"""``devices/`` stands on ``infra/`` only: no Prefect, no flows, no tasks (DESIGN §1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DEVICES = Path(__file__).resolve().parents[2] / "devices"


def test_no_module_of_devices_imports_prefect_flows_or_tasks():
    offenders = []
    for path in sorted(DEVICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("prefect", "flows", "tasks"):
                    offenders.append(f"{path.relative_to(DEVICES.parent)}: {name}")
    assert offenders == []


def test_importing_every_device_module_loads_no_prefect():
    code = (
        "import sys, devices.controllers, devices.gateway, devices.gateway.runner;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows', 'tasks')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
