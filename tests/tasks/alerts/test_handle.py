"""The stored path (``handle_packet``) on both databases: durable first, one row and one request
per IVORN, re-pointing and cancelling stored follow-ups, MANUAL mode, windows, and no exception
ever reaching the caller."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import Alert, JournalEntry, Request, Sequence
from infra.opmode import set_operating_mode
from tasks.alerts.handle import handle_packet
from tests.support.voevents import SWIFT, SWIFT_LOST_LOCK, variant

SWIFT_IVORN = "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475"
ISSUED = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)
EVENT = datetime(2018, 12, 13, 12, 57, 38, 430000, tzinfo=UTC)


def events(engine) -> Counter:
    with session_scope(engine) as session:
        payloads = session.scalars(
            select(JournalEntry.payload).where(JournalEntry.kind == "event")
        ).all()
    return Counter(p["event"] for p in payloads)


def states(engine, request_id: int) -> list[str]:
    with session_scope(engine) as session:
        return list(
            session.scalars(select(Sequence.state).where(Sequence.request_id == request_id))
        )


def test_the_same_packet_ten_times_is_one_alert_and_one_follow_up(engine, voevents):
    raw = voevents[SWIFT]
    decisions = [handle_packet(raw, ISSUED, engine=engine) for _ in range(10)]
    assert [d.decision for d in decisions] == ["follow-up"] + ["duplicate"] * 9
    assert {d.request_id for d in decisions} == {decisions[0].request_id}
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(func.count()).select_from(Request)) == 1
        raws = session.scalars(
            select(JournalEntry.raw).where(JournalEntry.kind == "alert").order_by(JournalEntry.id)
        ).all()
        assert raws == [raw] * 10  # every copy is durable, even the duplicates
        alert = session.scalar(select(Alert))
        assert alert.request_id == decisions[0].request_id and alert.ivorn == SWIFT_IVORN
        assert alert.journal_id == decisions[0].journal_id
    counted = events(engine)
    assert counted["pyros.alert.received"] == 10 and counted["pyros.alert.follow-up"] == 1


def test_durable_first_even_for_rejected_packets_and_failing_decisions(
    engine, voevents, monkeypatch
):
    bad = handle_packet(
        b"<VOEvent ivorn='ivo://x/y#z' version='2.0' role='xx'/>", ISSUED, engine=engine
    )
    assert (bad.decision, bad.ivorn, bad.stored) == ("rejected", None, True)
    assert bad.details["claimed_ivorn"] == "ivo://x/y#z"

    def broken(*args, **kwargs):
        raise KeyError("policy bug")

    monkeypatch.setattr("tasks.alerts.policy.decide", broken)
    failed = handle_packet(voevents[SWIFT], ISSUED, engine=engine)
    assert failed.decision == "ignored" and failed.stored is False
    assert "not decided" in failed.reason and "KeyError" in failed.error
    with session_scope(engine) as session:
        journaled = session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "alert").order_by(JournalEntry.id)
        ).all()
        assert [e.id for e in journaled] == [bad.journal_id, failed.journal_id]
        assert journaled[1].raw == voevents[SWIFT]
        (rejected,) = session.scalars(select(Alert)).all()  # the failed decision stored nothing
        assert rejected.ivorn is None and rejected.journal_id == bad.journal_id
    assert events(engine)["pyros.alert.received"] == 2


def test_text_and_naive_instants_are_handled(engine, voevents):
    text = handle_packet(voevents[SWIFT].decode(), ISSUED, engine=engine)
    assert (text.decision, text.reason) == ("rejected", "a packet must be bytes, not str")
    naive = handle_packet(voevents[SWIFT], ISSUED.replace(tzinfo=None), engine=engine)
    assert naive.decision == "follow-up" and naive.received_at == ISSUED


def test_a_broken_database_never_raises(tmp_path, voevents):
    from infra.db.engine import create_pyros_engine

    never_migrated = create_pyros_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    decision = handle_packet(voevents[SWIFT], ISSUED, engine=never_migrated)
    assert decision.decision == "ignored" and decision.stored is False
    assert "no such table" in decision.error
    junk = handle_packet(b"\x00junk", ISSUED, engine=never_migrated)
    assert junk.decision == "rejected" and junk.stored is False
    never_migrated.dispose()


def test_stored_follow_ups_are_re_pointed_then_cancelled(engine, voevents):
    raw = voevents[SWIFT]
    first = handle_packet(raw, ISSUED, engine=engine)
    better = variant(
        raw,
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#XRT_Position_876016-1",
        ra=248.2071 + 0.25,  # 3 arcmin at this declination
        error=0.002,
        date=ISSUED + timedelta(minutes=2),
    )
    moved = handle_packet(better, ISSUED + timedelta(minutes=2), engine=engine)
    assert (moved.decision, moved.action) == ("follow-up", "re-point")
    assert moved.cancelled_request_id == first.request_id != moved.request_id
    assert states(engine, first.request_id) == ["cancelled"]
    assert states(engine, moved.request_id) == ["to-be-planned"]

    retraction = variant(
        raw,
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#Retraction_876016-1",
        params={"TrigID": "999999"},  # found through the citation
        date=ISSUED + timedelta(minutes=3),
        citations=[("ivo://nasa.gsfc.gcn/SWIFT#XRT_Position_876016-1", "retraction")],
    )
    cancel = handle_packet(retraction, ISSUED + timedelta(minutes=3), engine=engine)
    assert (cancel.decision, cancel.action) == ("ignored", "cancel")
    assert cancel.cancelled_request_id == moved.request_id
    assert states(engine, moved.request_id) == ["cancelled"]

    lost = variant(
        voevents[SWIFT_LOST_LOCK],
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-999",
        params={"TrigID": "876016"},
        date=ISSUED + timedelta(minutes=4),
        event_time=EVENT,
    )
    late = handle_packet(lost, ISSUED + timedelta(minutes=4), engine=engine)
    assert (late.decision, late.action) == ("ignored", "none")
    assert late.reason.endswith(f"follow-up request {moved.request_id} has nothing left to cancel")
    with session_scope(engine) as session:
        rows = session.scalars(select(Alert).order_by(Alert.id)).all()
        assert [(a.decision, a.action) for a in rows] == [
            ("follow-up", "none"),
            ("follow-up", "re-point"),
            ("ignored", "cancel"),
            ("ignored", "none"),
        ]
        assert {a.burst_key for a in rows} == {"Swift:876016"}
        assert rows[2].details["matched_by"].startswith("citation of")
        sequence = session.scalar(select(Sequence).where(Sequence.request_id == moved.request_id))
        assert sequence.transitions[-1].reason.endswith("withdrawn")
    assert events(engine)["pyros.alert.follow-up"] == 2


def test_manual_mode_holds_the_follow_up_and_tells_the_operator(engine, voevents):
    with session_scope(engine) as session:
        set_operating_mode(session, "MANUAL", "night-operator", at=ISSUED)
    held = handle_packet(voevents[SWIFT], ISSUED, engine=engine)
    assert (held.decision, held.request_id) == ("ignored", None)
    assert held.reason.startswith("MANUAL mode: would be follow-up")
    counted = events(engine)
    assert counted["pyros.alert.attention"] == 1 and counted["pyros.alert.follow-up"] == 0
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 0
        assert session.scalar(select(Alert)).details["attention"] is True


def test_a_burst_in_daylight_is_scheduled_for_its_window(engine, voevents):
    event = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    raw = variant(
        voevents[SWIFT],
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_2000001-1",
        params={"TrigID": "2000001"},
        ra=30.0,
        dec=40.0,
        event_time=event,
        date=event + timedelta(minutes=1),
    )
    decision = handle_packet(raw, event + timedelta(minutes=1), engine=engine)
    assert decision.decision == "not-observable" and decision.request_id is not None
    with session_scope(engine) as session:
        (sequence,) = session.get(Request, decision.request_id).sequences
        assert (sequence.window_start, sequence.window_end) == decision.window
        assert sequence.window_start > event + timedelta(hours=2)
    counted = events(engine)
    assert counted["pyros.request.submitted"] == 1 and counted["pyros.alert.follow-up"] == 0
