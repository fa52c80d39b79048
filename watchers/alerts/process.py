"""``pyros alert listen``: the alert listener as a process.

One instance per ``PYROS_HOME`` (an OS lock on ``run/alert-listener.lock``); SIGTERM or SIGINT
stop it cleanly (the packet being decided is finished; what is spooled stays for the next
instance). On start it first takes what a previous instance left: the spool's pending entries,
the broker's saved events it never spooled, the drop folder; Kafka resumes from the group's last
committed offset by itself. Then the roads run; the main thread sends heartbeats and re-checks
the broker's saved events now and then.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from devices.controllers import connect_camera, connect_mount
from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import get_engine
from infra.events import prefect_configured
from infra.oslock import InstanceLock
from infra.settings import load_settings
from infra.writebehind import WriteBehindQueue
from watchers.alerts.artifact import AlertsPublisher
from watchers.alerts.comet_road import CometRoad, SavedEvents
from watchers.alerts.drop_road import DropRoad
from watchers.alerts.kafka_road import KafkaRoad
from watchers.alerts.killswitch import KillSwitch
from watchers.alerts.listener import AlertListener
from watchers.alerts.paths import STATUS_NAME, AlertDirs
from watchers.alerts.reflex import AlertReflex
from watchers.alerts.spool import Spool

log = logging.getLogger(__name__)

LOCK_NAME = "alert-listener.lock"


class Roads:
    """The roads of one listener, started and stopped together."""

    def __init__(self, listener: AlertListener, dirs: AlertDirs) -> None:
        intake = listener.config.alert_intake
        receive = listener.receive
        self.comet: CometRoad | None = None
        self.saved: SavedEvents | None = None
        self.kafka: KafkaRoad | None = None
        if intake.comet.enabled:
            ivo = intake.comet.local_ivo.split("#", 1)[0] + "#alert-listener"
            self.comet = CometRoad("127.0.0.1", intake.comet.broadcast_port, ivo, receive)
            self.saved = SavedEvents(
                dirs.saved, receive, listener.spool.has_sha, intake.comet.recover_window_s
            )
        if intake.kafka.enabled:
            self.kafka = KafkaRoad(intake.kafka, receive, listener.kill)
        self.drop = DropRoad(
            dirs.drop, receive, intake.drop_poll_s, listener.config.alerts.max_packet_bytes
        )

    def start(self) -> None:
        """Recover what waited (saved events, the drop folder), then start every road."""
        if self.saved is not None:
            self.saved.scan()
        self.drop.poll()
        self.drop.start()
        if self.comet is not None:
            self.comet.start()
        if self.kafka is not None:
            self.kafka.start()

    def state(self) -> dict[str, bool]:
        """Which roads are up (for the heartbeat)."""
        return {
            "comet": bool(self.comet and self.comet.connected),
            "kafka": bool(self.kafka and self.kafka.assigned),
            "drop": True,
        }

    def stop(self) -> None:
        """Stop the roads (the Kafka consumer leaves its group)."""
        self.drop.stop()
        if self.kafka is not None:
            self.kafka.stop()
        if self.comet is not None:
            self.comet.stop()


def run_listener(stop: threading.Event | None = None, *, engine: Engine | None = None) -> int:
    """Run the listener until stopped; returns the exit code."""
    settings, config, clock = load_settings(), get_config(), get_clock()
    kill = KillSwitch.from_env()
    lock = InstanceLock(settings.run_dir / LOCK_NAME).acquire()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    if prefect_configured():
        import prefect.events  # noqa: F401 - imported now, not on the first alert

    def engine_factory() -> Engine:
        return engine or get_engine()

    intake = config.alert_intake
    dirs = AlertDirs.under(settings.home)
    spool = Spool(dirs.spool)
    spool.prune(intake.done_retention_s)
    queue = WriteBehindQueue(
        engine_factory, maxsize=intake.write_queue_max, name="listener-writes"
    ).start()
    reflex = _reflex(config, clock) if intake.reflex else None
    listener = AlertListener(spool, config, clock, engine_factory, queue, kill, reflex).start()
    roads = Roads(listener, dirs)
    roads.start()
    publisher = None
    if prefect_configured():
        decided = listener.decided
        publisher = AlertsPublisher(lambda: sum(decided.values()), engine_factory, clock).start()
    log.info("alert listener running (spool %s)", dirs.spool)
    try:
        _watch(listener, roads, stop, settings.run_dir / STATUS_NAME)
    finally:
        if publisher is not None:
            publisher.stop()
        roads.stop()
        listener.stop()
        queue.stop(2.0)
        if reflex is not None:
            reflex.close()
        lock.release()
    return 0


def _reflex(config: SiteConfig, clock: Clock) -> AlertReflex:
    """The reflex's own connections to the mount's and the cameras' gateways."""
    cameras = {i.name: connect_camera(i.name, config, clock=clock) for i in config.instruments}
    return AlertReflex(
        connect_mount(config, clock=clock), cameras, config.alert_intake.reflex_handover_wall_s
    )


def _write_status(
    path: Path, listener: AlertListener, roads: dict[str, bool], heartbeat_at: str | None
) -> None:
    status = {
        "pid": os.getpid(),
        "roads": roads,
        "ready": listener.ready,
        **listener.stats(),
        "heartbeat_at": heartbeat_at,
        "written_at": datetime.now(UTC).isoformat(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _watch(listener: AlertListener, roads: Roads, stop: threading.Event, status_path: Path) -> None:
    intake = listener.config.alert_intake
    next_heartbeat = next_scan = time.monotonic()
    shown: tuple[object, ...] = ()
    heartbeat_at: str | None = None
    while not stop.wait(0.2):
        now = time.monotonic()
        state = roads.state()
        current = (
            tuple(state.items()),
            listener.ready,
            sum(listener.decided.values()),
            heartbeat_at,
        )
        if current != shown:
            with contextlib.suppress(OSError):
                _write_status(status_path, listener, state, heartbeat_at)
            shown = current
        if roads.saved is not None and now >= next_scan:
            try:
                roads.saved.scan()
            except OSError:
                log.exception("saved events not scanned")
            next_scan = now + intake.comet.saved_scan_s
        if now >= next_heartbeat:
            try:
                listener.heartbeat(state)
            except Exception:
                log.exception("heartbeat not sent")
            heartbeat_at = datetime.now(UTC).isoformat()  # the status file shows it lives
            next_heartbeat = now + intake.heartbeat_wall_s
