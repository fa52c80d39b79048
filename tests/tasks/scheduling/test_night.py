"""Tonight at the site, checked against astroplan's Observer (an independent implementation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import astropy.units as u
import pytest
from astropy.time import Time

from infra.astro import site_location
from infra.config import load_config, parse_config
from tasks.scheduling.night_times import compute_night, night_grid, night_to_plan

CONFIG = load_config()


@pytest.fixture(scope="module")
def night():
    return compute_night("2026-11-24", CONFIG)


@pytest.fixture(scope="module")
def observer():
    from astroplan import Observer

    return Observer(location=site_location(CONFIG.site))


def _close(ours: datetime, theirs: Time, seconds: float) -> bool:
    return abs(ours.timestamp() - theirs.unix) <= seconds


def test_twilights_and_sunset_agree_with_astroplan(night, observer):
    noon = Time(night.noon)
    assert _close(night.nautical_dusk, observer.twilight_evening_nautical(noon, "next"), 5)
    assert _close(night.nautical_dawn, observer.twilight_morning_nautical(noon, "next"), 5)
    assert _close(night.astronomical_dusk, observer.twilight_evening_astronomical(noon, "next"), 5)
    assert _close(night.civil_dawn, observer.twilight_morning_civil(noon, "next"), 5)
    sunset = observer.sun_set_time(noon, "next", horizon=-0.833 * u.deg)
    assert _close(night.sunset, sunset, 5)
    assert _close(night.moonrise, observer.moon_rise_time(noon, "next"), 120)


def test_the_night_is_between_nautical_twilights_with_flats_at_dusk_and_dawn(night):
    assert night.label == "2026-11-24"
    assert (night.start, night.end) == (night.nautical_dusk, night.nautical_dawn)
    assert 11 < night.duration_s / 3600 < 12.5  # late November at 31 deg north
    dusk_high, dusk_low = night.dusk_flats
    dawn_low, dawn_high = night.dawn_flats
    assert night.sunset < dusk_high < night.civil_dusk < dusk_low < night.start
    assert night.end < dawn_low < night.civil_dawn < dawn_high < night.sunrise
    assert 0.0 <= night.moon_illumination <= 1.0
    assert night.as_dict()["duration_h"] == pytest.approx(night.duration_s / 3600, abs=1e-3)


def test_the_grid_spans_the_night_with_the_moon_on_it(night):
    grid = night_grid(night, CONFIG)
    assert grid.begin == night.start.timestamp() and grid.end == night.end.timestamp()
    assert grid.times_unix.size == grid.moon_ra_deg.size >= 60


def test_the_night_to_plan_is_the_next_one_once_this_one_is_over():
    evening = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert night_to_plan(evening, CONFIG).label == "2026-11-24"
    morning = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # after dawn, before local noon
    assert night_to_plan(morning, CONFIG).label == "2026-11-25"


def test_a_polar_summer_has_no_dark_time():
    data = CONFIG.model_dump()
    data["site"]["latitude_deg"] = 78.2
    data["site"]["longitude_deg"] = 15.6
    data["site"]["timezone"] = "Arctic/Longyearbyen"
    polar = parse_config(data)
    night = compute_night("2026-06-21", polar)
    assert not night.has_dark_time and night.duration_s == 0.0
    assert night_grid(night, polar) is None
    assert night.sunset is None and night.dusk_flats is None
    assert (
        night_to_plan(datetime(2026, 6, 22, tzinfo=UTC) - timedelta(hours=2), polar).start is None
    )
