"""``pyros status``'s gathering against the real simulators behind real gateways and a test
database: a camera mid-exposure shows its progress, the dome, the mount and its lease holder, the
mode, an executing sequence with its plan progress, the next planned one, a stored alert, a fake
alarm as the monitor's next poll leaves it, the monitor's heartbeat; a lost device and a database
that does not answer show as such."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from app.statusview.gather import StatusSources, gather_status
from app.statusview.render import render_status
from devices.controllers import GatewayDome, GatewayMount, GatewayPlc
from devices.gateway import Gateway, GatewayTiming
from infra.db import session_scope
from infra.db.models import Alert, Plan, Sequence
from infra.db.sequence_state import SequenceState, transition
from infra.journal import to_json_payload
from infra.opmode import set_operating_mode
from infra.writebehind import WriteBehindQueue
from tasks.environment.observatory_state import add_override
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tests.support.night_data import add_schedule
from tests.support.ports import free_port
from tests.support.requests import plan_xml, request_xml, sequence_xml
from tests.support.rig import site_config, start_rig
from watchers.environment.monitor import EnvironmentMonitor
from watchers.environment.process import ControlReader, NightTeller

GATEWAYS = ("mount", "dome", "camera_vis", "camera_nir", "plc")
CAMERAS = {"camera_vis": "Visible camera", "camera_nir": "Infrared camera"}
SUPERVISOR = [
    {"name": "gateways", "state": "running", "ready": True, "pid": 11, "restarts": 0},
    {"name": "environment-monitor", "state": "running", "ready": True, "pid": 12, "restarts": 1},
]


@pytest.fixture
def rig(tmp_path):
    config = site_config(sections={"safety": {"poll_interval_s": 0.5, "hold_good_s": 60.0}})
    bench = start_rig(tmp_path, speed=10.0, config=config, gateways=GATEWAYS)
    yield bench
    bench.close()


def sources(rig, engine, **changes) -> StatusSources:
    addresses = {name: rig.gateways[name].address for name in GATEWAYS if name != "plc"}
    base = {
        "gateways": addresses,
        "cameras": CAMERAS,
        "engine": engine,
        "clock": rig.clock,
        "processes": SUPERVISOR,
        "timeout_s": 2.0,
    }
    return StatusSources(**{**base, **changes})


def night_in_database(engine, rig) -> tuple[int, int]:
    """An executing sequence (one image of three done) and a planned one after it."""
    xml = request_xml(
        [
            sequence_xml("now", plans=plan_xml("r", "10", "3", "p1")),
            sequence_xml("later", plans=plan_xml("g", "20", "2", "p2")),
        ]
    )
    now = rig.clock.now()
    running, later = ingest_request_bytes(xml.encode(), "s.xml", engine=engine).sequence_ids
    label = "2026-12-08"
    night = night_for(label, rig.config)
    add_schedule(engine, label, night, {later: now + timedelta(hours=1)}, {}, now)
    with session_scope(engine) as session:
        for sequence_id in (running, later):
            transition(session, session.get(Sequence, sequence_id), SequenceState.PLANNED, "p", now)
        transition(session, session.get(Sequence, running), SequenceState.EXECUTING, "go", now)
        plan = session.query(Plan).filter(Plan.name == "p1").one()
        plan.images_done = 1
        set_operating_mode(session, "MANUAL", "operator-ann", now)
        session.add(
            Alert(
                ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1234-567",
                received_at=now - timedelta(minutes=3),
                wall_received_at=datetime.now(UTC),
                mission="Swift",
                decision="follow-up",
                reason="GRB observable: held for the operator (MANUAL)",
                action="none",
            )
        )
    return running, later


def test_status_shows_exposure_progress_dome_mount_lease_mode_sequences_and_alert(rig, engine):
    running, later = night_in_database(engine, rig)
    rig.device("camera_vis").call(
        "EXPOSE", {"exposure_s": 600.0, "image_type": "light", "frame_id": "f-1"}
    )
    rig.gateway("mount").call("CLAIM", {"owner": "night-block", "priority": "routine"})

    status = gather_status(sources(rig, engine))

    visible, infrared = status.cameras
    assert visible.device.reachable and visible.device.state == "exposing"
    assert visible.instrument == "Visible camera" and visible.filter
    progress = visible.exposure
    assert progress is not None and progress.frame_id == "f-1" and progress.exposure_s == 600.0
    assert 0.0 <= progress.elapsed_s < 600.0
    assert progress.elapsed_s == pytest.approx(
        (status.at - progress.started_at).total_seconds(), abs=1e-3
    )
    assert infrared.device.state == "idle" and infrared.exposure is None
    assert status.dome is not None and status.dome.device.reachable
    assert status.dome.device.state and status.dome.open_percent is not None
    mount = status.mount
    assert mount is not None and mount.device.reachable and mount.ra_deg is not None
    assert isinstance(mount.tracking, bool)
    assert mount.device.lease == "night-block (routine)" and status.dome.device.lease is None
    assert status.mode == "MANUAL"
    assert status.current is not None and status.current.id == running
    assert status.current.state == "executing" and status.current.images == (1, 3)
    assert status.next is not None and status.next.id == later and status.next.images == (0, 2)
    alert = status.last_alert
    assert alert is not None and alert.mission == "Swift" and alert.decision == "follow-up"
    assert [p.name for p in status.processes] == ["gateways", "environment-monitor"]
    assert status.database_error is None
    document = json.loads(json.dumps(to_json_payload(status.as_dict())))
    assert set(document) >= {
        "at", "mode", "mount", "dome", "cameras", "weather", "current", "next", "last_alert",
        "watchers", "processes", "database_error",
    }  # fmt: skip
    assert document["cameras"][0]["exposure"]["exposure_s"] == 600.0
    assert 0.0 <= document["cameras"][0]["exposure"]["fraction"] < 1.0
    assert document["current"]["images_done"] == 1 and document["mode"] == "MANUAL"


def test_a_fake_alarm_shows_after_one_monitor_poll_with_the_monitor_heartbeat(rig, engine):
    queue = WriteBehindQueue(lambda: engine, retry_initial_s=0.05, retry_max_s=0.3).start()
    control = ControlReader(lambda: engine, refresh_wall_s=0.05).start()
    config, clock = rig.config, rig.clock
    monitor = EnvironmentMonitor(
        config,
        clock,
        GatewayPlc(rig.link("plc"), config=config, clock=clock),
        GatewayDome(rig.link("dome"), config=config, clock=clock),
        GatewayMount(rig.link("mount"), config=config, clock=clock),
        queue,
        control,
        NightTeller(config),
    )
    try:
        with session_scope(engine) as session:  # what `pyros monitor fake-alarm` does
            add_override(session, "*", 300.0, "operator-ann", "fake alarm (drill)", clock.now())
        before = gather_status(sources(rig, engine))
        control.refresh()
        monitor.poll()
        monitor.heartbeat()
        assert queue.flush(30)
        after = gather_status(sources(rig, engine))
    finally:
        monitor.reflex.stop()
        control.stop()
        queue.stop(2.0)
    # The override shows at once, from the database; the verdict once the monitor polled.
    assert any("dome forced closed" in o for o in before.weather.overrides)
    assert before.weather.safe is None
    weather = after.weather
    assert weather.safe is False and weather.weather_status == "OVERRIDE"
    assert weather.should_close is True and weather.age_s is not None and weather.age_s >= 0
    assert any("dome forced closed" in o for o in weather.overrides)
    monitor_row = next(w for w in after.watchers if w.name == "environment-monitor")
    assert monitor_row.process == "running" and monitor_row.last_heartbeat_at is not None
    assert monitor_row.summary.get("safe") is False
    listener = next(w for w in after.watchers if w.name == "alert-listener")
    assert listener.last_heartbeat_at is None and listener.process is None


def test_a_lost_device_a_missing_and_a_silent_gateway_show_as_unreachable(rig, engine):
    lost = Gateway(
        "dome",
        upstream=("127.0.0.1", free_port()),
        listen=("127.0.0.1", 0),
        timing=GatewayTiming(device_timeout_s=0.5, reconnect_initial_s=0.02, reconnect_max_s=0.2),
        clock=rig.clock,
    ).start()
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        gateways = {
            "mount": ("127.0.0.1", free_port()),  # no gateway listens there
            "dome": lost.address,  # a gateway whose device is gone
            "camera_vis": rig.gateways["camera_vis"].address,
            "camera_nir": silent.getsockname()[:2],
        }
        status = gather_status(sources(rig, engine, gateways=gateways, timeout_s=1.0))
    finally:
        silent.close()
        lost.stop()
    assert status.mount is not None and not status.mount.device.reachable
    assert "does not answer" in (status.mount.device.error or "")
    assert status.dome is not None and not status.dome.device.reachable
    assert status.dome.device.error and status.dome.device.link is not None
    visible, infrared = status.cameras
    assert visible.device.reachable and visible.device.state == "idle"
    assert not infrared.device.reachable and "does not answer" in (infrared.device.error or "")
    assert infrared.exposure is None and infrared.filter is None


def test_a_database_that_does_not_answer_shows_as_such(rig, tmp_path):
    absent = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'pyros.db'}")
    status = gather_status(sources(rig, absent, processes=None))
    assert status.database_error and status.database_error.startswith("database: ")
    assert status.weather.error == status.database_error and status.mode is None
    assert status.mount is not None and status.mount.device.reachable
    assert status.processes == []
    render_status(status)  # draws without a traceback


def test_the_screen_draws_every_section(rig, engine):
    night_in_database(engine, rig)
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(render_status(gather_status(sources(rig, engine))))
    text = console.export_text()
    for expected in (
        "mode MANUAL", "Devices", "camera_vis (Visible camera)", "current sequence: #",
        "next sequence: #", "last alert: Swift", "environment-monitor", "lease: free",
    ):  # fmt: skip
        assert expected in text, expected


def test_the_watchers_match_the_heartbeat_automations():
    from app.automations import HEARTBEAT_WATCHERS
    from app.statusview.gather import WATCHERS

    assert tuple(w.name for w in HEARTBEAT_WATCHERS) == WATCHERS
