"""The hindsight plan (issue 25): what the night could have executed, the weather known."""

from __future__ import annotations

from datetime import timedelta

from tasks.night.hindsight import closures, hindsight_plan
from tasks.night.report import WeatherChange
from tests.tasks.scheduling.conftest import CONFIG, NIGHT, candidate

assert NIGHT.start is not None
START = NIGHT.start


def test_closures_run_from_each_unsafe_verdict_to_the_next_safe_one():
    changes = [
        WeatherChange(START + timedelta(minutes=10), False, "rain"),
        WeatherChange(START + timedelta(minutes=20), False, "rain, wind"),
        WeatherChange(START + timedelta(minutes=50), True, "good for 600 s"),
        WeatherChange(START + timedelta(minutes=90), False, "wind"),
    ]
    end = START + timedelta(hours=2)
    assert closures(changes, end) == [
        (START + timedelta(minutes=10), START + timedelta(minutes=50)),
        (START + timedelta(minutes=90), end),
    ]


def test_the_hindsight_plan_fits_what_the_open_hours_hold():
    """Six 20-minute sequences over a two-hour span: all six fit when it is clear; with the dome
    closed for 80 minutes, only the last 30 minutes hold one (the first 10 hold none)."""
    wanted = [candidate(i, ra_deg=20.0 + i) for i in range(1, 7)]
    end = START + timedelta(hours=2)
    clear = hindsight_plan(wanted, NIGHT, CONFIG, end, [])
    assert clear == [1, 2, 3, 4, 5, 6]
    rain = [(START + timedelta(minutes=10), START + timedelta(minutes=90))]
    wet = hindsight_plan(wanted, NIGHT, CONFIG, end, rain)
    assert len(wet) == 1, wet
