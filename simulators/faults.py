"""Misbehaviour on demand: a fault per device, for a (simulated) duration.

Kinds, and what a gateway sees (docs/simulators.md):

- ``silent`` — the device stops answering (lines are read and dropped): ``DeviceTimeout``;
- ``garbage`` — every reply is replaced by a line that is not JSON: ``ProtocolError``;
- ``disconnect`` — the device drops its connections and stops listening (connections are
  refused): ``DeviceDisconnected``;
- ``slow`` — every reply comes ``delay_s`` **wall** seconds late (a transport delay, compared with
  wall-second timeouts like the gateway's): ``DeviceTimeout`` when the delay is longer than the
  gateway's device timeout (the default), else only late replies;
- ``fault`` — hardware failure: every command but ``STATUS`` is refused with the error code
  ``fault`` (``DeviceError``), ``STATUS`` shows the state ``fault``, and what was in progress
  stops;
- ``frozen`` — the device answers, but its own clock is stuck at the fault's start (the PLC's
  ``date`` stops advancing): nothing a gateway sees; the environment monitor judges it stale.

A fault lasts ``duration_s`` simulated seconds (None: until cleared). When it ends the device is
back: listening again, answering, out of its fault state (the mount idle where it stopped, the
dome stopped, the camera idle with no frame).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.clock import Clock, format_instant

SILENT = "silent"
GARBAGE = "garbage"
DISCONNECT = "disconnect"
SLOW = "slow"
FAULT = "fault"
FROZEN = "frozen"
#: Every fault kind, in the order of the documentation.
FAULT_KINDS = (SILENT, GARBAGE, DISCONNECT, SLOW, FAULT, FROZEN)
#: Other names accepted for a kind (the words of the issue).
KIND_ALIASES = {
    "stop": SILENT,
    "stop_answering": SILENT,
    "hang": SILENT,
    "drop": DISCONNECT,
    "disconnected": DISCONNECT,
    "slowness": SLOW,
    "hardware": FAULT,
    "hardware_failure": FAULT,
    "failure": FAULT,
    "frozen_date": FROZEN,
    "stale": FROZEN,
}
#: The line a device sends instead of its reply under a ``garbage`` fault.
GARBAGE_LINE = b"\x00\x01 #!garbage: this is not JSON {{{\n"


class FaultError(ValueError):
    """A fault cannot be injected (unknown device or kind, bad duration); the message says why."""


def fault_kind(name: str) -> str:
    """The canonical kind for ``name`` (a kind or one of its aliases).

    Raises
    ------
    FaultError
        Naming the kinds that exist.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = KIND_ALIASES.get(key, key)
    if key not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {name!r} (known: {', '.join(FAULT_KINDS)})")
    return key


@dataclass
class Fault:
    """A fault in force on one device."""

    device: str
    kind: str
    started_at: datetime
    until: datetime | None
    delay_s: float = 0.0
    source: str = "command"
    ended: threading.Event = field(default_factory=threading.Event)

    def describe(self, now: datetime) -> dict[str, Any]:
        """JSON-able description (control channel, ``pyros simulators status``)."""
        left = None if self.until is None else max(0.0, (self.until - now).total_seconds())
        return {
            "device": self.device,
            "kind": self.kind,
            "since": format_instant(self.started_at),
            "until": format_instant(self.until) if self.until else None,
            "left_s": None if left is None else round(left, 3),
            "delay_s": self.delay_s if self.kind == SLOW else None,
            "source": self.source,
        }


Listener = Callable[[Fault], None]


