"""Running ``pyros`` as an operator does: a separate process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def pyros_command(*args: str, installed: bool = False) -> list[str]:
    """The argv of ``pyros args`` with this interpreter: ``python -m app.cli.main args``.

    ``installed``: the ``pyros`` console script beside the interpreter when there is one (what an
    operator types, and what the benchmarks time), else the module as above.
    """
    if installed:
        script = shutil.which("pyros", path=str(Path(sys.executable).parent))
        if script:
            return [script, *args]
    return [sys.executable, "-m", "app.cli.main", *args]


def run_pyros(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    check: bool = False,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``pyros args`` to the end (output captured as text; ``env`` None: this process's).

    ``check``: a non-zero exit fails the test (AssertionError with the command's output).
    """
    result = subprocess.run(
        pyros_command(*args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pyros {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result
