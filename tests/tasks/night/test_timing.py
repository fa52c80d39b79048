"""The night's orchestration figures (issue 25): lateness, orchestration loss, overhead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.night.timing import Execution, could_start, lateness_s, timing_figures

T0 = datetime(2027, 1, 15, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def execution(
    sid: int,
    start: float,
    end: float,
    planned: list[tuple[float, float]],
    *,
    wall: float = 1.0,
    device: float | None = 0.9,
) -> Execution:
    """An execution from ``start`` to ``end`` (simulated seconds after T0), ``wall`` seconds long
    in wall time; ``planned``: (schedule made at, planned start)."""
    return Execution(
        sid,
        at(start),
        at(end),
        at(start / 100),
        at(start / 100 + wall),
        tuple((at(m), at(p)) for m, p in planned),
        device,
    )


def test_back_to_back_sequences_on_time_lose_nothing():
    night = [
        execution(1, -60, 600, [(-100, 0)]),  # the policy may start 60 s early
        execution(2, 600, 1200, [(-100, 600)]),
        execution(3, 1200, 1800, [(-100, 1260)]),
    ]
    assert lateness_s(night, [], 60.0) == [0.0, 0.0, 0.0]
    figures = timing_figures(night, [], early_start_s=60.0, dark_s=7200.0)
    assert figures["orchestration_loss_fraction"] == 0.0
    assert figures["prefect_overhead_per_sequence_s"] == pytest.approx(0.1)


def test_a_sequence_due_when_the_telescope_is_free_counts_its_delay():
    night = [
        execution(1, -60, 600, [(-100, 0)]),
        # Due at 600 (free then), started 720: 120 s late.
        execution(2, 720, 1300, [(-100, 600)]),
        # Planned at 2000, allowed from 1940; started at 1950: 10 s late.
        execution(3, 1950, 2500, [(-100, 2000)]),
    ]
    assert lateness_s(night, [], 60.0) == [0.0, 120.0, 10.0]
    figures = timing_figures(night, [], early_start_s=60.0, dark_s=7200.0)
    assert figures["orchestration_loss_fraction"] == pytest.approx(130 / 7200, abs=1e-5)
    assert figures["lateness_max_sim_s"] == 120.0


def test_the_plan_in_force_when_the_telescope_was_free_is_the_reference():
    """A re-plan made after the telescope became free cannot excuse the wait before it."""
    late_plan = execution(2, 900, 1500, [(-100, 600), (850, 900)])
    assert could_start(late_plan, at(600), 60.0) == at(600)
    # No plan by then (an alert inserted later): its own schedule is the reference.
    inserted = execution(3, 900, 1500, [(850, 880)])
    assert could_start(inserted, at(600), 60.0) == at(820)


def test_after_bad_weather_the_dome_reopening_frees_the_telescope():
    night = [
        execution(1, -60, 600, [(-100, 0)]),
        # Rain from 600 to 3000; the dome reopened at 3000; the next started at 3100.
        execution(2, 3100, 3700, [(-100, 700), (2000, 3000)]),
    ]
    assert lateness_s(night, [at(3000)], 60.0) == [0.0, 100.0]


def test_overhead_is_the_wall_time_not_spent_on_devices_and_an_empty_night_has_no_figures():
    night = [execution(1, 0, 600, [(-100, 0)], wall=2.0, device=1.5)]
    night.append(execution(2, 600, 1200, [(-100, 600)], device=None))
    figures = timing_figures(night, [], early_start_s=60.0, dark_s=3600.0)
    assert figures["prefect_overhead_per_sequence_s"] == 0.5  # the unrecorded one left out
    empty = timing_figures([], [], early_start_s=60.0, dark_s=3600.0)
    assert empty["lateness_p95_sim_s"] is None and empty["orchestration_loss_fraction"] is None
