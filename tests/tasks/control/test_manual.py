"""Manual actions through real gateways in front of fake devices: the device receives the
command under the operator's lease, a safety or alert holder makes the action refuse naming it,
and the journal keeps who and why."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from devices.controllers import Priority
from infra.clock import SystemClock
from infra.config import get_config
from infra.db import session_scope
from infra.db.models import JournalEntry
from tasks.control.lease import ManualRefused, Operator
from tasks.control.manual import (
    ExposureSpec,
    calibration_lamp,
    expose,
    goto,
    park,
    switch,
)
from tests.support.waiting import wait_until

ALICE = Operator("alice", "check the park position")


def operator_entries(engine) -> list[dict]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "operator").order_by(JournalEntry.id)
        )
        return [{"source": r.source, **r.payload} for r in rows]


@pytest.fixture
def device(fake_device, gateway_for, controller_for):
    """``device("mount")``: (fake, factory of controllers) for a fake behind its gateway."""

    def make(name: str, **kwargs):
        fake = fake_device("camera" if name.startswith("camera") else name, **kwargs)
        gateway = gateway_for(name, fake)
        return fake, lambda: controller_for(gateway, clock=SystemClock())

    return make


def zenith_now() -> tuple[float, float]:
    """RA/Dec near the site's zenith now (the horizon check reads the real clock here)."""
    from astropy.coordinates import AltAz, SkyCoord

    from infra.astro import site_location
    from tasks.sky import as_time

    frame = AltAz(obstime=as_time(SystemClock().now()), location=site_location(get_config().site))
    zenith = SkyCoord(alt=89.0, az=0.0, unit="deg", frame=frame).icrs
    return float(zenith.ra.deg), float(zenith.dec.deg)


def test_park_sends_park_under_the_operator_lease_releases_it_and_journals_who_and_why(
    engine, device
):
    fake, mount = device("mount")
    controller = mount()
    result = park(controller, ALICE)
    (sent,) = fake.received("PARK")
    assert (sent.owner, sent.epoch) == ("operator:alice", sent.epoch) and sent.epoch
    assert result.message.startswith("mount parked")
    assert controller.lease_info().owner is None  # released after the action
    (entry,) = operator_entries(engine)
    assert entry["source"] == "alice"
    assert (entry["command"], entry["user"], entry["reason"], entry["outcome"]) == (
        "park", "alice", "check the park position", "done"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("holder", "priority"), [("environment-monitor", "safety"), ("alert-listener", "alert")]
)
def test_a_safety_or_alert_holder_makes_park_refuse_naming_it(engine, device, holder, priority):
    fake, mount = device("mount")
    keeper = mount()
    with keeper.claim(holder, priority):
        with pytest.raises(ManualRefused, match=rf"held by {holder} \({priority}\)") as refused:
            park(mount(), ALICE)
        assert refused.value.holder == holder
        assert keeper.lease_info().owner == holder  # nothing stolen
    assert fake.received("PARK") == []
    (entry,) = operator_entries(engine)
    assert (entry["outcome"], entry["holder"], entry["reason"]) == (
        "refused", holder, "check the park position"
    )  # fmt: skip


def test_the_operator_preempts_the_routine_night(engine, device):
    fake, mount = device("mount")
    night = mount()
    with night.claim("execute-night", Priority.ROUTINE):
        park(mount(), ALICE)
    assert fake.received("PARK")[0].owner == "operator:alice"


def test_goto_below_the_horizon_is_refused_with_the_mount_controllers_message(engine, device):
    fake, mount = device("mount")
    ra, dec = zenith_now()
    below = (ra + 180.0, -dec)  # the antipode of the zenith: the nadir
    with pytest.raises(ManualRefused, match="below the horizon limit"):
        goto(mount(), ALICE, *below)
    assert fake.received("GOTO") == []
    result = goto(mount(), ALICE, ra, dec)
    (sent,) = fake.received("GOTO")
    assert sent.line["command"][0]["ra_deg"] == pytest.approx(ra % 360.0)
    assert sent.owner == "operator:alice" and result.detail["target_dec_deg"] == dec
    assert [e["outcome"] for e in operator_entries(engine)] == ["refused", "done"]
    assert "below the horizon limit" in operator_entries(engine)[0]["message"]


