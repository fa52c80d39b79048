"""The dome shutter: open, close, abort.

The dome has one authority, the environment monitor (DESIGN §2): it claims the dome at safety
priority; flows only *request* it open through the monitor. ``open``/``close`` return once the
dome accepted the move; :meth:`Dome.wait_until_idle` waits for it to end.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.errors import ProtocolError
from infra.config import SiteConfig


class ShutterState(StrEnum):
    """Where the shutter is."""

    OPEN = "open"
    CLOSED = "closed"
    OPENING = "opening"
    CLOSING = "closing"
    STOPPED = "stopped"
    FAULT = "fault"


MOVING = frozenset({ShutterState.OPENING, ShutterState.CLOSING})


@dataclass(frozen=True)
class DomeState:
    """The dome's ``STATUS``."""

    shutter: ShutterState
    open_percent: float | None
    gateway: GatewayView | None = None

    @property
    def moving(self) -> bool:
        return self.shutter in MOVING

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "dome") -> DomeState:
        try:
            shutter = ShutterState(fields["state"])
        except (KeyError, ValueError):
            raise ProtocolError(
                f"{device}: STATUS has no valid state ({fields.get('state')!r})", device=device
            ) from None
        return cls(
            shutter=shutter,
            open_percent=fields.get("open_percent"),
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


class Dome(Controller):
    """A dome shutter."""

    config: SiteConfig

    def open(self, *, wait: bool = False, timeout_s: float | None = None) -> DomeState:
        """Open the shutter."""
        self._require_lease("OPEN")
        state = self._move("OPEN")
        return self.wait_until_idle(timeout_s) if wait else state

    def close(self, *, wait: bool = False, timeout_s: float | None = None) -> DomeState:
        """Close the shutter."""
        self._require_lease("CLOSE")
        state = self._move("CLOSE")
        return self.wait_until_idle(timeout_s) if wait else state

    def abort(self) -> DomeState:
        """Stop the shutter where it is."""
        self._require_lease("ABORT")
        return self._move("ABORT")

    def default_timeout_s(self) -> float:
        """Simulated seconds a full open or close may take at most (twice the travel, + 30 s)."""
        return 2 * max(self.config.dome.open_s, self.config.dome.close_s) + 30.0

    @abstractmethod
    def status(self) -> DomeState:
        """The dome's state (no lease needed)."""

    @abstractmethod
    def wait_until_idle(self, timeout_s: float | None = None) -> DomeState:
        """Wait until the shutter stops moving."""

    @abstractmethod
    def _move(self, command: str) -> DomeState: ...


class GatewayDome(GatewayController, Dome):
    """The dome driven through its gateway."""

    def status(self) -> DomeState:
        return DomeState.from_fields(self._status_fields(), self.device)

    def wait_until_idle(self, timeout_s: float | None = None) -> DomeState:
        timeout = self.default_timeout_s() if timeout_s is None else timeout_s
        fields = self._wait_for(
            lambda f: DomeState.from_fields(f, self.device).shutter not in MOVING,
            "shutter move",
            timeout,
        )
        return DomeState.from_fields(fields, self.device)

    def _move(self, command: str) -> DomeState:
        fields = self._control(command)
        return DomeState.from_fields(fields, self.device) if "state" in fields else self.status()
