"""Start a stack in the background (``pyros up``) and stop it (``pyros down``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.supervisor.control import STATE_FILE, SupervisorUnavailable, call
from app.supervisor.core import StackPhase, StartupError
from app.supervisor.spec import ProcessSpec
from infra.oslock import holder_pid
from infra.secrets import redact_environment
from infra.stackrun import SUPERVISOR_LOCK, stack_environment, write_run_file


class StackAlreadyRunning(RuntimeError):
    """A supervisor already runs for this PYROS_HOME."""


def supervisor_pid(run_dir: Path) -> int | None:
    """Pid of the live supervisor of ``run_dir``, if any."""
    return holder_pid(Path(run_dir) / SUPERVISOR_LOCK)


def run_file_content(
    specs: list[ProcessSpec],
    run_dir: Path,
    log_dir: Path,
    info: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the run file of a stack holds: its processes, what to tell the operator, when it
    started and the stack variables its processes run with (``environ``, default this process's
    environment, under the specs' own), every secret masked (infra/secrets.py)."""
    environ = os.environ if environ is None else environ
    return {
        "run_dir": str(run_dir),
        "log_dir": str(log_dir),
        "processes": [s.to_dict() for s in specs],
        "info": info or {},
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "environment": redact_environment(stack_environment([*(s.env for s in specs), environ])),
    }


def up(
    specs: list[ProcessSpec],
    run_dir: Path,
    log_dir: Path,
    *,
    info: dict[str, Any] | None = None,
    timeout_s: float = 180.0,
) -> dict[str, Any]:
    """Start the supervisor with ``specs`` and wait until every process is ready.

    Returns
    -------
    dict
        The supervisor's status.

    Raises
    ------
    StackAlreadyRunning
        When a supervisor already runs for ``run_dir``.
    StartupError
        When a process fails to start (the message names it, with its log tail).
    """
    run_dir, log_dir = Path(run_dir), Path(log_dir)
    pid = supervisor_pid(run_dir)
    if pid is not None:
        raise StackAlreadyRunning(
            f"the stack is already running (supervisor pid {pid}): `pyros down` first"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    # The run file: what the supervisor runs, and how one-shot commands of this PYROS_HOME
    # find the stack (its clock, Prefect API, mode, site file and database: infra/stackrun.py).
    stack_file = write_run_file(run_dir, run_file_content(specs, run_dir, log_dir, info))
    with (log_dir / "supervisor.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.supervisor.main", str(stack_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ),
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (log_dir / "supervisor.log").read_text(errors="replace").splitlines()[-20:]
            raise StartupError(
                "the supervisor exited while starting the stack:\n" + "\n".join(tail)
            )
        try:
            status = call(run_dir, "status", timeout_s=5)
        except SupervisorUnavailable:
            time.sleep(0.2)
            continue
        if status.get("phase") == StackPhase.RUNNING:
            return status
        if status.get("phase") == StackPhase.FAILED:
            raise StartupError(status.get("error") or "start-up failed")
        time.sleep(0.3)
    down(run_dir)
    raise StartupError(f"the stack was not ready after {timeout_s:g} s")


def down(run_dir: Path, timeout_s: float = 60.0) -> bool:
    """Stop the stack of ``run_dir``; True if one was running."""
    pid = supervisor_pid(run_dir)
    if pid is None:
        (Path(run_dir) / STATE_FILE).unlink(missing_ok=True)
        return False
    try:
        call(run_dir, "stop", timeout_s=5)
    except SupervisorUnavailable:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if supervisor_pid(run_dir) is None:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True
