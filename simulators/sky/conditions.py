"""Observing conditions of a frame: airmass, sun and moon, sky brightness, seeing.

- **Sky brightness** (mag/arcsec², per filter): the dark-sky zenith value of ``[sky.filters]``,
  brightened towards the horizon as ``X * 10**(-0.4 k (X - 1))`` (Krisciunas & Schaefer 1991,
  eq. 2), plus moonlight (Krisciunas & Schaefer 1991, eqs. 15-21: phase, separation, both zenith
  distances, extinction; taken with the same magnitude in every filter), plus twilight:
  ``twilight_mag_arcsec2_at_sun_minus6 + twilight_mag_per_deg * (-6 - h_sun)`` while the sun is
  below the horizon (capped at the horizon value above it).
- **Seeing** (FWHM at the frame centre): ``seeing_fwhm_arcsec * X**0.6 * exp(v * s(t))`` where
  ``s(t)`` is a smooth, unit-RMS sum of five sinusoids with periods around
  ``seeing_timescale_s``, phases and periods drawn from the global seed: the seeing wanders over
  the night the same way for every frame and every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from infra.astro import configure_astropy, site_location
from infra.config import SiteConfig
from infra.config_sky import SkyFilter, SkySection
from simulators.sky.seeds import generator

configure_astropy()

import astropy.units as u  # noqa: E402
from astropy.coordinates import AltAz, SkyCoord, get_body, get_sun  # noqa: E402
from astropy.time import Time  # noqa: E402

#: Airmass used below this altitude (the renderer still draws a frame pointed at the ground).
_MIN_ALTITUDE_DEG = 5.0


@dataclass(frozen=True)
class Geometry:
    """Where the target, the sun and the moon are at one instant (degrees)."""

    target_alt: float
    sun_alt: float
    moon_alt: float
    moon_separation: float
    moon_phase_angle: float

    @property
    def airmass(self) -> float:
        """Airmass of the target (Krisciunas & Schaefer's ``(1 - 0.96 sin² z)^-1/2``)."""
        return ks_airmass(90.0 - max(self.target_alt, _MIN_ALTITUDE_DEG))


def ks_airmass(zenith_distance_deg: float) -> float:
    """Krisciunas & Schaefer (1991) eq. 3 airmass."""
    s = math.sin(math.radians(min(zenith_distance_deg, 90.0)))
    return 1.0 / math.sqrt(1.0 - 0.96 * s * s)


def geometry(config: SiteConfig, when: datetime, ra_deg: float, dec_deg: float) -> Geometry:
    """Target, sun and moon altitudes, moon separation and phase at ``when`` (one transform)."""
    t = Time(when)
    location = site_location(config.site)
    moon = get_body("moon", t, location=location)
    sun = get_sun(t)
    points = SkyCoord(
        ra=[ra_deg, moon.ra.deg, sun.ra.deg] * u.deg,
        dec=[dec_deg, moon.dec.deg, sun.dec.deg] * u.deg,
    )
    alt = points.transform_to(AltAz(obstime=t, location=location)).alt.deg
    elongation = float(points[1].separation(points[2]).deg)
    return Geometry(
        target_alt=float(alt[0]),
        sun_alt=float(alt[2]),
        moon_alt=float(alt[1]),
        moon_separation=float(points[0].separation(points[1]).deg),
        moon_phase_angle=180.0 - elongation,
    )


def _nanolambert(mag_arcsec2: float) -> float:
    return 34.08 * math.exp(20.7233 - 0.92104 * mag_arcsec2)


def _mag_arcsec2(nanolambert: float) -> float:
    return (20.7233 - math.log(max(nanolambert, 1e-30) / 34.08)) / 0.92104


def moon_nanolambert(geo: Geometry, extinction: float) -> float:
    """Moonlight at the target (Krisciunas & Schaefer 1991), nanolamberts; 0 below the horizon."""
    if geo.moon_alt <= 0.0:
        return 0.0
    alpha = abs(geo.moon_phase_angle)
    illuminance = 10.0 ** (-0.4 * (3.84 + 0.026 * alpha + 4e-9 * alpha**4))
    rho = max(geo.moon_separation, 0.5)
    scattering = 10.0**5.36 * (1.06 + math.cos(math.radians(rho)) ** 2) + 10.0 ** (
        6.15 - rho / 40.0
    )
    x_moon = ks_airmass(90.0 - geo.moon_alt)
    x_target = geo.airmass
    moonlight: float = (
        scattering
        * illuminance
        * 10.0 ** (-0.4 * extinction * x_moon)
        * (1.0 - 10.0 ** (-0.4 * extinction * x_target))
    )
    return moonlight


def twilight_mag_arcsec2(sky: SkySection, sun_alt: float) -> float | None:
    """Twilight sky brightness, or None when the sun is far enough down to not matter."""
    depression = -min(sun_alt, 0.0)
    mag = sky.twilight_mag_arcsec2_at_sun_minus6 + sky.twilight_mag_per_deg * (depression - 6.0)
    return mag if mag < 30.0 else None


def sky_mag_arcsec2(sky: SkySection, filt: SkyFilter, geo: Geometry) -> dict[str, float]:
    """Sky surface brightness at the target in ``filt``, with its parts (mag/arcsec²)."""
    x = geo.airmass
    dark = (
        _nanolambert(filt.sky_mag_arcsec2)
        * x
        * 10.0 ** (-0.4 * filt.extinction_mag_per_airmass * (x - 1.0))
    )
    moon = moon_nanolambert(geo, filt.extinction_mag_per_airmass) if sky.moon_sky else 0.0
    tw_mag = twilight_mag_arcsec2(sky, geo.sun_alt)
    twilight = _nanolambert(tw_mag) if tw_mag is not None else 0.0
    return {
        "total": _mag_arcsec2(dark + moon + twilight),
        "dark": _mag_arcsec2(dark),
        "moon": _mag_arcsec2(moon) if moon > 0 else 99.0,
        "twilight": tw_mag if tw_mag is not None else 99.0,
    }


def electrons_per_s(
    mag: float | npt.NDArray[np.float64], filt: SkyFilter
) -> npt.NDArray[np.float64]:
    """Electrons per second given by a source of magnitude ``mag`` (after any extinction)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - filt.zero_point_mag))


def seeing_variation(sky: SkySection, when: datetime, seed: int) -> float:
    """The slow multiplicative seeing variation ``exp(v * s(t))`` at ``when``."""
    if sky.seeing_night_variation == 0:
        return 1.0
    rng = generator(seed, "seeing", sky.seeing_timescale_s)
    periods = sky.seeing_timescale_s * rng.uniform(0.3, 3.0, size=5)
    phases = rng.uniform(0.0, 2 * math.pi, size=5)
    t = when.timestamp()
    s = float(np.sum(np.sin(2 * math.pi * t / periods + phases))) * math.sqrt(2.0 / 5.0)
    return math.exp(sky.seeing_night_variation * s)


def seeing_fwhm_arcsec(sky: SkySection, when: datetime, airmass: float, seed: int) -> float:
    """Seeing FWHM at the frame centre (arcsec)."""
    fwhm: float = sky.seeing_fwhm_arcsec * airmass**0.6 * seeing_variation(sky, when, seed)
    return fwhm