class FaultBoard:
    """The faults in force, one per device at most; expiry follows the simulated clock.

    Parameters
    ----------
    clock : Clock
        For start and end instants.
    devices : iterable of str
        The devices faults may be injected into.
    default_delay_s : callable
        ``default_delay_s(device)``: the wall delay of a ``slow`` fault given without one.
    """

    def __init__(
        self,
        clock: Clock,
        devices: list[str],
        default_delay_s: Callable[[str], float],
    ) -> None:
        self._clock = clock
        self.devices = list(devices)
        self._default_delay_s = default_delay_s
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._on_start: dict[str, list[Listener]] = {}
        self._on_end: dict[str, list[Listener]] = {}
        self.history: list[dict[str, Any]] = []

    def subscribe(
        self, device: str, on_start: Listener | None = None, on_end: Listener | None = None
    ) -> None:
        """Be told when a fault starts or ends on ``device`` (called outside the board's lock)."""
        if on_start is not None:
            self._on_start.setdefault(device, []).append(on_start)
        if on_end is not None:
            self._on_end.setdefault(device, []).append(on_end)

    def inject(
        self,
        device: str,
        kind: str,
        duration_s: float | None = None,
        *,
        delay_s: float | None = None,
        source: str = "command",
    ) -> Fault:
        """Put ``device`` in fault ``kind`` for ``duration_s`` simulated seconds (None: until
        cleared). A fault already in force on the device ends first.

        Raises
        ------
        FaultError
            Unknown device or kind, a duration that is not positive, a negative delay.
        """
        if device not in self.devices:
            raise FaultError(f"unknown device {device!r} (known: {', '.join(self.devices)})")
        kind = fault_kind(kind)
        if duration_s is not None and not duration_s > 0:
            raise FaultError(f"fault duration must be > 0 s (got {duration_s!r})")
        if delay_s is not None and not delay_s >= 0:
            raise FaultError(f"slow delay must be >= 0 s (got {delay_s!r})")
        self.clear(device)
        now = self._clock.now()
        fault = Fault(
            device=device,
            kind=kind,
            started_at=now,
            until=None if duration_s is None else now + timedelta(seconds=duration_s),
            delay_s=self._default_delay_s(device) if delay_s is None else float(delay_s),
            source=source,
        )
        with self._lock:
            self._faults[device] = fault
            self.history.append({"event": "start", **fault.describe(now)})
        for listener in self._on_start.get(device, []):
            listener(fault)
        return fault

    def clear(self, device: str) -> Fault | None:
        """End the fault of ``device`` now (None if there was none)."""
        with self._lock:
            fault = self._faults.pop(device, None)
            if fault is not None:
                self.history.append({"event": "end", **fault.describe(self._clock.now())})
        if fault is not None:
            self._ended(fault)
        return fault

    def active(self, device: str) -> Fault | None:
        """The fault in force on ``device`` now (an expired one is ended on the way)."""
        with self._lock:
            fault = self._faults.get(device)
        if fault is not None and fault.until is not None and self._clock.now() >= fault.until:
            self.expire()
            with self._lock:
                fault = self._faults.get(device)
        return fault

    def expire(self) -> list[Fault]:
        """End every fault whose time is up; returns them."""
        now = self._clock.now()
        with self._lock:
            done = [f for f in self._faults.values() if f.until is not None and now >= f.until]
            for fault in done:
                if self._faults.get(fault.device) is fault:
                    del self._faults[fault.device]
                    self.history.append({"event": "end", **fault.describe(now)})
        for fault in done:
            self._ended(fault)
        return done

    def next_expiry(self) -> datetime | None:
        """When the next fault ends (None: no timed fault in force)."""
        with self._lock:
            ends = [f.until for f in self._faults.values() if f.until is not None]
        return min(ends) if ends else None

    def describe(self) -> list[dict[str, Any]]:
        """Every fault in force."""
        now = self._clock.now()
        with self._lock:
            return [f.describe(now) for f in self._faults.values()]

    def clear_all(self) -> None:
        """End every fault (the simulators stop)."""
        for device in list(self.devices):
            self.clear(device)

    def _ended(self, fault: Fault) -> None:
        fault.ended.set()
        for listener in self._on_end.get(fault.device, []):
            listener(fault)
