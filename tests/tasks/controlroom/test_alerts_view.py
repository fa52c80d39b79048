"""The alerts of the night as the control room shows them, from alerts stored by the product's
own decision path (real GCN notices): newest first, decisions with reasons, the follow-up's state,
and only the night's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.db import session_scope
from tasks.alerts.handle import handle_packet
from tasks.controlroom.alerts_view import alert_rows, alerts_description, alerts_since
from tests.support.voevents import FERMI_LONG, SWIFT

SWIFT_ISSUED = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)


def test_the_nights_alerts_newest_first_with_decision_reason_and_follow_up(engine, voevents):
    old = handle_packet(voevents[FERMI_LONG], SWIFT_ISSUED - timedelta(days=3), engine=engine)
    first = handle_packet(voevents[SWIFT], SWIFT_ISSUED, engine=engine)
    again = handle_packet(voevents[SWIFT], SWIFT_ISSUED + timedelta(seconds=5), engine=engine)
    assert (first.decision, again.decision) == ("follow-up", "duplicate")
    assert old.stored

    with session_scope(engine) as session:
        lines = alerts_since(session, SWIFT_ISSUED - timedelta(hours=24))
    rows = alert_rows(lines)

    # One row per alert stored (the duplicate delivery is not a new alert); the alert three days
    # before is not tonight's.
    assert len(rows) == 1, rows
    (row,) = rows
    assert row["received (UTC)"] == "2018-12-13 12:58:42"
    assert (row["mission"], row["decision"]) == ("Swift", "follow-up")
    assert row["reason"] and row["reason"] == first.reason
    assert row["follow-up"] == "to-be-planned"  # its request's sequence, as stored
    assert row["latency (ms)"] == "" or float(row["latency (ms)"]) >= 0.0
    assert alerts_description(rows).startswith("**Alerts of the night**: 1 (1 follow-up)")

    with session_scope(engine) as session:
        everything = alert_rows(alerts_since(session, SWIFT_ISSUED - timedelta(days=4)))
    assert everything[0]["decision"] == "follow-up"  # newest first
    assert len(everything) == 2


def test_a_quiet_night_says_so():
    assert alerts_description([]) == "**Alerts of the night**: none received."
