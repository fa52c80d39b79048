"""What a weather station of its own contributes to the synthesis (pure): an ALERT closes and
the reason names the station and the parameter, a WARNING does not, a stale or missing reading
is an error that closes (the PLC's staleness limit), and with the seed's safe PLC reply either
source saying unsafe makes the synthesis unsafe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devices.controllers.weather import WeatherLight, WeatherParameter, WeatherState, worst
from infra.config import load_config
from tasks.environment.elements import ElementState
from tasks.environment.plc import parse_status_reply
from tasks.environment.station import STATION, group_of, station_records
from tasks.environment.synthesis import GlobalStatus, Override, PlcPoll, stale_after_for, synthesize

SAFETY = load_config().safety
NOW = datetime(2017, 3, 3, 13, 45, tzinfo=UTC)
LIMIT = SAFETY.stale_after_s


def _reading(*lights: tuple[str, float | None, str], date: datetime = NOW) -> WeatherState:
    parameters = tuple(WeatherParameter(n, v, WeatherLight(light)) for n, v, light in lights)
    return WeatherState("Weather Simulator", date, parameters, worst([p.light for p in parameters]))


FINE = (("WEATHER_RAIN_HOUR", 0.0, "OK"), ("WEATHER_WIND_SPEED", 3.0, "OK"),
        ("WEATHER_WIND_GUST", 5.0, "IDLE"), ("WEATHER_TEMPERATURE", 12.0, "OK"),
        ("WEATHER_FORECAST", 0.0, "OK"))  # fmt: skip


def _records(reading, *, now=NOW, received=NOW, limit=LIMIT, error=None):
    return station_records(reading, now=now, received_at=received, stale_after_s=limit, error=error)


@pytest.mark.parametrize(
    ("parameter", "element"),
    [("WEATHER_RAIN_HOUR", "station rain"), ("WEATHER_PRECIPITATION", "station rain"),
     ("WEATHER_WIND_GUST", "station wind"), ("WEATHER_HUMIDITY", "station humidity"),
     ("WEATHER_DEWPOINT", "station dew point"), ("WEATHER_SKY_TEMPERATURE", "station clouds"),
     ("WEATHER_CLOUD_COVER", "station clouds"), ("WEATHER_TEMPERATURE", "station temperature"),
     ("WEATHER_FORECAST", STATION)],
)  # fmt: skip
def test_parameters_are_grouped_by_what_they_measure(parameter, element):
    assert group_of(parameter) == element


def test_a_station_in_fine_weather_closes_nothing_and_shows_every_group():
    records = _records(_reading(*FINE))
    assert [r.element for r in records] == [
        "station rain", "station wind", "station temperature", STATION
    ]  # fmt: skip
    assert not any(r.should_close for r in records)
    assert all(r.state is ElementState.GOOD for r in records)
    wind = records[1]
    assert wind.interpretation == (
        "Weather Simulator: WEATHER_WIND_SPEED = 3 OK, WEATHER_WIND_GUST = 5 IDLE"
    )


def test_an_alert_closes_and_the_reason_names_the_station_and_the_parameter():
    reading = _reading(("WEATHER_RAIN_HOUR", 10.0, "ALERT"), *FINE[1:])
    rain = _records(reading)[0]
    assert rain.state is ElementState.BAD and rain.should_close
    assert rain.line() == (
        "Station rain = 10; Weather Simulator: WEATHER_RAIN_HOUR = 10 ALERT; close = YES"
    )
    unknown = _records(_reading(*FINE[:4], ("WEATHER_FORECAST", 2.0, "ALERT")))[-1]
    assert unknown.element == STATION and unknown.should_close
    assert "WEATHER_FORECAST = 2 ALERT" in unknown.interpretation


def test_a_warning_is_shown_and_does_not_close():
    (rain, *_) = _records(_reading(("WEATHER_RAIN_HOUR", 0.1, "WARNING"), *FINE[1:]))
    assert not rain.should_close and "WEATHER_RAIN_HOUR = 0.1 WARNING" in rain.interpretation


@pytest.mark.parametrize(
    ("date", "received", "expected"),
    [
        (NOW - timedelta(seconds=LIMIT + 2), NOW, f"the station's date is {LIMIT + 2:.0f} s old"),
        (NOW, NOW - timedelta(seconds=LIMIT + 5), f"last station reply received {LIMIT + 5:.0f}"),
    ],
)
def test_a_stale_reading_is_an_error_that_closes(date, received, expected):
    (record,) = _records(_reading(*FINE, date=date), received=received)
    assert record.element == STATION and record.state is ElementState.ERROR
    assert record.should_close and record.interpretation.startswith(f"stale: {expected}")
    assert record.sources == ("Weather Simulator",)


def test_the_limit_is_the_plcs_own_and_a_fast_clock_passes_a_longer_one():
    old = _reading(*FINE, date=NOW - timedelta(seconds=LIMIT - 1))
    assert not any(r.should_close for r in _records(old))  # just within the PLC's limit
    late = _reading(*FINE, date=NOW - timedelta(seconds=LIMIT + 20))
    assert _records(late)[0].state is ElementState.ERROR
    fast = stale_after_for(SAFETY, 60.0)  # 1 wall second at 60x
    assert not any(r.should_close for r in _records(late, limit=fast))


def test_no_reading_is_an_error_that_closes():
    (record,) = _records(None, received=None, error="weather: device_disconnected")
    assert record.should_close and record.state is ElementState.ERROR
    assert record.interpretation == "no station reading: weather: device_disconnected"


@pytest.fixture
def plc(seed_dir):
    reply = json.loads((seed_dir / "plc_status_reply.json").read_text(encoding="utf-8"))
    return parse_status_reply(reply)


def _synth(plc, station, overrides=None):
    return synthesize(PlcPoll(plc, plc.date), now=plc.date, safety=SAFETY, is_night=True,
                      station=station, overrides=overrides)  # fmt: skip


def test_the_synthesis_is_unsafe_when_either_source_says_so(plc):
    assert not _synth(plc, ()).should_close  # the seed's reply alone is safe
    date = plc.date
    fine = _synth(plc, _records(_reading(*FINE, date=date), now=date, received=date))
    assert not fine.should_close and fine.weather_status is GlobalStatus.OK
    assert fine.record("station rain") is not None  # shown with the PLC's elements
    raining = _records(_reading(("WEATHER_RAIN_HOUR", 10.0, "ALERT"), date=date), now=date,
                       received=date)  # fmt: skip
    unsafe = _synth(plc, raining)
    assert unsafe.should_close and unsafe.weather_status is GlobalStatus.RAINING
    assert unsafe.reasons == (
        "Station rain = 10; Weather Simulator: WEATHER_RAIN_HOUR = 10 ALERT; close = YES",
    )
    gone = _synth(plc, _records(None, now=date, received=None, error="timeout"))
    assert gone.should_close and gone.weather_status is GlobalStatus.ERROR
    assert gone.reasons == ("Weather station = n/a; no station reading: timeout; close = YES",)


def test_an_operator_may_ignore_a_faulty_station_parameter(plc):
    date = plc.date
    raining = _records(_reading(("WEATHER_RAIN_HOUR", 10.0, "ALERT"), date=date), now=date,
                       received=date)  # fmt: skip
    ignored = Override("station rain", date + timedelta(hours=1), "op", "rain gauge stuck")
    synthesis = _synth(plc, raining, [ignored])
    assert not synthesis.should_close
    assert "station rain ignored by op" in synthesis.record("station rain").interpretation
