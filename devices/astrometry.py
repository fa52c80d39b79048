"""Where an ICRS position is in the site's sky right now, fast enough to check every ``goto``.

ERFA (the IAU SOFA library that astropy itself uses) converts ICRS RA/Dec to observed azimuth and
altitude in about 0.1 ms, against tens of milliseconds for an astropy ``AltAz`` transform; a
pointing-limit check needs no more. DUT1 and polar motion are taken as zero (under 0.01°) and
refraction is off: the limits are geometric.
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime

import erfa

from infra.config import SiteSection

warnings.filterwarnings("ignore", category=erfa.ErfaWarning, message=".*dubious year.*")


def _utc_jd(when: datetime) -> tuple[float, float]:
    moment = when.astimezone(UTC)
    seconds = moment.second + moment.microsecond / 1e6
    jd1, jd2 = erfa.dtf2d(
        "UTC", moment.year, moment.month, moment.day, moment.hour, moment.minute, seconds
    )
    return float(jd1), float(jd2)


def altaz_deg(
    ra_deg: float, dec_deg: float, when: datetime, site: SiteSection
) -> tuple[float, float]:
    """Observed (altitude, azimuth) in degrees of an ICRS position at ``when`` from ``site``.

    Azimuth is counted from north through east.
    """
    utc1, utc2 = _utc_jd(when)
    azimuth, zenith, *_ = erfa.atco13(
        math.radians(ra_deg), math.radians(dec_deg), 0.0, 0.0, 0.0, 0.0,
        utc1, utc2, 0.0,
        math.radians(site.longitude_deg), math.radians(site.latitude_deg), site.elevation_m,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.55,
    )  # fmt: skip
    return 90.0 - math.degrees(float(zenith)), math.degrees(float(azimuth)) % 360.0


def radec_deg(
    alt_deg: float, az_deg: float, when: datetime, site: SiteSection
) -> tuple[float, float]:
    """ICRS (RA, Dec) in degrees of the observed position (altitude, azimuth) at ``when``."""
    utc1, utc2 = _utc_jd(when)
    ra, dec = erfa.atoc13(
        "A", math.radians(az_deg), math.radians(90.0 - alt_deg),
        utc1, utc2, 0.0,
        math.radians(site.longitude_deg), math.radians(site.latitude_deg), site.elevation_m,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.55,
    )  # fmt: skip
    return math.degrees(float(ra)) % 360.0, math.degrees(float(dec))


def _tt_jd(when: datetime) -> tuple[float, float]:
    utc1, utc2 = _utc_jd(when)
    tai1, tai2 = erfa.utctai(utc1, utc2)
    tt1, tt2 = erfa.taitt(tai1, tai2)
    return float(tt1), float(tt2)


def icrs_to_jnow(ra_deg: float, dec_deg: float, when: datetime) -> tuple[float, float]:
    """Apparent (RA, Dec) of date in degrees — INDI's "JNow" — of an ICRS position.

    Precession, nutation, annual aberration and light deflection (``erfa.atci13``), then the
    equation of the origins takes the CIRS right ascension to the true equinox of date.
    """
    tt1, tt2 = _tt_jd(when)
    ri, di, eo = erfa.atci13(
        math.radians(ra_deg), math.radians(dec_deg), 0.0, 0.0, 0.0, 0.0, tt1, tt2
    )
    return math.degrees(float(erfa.anp(ri - eo))), math.degrees(float(di))


def jnow_to_icrs(ra_deg: float, dec_deg: float, when: datetime) -> tuple[float, float]:
    """ICRS (RA, Dec) in degrees of an apparent position of date (the inverse of
    :func:`icrs_to_jnow`)."""
    tt1, tt2 = _tt_jd(when)
    eo = float(erfa.eo06a(tt1, tt2))
    rc, dc, _ = erfa.atic13(math.radians(ra_deg) + eo, math.radians(dec_deg), tt1, tt2)
    return math.degrees(float(rc)) % 360.0, math.degrees(float(dc))
