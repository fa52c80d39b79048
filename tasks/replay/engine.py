"""The replay engine: a recorded night re-run from its journal on the discrete-event clock.

One process, no sockets, no Prefect. The journal's inputs (requests, PLC readings) are fed at
their recorded instants into a fresh database of the replay's own; the night loop
(:class:`tasks.night.loop.NightLoop`) asks the same policy, the scheduler plans with the same
code (:func:`tasks.scheduling.schedule_rows.plan_and_save`), the monitor's synthesis and gate
decide the dome (:mod:`tasks.replay.monitor`). What the devices took is taken from the record:
a calibration set takes as long as it took (its n-th taking), an execution that ended executed
as long as its n-th recorded execution; an execution the record has not completed takes its
planned duration. Either ends ``interrupted`` when the weather turns unsafe meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from infra.clock import DiscreteEventClock
from infra.config import SiteConfig
from infra.db import session_scope
from infra.db.bootstrap import init_database
from infra.db.models import ScheduledSequence, Sequence
from infra.db.sequence_state import SequenceState, transition
from infra.journal import KIND_PLC, KIND_REQUEST
from tasks.environment.observatory_state import request_dome
from tasks.night.loop import Handlers, LoopSummary, NightLoop
from tasks.night.policy import NightState
from tasks.night.state_reader import DeviceView, NightAgenda, read_night_state
from tasks.night.timing_journal import journal_calibration
from tasks.night.vocabulary import PLAN_NIGHT, CalibrationSet, LoopEnd
from tasks.night.windows import windows_of
from tasks.replay.inputs import Input, JournalInputs
from tasks.replay.monitor import SimulatedDome
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tasks.scheduling.schedule_rows import current_schedule, insert_all_and_save, plan_and_save

BY = "replay"
#: How often (simulated s) an executing sequence looks at the weather.
EXECUTION_STEP_S = 10.0
#: A recorded loop beginning at most this long (simulated s) after the weather became safe is
#: the block that resumed the night (its latency); one later began for another reason.
RESUME_LATENCY_MAX_S = 1800.0


@dataclass
class ReplayRun:
    """What one replay did."""

    night: str
    start: datetime
    end: datetime
    summary: LoopSummary
    warnings: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def simulated_seconds(self) -> float:
        """The span replayed."""
        return (self.end - self.start).total_seconds()


class _Replay:
    """The replayed observatory: the clock, its database, the dome, the inputs."""

    def __init__(self, inputs: JournalInputs, config: SiteConfig, engine: Engine, start: datetime):
        self.inputs, self.config, self.engine = inputs, config, engine
        self.clock = DiscreteEventClock(start)
        self.windows = windows_of(night_for(inputs.night, config))
        self.dome = SimulatedDome(config, self.windows, self.clock)
        self.no_plc = not inputs.of(KIND_PLC)
        self.warnings: list[str] = []
        #: How many times each calibration set, and each sequence, was taken in this replay.
        self.taken: dict[str | int, int] = {}

    # -------------------------------------------------------------- inputs
    def schedule_inputs(self) -> None:
        for item in self.inputs.items:
            if item.kind == KIND_REQUEST:
                self.clock.call_at(item.at, self._feeder(self._request, item))
            elif item.kind == KIND_PLC:
                self.clock.call_at(item.at, self._feeder(self._plc, item))

    @staticmethod
    def _feeder(handler: Callable[[Input], None], item: Input) -> Callable[[], None]:
        return lambda: handler(item)

    def _request(self, item: Input) -> None:
        if not item.raw:
            return  # warned when loaded
        payload = item.payload if isinstance(item.payload, dict) else {}
        source = str(payload.get("source") or item.source)
        try:
            ingest_request_bytes(
                item.raw,
                source,
                user=str(payload.get("user") or "pyros"),
                engine=self.engine,
                config=self.config,
                clock=self.clock,
                submitted_at=item.at,
                again=True,
            )
        except ValueError as error:  # RequestError, AccessError: refused, as it may have been
            self.warnings.append(f"request {source} at {item.at:%H:%M:%S} refused: {error}")

    def _plc(self, item: Input) -> None:
        with session_scope(self.engine) as session:
            self.dome.reading(session, item.payload, item.raw, item.at)

    # -------------------------------------------------------------- the loop's handlers
    def look(self, done: frozenset[str]) -> NightState:
        agenda = NightAgenda(
            calibrations_done=done,
            evening_calibrations=(CalibrationSet.EVENING,)
            if self.config.night.evening_calibrations
            else (),
            dusk_flat_calibrations=(CalibrationSet.DUSK_FLATS,)
            if self.config.night.twilight_flats
            else (),
            early_start_s=self.config.night.early_start_s,
        )
        view = DeviceView(dome_open=self.dome.open)
        with session_scope(self.engine) as session:
            return read_night_state(
                session, self.clock.now(), self.windows, view, self.inputs.night, agenda
            )

    def execute(self, sequence_id: int) -> str:
        now = self.clock.now()
        with session_scope(self.engine) as session:
            sequence = session.get(Sequence, sequence_id)
            if sequence is None:
                return f"{sequence_id}: gone"
            schedule = current_schedule(session, self.inputs.night)
            entry = session.scalars(
                select(ScheduledSequence).where(
                    ScheduledSequence.schedule_id == (schedule.id if schedule else -1),
                    ScheduledSequence.sequence_id == sequence_id,
                )
            ).first()
            planned = (
                (entry.planned_end - entry.planned_start).total_seconds()
                if entry and entry.planned_start and entry.planned_end
                else 0.0
            )
            transition(session, sequence, SequenceState.EXECUTING, "replay: executing", now)
        recorded = self._nth(sequence_id, self.inputs.executions.get(sequence_id, []))
        end = now + timedelta(seconds=planned if recorded is None else recorded)
        while self.clock.now() < end and self.dome.safe and self.dome.open:
            self.clock.run_until(min(end, self.clock.now() + timedelta(seconds=EXECUTION_STEP_S)))
        done = self.clock.now() >= end and self.dome.open
        with session_scope(self.engine) as session:
            sequence = session.get(Sequence, sequence_id)
            assert sequence is not None
            if done:
                transition(session, sequence, SequenceState.EXECUTED, "replay: executed", end)
            else:
                # The reflex takes the mount when it closes the dome: the sequence ends then.
                closed = self.dome.moved_at
                at = closed if closed is not None and now <= closed else self.clock.now()
                reason = "interrupted: the safety reflex took the mount (weather unsafe)"
                transition(session, sequence, SequenceState.INTERRUPTED, reason, at)
        return f"{sequence_id}: {'executed' if done else 'interrupted'}"

    def replan(self, reason: str) -> str:
        result = plan_and_save(
            engine=self.engine, config=self.config, clock=self.clock, reason=reason
        )
        return str(result["schedule_id"])

    def insert(self, sequence_ids: tuple[int, ...], reason: str) -> str:
        result = insert_all_and_save(
            sequence_ids, engine=self.engine, config=self.config, clock=self.clock, cause=reason
        )
        return str(result["schedule_id"])

    def plan_nights(self, start: datetime) -> None:
        """``plan-night`` plans when it did in the record (its calendar or the simulation ran
        it: an input), else at the start; the loop begins after the first (plan-night creates
        the night's runs, docs/night.md), when the recorded night's first loop began if that is
        later (the start-of-night run's latency)."""
        times = [at for at in self.inputs.plan_nights if at >= start] or [start]
        self.clock.run_until(times[0])
        self.replan(PLAN_NIGHT)
        began = [at for at in self.inputs.loop_starts if at >= times[0]]
        if began:
            self.clock.run_until(began[0])

        def plan() -> None:
            self.replan(PLAN_NIGHT)

        for at in times[1:]:
            self.clock.call_at(at, plan)

    def loop(
        self, look: Callable[[frozenset[str]], NightState], *, end_on_weather: bool
    ) -> NightLoop:
        """A night loop of this replay (start-of-night's, or an execute-night block's)."""
        handlers = Handlers(
            execute=self.execute,
            replan=self.replan,
            request_dome=self.request_dome,
            calibrate=self.calibrate,
            insert=self.insert,
        )
        return NightLoop(
            self.clock,
            look,
            handlers,
            poll_s=self.config.night.poll_s,
            min_poll_wall_s=0.0,
            end_on_weather=end_on_weather,
        )

    def resume_after_weather(self, until: datetime) -> None:
        """Wait, as the night does after a block ended on the weather, until the monitor says
        safe (``pyros.weather.safe`` starts the next block), then until the next loop of the
        recorded night began when that is soon after (the new block's latency)."""
        while self.clock.now() < until and not self.dome.safe:
            self.clock.run_until(min(until, self.clock.now() + timedelta(seconds=EXECUTION_STEP_S)))
        self.begin_as_recorded(until)

    def begin_as_recorded(self, until: datetime) -> None:
        """A block due now begins when the recorded night's next loop began, if that was soon
        (within :data:`RESUME_LATENCY_MAX_S`: the run's latency through Prefect)."""
        due = self.clock.now()
        later = [at for at in self.inputs.loop_starts if due <= at]
        if later and later[0] - due <= timedelta(seconds=RESUME_LATENCY_MAX_S):
            self.clock.run_until(min(until, later[0]))

    def request_dome(self, state: str, reason: str) -> str:
        with session_scope(self.engine) as session:
            request_dome(session, state, BY, self.clock.now(), reason)
            if self.no_plc:  # no reading will come to make the monitor act: it acts now
                self.dome.act(session, self.clock.now())
        return state

    def calibrate(self, name: str) -> str:
        started = self.clock.now()
        took = self._nth(name, self.inputs.calibrations.get(name, []))
        if took is None:
            self.warnings.append(
                f"calibration set {name!r} at {started:%H:%M:%S}: not in the journal "
                "(a night recorded before calibrations were journaled?): it takes no time"
            )
        self.clock.run_until(started + timedelta(seconds=took or 0.0))
        summary = f"{name}: {took or 0.0:g} s, as recorded"
        journal_calibration(name, started, self.clock.now(), summary, source=BY, into=self.engine)
        return summary

    def _nth(self, key: str | int, recorded: list[float | None] | list[float]) -> float | None:
        """The recorded duration of this key's next taking (None: not recorded)."""
        index = self.taken.get(key, 0)
        self.taken[key] = index + 1
        return recorded[index] if index < len(recorded) else None


def _add(summary: LoopSummary, part: LoopSummary) -> None:
    """Count a block's loop ``part`` in the night's ``summary`` (its end is the night's)."""
    summary.ended, summary.reason = part.ended, part.reason
    summary.decisions += part.decisions
    summary.executed += part.executed
    summary.replans += part.replans
    summary.calibrations += part.calibrations
    summary.waits += part.waits


def _telling(
    replay: _Replay,
    progress: Callable[[float, float], None] | None,
    start: datetime,
    until: datetime,
) -> Callable[[frozenset[str]], NightState]:
    """The replay's look, telling ``progress`` where the replay is in its span first."""
    span_s = (until - start).total_seconds()

    def look(done: frozenset[str]) -> NightState:
        if progress is not None:
            progress(min((replay.clock.now() - start).total_seconds(), span_s), span_s)
        return replay.look(done)

    return look


def replay_night(
    inputs: JournalInputs,
    config: SiteConfig,
    engine: Engine,
    *,
    start: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> ReplayRun:
    """Re-run night ``inputs.night`` into ``engine`` (a fresh database, initialised here).

    Parameters
    ----------
    inputs : JournalInputs
        The recorded night's inputs (:func:`tasks.replay.inputs.load_inputs`).
    config : SiteConfig
        The configuration to replay with (the what-if overrides already applied).
    engine : Engine
        The replay's own, empty database (never the recorded one).
    start, until : datetime, optional
        The span replayed (default: the start-of-night run, or the first input if earlier, to
        the last journaled input, the span a shortened run journaled or the end of the dark
        night, whichever comes first).
    progress : callable, optional
        ``progress(simulated_s_done, simulated_s_total)`` at each look of the loop (a command's
        progress bar).

    Returns
    -------
    ReplayRun
        The span, the loop's summary and the warnings (the journal's and the replay's).
    """
    started = time.perf_counter()
    night = night_for(inputs.night, config)
    first = min((item.at for item in inputs.items), default=None)
    evening = (
        night.sunset - timedelta(seconds=config.night.evening_lead_s) if night.sunset else None
    )
    candidates = [t for t in (first, evening) if t is not None]
    start = start or min(candidates)
    if until is None:
        # The last input, but not past a shortened run's span nor the end of the dark night
        # (end-of-night parks and closes: not the loop's).
        ends = [t for t in (inputs.last_instant, inputs.span_end, night.end) if t is not None]
        until = min(ends) if ends else start
    init_database(engine, config)
    replay = _Replay(inputs, config, engine, start)
    if replay.no_plc:
        with session_scope(engine) as session:
            replay.dome.assume_safe(session, start)
    replay.schedule_inputs()
    replay.plan_nights(start)
    look = _telling(replay, progress, start, until)
    # The evening is start-of-night's loop (it waits out the weather); the dark night is
    # execute-night's blocks, each ending when the weather closes the night, the next one
    # begun once it is safe again (flows/night.py).
    start_of_night = replay.loop(look, end_on_weather=False)
    summary = start_of_night.run(min(until, night.start) if night.start else until)
    done = start_of_night.calibrations
    blocks = summary.ended is LoopEnd.UNTIL
    if blocks:
        replay.begin_as_recorded(until)  # the first block, due at the dark night's start
    while blocks and replay.clock.now() < until:
        block = replay.loop(look, end_on_weather=True)
        block.calibrations = done
        part = block.run(until)
        _add(summary, part)
        if part.ended is not LoopEnd.WEATHER:
            break
        replay.resume_after_weather(until)
    replay.clock.run_until(max(until, replay.clock.now()))
    return ReplayRun(
        inputs.night,
        start,
        max(until, replay.clock.now()),
        summary,
        [*inputs.warnings, *replay.warnings],
        time.perf_counter() - started,
    )
