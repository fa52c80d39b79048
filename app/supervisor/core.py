"""The supervision loop: start in order, wait for readiness, restart what dies, stop in reverse.

Restarts are immediate for the first death and then back off (capped at
:data:`MAX_RESTART_DELAY_S`), so a watcher that dies is back within a few seconds while a process
that crashes at once does not spin the CPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.supervisor.child import Child, ProcessState
from app.supervisor.spec import ProcessSpec

log = logging.getLogger(__name__)

POLL_S = 0.2
MAX_RESTART_DELAY_S = 2.0
#: A process that stayed up this long is considered healthy again (its backoff resets).
HEALTHY_AFTER_S = 30.0


#: ``on_event(event, process name, details)``: a start, readiness, death or restart.
EventHook = Callable[[str, str, dict[str, Any]], None]


class StartupError(RuntimeError):
    """A process failed to start or to become ready; the message names it and its log tail."""


class ProcessHeld(RuntimeError):
    """A restart was asked of a process its hold file keeps down."""


class StackPhase(StrEnum):
    """Where the whole stack is (shown by ``pyros status``)."""

    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"


class Supervisor:
    """Run and watch the processes of a stack.

    Parameters
    ----------
    specs : list of ProcessSpec
        In start order.
    log_dir : Path
        One log file per process (``<name>.log``).
    on_event : callable, optional
        Called with (event, process name, details) on start, ready, death and restart (the
        supervisor journals them).
    hold_dir : Path, optional
        Where hold files are looked for: while ``<hold_dir>/hold-<name>`` exists, a process that
        dies is not restarted, not even on request (a maintenance switch, and the tests' way of
        keeping a watcher down).
    """

    def __init__(
        self,
        specs: list[ProcessSpec],
        log_dir: Path,
        on_event: EventHook | None = None,
        hold_dir: Path | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self.children = {s.name: Child(s, Path(log_dir) / f"{s.name}.log") for s in specs}
        self._on_event = on_event or (lambda *_: None)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._next_restart: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self.base_env = dict(os.environ)
        self.hold_dir = Path(hold_dir) if hold_dir is not None else None
        self.phase = StackPhase.STARTING
        self.error = ""

    def _event(self, event: str, child: Child, **details: Any) -> None:
        child.history.append(f"{time.strftime('%H:%M:%S')} {event}")
        try:
            self._on_event(event, child.spec.name, {"pid": child.pid, **details})
        except Exception:
            log.exception("event hook failed")

    def start_all(self) -> None:
        """Start every process in order; raise :class:`StartupError` on the first failure."""
        for child in self.children.values():
            if self._stopping.is_set():
                return
            with self._lock:
                child.start(self.base_env)
            self._event("started", child)
            if child.spec.oneshot:
                code = child.wait()
                child.last_exit = code
                child.state = ProcessState.DONE if code == 0 else ProcessState.FAILED
                if code != 0:
                    raise StartupError(
                        f"{child.spec.name} failed with exit code {code}:\n{child.log_tail()}"
                    )
                self._event("done", child)
                continue
            self._wait_ready(child)

    def _wait_ready(self, child: Child) -> None:
        spec = child.spec
        if spec.ready is None:
            return
        deadline = time.monotonic() + spec.ready.timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            if child.poll() is not None:
                raise StartupError(
                    f"{spec.name} exited with code {child.poll()} while starting:"
                    f"\n{child.log_tail()}"
                )
            if spec.ready.check():
                with self._lock:
                    child.ready, child.state = True, ProcessState.RUNNING
                self._event("ready", child)
                return
            time.sleep(POLL_S)
        if not self._stopping.is_set():
            raise StartupError(
                f"{spec.name} not ready after {spec.ready.timeout_s:g} s:\n{child.log_tail()}"
            )

    def watch_once(self) -> None:
        """One pass: note deaths, restart what is due, mark restarted processes ready."""
        now = time.monotonic()
        with self._lock:
            for name, child in self.children.items():
                if child.spec.oneshot or child.process is None:
                    continue
                code = child.poll()
                if code is None:
                    if (
                        not child.ready
                        and child.spec.ready is not None
                        and child.spec.ready.check()
                    ):
                        child.ready, child.state = True, ProcessState.RUNNING
                        self._event("ready", child)
                    if child.started_at and time.time() - child.started_at > HEALTHY_AFTER_S:
                        self._delay.pop(name, None)
                    continue
                if child.state in (ProcessState.STOPPED, ProcessState.FAILED):
                    continue
                if self.held(name):
                    if child.state != ProcessState.HELD:
                        child.last_exit, child.ready = code, False
                        child.state = ProcessState.HELD
                        self._event("held", child, exit_code=code)
                    self._next_restart.pop(name, None)
                    continue
                if name not in self._next_restart:
                    child.last_exit, child.ready = code, False
                    restarts = child.spec.restart
                    child.state = ProcessState.RESTARTING if restarts else ProcessState.FAILED
                    self._event("died", child, exit_code=code)
                    if not child.spec.restart:
                        continue
                    delay = self._delay.get(name, 0.0)
                    self._next_restart[name] = now + delay
                    self._delay[name] = min(MAX_RESTART_DELAY_S, max(0.25, delay * 2))
                if now >= self._next_restart[name]:
                    del self._next_restart[name]
                    child.restarts += 1
                    child.start(self.base_env)
                    self._event("restarted", child, restarts=child.restarts)

    def run(self, poll_s: float = POLL_S) -> None:
        """Watch until :meth:`request_stop`; then stop everything."""
        try:
            while not self._stopping.wait(poll_s):
                self.watch_once()
        finally:
            self.stop_all()

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop the stack and return."""
        self._stopping.set()

    def wait_stop(self, timeout_s: float) -> bool:
        """Wait until a stop is requested (True) or ``timeout_s`` passes (False)."""
        return self._stopping.wait(timeout_s)

    def restart(self, name: str) -> dict[str, Any]:
        """Stop and start one process now (operator command).

        Raises
        ------
        KeyError
            When there is no process called ``name``.
        ProcessHeld
            When its hold file exists.
        """
        with self._lock:
            child = self.children[name]
            if self.held(name):
                raise ProcessHeld(f"{name} is held (remove {self.hold_path(name)} to release it)")
            child.stop()
            child.restarts += 1
            child.start(self.base_env)
            self._event("restarted", child, restarts=child.restarts, requested=True)
            return child.describe()

    def hold_path(self, name: str) -> Path | None:
        """The hold file of process ``name`` (None without a hold directory)."""
        return self.hold_dir / f"hold-{name}" if self.hold_dir is not None else None

    def held(self, name: str) -> bool:
        """Whether process ``name`` is kept down by its hold file."""
        path = self.hold_path(name)
        return path is not None and path.exists()

    def stop_all(self) -> None:
        """Stop every process, last started first."""
        with self._lock:
            for child in reversed(list(self.children.values())):
                if child.process is not None and child.poll() is None:
                    child.stop()
                    self._event("stopped", child)
                child.state = ProcessState.STOPPED

    def status(self) -> list[dict[str, Any]]:
        """Every process's state."""
        with self._lock:
            return [child.describe() for child in self.children.values()]
