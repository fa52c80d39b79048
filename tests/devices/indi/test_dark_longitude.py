"""The INDI night test's site is moved to where it is local midnight now
(``tests/support/indi_night.py``): there the Sun is at its lowest, whatever the date."""

from __future__ import annotations

from datetime import UTC, datetime

import astropy.units as u
import pytest
from astropy.coordinates import AltAz, EarthLocation, get_sun
from astropy.time import Time

from tests.support.indi_night import dark_longitude

LATITUDE = 31.03  # the bundled site's


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
        datetime(2027, 6, 21, 15, 30, tzinfo=UTC),
        datetime(2027, 3, 20, 0, 0, tzinfo=UTC),
    ],
)
def test_the_sun_is_at_lower_culmination_there(when):
    longitude = dark_longitude(when)
    assert -180.0 <= longitude < 180.0

    def sun_altitude(lon: float) -> float:
        site = EarthLocation(lon=lon * u.deg, lat=LATITUDE * u.deg)
        frame = AltAz(obstime=Time(when), location=site)
        return float(get_sun(Time(when)).transform_to(frame).alt.deg)

    # Darker there than 10 degrees east or west, and dark (astronomical night) at this latitude.
    lowest = sun_altitude(longitude)
    assert lowest < sun_altitude(longitude + 10.0) and lowest < sun_altitude(longitude - 10.0)
    assert lowest < -18.0
