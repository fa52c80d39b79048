"""The mount: point at RA/Dec, park, abort, tracking.

:class:`Mount` holds the typed state and the safety checks (coordinates in range, never below
``limits.horizon_deg``); :class:`GatewayMount` is the driver that talks to the mount's gateway.
``goto`` returns once the mount accepted the slew; :meth:`Mount.wait_until_idle` waits for it to
end (``goto(..., wait=True)`` does both).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devices.astrometry import altaz_deg
from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.errors import BAD_ARGUMENT, LIMIT, CommandRefused, ProtocolError
from infra.clock import Clock
from infra.config import SiteConfig


class MountMotion(StrEnum):
    """What the mount is doing."""

    IDLE = "idle"
    SLEWING = "slewing"
    TRACKING = "tracking"
    PARKING = "parking"
    PARKED = "parked"
    FAULT = "fault"


#: Motions that end by themselves (what :meth:`Mount.wait_until_idle` waits out).
MOVING = frozenset({MountMotion.SLEWING, MountMotion.PARKING})


@dataclass(frozen=True)
class MountState:
    """The mount's ``STATUS``."""

    motion: MountMotion
    ra_deg: float | None
    dec_deg: float | None
    alt_deg: float | None
    az_deg: float | None
    tracking: bool
    target_ra_deg: float | None
    target_dec_deg: float | None
    gateway: GatewayView | None = None

    @property
    def moving(self) -> bool:
        return self.motion in MOVING

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "mount") -> MountState:
        try:
            motion = MountMotion(fields["state"])
        except (KeyError, ValueError):
            raise ProtocolError(
                f"{device}: STATUS has no valid state ({fields.get('state')!r})", device=device
            ) from None
        target = fields.get("target") or {}
        return cls(
            motion=motion,
            ra_deg=fields.get("ra_deg"),
            dec_deg=fields.get("dec_deg"),
            alt_deg=fields.get("alt_deg"),
            az_deg=fields.get("az_deg"),
            tracking=bool(fields.get("tracking")),
            target_ra_deg=target.get("ra_deg"),
            target_dec_deg=target.get("dec_deg"),
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


class Mount(Controller):
    """A telescope mount (safety checks here; the driver makes the calls)."""

    config: SiteConfig
    clock: Clock

    def goto(
        self, ra_deg: float, dec_deg: float, *, wait: bool = False, timeout_s: float | None = None
    ) -> MountState:
        """Slew to an ICRS position and track it.

        Parameters
        ----------
        ra_deg, dec_deg : float
            Target (degrees; RA is taken modulo 360).
        wait : bool
            Also wait until the slew ends.
        timeout_s : float, optional
            Simulated seconds to wait (default: a full-sky slew plus settling, plus 30 s).

        Raises
        ------
        CommandRefused
            Coordinates out of range, or the target below ``limits.horizon_deg`` now.
        Preempted, DeviceProblem
            As any command.
        """
        if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)) or not -90 <= dec_deg <= 90:
            raise CommandRefused(
                f"{self.device}: goto refused: RA {ra_deg!r}, Dec {dec_deg!r} out of range",
                device=self.device,
                code=BAD_ARGUMENT,
            )
        ra_deg = ra_deg % 360.0
        alt, _ = altaz_deg(ra_deg, dec_deg, self.clock.now(), self.config.site)
        horizon = self.config.limits.horizon_deg
        if alt < horizon:
            raise CommandRefused(
                f"{self.device}: goto refused: RA {ra_deg:.4f}° Dec {dec_deg:+.4f}° is at "
                f"altitude {alt:.1f}°, below the horizon limit {horizon:g}°",
                device=self.device,
                code=LIMIT,
                detail={"alt_deg": round(alt, 3)},
            )
        self._require_lease("GOTO")
        state = self._goto(ra_deg, dec_deg)
        return self.wait_until_idle(timeout_s) if wait else state

    def park(self, *, wait: bool = False, timeout_s: float | None = None) -> MountState:
        """Move to the park position and stop tracking."""
        self._require_lease("PARK")
        state = self._park()
        return self.wait_until_idle(timeout_s) if wait else state

    def abort(self) -> MountState:
        """Stop any motion now (tracking stops too)."""
        self._require_lease("ABORT")
        return self._abort()

    def set_tracking(self, on: bool) -> MountState:
        """Start or stop sidereal tracking."""
        self._require_lease("TRACKING")
        return self._set_tracking(bool(on))

    def default_timeout_s(self) -> float:
        """Simulated seconds a slew may take at most: across the sky, settling, and 30 s."""
        return 360.0 / self.config.mount.slew_rate_deg_s + self.config.mount.settle_s + 30.0

    @abstractmethod
    def status(self) -> MountState:
        """The mount's state (no lease needed)."""

    @abstractmethod
    def wait_until_idle(self, timeout_s: float | None = None) -> MountState:
        """Wait until no slew or park is in progress."""

    @abstractmethod
    def _goto(self, ra_deg: float, dec_deg: float) -> MountState: ...

    @abstractmethod
    def _park(self) -> MountState: ...

    @abstractmethod
    def _abort(self) -> MountState: ...

    @abstractmethod
    def _set_tracking(self, on: bool) -> MountState: ...


class GatewayMount(GatewayController, Mount):
    """The mount driven through its gateway."""

    def status(self) -> MountState:
        return MountState.from_fields(self._status_fields(), self.device)

    def wait_until_idle(self, timeout_s: float | None = None) -> MountState:
        timeout = self.default_timeout_s() if timeout_s is None else timeout_s
        fields = self._wait_for(
            lambda f: MountState.from_fields(f, self.device).motion not in MOVING,
            "slew",
            timeout,
        )
        return MountState.from_fields(fields, self.device)

    def _reply_state(self, fields: dict[str, Any]) -> MountState:
        # Action replies carry the new state; a device that answers only "ok" costs a STATUS.
        return MountState.from_fields(fields, self.device) if "state" in fields else self.status()

    def _goto(self, ra_deg: float, dec_deg: float) -> MountState:
        return self._reply_state(self._control("GOTO", {"ra_deg": ra_deg, "dec_deg": dec_deg}))

    def _park(self) -> MountState:
        return self._reply_state(self._control("PARK"))

    def _abort(self) -> MountState:
        return self._reply_state(self._control("ABORT"))

    def _set_tracking(self, on: bool) -> MountState:
        return self._reply_state(self._control("TRACKING", {"on": on}))
