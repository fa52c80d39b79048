"""Read a saved schedule for display (CLI, Prefect artifact). No astronomy imported here, so
``pyros schedule show`` answers fast."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import Request, Schedule, ScheduledSequence, ScientificProgram, Sequence


def target_text(sequence: Sequence) -> str:
    """A sequence's target in a few characters: ``RA Dec`` in degrees when known, else its
    coordinates as given, else its type."""
    if sequence.ra_deg is not None and sequence.dec_deg is not None:
        return f"{sequence.ra_deg:.4f} {sequence.dec_deg:+.4f}"
    return sequence.target_coords or sequence.target_type


def schedule_data(
    session: Session, *, night: str | None = None, schedule_id: int | None = None
) -> dict[str, Any] | None:
    """A schedule with its entries: by id, else the current one of ``night``, else the latest
    current one. None when there is none."""
    if schedule_id is not None:
        schedule = session.get(Schedule, schedule_id)
    else:
        query = select(Schedule).where(Schedule.is_current.is_(True))
        if night is not None:
            query = query.where(Schedule.night == night)
        schedule = session.scalars(query.order_by(Schedule.id.desc()).limit(1)).first()
    if schedule is None:
        return None
    rows = session.execute(
        select(ScheduledSequence, Sequence, ScientificProgram.name)
        .join(Sequence, Sequence.id == ScheduledSequence.sequence_id)
        .join(Request, Request.id == Sequence.request_id)
        .outerjoin(ScientificProgram, ScientificProgram.id == Request.program_id)
        .where(ScheduledSequence.schedule_id == schedule.id)
        .order_by(ScheduledSequence.position)
    ).all()
    entries = [
        {
            "position": row.position,
            "sequence_id": row.sequence_id,
            "name": sequence.name,
            "target": target_text(sequence),
            "program": program or "",
            "priority": sequence.priority,
            "state": sequence.state,
            "planned": row.planned,
            "start": row.planned_start,
            "end": row.planned_end,
            "reason": row.reason,
        }
        for row, sequence, program in rows
    ]
    left_out = Counter(row.reason.split(":", 1)[0] for row, *_ in rows if not row.planned)
    return {
        "id": schedule.id,
        "night": schedule.night,
        "created_at": schedule.created_at,
        "reason": schedule.reason,
        "is_current": schedule.is_current,
        "plan_begin": schedule.night_start,
        "plan_end": schedule.night_end,
        "objective": schedule.objective,
        "planning_seconds": schedule.planning_seconds,
        "planned": sum(1 for e in entries if e["planned"]),
        "unplanned": sum(1 for e in entries if not e["planned"]),
        "unplanned_by_reason": dict(sorted(left_out.items())),
        "night_details": (schedule.details or {}).get("night"),
        "entries": entries,
    }


def planned_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The planned entries as table rows (times as ``HH:MM:SS`` UTC)."""
    return [
        {
            "start (UTC)": e["start"].strftime("%H:%M:%S"),
            "end (UTC)": e["end"].strftime("%H:%M:%S"),
            "sequence": e["sequence_id"],
            "name": e["name"],
            "target": e["target"],
            "program": e["program"],
            "priority": e["priority"],
            "state": e["state"],
        }
        for e in data["entries"]
        if e["planned"]
    ]
