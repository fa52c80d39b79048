"""Manual-control flows on the Prefect test harness, against fake devices behind real gateways
(the site file points the gateways' ports at them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from devices.controllers import Priority
from infra.config import _cached
from infra.db import session_scope
from infra.db.models import JournalEntry
from tests.devices.conftest import controller_for, fake_device, gateway_for  # noqa: F401

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]

DEFAULT_SITE = Path(__file__).resolve().parents[2] / "infra" / "site_default.toml"
DEFAULT_PORTS = {"mount": 5100, "plc": 5103}


@pytest.fixture
def gateways(fake_device, gateway_for, tmp_path, monkeypatch):  # noqa: F811
    """Fake mount and PLC behind gateways; the process site file names the gateways' ports."""
    fakes = {"mount": fake_device("mount"), "plc": fake_device("plc")}
    started = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    text = DEFAULT_SITE.read_text(encoding="utf-8")
    for name, port in DEFAULT_PORTS.items():
        text = text.replace(f"{name} = {port}", f"{name} = {started[name].address[1]}", 1)
    site = tmp_path / "site.toml"
    site.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(site))
    _cached.cache_clear()
    return fakes, started


def journal(engine) -> list[dict]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "operator").order_by(JournalEntry.id)
        )
        return [{"source": r.source, **r.payload} for r in rows]


def test_the_park_flow_parks_and_fails_naming_safety_when_it_holds_the_mount(
    engine,
    prefect_harness,
    gateways,
    controller_for,  # noqa: F811
):
    from flows.manual import park_flow

    fakes, started = gateways
    result = park_flow(reason="end of the test night", user="dana")
    assert result["action"] == "park" and result["user"] == "dana"
    assert fakes["mount"].received("PARK")[0].owner == "operator:dana"
    monitor = controller_for(started["mount"])
    with monitor.claim("environment-monitor", Priority.SAFETY):
        state = park_flow(reason="again", user="dana", return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"held by environment-monitor \(safety\)"):
        state.result()
    assert len(fakes["mount"].received("PARK")) == 1
    assert [(e["command"], e["user"], e["reason"], e["outcome"]) for e in journal(engine)] == [
        ("park", "dana", "end of the test night", "done"),
        ("park", "dana", "again", "refused"),
    ]


def test_the_lights_and_power_flows_switch_the_plc(engine, prefect_harness, gateways):
    from flows.manual import calibration_lamp_flow, lights_flow, power_flow

    fakes, _ = gateways
    assert lights_flow(on=True, reason="inspection")["message"] == "lights on"
    assert power_flow(outlet=2, on=True, reason="heater")["message"] == "outlet_2 on"
    calibration_lamp_flow(on=True, reason="lamp check")
    switches = [(r.line["command"][0]["switch"], r.owner) for r in fakes["plc"].received("SWITCH")]
    assert switches == [
        ("lights", "operator:operator"),
        ("outlet_2", "operator:operator"),
        ("calibration_lamp", "operator:operator"),
    ]
    state = power_flow(outlet=9, on=True, reason="no such outlet", return_state=True)
    assert state.is_failed()  # the form's bound (1-8), checked by Prefect before the flow runs
    with pytest.raises(Exception, match=r"outlet: Input should be less than or equal to 8"):
        state.result()
    assert len(fakes["plc"].received("SWITCH")) == 3


def test_a_reason_is_required_and_pause_resume_dome_are_journaled(engine, prefect_harness):
    from flows.manual import dome_flow, pause_night_flow, resume_night_flow
    from infra.opmode import get_operating_mode

    state = pause_night_flow(reason="", return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"reason: String should have at least 1 character"):
        state.result()
    assert pause_night_flow(reason="focus by hand", user="erin")["mode"] == "MANUAL"
    assert dome_flow(request="close", reason="wind", user="erin")["request"] == "closed"
    assert resume_night_flow(reason="done", user="erin")["mode"] == "AUTO"
    with session_scope(engine) as session:
        assert get_operating_mode(session).value == "AUTO"
    assert [(e["command"], e.get("reason")) for e in journal(engine) if e["command"] != "mode"] == [
        ("pause-night", "focus by hand"),
        ("dome", "wind"),
        ("resume-night", "done"),
    ]


def test_cancel_follow_up_cancels_the_bursts_request_and_journals_it(
    engine,
    prefect_harness,
    fake_device,  # noqa: F811
    gateway_for,  # noqa: F811
    controller_for,  # noqa: F811
    tmp_path,
):
    from flows.manual import cancel_follow_up_flow
    from infra.db.models import Sequence
    from tests.support.alert_reflex import alert_clock, deliver, reflex_listener, reflex_site

    site = reflex_site(fake_device, gateway_for, controller_for, time_scale=0.01)
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, alert_clock())
    try:
        deliver(listener)
        decision = listener.last_decision
        result = cancel_follow_up_flow(burst=decision.ivorn, reason="clouds", user="pyros")
    finally:
        reflex.close()
    assert (result["burst_key"], result["request_id"]) == (decision.burst_key, decision.request_id)
    with session_scope(engine) as session:
        rows = session.scalars(select(Sequence).where(Sequence.request_id == decision.request_id))
        assert {s.state for s in rows} == {"cancelled"}
    (entry,) = [e for e in journal(engine) if e["command"] == "cancel-follow-up"]
    assert (entry["user"], entry["reason"], entry["burst_key"]) == (
        "pyros", "clouds", decision.burst_key
    )  # fmt: skip
    state = cancel_follow_up_flow(burst="swift:0", reason="x", return_state=True)
    with pytest.raises(Exception, match="no alert with burst key or IVORN 'swift:0'"):
        state.result()


def test_cancel_sequence_cancels_one_sequence_and_replans(engine, sim_clock, prefect_harness):
    from flows.manual import cancel_sequence_flow
    from infra.db.models import Sequence
    from tasks.requests.ingest import ingest_request_bytes
    from tests.support.requests import request_xml, sequence_xml

    xml = request_xml([sequence_xml("a"), sequence_xml("b")])
    first, second = ingest_request_bytes(xml.encode(), "t.xml", engine=engine).sequence_ids
    result = cancel_sequence_flow(sequence_id=first, reason="too low", user="pyros")
    assert result["schedule_id"] and result["state_before"] == "to-be-planned"
    with session_scope(engine) as session:
        assert session.get(Sequence, first).state == "cancelled"
        assert session.get(Sequence, second).state != "cancelled"
    state = cancel_sequence_flow(sequence_id=first, reason="again", return_state=True)
    with pytest.raises(Exception, match=f"sequence {first} is already cancelled"):
        state.result()
