"""From sequences to feasible start intervals, and the reason when there are none.

Bad input never raises: a window in daytime, a target never above the limit, a zero-length
window, a duration longer than the night... each becomes an unplanned sequence with its reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from infra.config import parse_config
from tasks.scheduling import reasons as why
from tasks.scheduling.night_times import compute_night, night_grid
from tasks.scheduling.observability import altitude_for_airmass, effective_limits
from tasks.scheduling.problem import build_problem
from tasks.scheduling.tonight import plan_night
from tests.tasks.scheduling.conftest import CONFIG, MOON_RA_DEC_AT_MIDNIGHT, NIGHT, candidate


def codes(outcome) -> dict[int, str]:
    return {e.sequence_id: why.code_of(e.reason) for e in outcome.entries()}


def test_bad_input_is_unplannable_with_its_reason_never_an_exception(evening):
    start, end = NIGHT.start, NIGHT.end
    moon_ra, moon_dec = MOON_RA_DEC_AT_MIDNIGHT
    candidates = [
        candidate(1),  # fine
        candidate(
            2,
            window_start=evening + timedelta(minutes=5),
            window_end=start - timedelta(minutes=5),
        ),
        candidate(3, dec_deg=-80.0),
        candidate(
            4, window_start=start + timedelta(hours=2), window_end=start + timedelta(hours=2)
        ),
        candidate(5, duration_s=13 * 3600.0),
        candidate(6, window_start=end + timedelta(hours=3), window_end=end + timedelta(hours=5)),
        candidate(7, ra_deg=None, dec_deg=None),
        candidate(8, duration_s=float("nan")),
        candidate(9, duration_s=-5.0),
        candidate(10, ra_deg=moon_ra, dec_deg=moon_dec, min_moon_distance_deg=20.0),
        candidate(11, dec_deg=-27.0, duration_s=3 * 3600.0),  # culminates at 32 deg: ~2 h up
        candidate(12, ra_deg=332.0, window_start=end - timedelta(hours=1)),  # sets early
        candidate(13, window_start=evening - timedelta(hours=3), window_end=evening),
        candidate(14, duration_s=2 * 3600.0, window_end=start + timedelta(hours=1)),
        candidate(15, target_type="test", ra_deg=None, dec_deg=None),
        candidate(16, refusal="unknown-instrument: the site has no instrument X"),
    ]
    outcome = plan_night(candidates, CONFIG, evening)
    assert codes(outcome) == {
        1: "",
        2: why.WINDOW_IN_DAYTIME,
        3: why.NEVER_HIGH_ENOUGH,
        4: why.EMPTY_WINDOW,
        5: why.LONGER_THAN_NIGHT,
        6: why.LATER_NIGHT,
        7: why.NO_POSITION,
        8: why.BAD_DURATION,
        9: why.BAD_DURATION,
        10: why.TOO_CLOSE_TO_MOON,
        11: why.OBSERVABLE_TOO_BRIEFLY,
        12: why.NOT_OBSERVABLE_IN_WINDOW,
        13: why.WINDOW_PASSED,
        14: why.LONGER_THAN_WINDOW,
        15: "",
        16: why.UNKNOWN_INSTRUMENT,
    }
    texts = {e.sequence_id: e.reason for e in outcome.entries()}
    assert "never above 30 deg" in texts[3]
    assert "longer than the whole night" in texts[5]
    assert "within 20 deg of the moon" in texts[10]


def test_a_test_target_is_observable_all_night_whatever_the_sky(evening):
    problem = build_problem(
        [candidate(1, target_type="test", ra_deg=None, dec_deg=None, duration_s=600.0)],
        NIGHT,
        night_grid(NIGHT, CONFIG),
        CONFIG,
        evening,
    )
    ((first, last),) = problem.feasible[0]
    assert first == NIGHT.start.timestamp()
    assert last == pytest.approx(NIGHT.end.timestamp() - 600.0)


def test_replanning_covers_only_the_rest_of_the_night():
    late = NIGHT.end - timedelta(hours=2)
    outcome = plan_night(
        [candidate(1, ra_deg=140.0, dec_deg=10.0), candidate(2, duration_s=3 * 3600.0)],
        CONFIG,
        late,
    )
    (planned,) = [e for e in outcome.entries() if e.planned]
    assert planned.start >= late
    assert "longer than the rest of the night" in outcome.entries()[1].reason


def test_no_dark_time_makes_everything_unplannable_with_the_reason():
    data = CONFIG.model_dump()
    data["site"].update(latitude_deg=78.2, longitude_deg=15.6, timezone="Arctic/Longyearbyen")
    polar = parse_config(data)
    now = datetime(2026, 6, 21, 20, tzinfo=UTC)
    night = compute_night("2026-06-21", polar)
    outcome = plan_night(
        [candidate(1, window_start=now, window_end=now + timedelta(hours=6))],
        polar,
        now,
        night=night,
    )
    assert codes(outcome) == {1: why.NO_DARK_TIME}


def test_sequence_constraints_override_the_site_defaults():
    limits = CONFIG.limits  # horizon 15, min altitude 30, max airmass 2 (= 30 deg)
    nan = np.nan
    altitude, moon = effective_limits(
        np.array([nan, 20.0, nan, 40.0, 5.0]),
        np.array([nan, nan, 1.5, 3.0, nan]),
        np.array([nan, 5.0, nan, nan, nan]),
        limits,
    )
    assert altitude[0] == pytest.approx(30.0)
    assert altitude[1] == pytest.approx(20.0)  # lower than the site's, allowed
    assert altitude[2] == pytest.approx(altitude_for_airmass(np.array([1.5]))[0])  # ~41.8
    assert altitude[3] == pytest.approx(40.0)  # the stricter of 40 deg and airmass 3 (~19.5)
    assert altitude[4] == pytest.approx(limits.horizon_deg)  # never below the horizon limit
    assert moon.tolist() == [15.0, 5.0, 15.0, 15.0, 15.0]
    assert altitude_for_airmass(np.array([2.0]))[0] == pytest.approx(30.0)
