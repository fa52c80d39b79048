"""Checks of the layering (DESIGN §1): which top-level packages a package may import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What the layers below the orchestrator (devices, simulators) never import.
ORCHESTRATION = ("prefect", "flows", "tasks")


def static_imports_of(package: str, forbidden: tuple[str, ...] = ORCHESTRATION) -> list[str]:
    """``path: module`` for every import statement of ``package`` naming a forbidden package."""
    root = REPO / package
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in forbidden:
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    return offenders


def loaded_by_importing(modules: list[str], forbidden: tuple[str, ...] = ORCHESTRATION) -> str:
    """The forbidden top-level packages a fresh interpreter has loaded after importing
    ``modules`` (printed as a sorted list: ``[]`` when none)."""
    code = (
        f"import sys, {', '.join(modules)};"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(forbidden)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return result.stdout.strip()
