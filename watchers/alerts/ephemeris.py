"""The listener's sky: what does not depend on the alert is computed ahead, on a grid.

A follow-up's decision asks :meth:`tasks.alerts.visibility.Sky.now` for the burst's altitude, the
sun's altitude and the moon's distance. With astropy that is most of the decision's cost (three
frame transforms, ``get_sun`` and ``get_body``: 20-60 ms on the 2-core machine, docs/benchmarks.md
``alert_intake``), and almost all of it is independent of the alert: the observer's astrometry
parameters (ERFA's ``astrom``: precession-nutation, aberration, polar motion), the sun and the
moon. :class:`EphemerisSky` computes these once, vectorised, on a grid (``GRID_STEP_S`` apart,
``GRID_SPAN_S`` ahead). Per alert: the sun and the moon are interpolated, and the burst is taken
to the observed frame with the nearest grid point's ``astrom`` whose Earth rotation angle is set
to the exact instant (``erfa.aper13``), then ``erfa.atciqz`` and ``erfa.atioq`` — what astropy's
own ICRS to AltAz transform does, without refraction as there. An instant outside the grid (a
simulated clock that jumped) is answered by :class:`Sky` exactly and the grid is rebuilt there on
a background thread.

Error against :func:`tasks.sky.visibility_at`: below 1e-6 deg for the altitude, 1e-4 deg for the
sun (0.25 deg/min at most, interpolated over 60 s) and the moon
(``tests/watchers/alerts/test_ephemeris.py``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from infra.astro import site_location
from infra.config import SiteConfig
from tasks.alerts.visibility import Sky

if TYPE_CHECKING:  # astropy is imported when the sky is first asked, not at import time
    from tasks.sky import Visibility

log = logging.getLogger(__name__)

GRID_STEP_S = 60.0
#: The grid covers [t - GRID_BEHIND_S, t + GRID_SPAN_S] around the instant it is built for.
GRID_SPAN_S = 3 * 3600.0
GRID_BEHIND_S = 600.0
#: Rebuilt (in the background) when less than this remains ahead of the instant asked.
REFRESH_AHEAD_S = 3600.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Ephemerides:
    """The sun's altitude and the moon's topocentric direction on a regular grid of instants.

    Parameters
    ----------
    start : float
        The first instant (POSIX seconds).
    step_s : float
        Seconds between two grid instants.
    sun_altitude_deg : ndarray
        Shape ``(n,)``.
    moon_xyz : ndarray
        The moon's topocentric unit vector (RA/Dec frame), shape ``(3, n)``.
    astrom : ndarray
        ERFA's star-independent astrometry parameters for the site at each instant, ``(n,)``.
    ut1_jd : ndarray
        UT1 of each instant as two-part Julian dates, shape ``(2, n)``.
    """

    start: float
    step_s: float
    sun_altitude_deg: FloatArray
    moon_xyz: FloatArray
    astrom: npt.NDArray[np.void]
    ut1_jd: FloatArray

    @property
    def end(self) -> float:
        """The last instant of the grid (POSIX seconds)."""
        return self.start + self.step_s * (len(self.sun_altitude_deg) - 1)

    def covers(self, at: float) -> bool:
        """Whether ``at`` (POSIX seconds) lies within the grid."""
        return self.start <= at <= self.end

    def at(self, at: float) -> tuple[float, float, float]:
        """The sun's altitude and the moon's RA and Dec (degrees) at ``at`` (interpolated)."""
        grid = self.start + self.step_s * np.arange(len(self.sun_altitude_deg))
        sun = float(np.interp(at, grid, self.sun_altitude_deg))
        x, y, z = (float(np.interp(at, grid, c)) for c in self.moon_xyz)
        ra = float(np.degrees(np.arctan2(y, x))) % 360.0
        dec = float(np.degrees(np.arctan2(z, np.hypot(x, y))))
        return sun, ra, dec

    def altitude_deg(self, ra_deg: float, dec_deg: float, at: float) -> float:
        """The altitude (degrees, no refraction) of an ICRS position at ``at``."""
        import erfa

        index = round((at - self.start) / self.step_s)
        index = min(max(index, 0), len(self.sun_altitude_deg) - 1)
        offset_days = (at - self.start - index * self.step_s) / 86400.0
        astrom = erfa.aper13(
            self.ut1_jd[0, index], self.ut1_jd[1, index] + offset_days, self.astrom[index].copy()
        )
        ri, di = erfa.atciqz(np.radians(ra_deg), np.radians(dec_deg), astrom)
        zenith = erfa.atioq(ri, di, astrom)[1]
        return 90.0 - float(np.degrees(zenith))


def compute_ephemerides(
    around: datetime, config: SiteConfig, step_s: float = GRID_STEP_S
) -> Ephemerides:
    """The grid around ``around`` (an aware datetime), computed with :mod:`tasks.sky`."""
    # Import time: astropy (and tasks.sky) when a grid is first computed, not at import.
    from astropy.coordinates import AltAz
    from astropy.coordinates.erfa_astrom import erfa_astrom

    # Import time: as above.
    from tasks.sky import as_time, moon_radec_deg, sun_altitude_deg

    first = around - timedelta(seconds=GRID_BEHIND_S)
    count = int((GRID_BEHIND_S + GRID_SPAN_S) // step_s) + 1
    times = as_time([first + timedelta(seconds=k * step_s) for k in range(count)])
    sun = np.asarray(sun_altitude_deg(times, config), dtype=float)
    ra, dec = (np.radians(np.asarray(a, dtype=float)) for a in moon_radec_deg(times, config))
    xyz = np.vstack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    # astropy's own astrometry parameters for its ICRS -> AltAz transform (no refraction).
    astrom = erfa_astrom.get().apco(AltAz(obstime=times, location=site_location(config.site)))
    ut1 = times.ut1
    ut1_jd = np.vstack([np.asarray(ut1.jd1, dtype=float), np.asarray(ut1.jd2, dtype=float)])
    return Ephemerides(first.timestamp(), step_s, sun, xyz, np.asarray(astrom), ut1_jd)


class _Grid:
    """The current grid, replaced whole; at most one rebuild at a time."""

    def __init__(self) -> None:
        self.current: Ephemerides | None = None
        self._building = threading.Lock()

    def build(self, around: datetime, config: SiteConfig) -> None:
        with self._building:
            self.current = compute_ephemerides(around, config)

    def build_in_background(self, around: datetime, config: SiteConfig) -> None:
        if self._building.locked():
            return

        def run() -> None:
            try:
                self.build(around, config)
            except Exception:  # the exact path answers meanwhile
                log.exception("ephemerides not computed")

        threading.Thread(target=run, name="ephemerides", daemon=True).start()


@dataclass(frozen=True)
class EphemerisSky(Sky):
    """:class:`~tasks.alerts.visibility.Sky` with the sun and the moon from a grid.

    Parameters
    ----------
    config : SiteConfig
        The site.
    """

    _grid: _Grid = field(default_factory=_Grid, compare=False, repr=False)

    def prepare(self, around: datetime) -> None:
        """Compute the grid around ``around`` now (the listener's warm-up)."""
        self._grid.build(around, self.config)

    def now(self, ra_deg: float, dec_deg: float, when: datetime) -> Visibility:
        """As :meth:`Sky.now`; the sun and the moon interpolated on the grid."""
        # Import time: tasks.sky loads astropy.coordinates.
        from tasks.sky import judge_visibility, separation_deg

        grid, at = self._grid.current, when.timestamp()
        if grid is None or not grid.covers(at):
            self._grid.build_in_background(when, self.config)
            return super().now(ra_deg, dec_deg, when)
        if grid.end - at < REFRESH_AHEAD_S:
            self._grid.build_in_background(when, self.config)
        sun, moon_ra, moon_dec = grid.at(at)
        altitude = grid.altitude_deg(ra_deg, dec_deg, at)
        moon = float(separation_deg(ra_deg, dec_deg, moon_ra, moon_dec))
        return judge_visibility(altitude, sun, moon, self.config)
