"""What a night's journal gives a replay: requests, PLC readings and alerts, in time order,
how long the devices took (calibration sets, complete executions), and a warning for every piece
that is missing or damaged (never an exception)."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.db.models import Schedule, SequenceTransition
from infra.db.sequence_state import SequenceState
from infra.journal import KIND_ALERT, KIND_PLC, KIND_REQUEST, entries
from infra.journal import night_label as label_of
from tasks.night.report import KIND_NIGHT_RUN
from tasks.night.timing_journal import calibration_durations, loop_starts
from tasks.night.vocabulary import PLAN_NIGHT

#: A gap between two PLC readings longer than this many median intervals (and than
#: :data:`MIN_GAP_S`) is reported: readings were lost or deleted.
GAP_FACTOR = 10.0
MIN_GAP_S = 60.0


@dataclass(frozen=True)
class Input:
    """One journaled input, as the replay feeds it."""

    kind: str
    at: datetime
    source: str
    payload: Any
    raw: bytes | None


@dataclass
class JournalInputs:
    """A night's inputs in the order they came (time, then journal id)."""

    night: str
    items: list[Input] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The end of the span a shortened run reported (``pyros night --hours``), if journaled.
    span_end: datetime | None = None
    #: How long (simulated s) each calibration set took, per set in the order taken.
    calibrations: dict[str, list[float]] = field(default_factory=dict)
    #: Per sequence, each of its executions in order: how long it took when it ended executed,
    #: None when it ended otherwise (interrupted, failed: the replay decides those itself).
    executions: dict[int, list[float | None]] = field(default_factory=dict)
    #: When ``plan-night`` made the night's plan (its calendar, or the simulation, ran it).
    plan_nights: list[datetime] = field(default_factory=list)
    #: When the night's loops (start-of-night, execute-night runs) began.
    loop_starts: list[datetime] = field(default_factory=list)

    def of(self, kind: str) -> list[Input]:
        """The inputs of one kind."""
        return [item for item in self.items if item.kind == kind]

    @property
    def last_instant(self) -> datetime | None:
        """The latest instant the journal covers (None when empty)."""
        return max((item.at for item in self.items), default=None)


def load_inputs(engine: Engine, night: str, longitude_deg: float | None = None) -> JournalInputs:
    """Read night ``night``'s requests, PLC readings, alerts and the devices' durations from
    ``engine``.

    Parameters
    ----------
    engine : Engine
        The recorded night's database (only read).
    night : str
        Night label (``YYYY-MM-DD``).
    longitude_deg : float, optional
        The site's longitude: which night a sequence transition belongs to (None: every
        transition of the database is the night's).
    """
    found = JournalInputs(night)
    with session_scope(engine) as session:
        rows = entries(session, night=night, kinds=[KIND_REQUEST, KIND_PLC, KIND_ALERT])
        for row in rows:
            found.items.append(Input(row.kind, row.sim_time, row.source, row.payload, row.raw))
        for run in entries(session, night=night, kinds=[KIND_NIGHT_RUN]):
            payload = run.payload if isinstance(run.payload, dict) else {}
            if payload.get("span_end"):
                found.span_end = datetime.fromisoformat(str(payload["span_end"]))
        found.calibrations = calibration_durations(session, night)
        found.executions = _executions(session, night, longitude_deg)
        found.loop_starts = loop_starts(session, night)
        found.plan_nights = list(
            session.scalars(
                select(Schedule.created_at)
                .where(Schedule.night == night, Schedule.reason == PLAN_NIGHT)
                .order_by(Schedule.created_at, Schedule.id)
            )
        )
    found.items.sort(key=lambda item: item.at)  # stable: journal order within an instant
    _check(found)
    return found


def _executions(
    session: Session, night: str, longitude_deg: float | None
) -> dict[int, list[float | None]]:
    """Each sequence's executions in order: seconds from ``executing`` to ``executed``, None
    for one that ended otherwise."""
    found: dict[int, list[float | None]] = {}
    began: dict[int, datetime] = {}
    for row in session.scalars(
        select(SequenceTransition).order_by(SequenceTransition.at, SequenceTransition.id)
    ):
        if longitude_deg is not None and label_of(row.at, longitude_deg) != night:
            continue
        if row.to_state == SequenceState.EXECUTING:
            began[row.sequence_id] = row.at
        elif row.sequence_id in began:
            start = began.pop(row.sequence_id)
            took = (row.at - start).total_seconds()
            complete = row.to_state == SequenceState.EXECUTED
            found.setdefault(row.sequence_id, []).append(took if complete else None)
    return found


def _check(found: JournalInputs) -> None:
    """Warn about what a replay cannot use or will miss."""
    for item in found.of(KIND_REQUEST):
        if not item.raw:
            found.warnings.append(f"request {item.source} at {item.at:%H:%M:%S}: no raw XML kept")
    plc = found.of(KIND_PLC)
    if not plc:
        found.warnings.append("no PLC reading in the journal: the weather is taken as safe")
    times = [item.at for item in plc]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    if gaps:
        limit = max(MIN_GAP_S, GAP_FACTOR * statistics.median(gaps))
        for (a, b), gap in zip(itertools.pairwise(times), gaps, strict=True):
            if gap > limit:
                found.warnings.append(
                    f"PLC readings missing from {a:%H:%M:%S} to {b:%H:%M:%S} ({gap:.0f} s): "
                    "the last verdict holds meanwhile"
                )
    alerts = found.of(KIND_ALERT)
    if alerts:
        found.warnings.append(
            f"{len(alerts)} alert(s) in the journal are not replayed yet "
            "(alert policy and reflex: not in this replay)"
        )
