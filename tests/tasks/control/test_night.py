"""The dome asked of the environment monitor, and the night paused and resumed, journaled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import JournalEntry
from infra.opmode import OperatingMode, get_operating_mode
from tasks.control.lease import Operator
from tasks.control.night import ask_dome, set_night_paused
from tasks.environment.observatory_state import DomeRequestState, dome_request, verdict_write

NOW = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
BOB = Operator("bob", "clouds coming")


def journal(engine) -> list[dict]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "operator").order_by(JournalEntry.id)
        )
        return [{"source": r.source, **r.payload} for r in rows]


def test_the_dome_is_asked_of_the_monitor_with_who_and_why(engine):
    with session_scope(engine) as session:
        verdict_write(False, "rain", NOW)(session)
        opened = ask_dome(session, BOB, "open", NOW)
    assert "once safe" in opened.message and "unsafe (rain)" in opened.message
    with session_scope(engine) as session:
        closed = ask_dome(session, BOB, "close", NOW)
        request = dome_request(session)
    assert closed.detail["request"] == "closed"
    assert (request.state, request.by) == (DomeRequestState.CLOSED, "bob")
    assert [(e["source"], e["request"], e["reason"]) for e in journal(engine)] == [
        ("bob", "open", "clouds coming"), ("bob", "closed", "clouds coming")
    ]  # fmt: skip
    with session_scope(engine) as session, pytest.raises(ValueError, match="'ajar' is not"):
        ask_dome(session, BOB, "ajar", NOW)


def test_pause_and_resume_set_the_mode_and_are_journaled(engine):
    with session_scope(engine) as session:
        paused = set_night_paused(session, BOB, True, NOW)
        assert get_operating_mode(session) == OperatingMode.MANUAL
    assert paused.message.startswith("night paused (MANUAL)")
    with session_scope(engine) as session:
        again = set_night_paused(session, BOB, True, NOW)
    assert again.message.startswith("already MANUAL")
    with session_scope(engine) as session:
        set_night_paused(session, Operator("carol", "sky clear"), False, NOW)
        assert get_operating_mode(session) == OperatingMode.AUTO
    actions = [
        (e["source"], e["command"], e.get("reason"), e.get("mode_before"))
        for e in journal(engine)
        if e["command"] != "mode"
    ]
    assert actions == [
        ("bob", "pause-night", "clouds coming", "AUTO"),
        ("bob", "pause-night", "clouds coming", "MANUAL"),
        ("carol", "resume-night", "sky clear", "MANUAL"),
    ]
