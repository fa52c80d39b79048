"""What the night looks at: why the schedule is out of date."""

from __future__ import annotations

from datetime import timedelta

from infra.clock import SimulatedClock
from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Alert, Schedule, Sequence, WeatherWatch
from infra.db.sequence_state import SequenceState, transition
from tasks.environment.observatory_state import verdict_write
from tasks.night.policy import NightWindows
from tasks.night.state_reader import (
    INSERT_AT_MOST,
    DeviceView,
    NightAgenda,
    ReplanNeed,
    current_schedule,
    follow_up_sequences,
    planned_entries,
    read_night_state,
    replan_need,
    replan_reason,
    trusted_verdict_age_s,
)
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tests.support.night_data import add_schedule
from tests.support.requests import request_xml, sequence_xml
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


def _apart(engine, count: int) -> list[int]:
    """``count`` sequences, each of its own request (an alert's request is its own)."""
    ids = []
    for i in range(count):
        xml = request_xml([sequence_xml(f"apart{i}")], program="GRB", name=f"request {i}")
        ids += ingest_request_bytes(xml.encode(), f"r{i}.xml", engine=engine).sequence_ids
    return ids


def _to(engine, sequence_id: int, *states: SequenceState, at, reason: str = "x") -> None:
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        for state in states:
            transition(session, sequence, state, reason, at)


def _followed_by_an_alert(engine, sequence_id: int, at) -> None:
    """Make ``sequence_id``'s request an alert's follow-up (decided ``follow-up``)."""
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        sequence.request.is_alert = True
        session.add(
            Alert(
                ivorn=f"ivo://test/alert#{sequence_id}",
                received_at=at,
                wall_received_at=at,
                burst_key=f"burst-{sequence_id}",
                decision="follow-up",
                request_id=sequence.request_id,
            )
        )


def _need(engine, now, label="2026-11-24", safe_since=None) -> ReplanNeed:
    with session_scope(engine) as session:
        return replan_need(session, now, current_schedule(session, label), safe_since)


def test_sequences_to_resume_or_new_are_inserted_the_alerts_first_any_other_reason_re_plans(
    engine,
):
    """#18 item 4: an interrupted sequence and an alert's are inserted one by one (the alert's
    first, then the interrupted, then the new); a cancelled sequence, the weather safe again,
    too many sequences or no schedule re-plan the whole rest of the night."""
    label = "2026-11-24"
    night = night_for(label, get_config())
    t0 = night.start + timedelta(hours=1)
    kept, interrupted, new, alert, *more = _apart(engine, 4 + INSERT_AT_MOST)
    add_schedule(engine, label, night, {kept: t0 + timedelta(minutes=30)}, {}, night.start)
    for sequence_id in (kept, interrupted, *more):
        _to(engine, sequence_id, SequenceState.PLANNED, at=t0)
    _to(engine, interrupted, SequenceState.EXECUTING, SequenceState.INTERRUPTED, at=t0)
    _followed_by_an_alert(engine, alert, t0)
    need = _need(engine, t0)
    assert need == ReplanNeed("1 interrupted sequence(s) to resume", (alert, interrupted, new))
    assert replan_reason_at(engine, t0) == need.reason
    # The weather safe again since the schedule was made: the whole night again.
    assert _need(engine, t0, safe_since=t0).insert == ()
    # A new request alone is inserted; a burst of them re-plans the night.
    _to(engine, interrupted, SequenceState.CANCELLED, at=t0)
    _to(engine, alert, SequenceState.CANCELLED, at=t0)
    assert _need(engine, t0) == ReplanNeed("1 new sequence(s) to plan", (new,))
    for sequence_id in more:
        _to(engine, sequence_id, SequenceState.TO_BE_PLANNED, at=t0)
    assert _need(engine, t0) == ReplanNeed(f"{1 + len(more)} new sequence(s) to plan")
    for sequence_id in more:
        _to(engine, sequence_id, SequenceState.CANCELLED, at=t0)
    # A cancelled sequence in the schedule: its time goes to the others, a full plan.
    _to(engine, kept, SequenceState.CANCELLED, at=t0)
    assert _need(engine, t0) == ReplanNeed("1 new sequence(s) to plan")
    # A sequence the planner left for a later night is not new.
    with session_scope(engine) as session:
        session.get(Sequence, new).state_reason = "later-night: its window opens tomorrow"
    assert _need(engine, t0 + timedelta(hours=2)) == ReplanNeed()
    assert _need(engine, t0, label="2026-11-25") == ReplanNeed("no schedule yet tonight")


def replan_reason_at(engine, now, label="2026-11-24") -> str:
    with session_scope(engine) as session:
        return replan_reason(session, now, current_schedule(session, label), None)


def test_an_alert_follow_up_is_the_flows_its_unused_slot_is_not_missed_and_it_holds_the_night(
    engine,
):
    """The alert-follow-up flow runs the alert's sequences: the night knows them, does not
    re-plan when their slot passes unused, and waits while one executes (or the mount's lease
    is held at alert priority)."""
    label = "2026-11-24"
    night = night_for(label, get_config())
    t0 = night.start + timedelta(hours=1)
    alert, routine = _apart(engine, 2)
    _followed_by_an_alert(engine, alert, t0)
    add_schedule(
        engine, label, night, {alert: t0, routine: t0 + timedelta(minutes=10)}, {}, night.start
    )
    for sequence_id in (alert, routine):
        _to(engine, sequence_id, SequenceState.PLANNED, at=t0)
    late = t0 + timedelta(minutes=6)  # the alert's 5 minute slot is over
    assert _need(engine, late) == ReplanNeed()
    with session_scope(engine) as session:
        assert follow_up_sequences(session, late) == {alert: "planned"}
    windows = NightWindows(sunset=None, start=night.start, end=night.end, sunrise=None)
    view = DeviceView(True, alert_holder="alert:swift-1")
    with session_scope(engine) as session:
        held = read_night_state(session, late, windows, view, label)
        free = read_night_state(session, late, windows, DeviceView(True), label)
    assert held.follow_up == {alert} and "alert:swift-1" in held.alert_holds
    assert free.alert_holds == ""
    _to(engine, alert, SequenceState.EXECUTING, at=late)
    with session_scope(engine) as session:
        executing = read_night_state(session, late, windows, DeviceView(True), label)
    assert executing.alert_holds == f"its sequence {alert} is executing"
    # Once it is over, the night goes on.
    _to(engine, alert, SequenceState.EXECUTED, at=late)
    with session_scope(engine) as session:
        after = read_night_state(session, late, windows, DeviceView(True), label)
    assert (after.follow_up, after.alert_holds) == (frozenset(), "")
