"""The environment monitor (the original ENV agent): poll the PLC, synthesise, act, record.

One long-running process per site (``pyros monitor run``; an OS lock keeps it single), restarted
by the ``pyros up`` supervisor. Each poll: read the PLC through its gateway (and take the latest
reading of the weather station, when ``[devices.weather]`` is configured:
:mod:`watchers.environment.station_watch`), build the synthesis,
feed the hysteresis gate, and act at once through :class:`~watchers.environment.reflex.SafetyReflex`
— close and park when unsafe, open only when requested and safe. Then, without waiting on
anything: rows and journal entries go to a bounded write-behind queue, events are emitted on
transitions, a heartbeat regularly, and the synthesis is published as a Prefect artifact by a
background thread. Database and Prefect may be down: the reflex does not notice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from devices.controllers.dome import Dome
from devices.controllers.mount import Mount
from devices.controllers.plc import Plc
from devices.errors import DeviceProblem
from infra.clock import Clock
from infra.config import SiteConfig
from infra.events import (
    DEVICE_BACK,
    DEVICE_LOST,
    DOME_ACTION,
    DOME_STUCK,
    SITE_ALARM,
    WATCHER_HEARTBEAT,
    WEATHER_SAFE,
    WEATHER_UNSAFE,
    emit,
    site_resource,
)
from infra.journal import KIND_PLC, record
from infra.writebehind import WriteBehindQueue
from tasks.environment.elements import ElementRecord
from tasks.environment.episodes import EpisodeLog
from tasks.environment.hysteresis import GateVerdict, SafetyGate
from tasks.environment.observatory_state import DomeRequest, DomeRequestState, verdict_write
from tasks.environment.plc import PlcReading, PlcReplyError, reading_from_status
from tasks.environment.station import station_records
from tasks.environment.synthesis import (
    SITE_ALARMS,
    GlobalStatus,
    Override,
    PlcPoll,
    Synthesis,
    stale_after_for,
    synthesize,
)
from watchers.environment.dome_watch import DomeCloseWatch, DomeLook, stuck_after_s
from watchers.environment.mount_watch import MountLook, MountWatch
from watchers.environment.reflex import ReflexReport, SafetyReflex
from watchers.environment.station_watch import StationWatch
from watchers.environment.watch_rows import StatusTracker

log = logging.getLogger(__name__)

SOURCE = "environment-monitor"


@dataclass(frozen=True)
class ControlState:
    """What operators and flows asked for (read from the database in the background)."""

    dome: DomeRequest
    overrides: tuple[Override, ...]


@dataclass(frozen=True)
class PollResult:
    """One poll, for tests and the status view."""

    synthesis: Synthesis
    verdict: GateVerdict
    actions: tuple[str, ...]
    problems: tuple[str, ...]


class EnvironmentMonitor:
    """The monitor's logic, one :meth:`poll` at a time (the process loop is :meth:`run`).

    Parameters
    ----------
    config : SiteConfig
        Thresholds and timings.
    clock : Clock
        The one clock.
    plc, dome, mount :
        Controllers (through their gateways).
    queue : WriteBehindQueue
        Where rows and journal entries go.
    control : callable
        Returns the latest :class:`ControlState` (never blocks).
    is_night : callable
        ``is_night(now)``: whether doors and lights are judged by night rules.

    Attributes
    ----------
    station : StationWatch or None
        The weather station of ``[devices.weather]``, set after construction when the site has
        one (None: the PLC is the only source).
    """

    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        plc: Plc,
        dome: Dome,
        mount: Mount | None,
        queue: WriteBehindQueue,
        control: Callable[[], ControlState],
        is_night: Callable[[datetime], bool],
    ) -> None:
        self.config, self.clock = config, clock
        self.plc = plc
        self.station: StationWatch | None = None
        self.reflex = SafetyReflex(dome, mount)
        #: A mount that cannot move keeps the dome closed, block or no block (#24).
        self.mount_watch = MountWatch(mount)
        #: A dome that does not close in time is an emergency: the mount parks (#24).
        self.dome_watch = DomeCloseWatch(stuck_after_s(config.dome.close_s, clock.speed))
        self.queue = queue
        self.control = control
        self.is_night = is_night
        self.gate = SafetyGate(config.safety.hold_good_s)
        self.tracker = StatusTracker()
        self.last: PollResult | None = None
        #: The unsafe episodes of the last day (the environment artifact lists them).
        self.episodes = EpisodeLog()
        self.closures = 0
        self._last_site_status: GlobalStatus | None = None
        self._mount_fault_told = False

    def _read_plc(self) -> tuple[PlcReading | None, datetime | None, str | None]:
        try:
            status = self.plc.status()
        except DeviceProblem as problem:
            return None, None, str(problem)
        received = self.clock.now()
        record(KIND_PLC, "plc", status.raw, sim_time=received, into=self.queue, clock=self.clock)
        try:
            return reading_from_status(status), received, None
        except PlcReplyError as error:
            return None, received, f"malformed PLC reply: {error}"

    def _station_records(self, now: datetime, stale_after_s: float) -> tuple[ElementRecord, ...]:
        """The weather station's records from its latest reading (none without a station)."""
        if self.station is None:
            return ()
        latest = self.station.latest()
        return station_records(
            latest.reading,
            now=now,
            received_at=latest.received_at,
            stale_after_s=stale_after_s,
            error=latest.error,
        )

    def poll(self) -> PollResult:
        """Read, synthesise, act, record. Never raises for device or database trouble."""
        reading, received, error = self._read_plc()
        now = self.clock.now()
        control = self.control()
        stale_after_s = stale_after_for(self.config.safety, self.clock.speed)
        synthesis = synthesize(
            PlcPoll(reading, received, error),
            now=now,
            safety=self.config.safety,
            is_night=self.is_night(now),
            overrides=list(control.overrides),
            stale_after_s=stale_after_s,
            station=self._station_records(now, stale_after_s),
        )
        verdict = self.gate.update(synthesis.should_close, synthesis.reasons, now)
        mount_problem = self.mount_watch.problem  # as of the last look
        closing = [r.element for r in (*synthesis.weather, *synthesis.site) if r.should_close]
        self.episodes.update(
            verdict.safe and mount_problem is None,
            verdict.reason if not verdict.safe else (mount_problem or verdict.reason),
            [*closing, *(["mount"] if mount_problem else [])],
            now,
        )
        shutter = self.reflex.dome_shutter()
        wants_open = mount_problem is None and control.dome.state == DomeRequestState.OPEN
        if not verdict.safe:
            report = self.reflex.make_safe(shutter)
        elif wants_open:
            report = self.reflex.open(shutter)
        else:
            report = self.reflex.close(shutter)
        if verdict.safe and verdict.changed:
            self.reflex.all_clear()
        # The mount is read after the weather's action: a mount that does not answer costs the
        # gateway's timeout, which must never delay closing for rain.
        look = self.mount_watch.look()
        if look.changed and look.problem is not None and verdict.safe:
            report = _joined(report, self.reflex.close(self.reflex.dome_shutter()))
        dome = self.dome_watch.look(not (verdict.safe and wants_open), shutter, now)
        if dome.became_stuck:
            report = _joined(report, self.reflex.park_mount())
        elif dome.freed and verdict.safe:
            self.reflex.all_clear()
        # Acted: now tell (none of this waits).
        if look.changed:
            self._tell_mount(look)
        if dome.became_stuck or dome.freed:
            self._tell_dome(dome, report)
        for write in self.tracker.writes(synthesis):
            self.queue.put(write)
        if verdict.changed or self.last is None:
            self.queue.put(verdict_write(verdict.safe, verdict.reason, now))
        self._announce(synthesis, verdict, report.actions, report.problems)
        self.last = PollResult(synthesis, verdict, tuple(report.actions), tuple(report.problems))
        return self.last

    def _tell_mount(self, look: MountLook) -> None:
        """Log the mount's problem (or its end); a fault the mount reports is also an operator
        notice (a lost link is told by the mount's gateway, which sees it first)."""
        if look.problem is not None:
            log.warning("%s: the dome stays closed until it is back", look.problem)
        else:
            log.info("mount back: the dome follows the requests again")
        if look.fault or (look.problem is None and self._mount_fault_told):
            reason = f"{look.problem}: the monitor closes the dome" if look.problem else "back"
            emit(
                DEVICE_LOST if look.problem else DEVICE_BACK,
                "pyros.device.mount",
                {"device": "mount", "kind": "mount", "reason": reason},
                source=SOURCE,
                into=self.queue,
                clock=self.clock,
            )
            self._mount_fault_told = look.problem is not None

    def _tell_dome(self, dome: DomeLook, report: ReflexReport) -> None:
        """A stuck dome is an emergency (``pyros.dome.stuck``: the operator is called); its end
        is logged."""
        if dome.stuck is None:
            log.warning("the dome is closed again (or no longer wanted closed): stuck no more")
            return
        log.error("EMERGENCY %s: the mount parks; an operator must close the dome", dome.stuck)
        emit(
            DOME_STUCK,
            site_resource(),
            {"reason": dome.stuck, "actions": report.actions, "problems": report.problems},
            source=SOURCE,
            into=self.queue,
            clock=self.clock,
        )

    def _announce(
        self, synthesis: Synthesis, verdict: GateVerdict, actions: list[str], problems: list[str]
    ) -> None:
        site = site_resource()
        payload = {
            "weather_status": synthesis.weather_status,
            "site_status": synthesis.site_status,
            "reasons": list(synthesis.reasons),
            "mount": self.mount_watch.problem,
            "actions": actions,
            "problems": problems,
        }
        if verdict.changed:
            if not verdict.safe:
                self.closures += 1
            emit(
                WEATHER_SAFE if verdict.safe else WEATHER_UNSAFE,
                site,
                {**payload, "reason": verdict.reason},
                source=SOURCE,
                into=self.queue,
                clock=self.clock,
            )
        elif actions:
            emit(DOME_ACTION, site, payload, source=SOURCE, into=self.queue, clock=self.clock)
        if synthesis.site_status in SITE_ALARMS and synthesis.site_status != (
            self._last_site_status
        ):
            emit(SITE_ALARM, site, payload, source=SOURCE, into=self.queue, clock=self.clock)
        self._last_site_status = synthesis.site_status
        for problem in problems:
            log.warning("%s", problem)

    def heartbeat(self) -> None:
        """Tell Prefect (and the journal) the monitor lives, with its current verdict."""
        last = self.last
        emit(
            WATCHER_HEARTBEAT,
            f"pyros.watcher.{SOURCE}",
            {
                "watcher": SOURCE,
                "safe": self.gate.safe,
                "weather_status": last.synthesis.weather_status if last else None,
                "queue": vars(self.queue.stats),
            },
            source=SOURCE,
            into=self.queue,
            clock=self.clock,
        )

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (reading the weather station in the background)."""
        interval = poll_wall_s(self.config, self.clock)
        next_heartbeat = time.monotonic()
        if self.station is not None:
            self.station.start()
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception:  # a bug must not end the watch: log it, keep polling
                log.exception("poll failed")
            if time.monotonic() >= next_heartbeat:
                self.heartbeat()
                next_heartbeat = time.monotonic() + self.config.safety.heartbeat_wall_s
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        if self.station is not None:
            self.station.stop()
        self.reflex.stop()


def poll_wall_s(config: SiteConfig, clock: Clock) -> float:
    """Wall seconds between two polls (``safety.poll_interval_s``, at least
    ``safety.min_poll_wall_s``)."""
    return max(config.safety.min_poll_wall_s, clock.wall_seconds(config.safety.poll_interval_s))


def _joined(first: ReflexReport, then: ReflexReport) -> ReflexReport:
    """Both reports' actions and problems, in order."""
    return ReflexReport(first.actions + then.actions, first.problems + then.problems)
