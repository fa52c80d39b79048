"""The alert reflex on real sockets: fake devices behind real gateways, the listener deciding on a
real database. A follow-up preempts a routine exposure in flight (its sequence ends
``interrupted`` with the reason, images kept), sets the first filters and slews, then announces
the follow-up; MANUAL mode moves nothing and shows the alert; unsafe weather moves nothing and
the follow-up waits, announced."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from devices.controllers import Priority
from infra.clock import SystemClock
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Image, Sequence
from infra.events import ALERT_ATTENTION, ALERT_FOLLOW_UP, EVENT_ID_LABEL
from infra.opmode import set_operating_mode
from tasks.night.execute import SequenceRun, Telescope
from tests.devices.conftest import controller_for, fake_device, gateway_for  # noqa: F401
from tests.support.alert_reflex import deliver, journaled_events, reflex_listener, reflex_site
from tests.support.waiting import eventually


@pytest.fixture
def site(fake_device, gateway_for, controller_for):  # noqa: F811
    return reflex_site(fake_device, gateway_for, controller_for)


def _routine(engine, site, tmp_path):
    """A routine sequence (a test target: no slew) exposing 10 s frames in a thread."""
    from tests.tasks.night.test_execute import planned_sequence

    sequence_id = planned_sequence(engine, nb_images=20, nir_images=20, sidereal=False)
    mount, cameras = site.controllers(SystemClock())
    run = SequenceRun(engine, Telescope(mount, cameras), "night-block", SystemClock(),
                      tmp_path / "frames", load_config().site.longitude_deg)  # fmt: skip
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(run.run(sequence_id)), daemon=True)
    thread.start()
    return sequence_id, thread, outcome


def test_a_follow_up_aborts_the_routine_exposure_and_slews_then_announces(engine, site, tmp_path):
    fakes = site.fakes
    sequence_id, thread, outcome = _routine(engine, site, tmp_path)
    eventually(lambda: fakes["camera_vis"].received("EXPOSE"), within_s=10, what="exposing")
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site)
    deliver(listener)
    thread.join(20)
    assert outcome and outcome[0].state == "interrupted", outcome
    assert "alert:" in outcome[0].reason and outcome[0].reason.startswith("preempted")
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence.state == "interrupted" and "alert:" in sequence.state_reason
        kept = session.scalars(select(Image).where(Image.sequence_id == sequence_id)).all()
        assert len(kept) == len(outcome[0].images)  # the images already taken are kept
    # The exposures in flight were aborted by the gateways when the alert claimed the cameras.
    assert fakes["camera_vis"].received("ABORT") and fakes["camera_nir"].received("ABORT")
    (goto,) = [r.line["command"][0] for r in fakes["mount"].received("GOTO")]
    decision = listener.last_decision
    assert (goto["ra_deg"], goto["dec_deg"]) == pytest.approx((decision.ra_deg, decision.dec_deg))
    assert fakes["mount"].received("GOTO")[0].owner == f"alert:{decision.burst_key}"
    filters = {r.line["command"][0]["filter"] for r in fakes["camera_nir"].received("SET_FILTER")}
    assert filters == {"J"}
    (event,) = journaled_events(engine, ALERT_FOLLOW_UP)
    assert event["payload"]["reflex"]["action"] == "slew"
    assert event["payload"]["reflex"]["slew_sent_wall"] is not None
    assert event["resource"]["pyros.burst.key"] == decision.burst_key
    assert event["resource"][EVENT_ID_LABEL]
    assert reflex.holding() == [f"alert:{decision.burst_key}"]
    reflex.close()


def test_manual_mode_moves_nothing_and_shows_the_alert(engine, site, tmp_path):
    fakes = site.fakes
    with session_scope(engine) as session:
        set_operating_mode(session, "MANUAL", "test")
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site)
    deliver(listener)
    assert not fakes["mount"].received("GOTO") and not fakes["mount"].received("CLAIM")
    assert not fakes["camera_vis"].received("SET_FILTER")
    assert listener.stats()["attention"][0]["action"] == "manual"
    assert journaled_events(engine, ALERT_ATTENTION)
    assert not journaled_events(engine, ALERT_FOLLOW_UP)
    assert reflex.holding() == []
    reflex.close()


def test_unsafe_weather_moves_nothing_and_the_follow_up_waits(engine, site, tmp_path):
    fakes = site.fakes
    monitor_mount, _ = site.controllers(SystemClock())
    monitor_mount.claim("environment-monitor", Priority.SAFETY)
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site)
    deliver(listener)
    assert not fakes["mount"].received("GOTO") and not fakes["camera_vis"].received("ABORT")
    (event,) = journaled_events(engine, ALERT_FOLLOW_UP)
    assert event["payload"]["reflex"]["action"] == "wait-weather"
    assert monitor_mount.lease_info().owner == "environment-monitor"
    reflex.close()
