"""Where things are in the sky at the site: altitudes, airmass, the sun and the moon.

Vectorised over targets and times (one astropy transform for all), shared by the planner (a grid
over the night), the alert policy (one instant) and the night policy. Pure: the site comes in as
configuration, times as aware datetimes or astropy Times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from infra.astro import configure_astropy, site_location
from infra.config import SiteConfig

configure_astropy()

import astropy.units as u  # noqa: E402
from astropy.coordinates import (  # noqa: E402
    AltAz,
    SkyCoord,
    angular_separation,
    get_body,
    get_sun,
)
from astropy.time import Time  # noqa: E402

FloatArray = npt.NDArray[np.float64]


def as_time(times: datetime | Sequence[datetime] | Time) -> Time:
    """Aware datetimes (one or many) as an astropy ``Time`` in UTC."""
    if isinstance(times, Time):
        return times
    if isinstance(times, datetime):
        return Time(times)
    return Time(list(times))


def altitudes_deg(
    ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, times: Time, config: SiteConfig
) -> FloatArray:
    """Altitude (degrees) of every target at every time, shape ``(targets, times)``.

    One AltAz transform for the whole grid (broadcast), as the planner needs for thousands of
    targets over a night.
    """
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    obstime = times if times.shape else times.reshape((1,))
    frame = AltAz(obstime=obstime[np.newaxis, :], location=site_location(config.site))
    targets = SkyCoord(ra=ra[:, np.newaxis] * u.deg, dec=dec[:, np.newaxis] * u.deg)
    altitude: FloatArray = targets.transform_to(frame).alt.deg
    return altitude


def airmass(altitude_deg: npt.ArrayLike) -> FloatArray:
    """Plane-parallel airmass sec(z); infinite at and below the horizon."""
    alt = np.asarray(altitude_deg, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(alt > 0.0, 1.0 / np.sin(np.radians(np.clip(alt, 1e-6, 90.0))), np.inf)


def sun_altitude_deg(times: Time, config: SiteConfig) -> FloatArray:
    """Altitude of the sun (degrees) at each time."""
    frame = AltAz(obstime=times, location=site_location(config.site))
    return np.atleast_1d(get_sun(times).transform_to(frame).alt.deg)


def moon_radec_deg(times: Time, config: SiteConfig) -> tuple[FloatArray, FloatArray]:
    """Topocentric RA and Dec of the moon (degrees) at each time, seen from the site."""
    obstime = times if times.shape else times.reshape((1,))
    moon = get_body("moon", obstime, location=site_location(config.site))
    return np.atleast_1d(moon.ra.deg), np.atleast_1d(moon.dec.deg)


def moon_altitude_deg(times: Time, config: SiteConfig) -> FloatArray:
    """Altitude of the moon (degrees) at each time."""
    obstime = times if times.shape else times.reshape((1,))
    frame = AltAz(obstime=obstime, location=site_location(config.site))
    moon = get_body("moon", obstime, location=site_location(config.site))
    return np.atleast_1d(moon.transform_to(frame).alt.deg)


def separation_deg(
    ra1_deg: npt.ArrayLike, dec1_deg: npt.ArrayLike, ra2_deg: npt.ArrayLike, dec2_deg: npt.ArrayLike
) -> FloatArray:
    """Angular distance (degrees) between positions, broadcast like NumPy (astropy's Vincenty
    formula on plain arrays: no SkyCoord per call, for grids of thousands of targets)."""
    separation: FloatArray = np.degrees(
        angular_separation(
            np.radians(ra1_deg), np.radians(dec1_deg), np.radians(ra2_deg), np.radians(dec2_deg)
        )
    )
    return separation


def moon_separation_deg(
    ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, times: Time, config: SiteConfig
) -> FloatArray:
    """Angular distance (degrees) from every target to the moon at every time,
    shape ``(targets, times)``."""
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    moon_ra, moon_dec = moon_radec_deg(times, config)  # topocentric: good to arcminutes
    return separation_deg(
        ra[:, np.newaxis], dec[:, np.newaxis], moon_ra[np.newaxis, :], moon_dec[np.newaxis, :]
    )


def moon_illumination(times: Time) -> FloatArray:
    """Illuminated fraction of the moon (0 new, 1 full) at each time."""
    sun = get_sun(times)
    moon = get_body("moon", times)
    elongation = sun.separation(moon).rad
    phase_angle = np.arctan2(
        sun.distance * np.sin(elongation), moon.distance - sun.distance * np.cos(elongation)
    )
    return np.atleast_1d(((1 + np.cos(phase_angle)) / 2.0).value)


@dataclass(frozen=True)
class Visibility:
    """Whether a target can be observed at one instant, and why not."""

    observable: bool
    reason: str
    altitude_deg: float
    sun_altitude_deg: float
    moon_separation_deg: float


def visibility_at(
    ra_deg: float,
    dec_deg: float,
    when: datetime,
    config: SiteConfig,
    *,
    min_altitude_deg: float | None = None,
    min_moon_distance_deg: float | None = None,
) -> Visibility:
    """Can the target be observed at ``when``: night (sun below the night altitude), altitude
    above the limit, far enough from the moon. The reason names the first constraint that fails.
    """
    time = as_time(when)
    altitude = float(altitudes_deg(np.array([ra_deg]), np.array([dec_deg]), time, config)[0, 0])
    sun = float(sun_altitude_deg(time, config)[0])
    moon = float(moon_separation_deg(np.array([ra_deg]), np.array([dec_deg]), time, config)[0, 0])
    return judge_visibility(
        altitude,
        sun,
        moon,
        config,
        min_altitude_deg=min_altitude_deg,
        min_moon_distance_deg=min_moon_distance_deg,
    )


def judge_visibility(
    altitude_deg: float,
    sun_altitude_deg: float,
    moon_separation_deg: float,
    config: SiteConfig,
    *,
    min_altitude_deg: float | None = None,
    min_moon_distance_deg: float | None = None,
) -> Visibility:
    """The :class:`Visibility` of a target from its three figures at one instant (pure: the
    rules of :func:`visibility_at`, for callers that computed the figures another way)."""
    min_alt = config.limits.min_altitude_deg if min_altitude_deg is None else min_altitude_deg
    min_moon = (
        config.limits.min_moon_distance_deg
        if min_moon_distance_deg is None
        else min_moon_distance_deg
    )
    if sun_altitude_deg > config.night.sun_altitude_deg:
        reason = (
            f"daylight: the sun is at {sun_altitude_deg:.1f} deg, above the night limit "
            f"{config.night.sun_altitude_deg:g} deg"
        )
    elif altitude_deg < min_alt:
        reason = f"too low: altitude {altitude_deg:.1f} deg below the limit {min_alt:g} deg"
    elif moon_separation_deg < min_moon:
        reason = f"too close to the moon: {moon_separation_deg:.1f} deg, limit {min_moon:g} deg"
    else:
        reason = ""
    return Visibility(
        observable=not reason,
        reason=reason or "observable",
        altitude_deg=altitude_deg,
        sun_altitude_deg=sun_altitude_deg,
        moon_separation_deg=moon_separation_deg,
    )
