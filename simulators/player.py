"""The scenario player: each item at its simulated time, its outcome recorded.

Time 0 is the clock's start instant (a simulated clock's ``start``; the player's own start under
the system clock). The player waits on the clock (through the clock's wall conversion, in short
steps, so a simulated clock whose epoch is not written yet simply holds it at time 0) and applies
each item when its time comes. PLC values, faults and afterglows act at once on the shared model;
requests and VOEvents are submitted by other programs (:mod:`simulators.outside`) on a small pool,
so a slow submission never delays the items after it.

**Starting late** (the simulators restarted in the middle of a scenario): items already past are
not replayed blindly. PLC values and afterglows are applied (they are state: the model must show
them), a fault still running is applied for what is left of it, and requests and alerts are
skipped (they were sent by the earlier run; sending them twice would duplicate them) — each
recorded as such.

Every outcome is kept (:attr:`ScenarioPlayer.outcomes`, shown by ``pyros simulators status``),
logged, and journaled (kind ``scenario``) when a database is there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.clock import MIN_WALL_SLEEP_S, Clock, SimulatedClock, format_instant
from infra.config import SiteConfig
from simulators.faults import FaultError
from simulators.observatory import Observatory
from simulators.outside import SubmissionResult, scenario_broker, send_voevent, submit_request
from simulators.plc import PlcValueError
from simulators.scenario import (
    AfterglowAction,
    AlertAction,
    FaultAction,
    ItemStatus,
    PlcAction,
    Scenario,
    ScenarioError,
    ScenarioItem,
    SubmitAction,
)
from simulators.sky import Afterglow

log = logging.getLogger(__name__)

#: Longest wall wait between two looks at the clock.
_WAIT_STEP_S = 0.25
#: An item this many simulated seconds in the past when the player starts counts as past.
LATE_AFTER_S = 1.0

Recorder = Callable[[dict[str, Any]], None]


@dataclass
class ItemOutcome:
    """What became of one scenario item."""

    item: ScenarioItem
    status: ItemStatus
    detail: str = ""
    due_at: datetime | None = None
    applied_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        def instant(value: datetime | None) -> str | None:
            return format_instant(value) if value else None

        return {
            **self.item.describe(),
            "status": self.status,
            "detail": self.detail,
            "due_at": instant(self.due_at),
            "applied_at": instant(self.applied_at),
            "finished_at": instant(self.finished_at),
            "result": self.result,
        }


def check_against(scenario: Scenario, observatory: Observatory) -> None:
    """Check what only the running simulators know: PLC names, fault devices.

    Raises
    ------
    ScenarioError
        Naming the item.
    """
    for item in scenario.items:
        where = f"{scenario.source}: item {item.number} (time {item.time_s:g}) {item.key}"
        action = item.action
        try:
            if isinstance(action, PlcAction):
                if action.value_name is None:
                    observatory.plc.check_device(action.device_name)
                else:
                    observatory.plc.check_value(action.device_name, action.value_name)
            elif isinstance(action, FaultAction) and action.device not in observatory.devices:
                known = ", ".join(observatory.devices)
                raise ScenarioError(f"{where}: unknown device {action.device!r} (known: {known})")
        except PlcValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None


class ScenarioPlayer:
    """Plays one scenario on an observatory.

    Parameters
    ----------
    scenario : Scenario
        Checked against the observatory at construction.
    observatory : Observatory
        The simulators the items act on.
    config : SiteConfig
        ``[simulators]`` (broker, timeouts, concurrency).
    clock : Clock
        Time 0 and the waits.
    record : callable, optional
        Called with each finished outcome (the journal).
    """

    def __init__(
        self,
        scenario: Scenario,
        observatory: Observatory,
        *,
        config: SiteConfig,
        clock: Clock,
        record: Recorder | None = None,
    ) -> None:
        check_against(scenario, observatory)
        self.scenario = scenario
        self.observatory = observatory
        self.settings = config.simulators
        self.alert_broker = scenario_broker(config)
        self.clock = clock
        self._record = record
        self.outcomes: list[ItemOutcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(
            self.settings.max_concurrent_submissions, thread_name_prefix="scenario-submit"
        )
        # Alerts have their own sender: a burst's notice is sent at its instant, never queued
        # behind request submissions that take seconds each (a busy night's backlog delayed the
        # default night's GRB past the end of a short run).
        self._alert_pool = ThreadPoolExecutor(2, thread_name_prefix="scenario-alert")
        self.origin: datetime | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ScenarioPlayer:
        """Start playing in a background thread."""
        clock = self.clock
        self.origin = clock.start if isinstance(clock, SimulatedClock) else clock.now()
        self._thread = threading.Thread(target=self._run, name="scenario", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop playing; submissions under way are waited for up to ``timeout_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._alert_pool.shutdown(wait=True, cancel_futures=True)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait (wall seconds) until the scenario's length has passed and its submissions ended."""
        return self.finished.wait(timeout_s)

    def at(self, time_s: float) -> datetime:
        """The instant of scenario time ``time_s``."""
        assert self.origin is not None, "the player has not started"
        return self.origin + timedelta(seconds=time_s)

    def describe(self) -> dict[str, Any]:
        """Progress and every outcome so far."""
        with self._lock:
            outcomes = [o.describe() for o in self.outcomes]
        elapsed = (self.clock.now() - self.origin).total_seconds() if self.origin else 0.0
        return {
            "source": self.scenario.source,
            "length_s": self.scenario.length_s,
            "elapsed_s": round(elapsed, 3),
            "items": len(self.scenario.items),
            "finished": self.finished.is_set(),
            "outcomes": outcomes,
        }

    # ------------------------------------------------------------------ playing
    def _wait_until(self, instant: datetime) -> bool:
        """Wait for ``instant`` on the clock; False if stopped first."""
        while not self._stop.is_set():
            remaining = (instant - self.clock.now()).total_seconds()
            if remaining <= 0:
                return True
            wall = min(_WAIT_STEP_S, max(MIN_WALL_SLEEP_S, self.clock.wall_seconds(remaining)))
            self._stop.wait(wall)
        return False

    def _run(self) -> None:
        started_at = (self.clock.now() - self.at(0)).total_seconds()
        pending = []
        try:
            for item in self.scenario.items:
                past = item.time_s < started_at - LATE_AFTER_S
                if not past and not self._wait_until(self.at(item.time_s)):
                    return
                future = self._apply(item, past=past, started_at=started_at)
                if future is not None:
                    pending.append(future)
            if not self._wait_until(self.at(self.scenario.length_s)):
                return
            for future in pending:
                future.result()
            log.info("scenario %s: over (%g s)", self.scenario.source, self.scenario.length_s)
            self.finished.set()
        except Exception:
            log.exception("scenario %s: the player failed", self.scenario.source)

    def _apply(self, item: ScenarioItem, *, past: bool, started_at: float) -> Future[None] | None:
        """Apply one item now; the future of its submission when another program takes it."""
        outcome = ItemOutcome(item, ItemStatus.RUNNING, due_at=self.at(item.time_s))
        with self._lock:
            self.outcomes.append(outcome)
        outcome.applied_at = self.clock.now()
        action = item.action
        if past and isinstance(action, SubmitAction | AlertAction):
            self._finish(outcome, ItemStatus.SKIPPED, "in the past when the player started")
            return None
        if isinstance(action, AlertAction):
            return self._alert_pool.submit(self._submit, outcome)
        if isinstance(action, SubmitAction):
            return self._pool.submit(self._submit, outcome)
        try:
            if isinstance(action, PlcAction):
                detail = self._plc(action)
            elif isinstance(action, FaultAction):
                detail = self._fault(item, action, started_at)
            else:
                detail = self._afterglow(item, action)
        except (PlcValueError, FaultError, ValueError) as exc:
            self._finish(outcome, ItemStatus.FAILED, str(exc))
            return None
        self._finish(outcome, ItemStatus.DONE, detail)
        return None

    def _plc(self, action: PlcAction) -> str:
        plc = self.observatory.plc
        if action.value_name is None:
            plc.set_valid(action.device_name, bool(action.valid))
            return f"{action.device_name} valid = {'yes' if action.valid else 'no'}"
        old = plc.set_value(action.device_name, action.value_name, action.value)
        return f"{action.device_name}.{action.value_name} = {action.value!r} (was {old!r})"

    def _fault(self, item: ScenarioItem, action: FaultAction, started_at: float) -> str:
        duration = action.duration_s
        if duration is not None and item.time_s < started_at:
            duration = item.time_s + duration - (self.clock.now() - self.at(0)).total_seconds()
            if duration <= 0:
                return f"{action.device} {action.kind}: already over when the player started"
        self.observatory.inject_fault(
            action.device, action.kind, duration, delay_s=action.delay_s, source="scenario"
        )
        return f"{action.device}: {action.kind} for {duration:g} s"

    def _afterglow(self, item: ScenarioItem, action: AfterglowAction) -> str:
        trigger = self.at(item.time_s + action.trigger_offset_s)
        self.observatory.add_afterglow(
            Afterglow(
                ra_deg=action.ra_deg,
                dec_deg=action.dec_deg,
                trigger_time=trigger,
                mag_t0=action.magnitude,
                t0_s=action.t0_s,
                alpha=action.decay_index,
                beta=action.spectral_index,
                name=action.name,
            )
        )
        return (
            f"{action.name} at RA {action.ra_deg:.5f} Dec {action.dec_deg:+.5f}, "
            f"mag {action.magnitude:g} at {action.t0_s:g} s, decay {action.decay_index:g}"
        )

    def _submit(self, outcome: ItemOutcome) -> None:
        action = outcome.item.action
        try:
            if isinstance(action, SubmitAction):
                result = submit_request(
                    action.file,
                    user=action.user,
                    clock=self.clock,
                    timeout_s=self.settings.submit_timeout_s,
                )
            else:
                assert isinstance(action, AlertAction)
                host, port = self.alert_broker
                result = send_voevent(
                    action.file,
                    host=action.host or host,
                    port=action.port or port,
                    timeout_s=self.settings.alert_send_timeout_s,
                )
        except Exception as exc:  # the outcome is recorded whatever happens
            log.exception("scenario item %d failed", outcome.item.number)
            result = SubmissionResult(False, f"{type(exc).__name__}: {exc}")
        outcome.result = result.result
        self._finish(outcome, ItemStatus.DONE if result.ok else ItemStatus.FAILED, result.detail)

    def _finish(self, outcome: ItemOutcome, status: ItemStatus, detail: str) -> None:
        outcome.status, outcome.detail = status, detail
        outcome.finished_at = self.clock.now()
        item = outcome.item
        level = logging.WARNING if status == ItemStatus.FAILED else logging.INFO
        log.log(level, "scenario t=%g %s: %s: %s", item.time_s, item.key, status, detail)
        if self._record is not None:
            try:
                self._record(outcome.describe())
            except Exception:
                log.exception("scenario: journaling failed")
