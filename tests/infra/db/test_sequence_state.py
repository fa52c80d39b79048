"""The sequence state machine refuses illegal transitions and stores every transition."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import Request, ScientificProgram, Sequence, SequenceTransition, User
from infra.db.sequence_state import (
    ALLOWED,
    FINAL_STATES,
    IllegalTransition,
    SequenceState,
    can_transition,
    transition,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
S = SequenceState


def _new_sequence(session) -> Sequence:
    user = session.scalar(select(User).where(User.username == "pyros"))
    program = session.scalar(select(ScientificProgram).where(ScientificProgram.name == "GRB"))
    request = Request(
        name="r", user_id=user.id, program_id=program.id, target_type="test", submitted_at=T0
    )
    sequence = Sequence(
        name="s",
        target_type="test",
        declared_duration_s=60,
        jd1=0,
        jd2=3600,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        state=None,
        state_changed_at=T0,
    )
    request.sequences.append(sequence)
    session.add(request)
    transition(session, sequence, S.TO_BE_PLANNED, "submitted", T0)
    session.flush()
    return sequence


def test_the_documented_returns_to_planning_are_allowed():
    assert can_transition("unplannable", "to-be-planned")
    assert can_transition("interrupted", "to-be-planned")
    assert {S.EXECUTED, S.CANCELLED, S.INVALID} == FINAL_STATES


def test_every_pair_of_states_is_allowed_or_refused_as_the_table_says(engine):
    with session_scope(engine) as session:
        sequence = _new_sequence(session)
        for current, target in itertools.product(SequenceState, SequenceState):
            sequence.state = current.value
            if target in ALLOWED[current]:
                transition(session, sequence, target, "table", T0)
                assert sequence.state == target.value
            else:
                with pytest.raises(IllegalTransition) as error:
                    transition(session, sequence, target, "table", T0)
                assert sequence.state == current.value
                assert f"{current.value!r} -> {target.value!r}" in str(error.value)


def test_a_night_of_transitions_is_stored_with_times_and_reasons(engine):
    path = [
        (S.PLANNED, "planned"),
        (S.EXECUTING, "started"),
        (S.INTERRUPTED, "rain"),
        (S.TO_BE_PLANNED, "re-planned"),
        (S.PLANNED, "planned again"),
        (S.EXECUTING, "resumed"),
        (S.EXECUTED, "done"),
    ]
    with session_scope(engine) as session:
        sequence = _new_sequence(session)
        for minutes, (state, reason) in enumerate(path, start=1):
            transition(session, sequence, state, reason, T0 + timedelta(minutes=minutes))
        sequence_id = sequence.id
    with session_scope(engine) as session:
        rows = session.scalars(
            select(SequenceTransition)
            .where(SequenceTransition.sequence_id == sequence_id)
            .order_by(SequenceTransition.id)
        ).all()
        assert [(r.from_state, r.to_state, r.reason) for r in rows] == (
            [(None, "to-be-planned", "submitted")]
            + [
                (prev.value, state.value, reason)
                for prev, (state, reason) in zip(
                    [S.TO_BE_PLANNED] + [s for s, _ in path[:-1]], path, strict=True
                )
            ]
        )
        assert rows[-1].at == T0 + timedelta(minutes=len(path))
        stored = session.get(Sequence, sequence_id)
        assert (stored.state, stored.state_reason) == ("executed", "done")
        with pytest.raises(IllegalTransition, match="none, it is final"):
            transition(session, stored, S.TO_BE_PLANNED, "again", T0)


def test_an_illegal_transition_stores_nothing(engine):
    with session_scope(engine) as session:
        sequence = _new_sequence(session)
        sequence_id = sequence.id
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        with pytest.raises(IllegalTransition):
            transition(session, sequence, S.EXECUTED, "skipping execution", T0)
        with pytest.raises(IllegalTransition):
            transition(session, sequence, "finished", "unknown state", T0)
    with session_scope(engine) as session:
        count = session.scalar(
            select(func.count())
            .select_from(SequenceTransition)
            .where(SequenceTransition.sequence_id == sequence_id)
        )
        assert count == 1
        assert session.get(Sequence, sequence_id).state == "to-be-planned"


def test_the_database_refuses_an_unknown_state(engine):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), session_scope(engine) as session:
        sequence = _new_sequence(session)
        sequence.state = "finished"
        session.flush()


def test_a_change_stored_meanwhile_by_another_process_is_not_overwritten(engine):
    """The follow-up run read "executing"; the listener cancelled it (a re-point) before the run
    stored "interrupted": the run is refused from "cancelled", which stays."""
    from sqlalchemy.orm import Session

    with session_scope(engine) as session:
        sequence = _new_sequence(session)
        transition(session, sequence, S.PLANNED, "planned", T0)
        transition(session, sequence, S.EXECUTING, "started", T0)
        sequence_id = sequence.id
    with Session(engine, expire_on_commit=False) as run_session:
        seen = run_session.get(Sequence, sequence_id)
        run_session.commit()  # what the run read: "executing", kept in memory
        with session_scope(engine) as listener:
            transition(listener, listener.get(Sequence, sequence_id), S.CANCELLED, "re-pointed", T0)
        assert seen.state == "executing"
        with pytest.raises(IllegalTransition, match="'cancelled' -> 'interrupted'"):
            transition(run_session, seen, S.INTERRUPTED, "exposure aborted", T0)
        run_session.rollback()
    with session_scope(engine) as session:
        stored = session.get(Sequence, sequence_id)
        assert (stored.state, stored.state_reason) == ("cancelled", "re-pointed")
        reasons = [t.reason for t in stored.transitions]
        assert reasons == ["submitted", "planned", "started", "re-pointed"]


def test_a_transition_is_judged_from_the_stored_state_when_it_changed_meanwhile(engine):
    from sqlalchemy.orm import Session

    with session_scope(engine) as session:
        sequence = _new_sequence(session)
        sequence_id = sequence.id
    with Session(engine, expire_on_commit=False) as stale_session:
        stale = stale_session.get(Sequence, sequence_id)
        stale_session.commit()  # read "to-be-planned"
        with session_scope(engine) as other:
            transition(other, other.get(Sequence, sequence_id), S.PLANNED, "planned", T0)
        # planned -> cancelled is allowed: made from "planned", recorded with it.
        record = transition(stale_session, stale, S.CANCELLED, "cancelled by the user", T0)
        assert (record.from_state, stale.state) == ("planned", "cancelled")
        stale_session.commit()
    with session_scope(engine) as session:
        assert session.get(Sequence, sequence_id).state == "cancelled"
