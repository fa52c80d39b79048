"""What the night looks at: why the schedule is out of date."""

from __future__ import annotations

from datetime import timedelta

from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Schedule, Sequence
from infra.db.sequence_state import SequenceState, transition
from tasks.night.state_reader import current_schedule, planned_entries, replan_reason
from tasks.scheduling.night_times import night_for
from tests.tasks.night.test_report import _schedule, _sequences


def test_a_sequence_that_missed_its_slot_asks_for_a_new_plan(engine):
    label = "2026-11-24"
    night = night_for(label, get_config())
    t0 = night.start + timedelta(hours=1)
    early, later = _sequences(engine, 2)
    _schedule(
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
