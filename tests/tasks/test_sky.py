"""Sky geometry at the site, checked against independent facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from infra.config import load_config
from tasks.sky import (
    airmass,
    altitudes_deg,
    as_time,
    moon_illumination,
    moon_separation_deg,
    sun_altitude_deg,
    visibility_at,
)

CONFIG = load_config()
LATITUDE = CONFIG.site.latitude_deg


def test_a_target_at_the_pole_stays_at_the_site_latitude_all_night():
    times = as_time([datetime(2026, 11, 25, 3, tzinfo=UTC) + timedelta(hours=h) for h in range(8)])
    alt = altitudes_deg(np.array([0.0]), np.array([90.0]), times, CONFIG)
    assert alt.shape == (1, 8)
    assert np.allclose(alt, LATITUDE, atol=0.5)  # refraction-free, precession moves the pole


def test_a_target_culminates_at_ninety_minus_latitude_plus_declination():
    # Sample a whole sidereal day every 5 minutes; the highest altitude is the culmination.
    start = datetime(2026, 11, 25, 0, tzinfo=UTC)
    times = as_time([start + timedelta(minutes=5 * i) for i in range(288)])
    dec = np.array([-20.0, 10.0, 31.0])
    alt = altitudes_deg(np.array([100.0, 200.0, 300.0]), dec, times, CONFIG)
    assert alt.shape == (3, 288)
    expected = 90.0 - np.abs(LATITUDE - dec)
    assert np.allclose(alt.max(axis=1), expected, atol=0.6)


def test_sun_is_down_at_local_midnight_and_up_at_local_noon():
    midnight = as_time(datetime(2026, 11, 25, 7, 42, tzinfo=UTC))  # ~00:00 local solar
    noon = as_time(datetime(2026, 11, 25, 19, 42, tzinfo=UTC))
    assert sun_altitude_deg(midnight, CONFIG)[0] < -40
    assert sun_altitude_deg(noon, CONFIG)[0] > 30


def test_airmass_is_one_at_zenith_two_at_thirty_degrees_and_infinite_below_horizon():
    assert airmass(np.array([90.0, 30.0, -5.0])) == pytest.approx([1.0, 2.0, np.inf])


def test_moon_separation_is_zero_at_the_moon_and_illumination_is_a_fraction():
    from astropy.coordinates import get_body

    when = as_time(datetime(2026, 11, 25, 8, tzinfo=UTC))
    moon = get_body("moon", when)
    sep = moon_separation_deg(
        np.array([moon.ra.deg, (moon.ra.deg + 90) % 360]),
        np.array([moon.dec.deg, 0.0]),
        when,
        CONFIG,
    )
    assert sep[0, 0] < 0.5
    assert 0.0 <= moon_illumination(when)[0] <= 1.0


def test_visibility_names_the_failing_constraint():
    from astropy.coordinates import AltAz, SkyCoord

    from infra.astro import site_location

    night = datetime(2026, 11, 25, 7, 42, tzinfo=UTC)
    day = datetime(2026, 11, 25, 19, 42, tzinfo=UTC)
    frame = AltAz(obstime=as_time(night), location=site_location(CONFIG.site))
    zenith_ra = float(SkyCoord(alt=90, az=0, unit="deg", frame=frame).icrs.ra.deg)
    assert visibility_at(zenith_ra, LATITUDE, day, CONFIG).reason.startswith("daylight")
    low = visibility_at(zenith_ra, LATITUDE - 80, night, CONFIG)
    assert not low.observable and low.reason.startswith("too low")
    high = visibility_at(zenith_ra, LATITUDE, night, CONFIG, min_moon_distance_deg=0.0)
    assert high.observable and high.altitude_deg > 85
