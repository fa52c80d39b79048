"""The mount simulator: slews that take time, tracking, the horizon limit, park, abort.

The state is computed from the clock when asked (no timer threads): a slew started at ``t0`` from
``a`` to ``b`` is, at ``t``, at the point ``(t − t0) / travel`` of the great circle, then settles
for ``[mount] settle_s`` and tracks. ``travel = distance / [mount] slew_rate_deg_s``. So durations
are exact in simulated time at any clock speed.

Where the mount points is kept in the frame that does not move: ICRS while it tracks (the sky
turns under an alt/az that changes), alt/az while it is idle or parked (the sky drifts through a
fixed direction). A goto slews along the great circle in ICRS, a park in alt/az. A target that
sets below ``[limits] horizon_deg`` while tracked stops the mount there (``idle``), as a real
mount's limit switch would.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devices.astrometry import altaz_deg, radec_deg
from devices.commands import DeviceKind
from devices.controllers.mount import MountMotion
from devices.errors import BUSY, LIMIT, DeviceError
from infra.clock import Clock
from infra.config import SiteConfig
from simulators.device import SimulatedDevice
from simulators.geometry import Position, along, separation_deg

log = logging.getLogger(__name__)

ICRS = "icrs"
ALTAZ = "altaz"


@dataclass(frozen=True)
class Slew:
    """A motion in progress: along a great circle in ``frame``, then settling."""

    frame: str  # ICRS: (ra, dec); ALTAZ: (az, alt)
    start: Position
    target: Position
    started_at: datetime
    travel_s: float
    settle_s: float
    then: MountMotion  # the state once settled: tracking or parked

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.travel_s + self.settle_s)

    def position(self, now: datetime) -> Position:
        if self.travel_s <= 0:
            return self.target
        elapsed = (now - self.started_at).total_seconds()
        return along(self.start, self.target, elapsed / self.travel_s)


class MountSimulator(SimulatedDevice):
    """A fast GRB mount (defaults: 9°/s, 1 s settling: ~21 s across the sky).

    Parameters
    ----------
    name, host, port, clock :
        As :class:`~simulators.device.SimulatedDevice`.
    config : SiteConfig
        ``[mount]`` (rate, settling, park position), ``[limits] horizon_deg``, ``[site]``.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        clock: Clock,
        config: SiteConfig,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(name, DeviceKind.MOUNT, host, port, clock, lock)
        self.site = config.site
        self.rate_deg_s = config.mount.slew_rate_deg_s
        self.settle_s = config.mount.settle_s
        self.park_position: Position = (config.mount.park_az_deg, config.mount.park_alt_deg)
        self.horizon_deg = config.limits.horizon_deg
        self._state = MountMotion.PARKED
        self._rest: tuple[str, Position] = (ALTAZ, self.park_position)
        self._slew: Slew | None = None
        self._target: Position | None = None
        self.slews = 0

    # ------------------------------------------------------------------ the model
    def _advance(self, now: datetime) -> None:
        slew = self._slew
        if slew is not None and now >= slew.ends_at:
            self._rest = (slew.frame, slew.target)
            self._state = slew.then
            self._slew = None
        if self._state == MountMotion.TRACKING and self._rest[0] == ICRS:
            alt, az = altaz_deg(*self._rest[1], now, self.site)
            if alt < self.horizon_deg:
                log.info("%s: tracked target reached the horizon limit: stopped", self.name)
                self._rest = (ALTAZ, (az, alt))
                self._state = MountMotion.IDLE

    def _where(self, now: datetime) -> tuple[float, float, float, float]:
        """(ra, dec, alt, az) now."""
        self._advance(now)
        if self._slew is not None:
            frame, position = self._slew.frame, self._slew.position(now)
        else:
            frame, position = self._rest
        if frame == ICRS:
            ra, dec = position
            alt, az = altaz_deg(ra, dec, now, self.site)
        else:
            az, alt = position
            ra, dec = radec_deg(alt, az, now, self.site)
        return ra, dec, alt, az

    def _stop_here(self, now: datetime, state: MountMotion) -> None:
        _, _, alt, az = self._where(now)
        self._rest = (ALTAZ, (az, alt))
        self._slew = None
        self._target = None
        self._state = state

    def pointing(self) -> tuple[float, float]:
        """Where the mount points now (ICRS RA, Dec in degrees): what a camera sees."""
        with self._lock:
            ra, dec, _, _ = self._where(self.clock.now())
            return ra, dec

    def state(self) -> str:
        """The motion state now."""
        with self._lock:
            self._advance(self.clock.now())
            return MountMotion.FAULT if self.in_hardware_fault() else self._state

    # ------------------------------------------------------------------ faults
    def hardware_failed(self) -> None:
        self._stop_here(self.clock.now(), MountMotion.IDLE)

    def hardware_recovered(self) -> None:
        self._advance(self.clock.now())

    # ------------------------------------------------------------------ commands
    def cmd_status(self) -> dict[str, Any]:
        now = self.clock.now()
        ra, dec, alt, az = self._where(now)
        state = MountMotion.FAULT if self.in_hardware_fault() else self._state
        target = self._target if state in (MountMotion.SLEWING, MountMotion.TRACKING) else None
        return {
            "state": state,
            "ra_deg": round(ra, 7),
            "dec_deg": round(dec, 7),
            "alt_deg": round(alt, 5),
            "az_deg": round(az, 5),
            "tracking": state == MountMotion.TRACKING,
            "target": None if target is None else {"ra_deg": target[0], "dec_deg": target[1]},
        }

    def cmd_goto(self, ra_deg: float, dec_deg: float) -> dict[str, Any]:
        now = self.clock.now()
        alt, _ = altaz_deg(ra_deg, dec_deg, now, self.site)
        if alt < self.horizon_deg:
            raise DeviceError(
                f"{self.name}: GOTO refused: RA {ra_deg:.4f}° Dec {dec_deg:+.4f}° is at altitude "
                f"{alt:.1f}°, below the horizon limit {self.horizon_deg:g}°",
                code=LIMIT,
                detail={"alt_deg": round(alt, 3)},
            )
        ra, dec, _, _ = self._where(now)
        target = (ra_deg % 360.0, dec_deg)
        distance = separation_deg((ra, dec), target)
        self._slew = Slew(
            ICRS,
            (ra, dec),
            target,
            now,
            distance / self.rate_deg_s,
            self.settle_s,
            MountMotion.TRACKING,
        )
        self._target = target
        self._state = MountMotion.SLEWING
        self.slews += 1
        return self.cmd_status()

    def cmd_park(self) -> dict[str, Any]:
        now = self.clock.now()
        _, _, alt, az = self._where(now)
        distance = separation_deg((az, alt), self.park_position)
        self._slew = Slew(
            ALTAZ,
            (az, alt),
            self.park_position,
            now,
            distance / self.rate_deg_s,
            self.settle_s,
            MountMotion.PARKED,
        )
        self._target = None
        self._state = MountMotion.PARKING
        return self.cmd_status()

    def cmd_abort(self) -> dict[str, Any]:
        now = self.clock.now()
        self._advance(now)
        if self._slew is not None or self._state == "tracking":
            self._stop_here(now, MountMotion.IDLE)
        return self.cmd_status()

    def cmd_tracking(self, on: bool) -> dict[str, Any]:
        now = self.clock.now()
        self._advance(now)
        if self._slew is not None:
            raise DeviceError(f"{self.name}: TRACKING refused while {self._state}", code=BUSY)
        ra, dec, alt, az = self._where(now)
        if on:
            if alt < self.horizon_deg:
                raise DeviceError(
                    f"{self.name}: TRACKING refused: the mount points at altitude {alt:.1f}°, "
                    f"below the horizon limit {self.horizon_deg:g}°",
                    code=LIMIT,
                )
            self._rest = (ICRS, (ra, dec))
            self._target = (ra, dec)
            self._state = MountMotion.TRACKING
        elif self._state == "tracking":
            self._rest = (ALTAZ, (az, alt))
            self._state = MountMotion.IDLE
        return self.cmd_status()
