"""The dome simulator: a shutter that takes ``[dome] open_s`` / ``close_s`` to travel, stops on
abort, and an interlock of its own.

**The interlock.** Real observatories wire the rain sensor to the dome's PLC: the shutter refuses
to open while it rains, whatever the software asks. The simulators run in one process and share
one model, so the dome asks the PLC simulator directly (:meth:`PlcSimulator.rain_reason`) rather
than polling it over TCP: the interlock sees the rain the instant the scenario sets it, with no
polling delay, and a PLC under a communication fault (silent, garbage, disconnected) still
interlocks, as hard-wired logic would. The interlock only refuses ``OPEN`` (error ``limit``); it
never closes the dome by itself — closing on rain is the environment monitor's decision (DESIGN
§2), and a dome that closed itself would hide a monitor that failed to.

The shutter position is computed from the clock when asked: from closed it is open after exactly
``open_s`` simulated seconds, at any clock speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devices.commands import DeviceKind
from devices.controllers.dome import ShutterState
from devices.errors import LIMIT, DeviceError
from infra.clock import Clock
from infra.config import SiteConfig
from simulators.device import SimulatedDevice


@dataclass(frozen=True)
class Travel:
    """The shutter moving: from ``start_percent`` at ``started_at``, ``rate`` percent per second
    (negative when closing)."""

    start_percent: float
    started_at: datetime
    rate: float

    @property
    def goal(self) -> float:
        return 100.0 if self.rate > 0 else 0.0

    def percent(self, now: datetime) -> float:
        if self.rate == float("inf") or self.rate == float("-inf"):
            return self.goal
        moved = self.rate * (now - self.started_at).total_seconds()
        value = self.start_percent + moved
        return min(100.0, max(0.0, value))


class DomeSimulator(SimulatedDevice):
    """The dome shutter.

    Parameters
    ----------
    name, host, port, clock :
        As :class:`~simulators.device.SimulatedDevice`.
    config : SiteConfig
        ``[dome] open_s``, ``close_s``.
    rain_reason : callable
        Returns why the PLC says it rains, or None when dry (the interlock).
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        clock: Clock,
        config: SiteConfig,
        rain_reason: Callable[[], str | None] = lambda: None,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(name, DeviceKind.DOME, host, port, clock, lock)
        self.open_s = config.dome.open_s
        self.close_s = config.dome.close_s
        self._rain_reason = rain_reason
        self._state = ShutterState.CLOSED
        self._percent = 0.0
        self._travel: Travel | None = None
        self.opens = self.closes = self.refusals = 0

    # ------------------------------------------------------------------ the model
    def _advance(self, now: datetime) -> None:
        travel = self._travel
        if travel is None:
            return
        self._percent = travel.percent(now)
        if self._percent == travel.goal:
            self._state = ShutterState.OPEN if travel.goal == 100.0 else ShutterState.CLOSED
            self._travel = None

    def _move(self, now: datetime, opening: bool) -> None:
        self._advance(now)
        goal = 100.0 if opening else 0.0
        if self._percent == goal and self._travel is None:
            self._state = ShutterState.OPEN if opening else ShutterState.CLOSED
            return
        duration = self.open_s if opening else self.close_s
        rate = 100.0 / duration if duration > 0 else float("inf")
        self._travel = Travel(self._percent, now, rate if opening else -rate)
        self._state = ShutterState.OPENING if opening else ShutterState.CLOSING
        self._advance(now)

    def shutter(self) -> tuple[str, float]:
        """(state, open percent) now; the state ``fault`` during a hardware fault."""
        with self._lock:
            self._advance(self.clock.now())
            state = ShutterState.FAULT if self.in_hardware_fault() else self._state
            return state, self._percent

    def is_open(self) -> bool:
        """Whether the shutter is fully open now (sky light reaches the cameras)."""
        state, percent = self.shutter()
        return percent >= 100.0 and state != ShutterState.FAULT

    # ------------------------------------------------------------------ faults
    def hardware_failed(self) -> None:
        now = self.clock.now()
        self._advance(now)
        if self._travel is not None:
            self._travel = None
            self._state = ShutterState.STOPPED

    # ------------------------------------------------------------------ commands
    def cmd_status(self) -> dict[str, Any]:
        self._advance(self.clock.now())
        state = ShutterState.FAULT if self.in_hardware_fault() else self._state
        return {"state": state, "open_percent": round(self._percent, 3)}

    def cmd_open(self) -> dict[str, Any]:
        reason = self._rain_reason()
        if reason is not None:
            self.refusals += 1
            raise DeviceError(
                f"{self.name}: OPEN refused by the rain interlock: the PLC reports rain ({reason})",
                code=LIMIT,
                detail={"interlock": "rain"},
            )
        self._move(self.clock.now(), opening=True)
        self.opens += 1
        return self.cmd_status()

    def cmd_close(self) -> dict[str, Any]:
        self._move(self.clock.now(), opening=False)
        self.closes += 1
        return self.cmd_status()

    def cmd_abort(self) -> dict[str, Any]:
        now = self.clock.now()
        self._advance(now)
        if self._travel is not None:
            self._travel = None
            self._state = ShutterState.STOPPED
        return self.cmd_status()
