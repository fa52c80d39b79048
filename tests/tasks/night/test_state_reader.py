"""What the night looks at: why the schedule is out of date."""

from __future__ import annotations

from datetime import timedelta

from infra.clock import SimulatedClock
from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Schedule, Sequence, WeatherWatch
from infra.db.sequence_state import SequenceState, transition
from tasks.environment.observatory_state import verdict_write
from tasks.night.policy import NightWindows
from tasks.night.state_reader import (
    DeviceView,
    NightAgenda,
    current_schedule,
    planned_entries,
    read_night_state,
    replan_reason,
    trusted_verdict_age_s,
)
from tasks.scheduling.night_times import night_for
from tests.support.night_data import add_schedule
from tests.tasks.night.test_report import _sequences


def test_a_sequence_that_missed_its_slot_asks_for_a_new_plan(engine):
    label = "2026-11-24"
    night = night_for(label, get_config())
    t0 = night.start + timedelta(hours=1)
    early, later = _sequences(engine, 2)
    add_schedule(
        engine,
        label,
        night,
        {early: t0, later: t0 + timedelta(minutes=30)},
        {},
        night.start,
    )
    with session_scope(engine) as session:
        for sequence_id in (early, later):
            transition(session, session.get(Sequence, sequence_id), SequenceState.PLANNED, "p", t0)
    with session_scope(engine) as session:
        schedule = current_schedule(session, label)
        assert isinstance(schedule, Schedule)
        assert [e.sequence_id for e in planned_entries(session, schedule)] == [early, later]
        assert replan_reason(session, t0, schedule, None) == ""
        # Its slot (5 minutes) is over and it never started.
        late = t0 + timedelta(minutes=6)
        assert replan_reason(session, late, schedule, None) == "1 sequence(s) missed their slot"
        assert replan_reason(session, late, None, None) == "no schedule yet tonight"


def test_a_cancelled_sequence_still_in_the_schedule_asks_for_a_new_plan(engine):
    """Issue #23: a request cancelled from the CLI during the night: the next look re-plans so
    its time goes to the others; a slot already over does not count."""
    label = "2026-11-24"
    night = night_for(label, get_config())
    t0 = night.start + timedelta(hours=1)
    kept, cancelled = _sequences(engine, 2)
    add_schedule(
        engine, label, night, {kept: t0, cancelled: t0 + timedelta(minutes=30)}, {}, night.start
    )
    with session_scope(engine) as session:
        for sequence_id in (kept, cancelled):
            transition(session, session.get(Sequence, sequence_id), SequenceState.PLANNED, "p", t0)
    with session_scope(engine) as session:
        schedule = current_schedule(session, label)
        assert replan_reason(session, t0, schedule, None) == ""
        sequence = session.get(Sequence, cancelled)
        transition(session, sequence, SequenceState.CANCELLED, "cancelled by pyros", t0)
        session.flush()
        assert replan_reason(session, t0, schedule, None) == (
            "1 cancelled sequence(s) in the schedule"
        )
        transition(session, session.get(Sequence, kept), SequenceState.EXECUTING, "x", t0)
        transition(session, session.get(Sequence, kept), SequenceState.EXECUTED, "x", t0)
        session.flush()
        assert replan_reason(session, t0 + timedelta(minutes=36), schedule, None) == ""


def _synthesis_at(engine, at) -> None:
    with session_scope(engine) as session:
        session.add(WeatherWatch(updated_at=at, wall_updated_at=at, global_status="good"))


def _night_state(engine, now, max_age_s):
    windows = NightWindows(sunset=None, start=None, end=None, sunrise=None)
    agenda = NightAgenda(verdict_max_age_s=max_age_s)
    with session_scope(engine) as session:
        return read_night_state(session, now, windows, DeviceView(True), "2026-11-24", agenda)


def test_a_verdict_older_than_the_trusted_age_is_unsafe_until_the_monitor_speaks_again(engine):
    t0 = night_for("2026-11-24", get_config()).start
    assert _night_state(engine, t0, 60.0).weather_stale_s is None  # never spoke: unsafe, not stale
    with session_scope(engine) as session:
        verdict_write(True, "every element good", t0)(session)
    fresh = _night_state(engine, t0 + timedelta(seconds=60), 60.0)
    assert fresh.weather_safe and fresh.weather_stale_s is None
    stale = _night_state(engine, t0 + timedelta(seconds=61), 60.0)
    assert not stale.weather_safe and stale.weather_stale_s == 61.0
    # Without a limit (replays feeding verdicts without a monitor) any age is trusted.
    assert _night_state(engine, t0 + timedelta(hours=3), None).weather_safe
    # A synthesis every poll is the monitor's word too: the same verdict is fresh again.
    _synthesis_at(engine, t0 + timedelta(seconds=50))
    assert _night_state(engine, t0 + timedelta(seconds=61), 60.0).weather_safe


def test_the_trusted_age_never_falls_under_the_wall_floor_of_a_fast_clock():
    safety = get_config().safety
    start = night_for("2026-11-24", get_config()).start
    real_time = SimulatedClock(start, 1.0, wall_epoch=0.0)
    assert trusted_verdict_age_s(safety, real_time) == safety.verdict_max_age_s
    fast = trusted_verdict_age_s(safety, SimulatedClock(start, 100.0, wall_epoch=0.0))
    assert fast == safety.verdict_max_age_wall_min_s * 100.0 > safety.verdict_max_age_s
