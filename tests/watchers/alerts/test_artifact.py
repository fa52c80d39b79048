"""The listener's alerts artifact on a real Prefect server (the session's test harness): the
night's alerts as stored by the decision path, republished in place only when they change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.clock import DiscreteEventClock
from tasks.alerts.handle import handle_packet
from tasks.controlroom.alerts_view import ALERTS_KEY
from tests.support.voevents import FERMI_LONG, SWIFT, read_voevents
from tests.tasks.controlroom.test_prefect_tasks import _versions
from watchers.alerts.artifact import AlertsPublisher

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]

SWIFT_ISSUED = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_the_alerts_artifact_follows_the_nights_decisions(prefect_harness, engine):
    notices = read_voevents()
    if not notices:
        pytest.skip("real VOEvents absent")
    clock = DiscreteEventClock(SWIFT_ISSUED)
    publisher = AlertsPublisher(lambda: 0, lambda: engine, clock)

    assert publisher.publish()  # a quiet night is shown too
    assert publisher.publish() is False  # unchanged: nothing sent
    handle_packet(notices[SWIFT], SWIFT_ISSUED, engine=engine)
    handle_packet(notices[FERMI_LONG], SWIFT_ISSUED, engine=engine)
    assert publisher.publish()

    (stored,) = _versions(ALERTS_KEY)  # in place: one artifact
    rows = json.loads(stored.data)
    assert len(rows) == 2 and all(row["decision"] and row["reason"] for row in rows), rows
    swift = next(row for row in rows if row["mission"] == "Swift")
    assert (swift["decision"], swift["follow-up"]) == ("follow-up", "to-be-planned"), swift
    assert stored.description.startswith("**Alerts of the night**: 2 (")
