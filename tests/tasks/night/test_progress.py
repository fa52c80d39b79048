"""The night's progress lines: one per event that matters, in words, never a raw dict; nothing
for what does not matter; the reader reads each change once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.db import session_scope
from infra.db.models import Sequence
from infra.db.sequence_state import SequenceState, transition
from infra.events import (
    ALERT_FOLLOW_UP,
    ALERT_RECEIVED,
    DEVICE_LOST,
    DOME_ACTION,
    IMAGE_ACQUIRED,
    NRT_CANDIDATE,
    WATCHER_HEARTBEAT,
    WEATHER_SAFE,
    WEATHER_UNSAFE,
    emit,
)
from tasks.night.progress import Change, ProgressReader, progress_lines
from tasks.requests.ingest import ingest_request_bytes
from tests.support.requests import request_xml, sequence_xml

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_each_event_that_matters_is_one_line_in_words():
    changes = [
        Change(_at(0), "sequence", {"id": 3, "name": "M31", "state": "executing"}),
        Change(
            _at(5),
            "sequence",
            {"id": 3, "name": "M31", "state": "executed", "reason": "done", "images": 20},
        ),
        Change(
            _at(6),
            WEATHER_UNSAFE,
            {"reason": "rain (DRD11)", "actions": ["mount park", "dome close"]},
        ),
        Change(_at(40), WEATHER_SAFE, {"reason": "dry for 600 s", "actions": ["dome open"]}),
        Change(_at(41), DOME_ACTION, {"actions": ["dome close"]}),
        Change(
            _at(50),
            ALERT_RECEIVED,
            {
                "mission": "Swift",
                "burst_key": "1234567",
                "decision": "follow-up",
                "reason": "GRB visible now",
                "request_id": 9,
            },
        ),
        Change(
            _at(55),
            NRT_CANDIDATE,
            {"alert_ivorn": "ivo://x", "ra": 10.5, "dec": -20.25, "mag": 17.3, "image_id": "S1"},
        ),
        Change(_at(56), DEVICE_LOST, {"device": "mount", "reason": "connection refused"}),
    ]
    assert progress_lines(changes) == [
        "01:00:00 sequence 3 'M31' started",
        "01:05:00 sequence 3 'M31' executed: 20 image(s)",
        "01:06:00 weather UNSAFE: rain (DRD11); mount park, dome close",
        "01:40:00 weather safe: dry for 600 s; dome open",
        "01:41:00 dome: dome close",
        "01:50:00 alert received: Swift 1234567, decided follow-up (request 9): GRB visible now",
        "01:55:00 afterglow candidate at RA 10.5000 Dec -20.2500, mag 17.30 on S1",
        "01:56:00 device mount lost: connection refused",
    ]


def test_an_interruption_says_why_and_long_reasons_are_cut():
    reason = "preempted: " + "x" * 300
    (line,) = progress_lines(
        [
            Change(
                _at(0),
                "sequence",
                {"id": 1, "name": "a", "state": "interrupted", "reason": reason, "images": 2},
            )
        ]
    )
    assert line.startswith("01:00:00 sequence 1 'a' interrupted: 2 image(s) (preempted: xxx")
    assert line.endswith("…)") and len(line) < 160


def test_what_does_not_matter_makes_no_line_and_nothing_repeats():
    quiet = [
        Change(_at(0), WATCHER_HEARTBEAT, {"safe": True}),
        Change(_at(1), IMAGE_ACQUIRED, {"image_id": "S1"}),
        Change(_at(2), ALERT_FOLLOW_UP, {"decision": "follow-up"}),  # said by "received"
        Change(_at(3), NRT_CANDIDATE, {"ra": 1.0, "dec": 2.0, "image_id": "S1"}),  # no alert
        Change(_at(4), DOME_ACTION, {"actions": []}),
        Change(_at(5), "sequence", {"id": 1, "name": "a", "state": "planned"}),
    ]
    assert progress_lines(quiet) == []
    same = Change(_at(0), DOME_ACTION, {"actions": ["dome open"]})
    later = Change(_at(10), DOME_ACTION, {"actions": ["dome open"]})
    assert progress_lines([later, same]) == ["01:00:00 dome: dome open"]


def test_the_reader_reads_each_change_once(engine):
    xml = request_xml([sequence_xml("first")], program="GRB")
    (sequence_id,) = ingest_request_bytes(xml.encode(), "p.xml", engine=engine).sequence_ids

    class At:
        speed = float("inf")

        def now(self):
            return _at(30)

    reader = ProgressReader()
    with session_scope(engine) as session:
        reader.start_at_end(session)
        assert reader.read(session) == []
        sequence = session.get(Sequence, sequence_id)
        transition(session, sequence, SequenceState.PLANNED, "planned", _at(0))
        transition(session, sequence, SequenceState.EXECUTING, "go", _at(1))
    emit(WEATHER_UNSAFE, "site", {"reason": "rain", "actions": ["dome close"]}, clock=At())
    with session_scope(engine) as session:
        lines = progress_lines(reader.read(session))
        assert reader.read(session) == []
    assert lines == [
        f"01:01:00 sequence {sequence_id} 'first' started",
        "01:30:00 weather UNSAFE: rain; dome close",
    ]
