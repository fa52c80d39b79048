"""One supervised child process: start it in its own process group, stop it as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.supervisor.spec import ProcessSpec


class ProcessState(StrEnum):
    """Where a supervised process is (shown by ``pyros status``)."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    #: Died and is not restarted, or (a one-shot job) ended with an error.
    FAILED = "failed"
    #: A one-shot job that ended well.
    DONE = "done"
    #: Died and kept down by its hold file (``<run dir>/hold-<name>``) until the file goes.
    HELD = "held"


@dataclass
class Child:
    """A running (or stopped) process of the stack and its history."""

    spec: ProcessSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float | None = None
    ready: bool = False
    last_exit: int | None = None
    state: ProcessState = ProcessState.STOPPED
    history: list[str] = field(default_factory=list)

    def start(self, base_env: dict[str, str]) -> None:
        """Start the process, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.spec.argv,
                env={**base_env, **self.spec.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self.started_at = time.time()
        self.ready = self.spec.ready is None
        self.state = ProcessState.RUNNING if self.ready else ProcessState.STARTING

    @property
    def pid(self) -> int | None:
        """Pid of the current process, if any."""
        return self.process.pid if self.process is not None else None

    def wait(self) -> int:
        """Wait until the current process ends; its exit code.

        Raises
        ------
        RuntimeError
            When the process was never started.
        """
        if self.process is None:
            raise RuntimeError(f"{self.spec.name} was never started")
        return self.process.wait()

    def poll(self) -> int | None:
        """Exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after ``stop_timeout_s``."""
        if self.process is None or self.process.poll() is not None:
            self.state = ProcessState.STOPPED
            return
        pgid = os.getpgid(self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=self.spec.stop_timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Whatever the child left in its group (a server's workers) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self.last_exit = self.process.returncode
        self.state = ProcessState.STOPPED

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log (for start-up errors)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> dict[str, Any]:
        """Status for the control protocol and ``pyros status``."""
        return {
            "name": self.spec.name,
            "pid": self.pid,
            "state": self.state,
            "ready": self.ready,
            "restarts": self.restarts,
            "started_at": self.started_at,
            "last_exit": self.last_exit,
            "log": str(self.log_path),
        }
