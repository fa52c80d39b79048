"""PyROS's controllers and gateways driving INDI's own simulators through a real ``indiserver``.

The controllers are the ones the night uses; only the gateway's last hop speaks INDI. Skipped
with the reason when INDI is not installed (``.ci/run`` installs Debian's ``indi-bin``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from astropy.io import fits
from sqlalchemy import select

from devices.astrometry import radec_deg
from devices.controllers import GatewayPlc
from devices.controllers.camera import CameraActivity
from devices.controllers.dome import ShutterState
from devices.controllers.mount import MountMotion
from devices.errors import DeviceError, DeviceTimeout, Preempted
from infra.clock import SystemClock
from infra.db import session_scope
from infra.db.models import Image, Sequence
from infra.db.sequence_state import SequenceState, transition
from infra.writebehind import WriteBehindQueue
from tasks.night.execute import SequenceRun, Telescope
from tasks.night.images import sha256_of
from tasks.requests.ingest import ingest_request_bytes
from tests.devices.helpers import sky_position
from tests.support.databases import only_on
from tests.support.indi import IndiServer, indi_missing, indi_site
from tests.support.indi_gateways import assert_lost_when_the_server_stops, indi_devices
from tests.support.requests import plan_xml, request_xml, sequence_xml
from tests.support.rig import site_config, start_rig
from watchers.environment.monitor import EnvironmentMonitor
from watchers.environment.process import ControlReader, NightTeller

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(indi_missing() is not None, reason=str(indi_missing())),
]


@pytest.fixture(scope="module")
def indi_server():
    with IndiServer() as server:
        yield server


@pytest.fixture
def setup(indi_server, tmp_path):
    config = indi_site(indi_server.port)
    with indi_devices(config, tmp_path / "frames") as (gateways, controller):
        yield config, gateways, controller


def test_mount_slews_tracks_aborts_and_parks(setup, indi_server):
    _config, _gateways, controller = setup
    mount = controller("mount")
    ra, dec = sky_position(70.0, 200.0)
    with mount.claim("night", "routine"):
        state = mount.goto(ra, dec)
        assert state.motion is MountMotion.SLEWING  # the INDI telescope took the slew
        state = mount.wait_until_idle(timeout_s=120)
        assert state.motion is MountMotion.TRACKING
        # Where the INDI simulator says it points, back in ICRS, is the target (its tracking
        # drifts by up to a sidereal rate: 0.25° a minute).
        assert abs(state.ra_deg - ra) < 0.3 and abs(state.dec_deg - dec) < 0.1
        ra2, dec2 = sky_position(40.0, 90.0)
        assert mount.goto(ra2, dec2).motion is MountMotion.SLEWING
        assert mount.abort().motion in (MountMotion.IDLE,)
        assert mount.park(wait=True, timeout_s=180).motion is MountMotion.PARKED
        # A goto from park unparks first.
        assert mount.goto(ra, dec).motion is MountMotion.SLEWING
        mount.abort()


def test_dome_opens_and_closes(setup):
    _config, _gateways, controller = setup
    dome = controller("dome")
    with dome.claim("environment-monitor", "safety"):
        assert dome.open().shutter is ShutterState.OPENING
        assert dome.wait_until_idle(timeout_s=120).shutter is ShutterState.OPEN
        assert dome.close().shutter is ShutterState.CLOSING
        assert dome.wait_until_idle(timeout_s=120).shutter is ShutterState.CLOSED


def test_exposure_stored_with_pyros_headers_after_a_filter_change(setup, tmp_path):
    config, _gateways, controller = setup
    camera = controller("camera_vis")
    wheel = camera.filter_wheel
    with camera.claim("night", "routine"):
        assert wheel.set_filter("r", timeout_s=30) == "r"
        path = tmp_path / "out" / "frame-1.fits"
        frame = camera.expose(1.0, "light", frame_id="seq1-plan1-0001", path=path, timeout_s=60)
    assert frame.path == str(path) and frame.filter == "r"
    with fits.open(path) as hdul:
        header = hdul[0].header
        assert header["IMAGEID"] == "seq1-plan1-0001"
        assert header["FILTER"] == "r" and header["IMAGETYP"] == "light"
        assert header["INSTRUME"] == config.instruments[0].name
        assert header["XBINNING"] == 2  # the driver's own cards are kept
        assert hdul[0].data.shape == (512, 640)
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


def test_an_alert_claim_aborts_an_indi_exposure_in_flight(setup, tmp_path):
    _config, _gateways, controller = setup
    night, listener = controller("camera_vis"), controller("camera_vis")
    night.claim("night", "routine")
    path = tmp_path / "aborted.fits"
    night.start_exposure(20.0, "light", frame_id="long-one", path=path)
    time.sleep(0.5)
    assert night.status().activity is CameraActivity.EXPOSING
    started = time.perf_counter()
    with listener.claim("alert-listener", "alert") as lease:
        elapsed = time.perf_counter() - started
        assert lease.previous is not None and lease.previous["owner"] == "night"
        state = listener.status()
        assert state.activity is CameraActivity.IDLE  # INDI says the CCD no longer exposes
        print(f"alert claim -> INDI exposure aborted in {elapsed * 1000:.1f} ms")
        with pytest.raises(Preempted):
            night.wait_for_frame("long-one", exposure_s=20.0, timeout_s=5)
    time.sleep(1.5)
    assert not path.exists()  # an aborted exposure leaves no file


def test_weather_answers_as_the_plc_and_alerts(setup, indi_server):
    _config, _gateways, controller = setup
    plc = controller("plc")
    status = plc.status()
    assert status.value("INDI-weather", "WeatherStatus").value in ("OK", "ALERT", "WARNING")
    assert status.value("INDI-weather", "RainRate") is not None
    with pytest.raises(DeviceError), plc.claim("operator", "operator"):
        plc.switch("lights", True)  # an INDI weather station has no switches


def test_a_dead_indi_server_is_lost_then_back(tmp_path):
    with IndiServer(("indi_simulator_telescope",)) as server:
        config = indi_site(server.port)
        with indi_devices(config, tmp_path, ("mount",)) as (gateways, controller):
            mount = controller("mount")
            assert mount.status().motion in set(MountMotion)
            health = gateways["mount"].health
            assert health.snapshot()["state"] == "up"
            assert_lost_when_the_server_stops(server, gateways["mount"], mount.status)
            again = IndiServer(("indi_simulator_telescope",), port=server.port).start(attempts=1)
            try:
                deadline = time.monotonic() + 20  # indipyclient retries every 5 s
                while health.snapshot()["state"] != "up" and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert health.snapshot()["state"] == "up"
                assert mount.status().ra_deg is not None  # the device was connected again
            finally:
                again.stop()


def test_a_driver_that_stops_answering_is_lost(tmp_path):
    import os
    import signal

    with IndiServer(("indi_simulator_telescope",)) as server:
        config = indi_site(server.port)
        with indi_devices(config, tmp_path, ("mount",)) as (gateways, controller):
            mount = controller("mount")
            mount.status()
            (pid,) = server.driver_pids("indi_simulator_telescope")
            os.kill(pid, signal.SIGSTOP)
            try:
                for _ in range(3):
                    with pytest.raises(DeviceTimeout):
                        mount.status()
                assert gateways["mount"].health.snapshot()["state"] == "down"
            finally:
                os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    mount.status()
                    break
                except Exception:
                    time.sleep(0.2)
            assert gateways["mount"].health.snapshot()["state"] == "up"


# One backend: the reflex does not depend on the database backend.
@only_on("sqlite")
def test_the_safety_reflex_closes_the_indi_dome_and_parks_the_indi_mount(
    engine, indi_server, tmp_path
):
    # The rain comes from a PyROS PLC reading (INDI's weather simulator has no humidity or dew
    # point, so alone it never lets the synthesis say safe); dome and mount are INDI's.
    rig_config = site_config(sections={"safety": {"poll_interval_s": 0.5, "hold_good_s": 60.0}})
    bench = start_rig(tmp_path, speed=1.0, config=rig_config, gateways=("plc",))
    config = indi_site(indi_server.port, base=rig_config)
    queue = WriteBehindQueue(lambda: engine, retry_initial_s=0.05, retry_max_s=0.3).start()
    control = ControlReader(lambda: engine, refresh_wall_s=0.05).start()
    try:
        with indi_devices(config, tmp_path / "frames", ("dome", "mount")) as (_, controller):
            dome, mount, night = controller("dome"), controller("mount"), controller("mount")
            with dome.claim("operator", "operator"):
                dome.open(wait=True, timeout_s=120)
            night.claim("night", "routine")
            # The INDI controllers run on the wall clock, and start_rig made the process clock the
            # rig's simulated night: the target is placed on the wall clock's sky.
            target = radec_deg(60.0, 150.0, SystemClock().now(), config.site)
            night.goto(*target)
            plc = GatewayPlc(bench.link("plc"), config=config, clock=bench.clock)
            monitor = EnvironmentMonitor(
                config, bench.clock, plc, controller("dome"), controller("mount"), queue, control,
                NightTeller(config),
            )  # fmt: skip
            bench.observatory.plc.set_value("WXT520", "RainRate", 12.0)
            started = time.perf_counter()
            result = monitor.poll()
            elapsed = time.perf_counter() - started
            print(f"rain reading -> INDI dome closing and INDI mount parking in {elapsed:.3f} s")
            assert {"dome close", "mount park"} <= set(result.actions), result.problems
            assert dome.status().shutter in (ShutterState.CLOSING, ShutterState.CLOSED)
            assert mount.status().motion in (MountMotion.PARKING, MountMotion.PARKED)
            with pytest.raises(Preempted):
                night.goto(*target)
            monitor.reflex.stop()
            # The INDI server is the module's: the next test finds the mount parked, not parking
            # (a goto asked while it parks waits for the park inside the request, longer than
            # the request's timeout: CI of 2026-12-06 failed the next test so).
            assert mount.wait_until_idle(timeout_s=180).motion is MountMotion.PARKED
    finally:
        control.stop()
        queue.stop(2.0)
        bench.close()


def _planned(engine, filter_name: str, nb_images: int, alt_deg: float, az_deg: float) -> int:
    ra, dec = sky_position(alt_deg, az_deg)
    xml = request_xml(
        [sequence_xml(f"indi-{filter_name}", coords=f"{ra:.4f} {dec:.4f}",
                      plans=plan_xml(filter_name, "1", str(nb_images), filter_name))],
        target_type="sidereal",
    )  # fmt: skip
    (sequence_id,) = ingest_request_bytes(xml.encode(), "indi.xml", engine=engine).sequence_ids
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        transition(session, sequence, SequenceState.PLANNED, "planned", SystemClock().now())
    return sequence_id


# One backend: the INDI path does not depend on the database backend.
@only_on("sqlite")
def test_two_sequences_execute_on_the_indi_devices(engine, setup, tmp_path):
    # The night's own executor (tasks/night/execute.py) on INDI's telescope, CCD and wheel.
    config, _, controller = setup
    camera = controller("camera_vis")
    scope = Telescope(mount=controller("mount"), cameras={config.instruments[0].name: camera})
    runner = SequenceRun(
        engine, scope, "flow-indi", SystemClock(), tmp_path / "night", config.site.longitude_deg
    )
    first = runner.run(_planned(engine, "g", 2, 65.0, 160.0))
    second = SequenceRun(
        engine, scope, "flow-indi", SystemClock(), tmp_path / "night", config.site.longitude_deg
    ).run(_planned(engine, "r", 1, 55.0, 230.0))
    assert (first.state, len(first.images)) == ("executed", 2), first.reason
    assert (second.state, len(second.images)) == ("executed", 1), second.reason
    with session_scope(engine) as session:
        images = session.scalars(select(Image).order_by(Image.acquired_at)).all()
        rows = [(i.filter, i.path, i.sha256, i.id) for i in images]
    assert [r[0] for r in rows] == ["g", "g", "r"]
    for filter_name, path, digest, image_id in rows:
        assert sha256_of(Path(path))[0] == digest
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert header["FILTER"] == filter_name and header["IMAGETYP"] == "light"
            assert header["INSTRUME"] == config.instruments[0].name
            assert header["XBINNING"] == 2  # the INDI CCD simulator's own card
            assert header["IMAGEID"] == image_id
