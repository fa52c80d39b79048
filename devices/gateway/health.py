"""Device health as a gateway sees it: connected, last reply, last error, and the transitions.

States: ``unknown`` (just started), ``up`` (connected), ``down`` (not connected). Transitions that
matter to an operator are reported to a callback: ``connected`` (unknown -> up, the first
connection), ``lost`` (up -> down, or unknown -> down when the device cannot be reached at start)
and ``back`` (down -> up). Timestamps come from the PyROS clock (simulated under a simulated
clock); ages are wall seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from infra.clock import Clock, format_instant


class LinkState(StrEnum):
    """The gateway's connection to its device."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


class LinkTransition(StrEnum):
    """A change of :class:`LinkState` an operator is told about."""

    CONNECTED = "connected"
    LOST = "lost"
    BACK = "back"


Transition = Callable[[LinkTransition, dict[str, Any]], None]


class DeviceHealth:
    """Health of the device behind one gateway.

    Parameters
    ----------
    device : str
        Device name.
    clock : Clock
        For timestamps.
    on_transition : callable, optional
        ``on_transition(kind, snapshot)`` with kind ``connected``, ``lost`` or ``back``; called
        outside the tracker's lock, from I/O threads: it must be quick.
    """

    def __init__(self, device: str, clock: Clock, on_transition: Transition | None = None) -> None:
        self.device = device
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self.state = LinkState.UNKNOWN
        self._since = clock.now()
        self._last_reply_at: datetime | None = None
        self._last_reply_wall: float | None = None
        self._last_error = ""
        self._last_error_at: datetime | None = None
        self.connects = 0
        self.losses = 0
        self.timeouts = 0
        self.consecutive_timeouts = 0

    def connected(self) -> None:
        """The connection to the device is up."""
        with self._lock:
            previous = self.state
            self.state = LinkState.UP
            self._since = self._clock.now()
            self.connects += 1
            snapshot = self._snapshot()
        if previous != LinkState.UP:
            first = previous == LinkState.UNKNOWN
            self._report(LinkTransition.CONNECTED if first else LinkTransition.BACK, snapshot)

    def disconnected(self, reason: str) -> None:
        """The connection was lost (or a connection attempt failed)."""
        with self._lock:
            previous = self.state
            self._last_error = reason
            self._last_error_at = self._clock.now()
            if previous == LinkState.DOWN:
                return
            self.state = LinkState.DOWN
            self._since = self._last_error_at
            self.losses += 1
            snapshot = self._snapshot()
        self._report(LinkTransition.LOST, snapshot)

    def replied(self) -> None:
        """A reply came from the device."""
        with self._lock:
            self._last_reply_at = self._clock.now()
            self._last_reply_wall = time.monotonic()
            self.consecutive_timeouts = 0

    def failed(self, message: str, *, timeout: bool = False) -> int:
        """A request failed; returns the number of consecutive timeouts."""
        with self._lock:
            self._last_error = message
            self._last_error_at = self._clock.now()
            if timeout:
                self.timeouts += 1
                self.consecutive_timeouts += 1
            return self.consecutive_timeouts

    def snapshot(self) -> dict[str, Any]:
        """Health as protocol fields."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        age = (
            round(time.monotonic() - self._last_reply_wall, 3)
            if self._last_reply_wall is not None
            else None
        )
        return {
            "device": self.device,
            "connected": self.state == LinkState.UP,
            "state": self.state,
            "since": format_instant(self._since),
            "last_reply_at": format_instant(self._last_reply_at) if self._last_reply_at else None,
            "last_reply_age_s": age,
            "last_error": self._last_error,
            "last_error_at": format_instant(self._last_error_at) if self._last_error_at else None,
            "connects": self.connects,
            "losses": self.losses,
            "timeouts": self.timeouts,
        }

    def _report(self, kind: LinkTransition, snapshot: dict[str, Any]) -> None:
        if self._on_transition is not None:
            self._on_transition(kind, snapshot)
