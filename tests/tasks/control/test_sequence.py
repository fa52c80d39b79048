"""Cancelling one sequence: a planned one becomes cancelled, an executing or final one is
refused with the reason, each journaled with who and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import JournalEntry, Sequence
from infra.db.sequence_state import SequenceState, transition
from tasks.control.lease import ManualRefused, Operator
from tasks.control.sequence import cancel_sequence
from tasks.requests.ingest import ingest_request_bytes
from tasks.requests.people import AccessError
from tests.support.requests import request_xml, sequence_xml

NOW = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
PYROS = Operator("pyros", "target too low tonight")


def two_sequences(engine) -> tuple[int, int]:
    xml = request_xml([sequence_xml("a"), sequence_xml("b")])
    first, second = ingest_request_bytes(xml.encode(), "t.xml", engine=engine).sequence_ids
    return first, second


def test_a_sequence_is_cancelled_alone_and_an_executing_one_is_refused(engine):
    first, second = two_sequences(engine)
    result = cancel_sequence(first, PYROS, NOW, engine=engine)
    assert result.message == f"sequence {first} cancelled (was to-be-planned)"
    with session_scope(engine) as session:
        running = session.get(Sequence, second)
        transition(session, running, SequenceState.PLANNED, "planned", NOW)
        transition(session, running, SequenceState.EXECUTING, "started", NOW)
    with pytest.raises(ManualRefused, match="is executing"):
        cancel_sequence(second, PYROS, NOW, engine=engine)
    with pytest.raises(ManualRefused, match="already cancelled"):
        cancel_sequence(first, PYROS, NOW, engine=engine)
    with session_scope(engine) as session:
        assert session.get(Sequence, first).state == "cancelled"
        assert session.get(Sequence, second).state == "executing"
        rows = session.scalars(select(JournalEntry).where(JournalEntry.kind == "operator"))
        entries = [r.payload for r in rows if r.payload.get("command") == "cancel-sequence"]
    assert [(e["sequence_id"], e["outcome"], e["reason"]) for e in entries] == [
        (first, "done", "target too low tonight"),
        (second, "refused", "target too low tonight"),
        (first, "refused", "target too low tonight"),
    ]


def test_an_unknown_user_or_sequence_is_refused(engine):
    first, _ = two_sequences(engine)
    with pytest.raises(AccessError):
        cancel_sequence(first, Operator("nobody", "why"), NOW, engine=engine)
    with pytest.raises(LookupError, match="sequence 9999"):
        cancel_sequence(9999, PYROS, NOW, engine=engine)
