"""Carrying a burst's follow-up out (the ``alert-follow-up`` flow's work, without Prefect).

Between steps :func:`tasks.alerts.followup_policy.next_step` decides; a sequence is executed
by :class:`tasks.night.execute.SequenceRun` at alert priority under the burst's lease owner
(``alert:<burst key>``), so the leases the reflex took are inherited (a new epoch, nothing
aborted; no second slew is needed when the mount is already there: the slew is then a short
one). While it exposes, a watcher stops it when the burst is withdrawn or re-pointed, and an
NRT consumer analyses each frame with the alert's error circle (``pyros.nrt.candidate``).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from devices.controllers import Priority, ShutterState
from devices.errors import DeviceProblem
from infra.clock import Clock
from infra.config import SiteConfig
from tasks.alerts.followup_policy import (
    FollowUpRecord,
    FollowUpView,
    StepKind,
    next_step,
    should_stop,
)
from tasks.alerts.followup_rows import FollowUp, current_follow_up, make_ready
from tasks.alerts.reflex import owner_for
from tasks.night.devices import NightDevices
from tasks.night.execute import PlanWork, SequenceOutcome, SequenceRun
from tasks.night.images import StoredImage
from tasks.nrt.analysis_rows import claimable, stored_summary
from tasks.nrt.consumer import FrameSummary, NrtConsumer

log = logging.getLogger(__name__)

#: Wall seconds between two looks while waiting (weather, dome) and of the stop watcher.
WAIT_POLL_S = 1.0
WATCH_POLL_S = 0.25
#: Executions of one sequence before the follow-up gives it up (a device that keeps failing).
MAX_TRIES = 3
#: Wall seconds the analysis of a finished sequence's last frames may take.
ANALYSIS_GRACE_S = 120.0

ImageRow = dict[str, Any]


def _execute(run: SequenceRun, sequence_id: int) -> SequenceOutcome:
    return run.run(sequence_id)


def _no_image(image: StoredImage, plan: PlanWork, instrument: str, sequence_id: int) -> None:
    return None


@dataclass
class FollowUpHooks:
    """What the flow adds around the work (Prefect tasks, events, artifacts); defaults do
    nothing more than the work."""

    execute: Callable[[SequenceRun, int], SequenceOutcome] = _execute
    on_image: Callable[[StoredImage, PlanWork, str, int], None] = _no_image
    on_update: Callable[[FollowUpRecord], None] = lambda record: None
    request_dome: Callable[[str], None] = lambda reason: None
    analyse: Callable[[NrtConsumer, ImageRow], FrameSummary | None] | None = None


@dataclass
class FollowUpResult:
    """How a follow-up ended."""

    reason: str
    record: FollowUpRecord
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (the flow's return value)."""
        best = self.record.best_position()
        return {
            "burst_key": self.record.burst_key,
            "reason": self.reason,
            "images": self.record.images,
            "analysed": self.record.analysed,
            "candidates": len(self.record.candidates),
            "position": best,
            "sequences": self.outcomes,
            "tiles": [
                {
                    "tile": t.index,
                    "sequence_id": t.sequence_id,
                    "state": t.state,
                    "images": t.images,
                    "analysed": t.analysed,
                    "candidates": len(t.candidates),
                    "best": t.best(),
                }
                for t in sorted(self.record.tiles.values(), key=lambda t: t.index)
            ],
        }


