"""What the night could have executed, known in hindsight (issue 25).

"Plannable" in the night's report depends on what the night itself planned, so "executed over
plannable" flatters the night. The reference here is independent of it: the scheduler, run once
after the night over the whole span with the weather closures known in advance (each a block the
telescope cannot use), plans every sequence the night's schedules considered, from scratch. The
sequences that plan places are the ones the night *could* have executed; ``executed_over_hindsight``
is the night's executed count over that number (goal >= 0.9).

Device availability is not modelled (a lost device's hours count as usable); a hindsight plan that
is not optimal can make the ratio exceed 1.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.config import SiteConfig
from infra.db.models import Schedule, ScheduledSequence, Sequence, SequenceTransition
from infra.db.sequence_state import SequenceState
from tasks.night.report import WeatherChange, weather_changes
from tasks.scheduling.load import candidate_of, planned_durations
from tasks.scheduling.night_times import Night, night_for, night_grid, to_unix
from tasks.scheduling.planner import plan
from tasks.scheduling.problem import Candidate, build_problem

#: Priority of a weather closure's block (above any sequence: nothing displaces it).
_CLOSED = 10**6


def closures(changes: Seq[WeatherChange], end: datetime) -> list[tuple[datetime, datetime]]:
    """The spans the weather kept the dome closed: each unsafe verdict to the next safe one (or
    ``end``)."""
    spans: list[tuple[datetime, datetime]] = []
    closed_at: datetime | None = None
    for change in changes:
        if not change.safe and closed_at is None:
            closed_at = change.at
        elif change.safe and closed_at is not None:
            spans.append((closed_at, change.at))
            closed_at = None
    if closed_at is not None and closed_at < end:
        spans.append((closed_at, end))
    return spans


def hindsight_plan(
    candidates: Seq[Candidate],
    night: Night,
    config: SiteConfig,
    end: datetime,
    closed: Seq[tuple[datetime, datetime]],
) -> list[int]:
    """The sequence ids a plan of the span ``[night start, end)`` places, the ``closed`` spans
    blocked."""
    if night.start is None:
        return []
    clipped = [replace(c, window_end=min(c.window_end, end)) for c in candidates]
    clipped = [c for c in clipped if c.window_end > c.window_start]
    problem = build_problem(clipped, night, night_grid(night, config), config, night.start)
    problem.end = min(problem.end, to_unix(end))
    for number, (start, stop) in enumerate(closed):
        begin_u, end_u = max(to_unix(start), problem.begin), min(to_unix(stop), problem.end)
        if end_u > begin_u:
            index = problem.add(-1 - number, _CLOSED, end_u - begin_u, name="weather closure")
            problem.fixed[index] = (begin_u, end_u)
    draft = plan(problem)
    return sorted(
        e.sequence_id
        for e in draft.entries()
        if e.planned and not e.executing and e.sequence_id > 0
    )


def executed_over_hindsight(
    session: Session, label: str, config: SiteConfig, until: datetime
) -> dict[str, Any]:
    """The night's executed sequences against the hindsight plan of ``[night start, until)``.

    Returns
    -------
    dict
        ``hindsight_schedulable``, ``executed_in_span``, ``executed_over_hindsight`` (None
        when nothing was schedulable) and ``weather_closed_s``.
    """
    night = night_for(label, config)
    if night.start is None:
        return {"hindsight_schedulable": 0, "executed_in_span": 0, "executed_over_hindsight": None}
    end = min(until, night.end) if night.end else until
    ids = sorted(
        set(
            session.scalars(
                select(ScheduledSequence.sequence_id)
                .join(Schedule, Schedule.id == ScheduledSequence.schedule_id)
                .where(Schedule.night == label)
            )
        )
    )
    timings = planned_durations(
        session, config, tuple(s.value for s in SequenceState), ids, from_scratch=True
    )
    sequences = session.scalars(select(Sequence).where(Sequence.id.in_(ids))).all()
    candidates = [candidate_of(s, timings.get(s.id)) for s in sequences]
    closed = closures(weather_changes(session, label, night.start, end), end)
    placed = hindsight_plan(candidates, night, config, end, closed)
    executed = set(
        session.scalars(
            select(SequenceTransition.sequence_id).where(
                SequenceTransition.to_state == "executed",
                SequenceTransition.at >= night.start,
                SequenceTransition.at < end,
            )
        )
    )
    return {
        "hindsight_schedulable": len(placed),
        "executed_in_span": len(executed),
        "executed_over_hindsight": round(len(executed) / len(placed), 3) if placed else None,
        "weather_closed_s": round(sum((b - a).total_seconds() for a, b in closed), 1),
    }
