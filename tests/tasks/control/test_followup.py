"""Finding a burst's followed request (by burst key or IVORN) to cancel its follow-up."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import Sequence
from tasks.control.followup import followed_request
from tasks.requests.lifecycle import cancel_request
from tests.support.alert_reflex import alert_clock, deliver, reflex_listener, reflex_site


@pytest.fixture
def followed(engine, fake_device, gateway_for, controller_for, tmp_path):
    """A synthetic Swift notice decided (follow-up) by a listener with its reflex."""
    site = reflex_site(fake_device, gateway_for, controller_for, time_scale=0.01)
    clock = alert_clock()
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    deliver(listener)
    yield listener.last_decision, clock
    reflex.close()


def test_the_followed_request_is_found_by_burst_key_or_ivorn_and_cancelled(engine, followed):
    decision, clock = followed
    with session_scope(engine) as session:
        by_key = followed_request(session, decision.burst_key)
        by_ivorn = followed_request(session, decision.ivorn)
        assert by_key == by_ivorn == (decision.burst_key, decision.request_id)
        cancel_request(session, decision.request_id, "pyros", "clouds", clock.now())
    with session_scope(engine) as session:
        rows = session.scalars(select(Sequence).where(Sequence.request_id == decision.request_id))
        assert {s.state for s in rows} == {"cancelled"}
        with pytest.raises(LookupError, match="no alert with burst key or IVORN 'swift:0'"):
            followed_request(session, "swift:0")
