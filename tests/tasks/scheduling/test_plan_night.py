"""Planning a real night end to end, checked against the sky computed independently.

Every planned sequence is re-checked minute by minute with :mod:`tasks.sky` (not the planner's
grid): altitude above its limit, far enough from the moon, the sun below the night altitude, and
inside its window.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from astropy.time import Time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.scheduling import reasons as why
from tasks.scheduling.tonight import add_sequence, plan_night
from tasks.sky import altitudes_deg, moon_separation_deg, sun_altitude_deg
from tests.tasks.scheduling.checks import assert_no_priority_inversion, assert_valid, signature
from tests.tasks.scheduling.conftest import CONFIG, NIGHT, candidate

#: The planner interpolates between grid samples 10 minutes apart: hundredths of a degree.
TOLERANCE_DEG = 0.05


@st.composite
def candidates(draw, count: int):
    night_s = NIGHT.duration_s
    result = []
    for index in range(count):
        opens = draw(st.floats(-3600.0, night_s))
        length = draw(st.floats(0.0, 9 * 3600.0))
        altitude = draw(st.one_of(st.none(), st.floats(20.0, 60.0)))
        result.append(
            candidate(
                index + 1,
                priority=draw(st.integers(1, 5)),
                duration_s=draw(st.floats(300.0, 1800.0)),
                window_start=NIGHT.start + timedelta(seconds=opens),
                window_end=NIGHT.start + timedelta(seconds=opens + length),
                ra_deg=draw(st.floats(0.0, 359.9)),
                dec_deg=draw(st.floats(-40.0, 89.0)),
                min_altitude_deg=altitude,
                min_moon_distance_deg=draw(st.one_of(st.none(), st.floats(5.0, 60.0))),
                target_type=draw(st.sampled_from(["sidereal"] * 5 + ["test"])),
            )
        )
    return result


def assert_observable(outcome, by_id) -> None:
    for entry in outcome.entries():
        if not entry.planned:
            continue
        seq = by_id[entry.sequence_id]
        assert seq.window_start <= entry.start and entry.end <= seq.window_end
        assert NIGHT.start <= entry.start and entry.end <= NIGHT.end
        samples = np.arange(entry.start.timestamp(), entry.end.timestamp() + 1e-6, 60.0)
        times = Time(np.append(samples, entry.end.timestamp()), format="unix")
        assert sun_altitude_deg(times, CONFIG).max() <= CONFIG.night.sun_altitude_deg + 0.01
        if seq.target_type == "test":
            continue
        limit = seq.min_altitude_deg if seq.min_altitude_deg is not None else 30.0
        altitude = altitudes_deg(np.array([seq.ra_deg]), np.array([seq.dec_deg]), times, CONFIG)
        assert altitude.min() >= max(limit, 15.0) - TOLERANCE_DEG, entry
        moon = seq.min_moon_distance_deg if seq.min_moon_distance_deg is not None else 15.0
        distance = moon_separation_deg(
            np.array([seq.ra_deg]), np.array([seq.dec_deg]), times, CONFIG
        )
        assert distance.min() >= moon - TOLERANCE_DEG, entry


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates(40))
def test_every_planned_sequence_is_observable_inside_its_window_and_the_night(
    items,
):
    now = NIGHT.start - timedelta(hours=1)
    outcome = plan_night(items, CONFIG, now)
    assert_valid(outcome.plan)
    assert_no_priority_inversion(outcome.plan)
    assert_observable(outcome, {c.id: c for c in items})
    assert signature(plan_night(items, CONFIG, now).plan) == signature(outcome.plan)


def test_an_alert_goes_at_the_head_and_the_rest_slides_or_is_displaced():
    now = NIGHT.start + timedelta(hours=2)
    rng = np.random.default_rng(7)
    items = [
        candidate(
            i,
            priority=int(rng.integers(1, 6)),
            duration_s=float(rng.uniform(300, 1800)),
            ra_deg=float(rng.uniform(0, 360)),
            dec_deg=float(rng.uniform(-20, 80)),
        )
        for i in range(1, 201)
    ]
    outcome = plan_night(items, CONFIG, now)
    before = {e.sequence_id: e for e in outcome.entries() if e.planned}
    # An alert at the zenith now (RA = local sidereal time, Dec = latitude).
    lst = Time(now).sidereal_time("apparent", longitude=CONFIG.site.longitude_deg).deg
    alert = candidate(
        9999,
        priority=100,
        duration_s=900.0,
        ra_deg=float(lst),
        dec_deg=31.0,
        window_start=now,
        window_end=now + timedelta(hours=12),
    )
    outcome, inserted = add_sequence(outcome, alert, CONFIG, at_head=True)
    assert inserted
    assert_valid(outcome.plan)
    entries = outcome.entries()
    assert entries[0].sequence_id == 9999 and entries[0].start == now
    after = {e.sequence_id: e for e in entries if e.planned}
    for sequence_id in before:
        if sequence_id not in after:
            reason = next(e.reason for e in entries if e.sequence_id == sequence_id)
            assert why.code_of(reason) == why.DISPLACED and "sequence 9999" in reason
    assert_observable(outcome, {c.id: c for c in [*items, alert]})
