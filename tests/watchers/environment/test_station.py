"""The environment monitor with a weather station of its own (``[devices.weather]``): INDI's
weather simulator on a real ``indiserver`` (free port, temporary home) beside a PyROS PLC in fine
weather, the INDI dome open and the INDI mount pointing. The station's rain set to ALERT
(``indi_setprop``) turns the verdict unsafe naming the station, and the reflex closes the dome
and parks the mount within 2 s wall; dry again, the verdict turns safe after the hold time.
Without ``[devices.weather]`` the monitor reads no station."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from devices.astrometry import radec_deg
from devices.controllers import GatewayPlc, GatewayWeatherStation
from devices.controllers.dome import ShutterState
from devices.controllers.link import GatewayLink
from devices.controllers.mount import MountMotion
from infra.clock import SystemClock
from infra.config import get_config
from infra.db import session_scope
from infra.writebehind import WriteBehindQueue
from tasks.environment.observatory_state import request_dome
from tests.support.databases import only_on
from tests.support.indi import (
    WEATHER,
    IndiServer,
    indi_missing,
    indi_site,
    set_rain,
    weather_site,
)
from tests.support.indi_gateways import LINK, indi_devices, indi_gateway
from tests.support.rig import site_config, start_rig
from tests.support.waiting import wait_until
from tests.watchers.environment.conftest import safety
from watchers.environment.monitor import EnvironmentMonitor
from watchers.environment.process import ControlReader, NightTeller, build_monitor
from watchers.environment.station_watch import StationWatch

#: Dome and mount on one server, the station on another: INDI's dome and telescope drivers watch
#: a weather device of their own server (``ACTIVE_DEVICES``) and park by themselves on its Alert,
#: which would close the dome before PyROS does (and prove nothing about the monitor).
PROGRAMS = ("indi_simulator_dome", "indi_simulator_telescope")
MISSING = indi_missing((*PROGRAMS, WEATHER[0]))
HOLD_S = 3.0
REFLEX_WALL_S = 2.0


def _no_database():
    raise RuntimeError("no database in this test")


def _disconnect(monitor) -> None:
    for controller in (monitor.plc, monitor.reflex.dome, monitor.reflex.mount):
        controller.disconnect()
    if monitor.station is not None:
        monitor.station.station.disconnect()


def test_the_monitor_reads_a_station_only_when_configured():
    plain = get_config()
    queue = WriteBehindQueue(_no_database)
    monitor, control = build_monitor(plain, SystemClock(), queue, _no_database)
    control.stop()
    _disconnect(monitor)
    assert monitor.station is None
    configured = weather_site(7624, base=plain)
    monitor, control = build_monitor(configured, SystemClock(), queue, _no_database)
    control.stop()
    assert isinstance(monitor.station, StationWatch)
    assert isinstance(monitor.station.station, GatewayWeatherStation)
    _disconnect(monitor)


@pytest.mark.skipif(MISSING is not None, reason=str(MISSING))
@only_on("sqlite")  # the reflex does not depend on the database backend
def test_a_station_alert_closes_the_indi_dome_and_parks_the_mount_then_safe_after_the_hold(
    engine, tmp_path
):
    rig_config = site_config(sections={"safety": safety(hold_good_s=HOLD_S)})
    # Speed 1 from now: the station's dates (the clock at the gateway) and the PLC's agree.
    bench = start_rig(tmp_path, speed=1.0, config=rig_config, gateways=("plc",),
                      start=datetime.now(UTC))  # fmt: skip
    queue = WriteBehindQueue(lambda: engine, retry_initial_s=0.05, retry_max_s=0.3).start()
    control = ControlReader(lambda: engine, refresh_wall_s=0.05).start()
    stop = threading.Event()
    try:
        with IndiServer(PROGRAMS) as server, IndiServer((WEATHER[0],)) as station_server:
            config = weather_site(station_server.port, base=indi_site(server.port, base=rig_config))
            weather = indi_gateway("weather", config, tmp_path / "frames", clock=bench.clock)
            with indi_devices(config, tmp_path / "frames", ("dome", "mount")) as (_, controller):
                station = GatewayWeatherStation(
                    GatewayLink("weather", *weather.address, LINK), config=config,
                    clock=bench.clock,
                )  # fmt: skip
                monitor = EnvironmentMonitor(
                    config, bench.clock, GatewayPlc(bench.link("plc"), config=config,
                    clock=bench.clock), controller("dome"), controller("mount"), queue, control,
                    NightTeller(config),
                )  # fmt: skip
                monitor.station = StationWatch(station, bench.clock, 0.5, queue)
                runner = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
                runner.start()
                _scenario(monitor, station_server.port, controller, engine, bench, control)
                stop.set()
                runner.join(timeout=20)
                station.disconnect()
            weather.stop()
    finally:
        stop.set()
        control.stop()
        queue.stop(2.0)
        bench.close()


def _scenario(monitor, port, controller, engine, bench, control) -> None:
    dome, mount = controller("dome"), controller("mount")
    with session_scope(engine) as session:
        request_dome(session, "open", "test", bench.clock.now())
    control.refresh()
    assert wait_until(lambda: dome.status().shutter is ShutterState.OPEN, 90, 0.1), (
        monitor.gate.last_reason
    )
    # The start-up's unsafe verdict parked the mount: a goto unparks it once the park is done.
    assert wait_until(lambda: mount.status().motion is not MountMotion.PARKING, 90, 0.1)
    night = controller("mount")
    with night.claim("night", "routine"):
        night.goto(*radec_deg(60.0, 150.0, SystemClock().now(), monitor.config.site))
        assert mount.status().motion in (MountMotion.SLEWING, MountMotion.TRACKING)

        set_rain(port, 10.0)  # the station's WEATHER_RAIN_HOUR goes Alert
        started = time.perf_counter()
        closing = (ShutterState.CLOSING, ShutterState.CLOSED)
        assert wait_until(lambda: dome.status().shutter in closing, 10, 0.02)
        elapsed = time.perf_counter() - started
        print(f"station ALERT -> INDI dome closing in {elapsed:.3f} s wall")
        assert elapsed <= REFLEX_WALL_S, elapsed
        assert not monitor.gate.safe
        reason = monitor.gate.last_reason
        assert "Station rain" in reason and "WEATHER_RAIN_HOUR = 10 ALERT" in reason, reason
        assert wait_until(lambda: monitor.last.synthesis.weather_status == "RAINING", 1, 0.02)
        assert mount.status().motion in (MountMotion.PARKING, MountMotion.PARKED)
        assert "station rain" in monitor.episodes.episodes[-1].elements

    set_rain(port, 0.0)
    dry = time.perf_counter()
    assert wait_until(lambda: monitor.gate.safe, 30, 0.05), monitor.gate.last_reason
    held = time.perf_counter() - dry
    print(f"dry again -> verdict safe after {held:.1f} s wall (hold {HOLD_S:g} s)")
    assert held >= HOLD_S - 0.5