class FollowUpRun:
    """One burst's follow-up.

    Parameters
    ----------
    burst_key : str
        The burst (the Alert rows' ``burst_key``).
    devices : NightDevices
        Mount, cameras and dome (read only) through their gateways.
    config, clock :
        Site configuration and the one clock.
    frames_dir : pathlib.Path
        Root of the frames.
    engine : Engine, optional
        Database (default: the process database).
    consumer : NrtConsumer, optional
        The NRT consumer of the follow-up's frames (None: no analysis).
    hooks : FollowUpHooks, optional
        The flow's additions.
    """

    def __init__(
        self,
        burst_key: str,
        devices: NightDevices,
        config: SiteConfig,
        clock: Clock,
        frames_dir: Any,
        engine: Engine | None = None,
        consumer: NrtConsumer | None = None,
        hooks: FollowUpHooks | None = None,
    ) -> None:
        self.burst_key, self.devices, self.config, self.clock = burst_key, devices, config, clock
        self.frames_dir, self.engine, self.consumer = frames_dir, engine, consumer
        self.hooks = hooks or FollowUpHooks()
        self.owner = owner_for(burst_key)
        self.record = FollowUpRecord(burst_key)
        self.tries: dict[int, int] = {}
        self._dome_asked = False
        #: The follow-up's frames: image id -> its sequence (tile).
        self.frames: dict[str, int] = {}
        #: The frames whose analysis the record counts.
        self._taken: set[str] = set()
        self._taking = threading.Lock()

    # ------------------------------------------------------------------ looking
    def weather_safe(self) -> bool:
        """False while the environment monitor holds the mount at safety priority."""
        try:
            return self.devices.mount.lease_info().priority is not Priority.SAFETY
        except DeviceProblem:
            return False

    def dome_open(self) -> bool:
        """Whether the dome reports its shutter open."""
        try:
            return self.devices.dome.status().shutter == ShutterState.OPEN
        except DeviceProblem:
            return False

    def _note(self, text: str) -> None:
        self.record.steps.append(f"{self.clock.now():%H:%M:%S} {text}")
        self.hooks.on_update(self.record)

    def _look(self) -> FollowUp | None:
        current = current_follow_up(self.engine, self.burst_key)
        if current is not None:
            self.record.ivorn = current.ivorn
            self.record.circle = (current.ra_deg, current.dec_deg, current.radius_deg)
            self.record.coverage = current.coverage
            self.record.decision = "follow-up"
            for sequence_id in current.sequences:
                self.record.tile(sequence_id)
            skipped = [s for s in current.sequences if self.tries.get(s, 0) >= MAX_TRIES]
            if skipped:
                left = tuple(s for s in current.sequences if s not in skipped)
                current = replace(current, sequences=left)
        return current

    # ------------------------------------------------------------------ the loop
    def run(self) -> FollowUpResult:
        """Follow the burst until it is done, withdrawn or no longer valid."""
        outcomes: list[dict[str, Any]] = []
        last = ""
        while True:
            current = self._look()
            view = FollowUpView(
                current, self.clock.now(), self.weather_safe(), self.dome_open(), self._dome_asked
            )
            step = next_step(view)
            if step.reason != last:
                self._note(step.reason)
                last = step.reason
            if step.kind is StepKind.END:
                self.catch_up(wait_s=ANALYSIS_GRACE_S)
                return FollowUpResult(step.reason, self.record, outcomes)
            if step.kind is StepKind.WAIT:
                if step.request_dome:
                    self.hooks.request_dome(f"alert follow-up {self.burst_key}")
                    self._dome_asked = True
                time.sleep(WAIT_POLL_S)
                continue
            assert step.sequence_id is not None
            outcomes.append(self.execute(step.sequence_id))

    def execute(self, sequence_id: int) -> dict[str, Any]:
        """Execute one sequence with its watcher and its NRT consumer."""
        self.tries[sequence_id] = self.tries.get(sequence_id, 0) + 1
        if not make_ready(self.engine, sequence_id, self.clock.now()):
            self.record.tile(sequence_id).state = "skipped"
            return {"sequence_id": sequence_id, "state": "skipped", "reason": "not executable"}

        tile = self.record.tile(sequence_id)
        tile.state = "executing"

        def on_image(image: StoredImage, plan: PlanWork, instrument: str) -> None:
            self.frames[image.image_id] = sequence_id
            self.record.images += 1
            tile.images += 1
            self.hooks.on_image(image, plan, instrument, sequence_id)
            if self.consumer is not None:
                self.consumer.notify()

        run = SequenceRun(
            self.engine,
            self.devices.telescope,
            self.owner,
            self.clock,
            self.frames_dir,
            self.config.site.longitude_deg,
            on_image=on_image,
            priority=Priority.ALERT,
        )
        done = threading.Event()
        # Each thread runs in a copy of this context (inside a flow run: the run's context, so
        # what they publish belongs to the run).
        watcher = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._watch, run, sequence_id, done),
            daemon=True,
        )
        analysis = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._analyse, sequence_id, done),
            daemon=True,
        )
        watcher.start()
        analysis.start()
        outcome = self.hooks.execute(run, sequence_id)
        withdrawn = should_stop(self._look(), sequence_id)
        if withdrawn is not None and withdrawn.startswith("withdrawn"):
            done.set()  # no more analysis: the burst is withdrawn
        analysis.join(ANALYSIS_GRACE_S)
        done.set()
        watcher.join()
        analysis.join(5.0)
        self.catch_up()
        tile.state = outcome.state.value
        result = {
            "sequence_id": sequence_id,
            "state": outcome.state.value,
            "reason": outcome.reason,
            "images": len(outcome.images),
        }
        self._note(f"sequence {sequence_id}: {outcome.state.value} ({outcome.reason})")
        return result

    def _watch(self, run: SequenceRun, sequence_id: int, done: threading.Event) -> None:
        """Stop the sequence as soon as the burst is withdrawn or re-pointed."""
        while not done.wait(WATCH_POLL_S):
            try:
                reason = should_stop(self._look(), sequence_id)
            except Exception as exc:  # the database away: the sequence goes on
                log.warning("follow-up watcher: %s", exc)
                continue
            if reason is not None:
                run.stop(reason)
                return

    def _analyse(self, sequence_id: int, done: threading.Event) -> None:
        if self.consumer is None:
            return
        consumer = self.consumer
        analyse = self.hooks.analyse

        def attempt(image: ImageRow) -> FrameSummary | None:
            return analyse(consumer, image) if analyse else consumer.process(image)

        def runner(image: ImageRow) -> FrameSummary | None:
            summary = attempt(image)
            if summary is None:  # the block's consumer claimed the frame first: take its result
                summary = _analysed_elsewhere(consumer, image, attempt)
            if summary is not None:
                self._take(summary, sequence_id)
            return summary

        try:
            consumer.run(sequence_id=sequence_id, stop=done, runner=runner, idle_timeout_s=3600)
        except Exception:
            log.exception("NRT consumer of the follow-up %s", self.burst_key)

    def catch_up(self, wait_s: float = 0.0) -> None:
        """Take the stored analyses of the follow-up's frames that another consumer made.

        The night's NRT service analyses every frame too; a frame it claimed first is never
        pending for this run's consumer, so without this its tile would show it unanalysed
        (seen in a night: the afterglow found in the database, its tile's row empty). Waits up
        to ``wait_s`` for analyses still running (the end of the follow-up).
        """
        if self.consumer is None:
            return
        deadline = time.monotonic() + wait_s
        while True:
            missing = [i for i in self.frames if i not in self._taken]
            for image_id in missing:
                summary = stored_summary(self.consumer.db, image_id)
                if summary is not None:  # an older frame's light curve is not the latest
                    self._take(summary, self.frames[image_id], light_curve=False)
            if len(self._taken) >= len(self.frames) or time.monotonic() >= deadline:
                return
            time.sleep(WATCH_POLL_S)

    def _take(self, summary: FrameSummary, sequence_id: int, light_curve: bool = True) -> None:
        # Under the lock: the analysis thread and the catch-up may take frames at once.
        with self._taking:
            image_id = summary.get("image_id")
            if image_id in self._taken:
                return  # taken by the consumer and by the catch-up: counted once
            if image_id is not None:
                self._taken.add(image_id)
            candidates = summary.get("candidates") or []
            tile = self.record.tile(sequence_id)
            tile.analysed += 1
            tile.candidates.extend(candidates)
            self.record.analysed += 1
            self.record.candidates.extend(candidates)
            if light_curve and summary.get("light_curves"):
                self.record.light_curve = list(summary["light_curves"])
        self.hooks.on_update(self.record)


