"""Run the simulators: the observatory, its control channel and a scenario, until told to stop.

``pyros simulators start [--scenario FILE]`` and ``pyros up`` call :func:`run_simulators`; tests
use :class:`SimulatorRun` directly. One instance per ``PYROS_HOME`` (an OS lock on
``run/simulators.lock``). SIGINT and SIGTERM stop cleanly: the scenario's submissions are waited
for briefly, faults end, every connection is closed, renders are cancelled, the state file is
removed.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import get_engine
from infra.db.migrate import DatabaseNotReady, ensure_ready
from infra.journal import KIND_SCENARIO, record
from infra.oslock import InstanceLock
from infra.settings import load_settings
from infra.writebehind import WriteBehindQueue
from simulators.control import ControlChannel
from simulators.faults import FaultError
from simulators.observatory import Observatory
from simulators.player import ScenarioPlayer
from simulators.scenario import Scenario, load_scenario
from simulators.sky import Afterglow

log = logging.getLogger(__name__)


def database_problem() -> str | None:
    """Why the process database cannot take journal entries now (None: it can)."""
    try:
        ensure_ready(get_engine())
    except DatabaseNotReady as exc:
        return str(exc)
    except Exception as exc:  # unreachable server, bad URL...
        return f"database unavailable: {exc}"
    return None


class SimulatorRun:
    """The simulators, their control channel, an optional scenario and its journal.

    Parameters
    ----------
    scenario : Scenario, optional
        Played from the clock's start instant.
    config, clock :
        Default: the process's.
    run_dir : Path, optional
        Where the control channel's state file goes (default: ``$PYROS_HOME/run``).
    frames_dir : Path, optional
        Default: ``$PYROS_HOME/frames``.
    ports : dict, optional
        Device port overrides (0: free ports; tests).
    journal : bool
        Journal the scenario's outcomes through a write-behind queue (when a database is ready).
    on_scenario_end : callable, optional
        Called once the scenario's length has passed.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        config: SiteConfig | None = None,
        clock: Clock | None = None,
        run_dir: Path | None = None,
        frames_dir: Path | None = None,
        ports: dict[str, int] | None = None,
        journal: bool = True,
        on_scenario_end: Callable[[], None] | None = None,
    ) -> None:
        self.config = config or get_config()
        self.clock = clock or get_clock()
        settings = load_settings()
        self.run_dir = Path(run_dir) if run_dir else settings.run_dir
        self.observatory = Observatory(
            self.config, clock=self.clock, frames_dir=frames_dir, ports=ports
        )
        self._queue: WriteBehindQueue | None = None
        if journal and scenario is not None:
            problem = database_problem()
            if problem:
                log.warning("scenario outcomes will not be journaled: %s", problem)
            else:
                self._queue = WriteBehindQueue(get_engine, name="simulators-journal")
        self.player = (
            ScenarioPlayer(
                scenario,
                self.observatory,
                config=self.config,
                clock=self.clock,
                record=self._journal if self._queue is not None else None,
            )
            if scenario is not None
            else None
        )
        self._on_scenario_end = on_scenario_end
        self.stop_requested = threading.Event()
        self.control: ControlChannel | None = None
        self._watcher: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SimulatorRun:
        """Start the simulators, the control channel and the scenario.

        Raises
        ------
        SimulatorStartError
            A device port cannot be bound (nothing is left running).
        """
        self.observatory.start()
        addresses = {n: f"{h}:{p}" for n, (h, p) in self.observatory.addresses().items()}
        try:
            self.control = ControlChannel(
                self._dispatch, self.run_dir, extra={"devices": addresses}
            ).start()
        except Exception:
            self.observatory.stop()
            raise
        if self._queue is not None:
            self._queue.start()
        if self.player is not None:
            self.player.start()
            if self._on_scenario_end is not None:
                self._watcher = threading.Thread(
                    target=self._watch_end, name="scenario-end", daemon=True
                )
                self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop everything (idempotent)."""
        self.stop_requested.set()
        if self.player is not None:
            self.player.stop()
        if self.control is not None:
            self.control.close()
            self.control = None
        self.observatory.faults.clear_all()
        self.observatory.stop()
        if self._queue is not None:
            left = self._queue.stop(2.0)
            if left:
                log.warning("simulators: %d journal entries left unwritten at stop", left)
            self._queue = None

    def __enter__(self) -> SimulatorRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch_end(self) -> None:
        assert self.player is not None
        while not self.stop_requested.is_set():
            if self.player.wait(0.2):
                if self._on_scenario_end is not None:
                    self._on_scenario_end()
                return

    def _journal(self, outcome: dict[str, Any]) -> None:
        record(
            KIND_SCENARIO,
            f"simulators:{outcome['key']}",
            outcome,
            into=self._queue,
            clock=self.clock,
        )

    # ------------------------------------------------------------------ control
    def describe(self) -> dict[str, Any]:
        """Devices, faults, afterglows and the scenario's progress."""
        return {
            **self.observatory.describe(),
            "scenario": self.player.describe() if self.player is not None else None,
        }

    def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        observatory = self.observatory
        try:
            if command == "status":
                return {"ok": True, **self.describe()}
            if command == "fault":
                fault = observatory.inject_fault(
                    str(request.get("device")),
                    str(request.get("kind")),
                    request.get("duration_s"),
                    delay_s=request.get("delay_s"),
                    source="command",
                )
                return {"ok": True, "fault": fault.describe(self.clock.now())}
            if command == "clear":
                device = str(request.get("device"))
                if device not in observatory.devices:
                    known = ", ".join(observatory.devices)
                    raise FaultError(f"unknown device {device!r} (known: {known})")
                cleared = observatory.faults.clear(device)
                return {"ok": True, "cleared": cleared is not None}
            if command == "afterglow":
                afterglow = Afterglow(
                    ra_deg=float(request["ra_deg"]) % 360.0,
                    dec_deg=float(request["dec_deg"]),
                    trigger_time=self.clock.now(),
                    mag_t0=float(request["magnitude"]),
                    t0_s=float(request.get("t0_s", 60.0)),
                    alpha=float(request.get("decay_index", 1.0)),
                    name=str(request.get("name") or "afterglow"),
                )
                observatory.add_afterglow(afterglow)
                return {"ok": True, "afterglows": len(observatory.afterglows())}
            if command == "stop":
                self.stop_requested.set()
                return {"ok": True}
        except (FaultError, ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": str(exc)}
        known = "status, fault, clear, afterglow, stop"
        return {"ok": False, "error": f"unknown command {command!r} (known: {known})"}


def run_simulators(
    scenario_path: Path | None = None,
    *,
    stop_at_end: bool = False,
    stop: threading.Event | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the simulators in the foreground until SIGINT/SIGTERM (or ``stop``, or the end of the
    scenario with ``stop_at_end``), then stop them cleanly.

    Raises
    ------
    ScenarioError
        The scenario file is invalid (nothing was started).
    SimulatorStartError
        A device port is taken.
    AlreadyRunning
        Simulators already run for this PYROS_HOME.
    """
    settings, config = load_settings(), get_config()
    if scenario_path is None and config.simulators.scenario:
        scenario_path = Path(config.simulators.scenario)
    scenario = load_scenario(scenario_path) if scenario_path is not None else None
    lock = InstanceLock(settings.run_dir / "simulators.lock").acquire()
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        run = SimulatorRun(
            scenario, config=config, on_scenario_end=stop.set if stop_at_end else None
        )
        run.start()
        try:
            for name, (host, port) in run.observatory.addresses().items():
                announce(f"simulator {name}: {host}:{port}")
            if scenario is not None:
                announce(f"scenario {scenario.source}: {len(scenario.items)} item(s), "
                         f"{scenario.length_s:g} s")  # fmt: skip
            announce("simulators running (Ctrl-C or SIGTERM to stop)")
            while not stop.wait(0.2) and not run.stop_requested.is_set():
                pass
        finally:
            run.stop()
        announce("simulators stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()
