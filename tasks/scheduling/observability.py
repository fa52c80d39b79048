"""When each target can be observed tonight: altitude and moon distance over the night grid.

All sidereal targets go through one vectorised astropy transform (:func:`tasks.sky.altitudes_deg`)
on the night's grid; the moon's position on that grid is computed once per night
(:class:`~tasks.scheduling.night_times.NightGrid`), so its distance to every target is plain array
arithmetic. A target is observable where its altitude is at least its altitude limit and its
distance to the moon at least its moon limit; the ends of each observable stretch are
interpolated between grid samples. Test targets (no sky position) are observable all night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infra.config import LimitsSection, SiteConfig
from tasks.scheduling import reasons as why
from tasks.scheduling.intervals import Intervals, nonnegative_runs
from tasks.scheduling.night_times import NightGrid
from tasks.sky import altitudes_deg, separation_deg


def altitude_for_airmass(airmass: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The altitude (degrees) at which the plane-parallel airmass sec(z) equals ``airmass``."""
    clipped = np.maximum(np.asarray(airmass, dtype=float), 1.0)
    altitude: npt.NDArray[np.float64] = 90.0 - np.degrees(np.arccos(1.0 / clipped))
    return altitude


def effective_limits(
    min_altitude_deg: np.ndarray,
    max_airmass: np.ndarray,
    min_moon_distance_deg: np.ndarray,
    limits: LimitsSection,
) -> tuple[np.ndarray, np.ndarray]:
    """The altitude and moon-distance limits each sequence is planned with.

    A sequence's own constraints override the site's defaults (``NaN`` = not given): when it gives
    a minimum altitude or a maximum airmass (or both, then the stricter), the site's
    ``min_altitude_deg`` and ``max_airmass`` do not apply to it; otherwise both site values apply.
    The horizon limit (``limits.horizon_deg``) always applies: it protects the telescope.

    Returns
    -------
    (min_altitude_deg, min_moon_distance_deg) : ndarrays
    """
    own_alt = np.asarray(min_altitude_deg, dtype=float)
    own_airmass = np.asarray(max_airmass, dtype=float)
    from_airmass = np.where(np.isnan(own_airmass), np.nan, altitude_for_airmass(own_airmass))
    has_own = ~np.isnan(own_alt) | ~np.isnan(own_airmass)
    with np.errstate(invalid="ignore"):
        own = np.fmax(own_alt, from_airmass)
    site = max(limits.min_altitude_deg, float(altitude_for_airmass(limits.max_airmass)))
    altitude = np.maximum(np.where(has_own, own, site), limits.horizon_deg)
    moon = np.asarray(min_moon_distance_deg, dtype=float)
    moon = np.where(np.isnan(moon), limits.min_moon_distance_deg, moon)
    return altitude, moon


@dataclass(frozen=True)
class Observability:
    """Observable stretches of each target over the grid, and why a target has none."""

    intervals: Intervals
    #: Per target: "" when it has an observable stretch, else the reason code (never high
    #: enough, too close to the moon, or never both at once).
    never: list[str]


def observability(
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    min_altitude_deg: np.ndarray,
    min_moon_distance_deg: np.ndarray,
    grid: NightGrid,
    config: SiteConfig,
) -> Observability:
    """Observable stretches of every target tonight.

    Parameters
    ----------
    ra_deg, dec_deg : ndarray
        Positions; ``NaN`` for a test target (observable all night).
    min_altitude_deg, min_moon_distance_deg : ndarray
        Effective limits per target (:func:`effective_limits`).
    grid : NightGrid
        The night's grid and the moon on it.
    config : SiteConfig
        The site.

    Returns
    -------
    Observability
        Intervals (Unix seconds) by target index, and the reason for targets with none.
    """
    ra = np.asarray(ra_deg, dtype=float)
    dec = np.asarray(dec_deg, dtype=float)
    count = ra.size
    never = [""] * count
    sidereal = np.flatnonzero(~(np.isnan(ra) | np.isnan(dec)))
    test = np.flatnonzero(np.isnan(ra) | np.isnan(dec))
    all_night = Intervals.one_per_row(
        test, np.full(test.size, grid.begin), np.full(test.size, grid.end)
    )
    if sidereal.size == 0:
        return Observability(all_night, never)
    altitude = altitudes_deg(ra[sidereal], dec[sidereal], grid.times, config)
    distance = separation_deg(
        ra[sidereal, np.newaxis],
        dec[sidereal, np.newaxis],
        grid.moon_ra_deg[np.newaxis, :],
        grid.moon_dec_deg[np.newaxis, :],
    )
    altitude_margin = altitude - np.asarray(min_altitude_deg, float)[sidereal, np.newaxis]
    moon_margin = distance - np.asarray(min_moon_distance_deg, float)[sidereal, np.newaxis]
    runs = nonnegative_runs(grid.times_unix, np.minimum(altitude_margin, moon_margin))
    runs = Intervals(sidereal[runs.row], runs.start, runs.end)
    found = runs.rows_present(count)
    high = (altitude_margin >= 0).any(axis=1)
    far = (moon_margin >= 0).any(axis=1)
    for position in np.flatnonzero(~found[sidereal]):
        if not high[position]:
            never[sidereal[position]] = why.NEVER_HIGH_ENOUGH
        elif not far[position]:
            never[sidereal[position]] = why.TOO_CLOSE_TO_MOON
        else:
            never[sidereal[position]] = why.LOW_OR_NEAR_MOON
    return Observability(runs.concat(all_night), never)