#: Longest wait (wall seconds) for a follow-up frame's analysis claimed by another consumer.
ELSEWHERE_WAIT_S = 120.0


def _analysed_elsewhere(
    consumer: NrtConsumer,
    image: ImageRow,
    attempt: Callable[[ImageRow], FrameSummary | None],
) -> FrameSummary | None:
    """The result of the frame's analysis by another consumer, once it has ended, or this
    follow-up's own analysis when that consumer stopped mid-analysis (``attempt`` claims again
    once the claim is abandoned: it is taken over, see ``analysis_rows.claim``). None after
    :data:`ELSEWHERE_WAIT_S`: the frame is counted by that consumer, not by the follow-up."""
    image_id = image["id"]
    deadline = time.monotonic() + ELSEWHERE_WAIT_S
    while time.monotonic() < deadline:
        summary = stored_summary(consumer.db, image_id)
        # Claiming is a write (a lock on SQLite's one writer): tried only once it can succeed.
        if summary is None and claimable(consumer.db, image_id, consumer.stale_before()):
            summary = attempt(image)
        if summary is not None:
            return summary
        time.sleep(WATCH_POLL_S)
    log.warning("follow-up: the analysis of %s did not end within %g s", image_id,
                ELSEWHERE_WAIT_S)  # fmt: skip
    return None
