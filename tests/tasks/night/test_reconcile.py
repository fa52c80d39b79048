"""On start, a sequence left executing by a run that no longer holds the mount is interrupted
(it resumes once re-planned); one whose run still holds it is left alone."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.db import session_scope
from infra.db.models import Sequence
from infra.db.sequence_state import SequenceState, transition
from tasks.night.reconcile import reconcile
from tasks.requests.ingest import ingest_request_bytes
from tests.support.requests import request_xml, sequence_xml

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def _executing(engine, owners: list[str]) -> list[int]:
    xml = request_xml([sequence_xml(f"s{i}") for i in range(len(owners))])
    ids = list(ingest_request_bytes(xml.encode(), "r.xml", engine=engine).sequence_ids)
    with session_scope(engine) as session:
        for sequence_id, owner in zip(ids, owners, strict=True):
            sequence = session.get(Sequence, sequence_id)
            transition(session, sequence, SequenceState.PLANNED, "planned", NOW)
            transition(session, sequence, SequenceState.EXECUTING, f"started by {owner}", NOW)
    return ids


def test_only_the_sequences_of_dead_runs_are_interrupted(engine):
    dead, alive = _executing(engine, ["execute-night:old-run", "execute-night:this-run"])
    assert reconcile(engine, NOW, "execute-night:this-run") == [dead]
    with session_scope(engine) as session:
        gone, kept = session.get(Sequence, dead), session.get(Sequence, alive)
        assert gone.state == "interrupted" and "execute-night:old-run" in gone.state_reason
        assert kept.state == "executing"
    # Nobody holds the mount any more (its lease lapsed): the last one is interrupted too.
    assert reconcile(engine, NOW, None) == [alive]
    assert reconcile(engine, NOW, None) == []