def test_a_manual_exposure_sets_the_filter_and_writes_each_frame(engine, device, tmp_path):
    fake, camera = device("camera_vis")
    directory = tmp_path / "frames" / "2026-12-04" / "manual"
    result = expose(camera(), ALICE, ExposureSpec(10.0, count=2, filter_name="r"), directory)
    (moved,) = fake.received("SET_FILTER")
    assert moved.line["command"][0]["filter"] == "r" and moved.owner == "operator:alice"
    sent = fake.received("EXPOSE")
    assert [s.line["command"][0]["exposure_s"] for s in sent] == [10.0, 10.0]
    paths = [Path(f["path"]) for f in result.detail["frames"]]
    assert len(paths) == 2 and all(p.parent == directory and p.exists() for p in paths)
    assert [Path(s.line["command"][0]["path"]) for s in sent] == paths
    (entry,) = operator_entries(engine)
    assert (entry["command"], entry["camera"], entry["filter"], entry["count"]) == (
        "expose", "Visible camera", "r", 2
    )  # fmt: skip
    assert [f["sha256"] for f in entry["frames"]] == [f["sha256"] for f in result.detail["frames"]]


def test_an_unknown_filter_is_refused_before_any_exposure(engine, device, tmp_path):
    fake, camera = device("camera_vis")
    with pytest.raises(ManualRefused, match="unknown filter 'Hα'"):
        expose(camera(), ALICE, ExposureSpec(1.0, filter_name="Hα"), tmp_path)
    assert fake.received("EXPOSE") == []


def test_an_alert_taking_the_camera_mid_series_ends_it_naming_the_alert(engine, device, tmp_path):
    # 1000 s exposures at the fake's time scale last about 10 s wall: taken well before the end.
    fake, camera = device("camera_vis")
    outcome: dict = {}

    def series() -> None:
        try:
            expose(camera(), ALICE, ExposureSpec(1000.0, count=3), tmp_path)
        except ManualRefused as refused:
            outcome["refused"] = refused

    thread = threading.Thread(target=series)
    thread.start()
    assert wait_until(lambda: fake.received("EXPOSE"), timeout_s=10)
    reflex = camera()
    reflex.claim("alert-listener", Priority.ALERT)
    thread.join(timeout=30)
    reflex.release()
    assert "alert-listener" in outcome["refused"].message
    assert outcome["refused"].holder == "alert-listener"
    assert len(fake.received("EXPOSE")) == 1
    assert operator_entries(engine)[-1]["outcome"] == "refused"


def test_plc_switches_go_through_the_lease_and_unknown_ones_are_refused_first(engine, device):
    fake, plc = device("plc")
    result = switch(plc(), ALICE, "lights", True)
    (sent,) = fake.received("SWITCH")
    assert (sent.line["command"][0]["switch"], sent.line["command"][0]["on"]) == ("lights", True)
    assert sent.owner == "operator:alice" and fake.state["switches"]["lights"] is True
    assert result.message == "lights on"
    switch(plc(), ALICE, "outlet_3", False)
    assert fake.state["switches"]["outlet_3"] is False
    with pytest.raises(ValueError, match="unknown switch 'outlet_9'"):
        switch(plc(), ALICE, "outlet_9", True)
    assert len(fake.received("SWITCH")) == 2
    keeper = plc()
    refused = pytest.raises(ManualRefused, match=r"held by environment-monitor \(safety\)")
    with keeper.claim("environment-monitor", Priority.SAFETY), refused:
        switch(plc(), ALICE, "calibration_lamp", True)
    assert [(e["switch"], e["on"], e["outcome"]) for e in operator_entries(engine)] == [
        ("lights", True, "done"), ("outlet_3", False, "done"), ("calibration_lamp", True, "refused")
    ]  # fmt: skip


def test_the_operator_switches_the_flat_lamp_whichever_it_is(engine, device):
    panel, lamp = device("lamp")
    plc_fake, plc = device("plc")
    assert calibration_lamp(lamp(), ALICE, True).message == "calibration lamp on (lamp)"
    (sent,) = panel.received("LIGHT")
    assert sent.line["command"][0]["on"] is True and sent.owner == "operator:alice"
    assert panel.state["state"] == "on"
    assert calibration_lamp(plc(), ALICE, False).message == "calibration lamp off (plc)"
    (switched,) = plc_fake.received("SWITCH")
    assert switched.line["command"][0] == {
        "name": "SWITCH",
        "switch": "calibration_lamp",
        "on": False,
    }
    keeper = lamp()
    refused = pytest.raises(ManualRefused, match=r"held by environment-monitor \(safety\)")
    with keeper.claim("environment-monitor", Priority.SAFETY), refused:
        calibration_lamp(lamp(), ALICE, False)
    assert [(e.get("lamp"), e["outcome"]) for e in operator_entries(engine)] == [
        ("lamp", "done"),
        ("plc", "done"),
        (None, "refused"),
    ]


def test_an_action_needs_a_user_and_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        Operator("alice", "  ")
    with pytest.raises(ValueError, match="operator's name"):
        Operator("", "why")
    with pytest.raises(ValueError, match=r"count 0 is not in 1\.\.100"):
        ExposureSpec(1.0, count=0)
