"""The journal: append-only, per night, with the code version and configuration hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from infra.config import config_hash, get_config
from infra.db import session_scope
from infra.db.models import JournalEntry, Night
from infra.journal import entries, night_label, record

EVENING = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 19:18 local solar time on the 24th


def test_night_label_changes_at_local_noon():
    longitude = -115.4869  # local solar time = UTC - 7.7 h
    assert night_label(EVENING, longitude) == "2026-11-24"
    assert night_label(EVENING + timedelta(hours=10), longitude) == "2026-11-24"  # dawn
    assert night_label(datetime(2026, 11, 25, 19, 30, tzinfo=UTC), longitude) == "2026-11-24"
    assert night_label(datetime(2026, 11, 25, 19, 50, tzinfo=UTC), longitude) == "2026-11-25"


def test_record_stores_raw_bytes_and_json_with_times(engine):
    raw = b"<voevent>\x00 exactly as received</voevent>"
    wall = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        first = record("alert", "comet", raw, sim_time=EVENING, wall_time=wall, into=session)
        second = record(
            "plc",
            "plc",
            {"RainRate": 12.0, "at": EVENING},
            sim_time=EVENING + timedelta(seconds=1),
            into=session,
        )
    with session_scope(engine) as session:
        stored = entries(session, night="2026-11-24")
        assert [e.id for e in stored] == [first.id, second.id]
        assert stored[0].raw == raw and stored[0].payload is None
        assert stored[0].sha256 == hashlib.sha256(raw).hexdigest()
        assert (stored[0].sim_time, stored[0].wall_time) == (EVENING, wall)
        assert stored[1].payload == {"RainRate": 12.0, "at": "2026-11-25T03:00:00Z"}
        assert [e.kind for e in entries(session, kinds=["plc"])] == ["plc"]


def test_each_night_is_registered_once_with_code_version_and_config_hash(engine):
    for hours in (0, 1, 5, 30):
        record("operator", "test", {"n": hours}, sim_time=EVENING + timedelta(hours=hours))
    with session_scope(engine) as session:
        nights = session.scalars(select(Night).order_by(Night.label)).all()
        assert [n.label for n in nights] == ["2026-11-24", "2026-11-25"]
        assert {n.code_version for n in nights} == {"test-suite"}
        assert {n.config_hash for n in nights} == {config_hash(get_config())}


@pytest.mark.parametrize(
    "statement", ["UPDATE journal_entries SET source = 'x'", "DELETE FROM journal_entries"]
)
def test_the_database_refuses_to_change_the_journal(engine, statement):
    record("operator", "test", {"command": "open"}, sim_time=EVENING)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with session_scope(engine) as session:
        assert session.scalars(select(JournalEntry.source)).all() == ["test"]


def test_a_rolled_back_transaction_journals_nothing(engine):
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        record("request", "test", b"<request/>", sim_time=EVENING, into=session)
        raise RuntimeError("validation failed after journaling")
    with session_scope(engine) as session:
        assert session.scalars(select(JournalEntry)).all() == []
        assert session.scalars(select(Night)).all() == []
    # The night registry was not fooled by the rolled-back insert.
    record("request", "test", b"<request/>", sim_time=EVENING)
    with session_scope(engine) as session:
        assert [n.label for n in session.scalars(select(Night))] == ["2026-11-24"]


def test_payloads_that_are_not_json_are_refused_before_anything_is_written(engine):
    with pytest.raises(TypeError):
        record("operator", "test", {"thing": object()}, sim_time=EVENING)
    with pytest.raises(ValueError):
        record("operator", "test", {"x": float("nan")}, sim_time=EVENING)
    with session_scope(engine) as session:
        assert session.scalars(select(JournalEntry)).all() == []
