"""Planning from the database and saving the schedule (SQLite and PostgreSQL).

The suite's clock stands at 2026-11-25 02:00 UTC, 25 minutes into the night of 2026-11-24.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from infra.db import session_scope
from infra.db.models import (
    Request,
    Schedule,
    ScheduledSequence,
    Sequence,
    SequenceTransition,
)
from infra.db.sequence_state import transition
from infra.journal import KIND_EVENT, entries
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling import reasons as why
from tasks.scheduling.schedule_rows import SchedulingError, insert_and_save, plan_and_save
from tests.support.requests import plan_xml, request_xml, sequence_xml


def submit(sequences: list[str], target_type: str = "test") -> list[int]:
    xml = request_xml(sequences, target_type=target_type).encode()
    return list(ingest_request_bytes(xml, "test.xml").sequence_ids)


def hours(name: str, h: float, priority: int = 1, **kw) -> str:
    return sequence_xml(
        name,
        duration=str(h * 3600),
        jd1="0",
        jd2=str(14 * 3600),
        extra=f'priority="{priority}"',
        plans=plan_xml("r", "30", "2"),
        **kw,
    )


def states(engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return dict(session.execute(select(Sequence.name, Sequence.state)).all())


def transition_count(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(SequenceTransition))


def test_a_plan_is_saved_with_reasons_states_transitions_and_an_event(engine, sim_clock):
    submit([hours("a", 1, 3), hours("b", 2, 2), hours("c", 0.5, 1)])
    submit([hours("low", 1, coords="10 -80")], target_type="sidereal")
    result = plan_and_save(engine=engine, clock=sim_clock)
    assert (result["night"], result["planned"], result["unplanned"]) == ("2026-11-24", 3, 1)
    with session_scope(engine) as session:
        schedule = session.get(Schedule, result["schedule_id"])
        assert schedule.is_current and schedule.night == "2026-11-24"
        assert schedule.details["night"]["label"] == "2026-11-24"
        rows = schedule.entries
        planned = [r for r in rows if r.planned]
        assert [session.get(Sequence, r.sequence_id).name for r in planned] == ["a", "b", "c"]
        assert planned[0].planned_start == sim_clock.now()
        for first, second in itertools.pairwise(planned):
            assert first.planned_end <= second.planned_start
        (left_out,) = [r for r in rows if not r.planned]
        assert why.code_of(left_out.reason) == why.NEVER_HIGH_ENOUGH
        a = session.scalar(select(Sequence).where(Sequence.name == "a"))
        assert [(t.from_state, t.to_state) for t in a.transitions] == [
            (None, "to-be-planned"),
            ("to-be-planned", "planned"),
        ]
        assert a.state_reason.startswith("planned 2026-11-25 02:00:00 -> 03:00:")
    assert states(engine) == {"a": "planned", "b": "planned", "c": "planned", "low": "unplannable"}
    with session_scope(engine) as session:
        (event,) = [
            e
            for e in entries(session, kinds=[KIND_EVENT])
            if e.payload["event"] == "pyros.schedule.updated"
        ]
        assert event.payload["payload"]["schedule_id"] == result["schedule_id"]
        assert event.payload["resource"]["prefect.resource.id"] == "pyros.schedule.2026-11-24"


def transitions_of(engine, name: str) -> list[tuple[str | None, str]]:
    with session_scope(engine) as session:
        sequence = session.scalar(select(Sequence).where(Sequence.name == name))
        return [(t.from_state, t.to_state) for t in sequence.transitions]


def test_replanning_changes_states_only_when_the_outcome_changes(engine, sim_clock):
    submit([hours("a", 1, 3), hours("b", 2, 2), hours("no room", 11, 1)])
    submit([hours("low", 1, coords="10 -80")], target_type="sidereal")
    first = plan_and_save(engine=engine, clock=sim_clock)
    rows = transition_count(engine)
    second = plan_and_save(engine=engine, clock=sim_clock, reason="again")
    assert transition_count(engine) == rows  # same plan, same reasons: nothing to record
    left_out = {name: transitions_of(engine, name) for name in ("no room", "low")}
    assert left_out["no room"][-1] == ("to-be-planned", "unplannable")
    # Ten minutes later the planned ones move (new planned times), the left-out ones do not.
    sim_clock.advance(600)
    plan_and_save(engine=engine, clock=sim_clock)
    assert {name: transitions_of(engine, name) for name in left_out} == left_out
    assert transitions_of(engine, "a")[-2:] == [
        ("planned", "to-be-planned"),
        ("to-be-planned", "planned"),
    ]
    with session_scope(engine) as session:
        current = session.scalars(select(Schedule).where(Schedule.is_current)).all()
        assert len(current) == 1 and current[0].id not in (
            first["schedule_id"],
            second["schedule_id"],
        )
        # "a" started and was interrupted: it comes back through to-be-planned.
        a = session.scalar(select(Sequence).where(Sequence.name == "a"))
        transition(session, a, "executing", "started", sim_clock.now())
        transition(session, a, "interrupted", "alert", sim_clock.now())
    sim_clock.advance(600)
    plan_and_save(engine=engine, clock=sim_clock)
    assert [to for _, to in transitions_of(engine, "a")][-3:] == [
        "interrupted",
        "to-be-planned",
        "planned",
    ]
    assert states(engine)["low"] == "unplannable"


def test_the_executing_sequence_stays_first_and_untouched(engine, sim_clock):
    ids = submit([hours("running", 1, 1), hours("next", 1, 5)])
    with session_scope(engine) as session:
        transition(session, session.get(Sequence, ids[0]), "planned", "plan", sim_clock.now())
        transition(session, session.get(Sequence, ids[0]), "executing", "go", sim_clock.now())
    plan_and_save(engine=engine, clock=sim_clock)
    with session_scope(engine) as session:
        schedule = session.scalars(select(Schedule).where(Schedule.is_current)).one()
        first, second = schedule.entries[:2]
        assert (first.sequence_id, first.reason) == (ids[0], "executing")
        assert first.planned_start == sim_clock.now()
        assert second.sequence_id == ids[1] and second.planned_start >= first.planned_end
    assert states(engine) == {"running": "executing", "next": "planned"}


def test_an_alert_is_inserted_at_the_head_incrementally(engine, sim_clock):
    submit([hours("long1", 5, 2), hours("long2", 5, 1)])
    plan_and_save(engine=engine, clock=sim_clock)
    (alert,) = submit([hours("grb", 2, 5)])
    with session_scope(engine) as session:
        request_id = session.get(Sequence, alert).request_id
        session.execute(update(Request).where(Request.id == request_id).values(is_alert=True))
    sim_clock.advance(60)
    result = insert_and_save(alert, engine=engine, clock=sim_clock)
    assert result["reason"] == f"alert sequence {alert} inserted"
    with session_scope(engine) as session:
        schedule = session.get(Schedule, result["schedule_id"])
        planned = [r for r in schedule.entries if r.planned]
        assert planned[0].sequence_id == alert
        assert planned[0].planned_start == sim_clock.now()
        (pushed_out,) = [r for r in schedule.entries if not r.planned]
        assert why.code_of(pushed_out.reason) == why.DISPLACED
        assert f"sequence {alert}" in pushed_out.reason
    assert states(engine) == {"long1": "planned", "long2": "unplannable", "grb": "planned"}


def test_inserting_an_unknown_or_finished_sequence_is_refused(engine, sim_clock):
    (done,) = submit([hours("done", 1)])
    with session_scope(engine) as session:
        transition(session, session.get(Sequence, done), "cancelled", "no", sim_clock.now())
    with pytest.raises(SchedulingError, match="no such sequence"):
        insert_and_save(12345, engine=engine, clock=sim_clock)
    with pytest.raises(SchedulingError, match="is cancelled"):
        insert_and_save(done, engine=engine, clock=sim_clock)


def test_the_first_insertion_of_a_night_is_a_full_plan(engine, sim_clock):
    (one,) = submit([hours("one", 1)])
    result = insert_and_save(one, engine=engine, clock=sim_clock)
    assert result["planned"] == 1 and result["reason"] == f"sequence {one} added"
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ScheduledSequence)) == 1


def test_a_resumed_sequence_is_planned_for_what_is_left(engine, sim_clock):
    (seq,) = submit(
        [sequence_xml("half", duration="1", jd1="0", jd2="40000", plans=plan_xml("r", "100", "10"))]
    )
    with session_scope(engine) as session:
        sequence = session.get(Sequence, seq)
        sequence.albums[0].plans[0].images_done = 6
    result = plan_and_save(engine=engine, clock=sim_clock)
    with session_scope(engine) as session:
        (row,) = session.get(Schedule, result["schedule_id"]).entries
        # 4 images x (100 s + 6 s readout) + 2 s filter move + 21 s worst-case slew.
        assert (row.planned_end - row.planned_start) == timedelta(seconds=4 * 106 + 2 + 21)
