"""A night's decisions as stored in a database, recorded or replayed alike: the schedules,
the sequence transitions in order, and the dome's actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from infra.db import session_scope
from infra.db.models import JournalEntry, Schedule, ScheduledSequence, Sequence, SequenceTransition
from infra.events import DOME_ACTION, WEATHER_SAFE, WEATHER_UNSAFE
from infra.journal import KIND_EVENT
from infra.journal import night_label as label_of

SCHEDULES = "schedules"
TRANSITIONS = "sequence transitions"
DOME = "dome actions"
OUTCOMES = (SCHEDULES, TRANSITIONS, DOME)


@dataclass(frozen=True)
class Decision:
    """One decision: its kind (an outcome above), when, and what (compared exactly)."""

    outcome: str
    at: datetime
    what: str


def night_decisions(
    engine: Engine, night: str, longitude_deg: float, until: datetime | None = None
) -> dict[str, list[Decision]]:
    """Night ``night``'s decisions in ``engine``, by outcome, each in order.

    Parameters
    ----------
    engine : Engine
        A recorded or a replayed night's database.
    night : str
        Night label.
    longitude_deg : float
        The site's longitude (which night an instant belongs to).
    until : datetime, optional
        Only decisions up to this instant (the span replayed).
    """
    found: dict[str, list[Decision]] = {outcome: [] for outcome in OUTCOMES}
    with session_scope(engine) as session:
        for schedule in session.scalars(
            select(Schedule).where(Schedule.night == night).order_by(Schedule.id)
        ):
            planned = session.scalars(
                select(ScheduledSequence.sequence_id)
                .where(
                    ScheduledSequence.schedule_id == schedule.id,
                    ScheduledSequence.planned.is_(True),
                )
                .order_by(ScheduledSequence.position)
            ).all()
            what = "planned " + (" ".join(str(i) for i in planned) or "nothing")
            found[SCHEDULES].append(Decision(SCHEDULES, schedule.created_at, what))
        rows = session.execute(
            select(SequenceTransition, Sequence.name)
            .join(Sequence, Sequence.id == SequenceTransition.sequence_id)
            .order_by(SequenceTransition.at, SequenceTransition.id)
        ).all()
        for row, name in rows:
            if label_of(row.at, longitude_deg) != night:
                continue
            what = f"sequence {row.sequence_id} {name!r}: {row.from_state} -> {row.to_state}"
            found[TRANSITIONS].append(Decision(TRANSITIONS, row.at, what))
        events = session.scalars(
            select(JournalEntry)
            .where(JournalEntry.night == night, JournalEntry.kind == KIND_EVENT)
            .order_by(JournalEntry.sim_time, JournalEntry.id)
        )
        for entry in events:
            message = entry.payload if isinstance(entry.payload, dict) else {}
            if message.get("event") not in (WEATHER_SAFE, WEATHER_UNSAFE, DOME_ACTION):
                continue
            for action in (message.get("payload") or {}).get("actions") or []:
                if str(action).startswith("dome "):
                    found[DOME].append(Decision(DOME, entry.sim_time, str(action)))
    if until is not None:
        for outcome in OUTCOMES:
            found[outcome] = [d for d in found[outcome] if d.at <= until]
    return found
