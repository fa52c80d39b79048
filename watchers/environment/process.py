"""``pyros monitor run``: the environment monitor as a process.

One instance per ``PYROS_HOME`` (an OS lock); SIGTERM or SIGINT stop it cleanly (the dome lease
is released so the next instance claims it at once; a killed one's lease simply lapses — and
safety may always take it over). Operator requests are read from the database by a background
thread; when the database is away, the last known requests stand (at start: dome closed).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from devices.controllers import (
    connect_dome,
    connect_mount,
    connect_plc,
    connect_weather_station,
)
from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import get_engine, session_scope
from infra.events import prefect_configured
from infra.oslock import InstanceLock
from infra.settings import load_settings
from infra.writebehind import WriteBehindQueue
from tasks.environment.observatory_state import (
    DomeRequest,
    DomeRequestState,
    dome_request,
    overrides,
)
from tasks.sky import as_time, sun_altitude_deg
from watchers.environment.artifact import SynthesisPublisher
from watchers.environment.monitor import ControlState, EnvironmentMonitor, poll_wall_s
from watchers.environment.station_watch import StationWatch

log = logging.getLogger(__name__)

CONTROL_REFRESH_WALL_S = 1.0
NIGHT_REFRESH_S = 60.0

#: Makes (or returns) the database engine; called where it is needed, so a database that is away
#: at start-up does not stop the monitor.
EngineFactory = Callable[[], Engine]


class ControlReader:
    """Keeps the latest :class:`ControlState`, refreshed from the database in the background."""

    def __init__(
        self, engine_factory: EngineFactory, refresh_wall_s: float = CONTROL_REFRESH_WALL_S
    ) -> None:
        self._engine_factory = engine_factory
        self._refresh = refresh_wall_s
        self._state = ControlState(DomeRequest(DomeRequestState.CLOSED, "", None), ())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor-control", daemon=True)

    def start(self) -> ControlReader:
        """Start refreshing in the background; returns itself."""
        self._thread.start()
        return self

    def __call__(self) -> ControlState:
        return self._state

    def refresh(self) -> None:
        """Read the requests once (errors keep the last known state)."""
        try:
            with session_scope(self._engine_factory()) as session:
                self._state = ControlState(dome_request(session), tuple(overrides(session)))
        except Exception as exc:  # the database may be away: keep what we know
            log.debug("control state not refreshed: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._refresh)

    def stop(self) -> None:
        """Stop refreshing (the last state stays readable)."""
        self._stop.set()


class NightTeller:
    """Whether the sun is down, recomputed once a simulated minute."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self._at: datetime | None = None
        self._night = True

    def __call__(self, now: datetime) -> bool:
        if self._at is None or abs((now - self._at).total_seconds()) >= NIGHT_REFRESH_S:
            self._night = bool(sun_altitude_deg(as_time(now), self.config)[0] < 0.0)
            self._at = now
        return self._night


def build_monitor(
    config: SiteConfig,
    clock: Clock,
    queue: WriteBehindQueue,
    engine_factory: EngineFactory,
    *,
    addresses: dict[str, tuple[str, int]] | None = None,
) -> tuple[EnvironmentMonitor, ControlReader]:
    """A monitor wired to the gateways (``addresses``: device -> (host, port), for tests); the
    weather station's too when ``[devices.weather]`` is configured."""
    addresses = addresses or {}
    plc = connect_plc(config, clock=clock, address=addresses.get("plc"))
    dome = connect_dome(config, clock=clock, address=addresses.get("dome"))
    mount = connect_mount(config, clock=clock, address=addresses.get("mount"))
    station = None
    if config.devices.weather is not None:
        station = StationWatch(
            connect_weather_station(config, clock=clock, address=addresses.get("weather")),
            clock,
            poll_wall_s(config, clock),
            queue,
        )
    control = ControlReader(engine_factory).start()
    monitor = EnvironmentMonitor(
        config, clock, plc, dome, mount, queue, control, NightTeller(config)
    )
    monitor.station = station
    return monitor, control


def run_monitor(stop: threading.Event | None = None, *, engine: Engine | None = None) -> int:
    """Run the monitor until stopped; returns the exit code."""
    settings, config, clock = load_settings(), get_config(), get_clock()
    lock = InstanceLock(settings.run_dir / "environment-monitor.lock").acquire()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    if prefect_configured():
        import prefect.events  # noqa: F401 - imported now, not on the first unsafe event

    def engine_factory() -> Engine:
        return engine or get_engine()

    queue = WriteBehindQueue(
        engine_factory, maxsize=config.safety.write_queue_max, name="monitor-writes"
    ).start()
    monitor, control = build_monitor(config, clock, queue, engine_factory)
    publisher: SynthesisPublisher | None = None
    if prefect_configured():
        publisher = SynthesisPublisher(monitor).start()
    log.info("environment monitor running (poll %.2f s simulated)", config.safety.poll_interval_s)
    try:
        monitor.run(stop)
    finally:
        control.stop()
        if publisher is not None:
            publisher.stop()
        queue.stop(2.0)
        lock.release()
    return 0
