"""The rows :mod:`tasks.night.timing` works on, read from a night's database."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import JournalEntry, Schedule, ScheduledSequence, SequenceTransition
from infra.events import SEQUENCE_EXECUTED, SEQUENCE_INTERRUPTED, WEATHER_SAFE
from tasks.night.timing import Execution

_ENDS = ("executed", "interrupted")


def executions(session: Session, start: datetime, end: datetime) -> list[Execution]:
    """The executions that started within ``[start, end)`` (simulated time), oldest first."""
    rows = session.execute(
        select(
            SequenceTransition.sequence_id,
            SequenceTransition.to_state,
            SequenceTransition.at,
            SequenceTransition.wall_at,
        )
        .where(SequenceTransition.to_state.in_(("executing", *_ENDS)))
        .order_by(SequenceTransition.id)
    ).all()
    open_runs: dict[int, tuple[datetime, datetime]] = {}
    spans: list[tuple[int, datetime, datetime, datetime, datetime]] = []
    for sequence_id, state, at, wall_at in rows:
        if state == "executing":
            open_runs[sequence_id] = (at, wall_at)
        elif sequence_id in open_runs:
            began, wall_began = open_runs.pop(sequence_id)
            if start <= began < end:
                spans.append((sequence_id, began, at, wall_began, wall_at))
    planned = _planned_starts(session, {span[0] for span in spans})
    device = _device_wall(session, start)
    return [
        Execution(
            sequence_id=sid,
            start=began,
            end=ended,
            wall_start=wall_began,
            wall_end=wall_ended,
            planned_starts=tuple(planned.get(sid, ())),
            device_wall_s=_nearest(device.get(sid, []), ended),
        )
        for sid, began, ended, wall_began, wall_ended in sorted(spans, key=lambda s: s[1])
    ]


def dome_reopenings(session: Session, start: datetime, end: datetime) -> list[datetime]:
    """The simulated instants the weather turned safe and the dome was opened again."""
    instants = []
    for entry in session.scalars(
        select(JournalEntry)
        .where(JournalEntry.kind == "event", JournalEntry.sim_time >= start)
        .where(JournalEntry.sim_time < end)
        .order_by(JournalEntry.id)
    ):
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        if payload.get("event") != WEATHER_SAFE:
            continue
        actions = (payload.get("payload") or {}).get("actions") or []
        if any("dome open" in str(action) for action in actions):
            instants.append(entry.sim_time)
    return instants


def _planned_starts(
    session: Session, sequence_ids: set[int]
) -> dict[int, list[tuple[datetime, datetime]]]:
    planned: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    if not sequence_ids:
        return planned
    for sequence_id, made, planned_start in session.execute(
        select(ScheduledSequence.sequence_id, Schedule.created_at, ScheduledSequence.planned_start)
        .join(Schedule, Schedule.id == ScheduledSequence.schedule_id)
        .where(ScheduledSequence.sequence_id.in_(sequence_ids))
        .where(ScheduledSequence.planned.is_(True), ScheduledSequence.planned_start.is_not(None))
        .order_by(Schedule.created_at, Schedule.id)
    ):
        if planned_start is not None:
            planned[sequence_id].append((made, planned_start))
    return planned


def _device_wall(session: Session, start: datetime) -> dict[int, list[tuple[datetime, float]]]:
    """``{sequence id: [(ended at, device wall seconds)]}`` from the executions' end events."""
    found: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for entry in session.scalars(
        select(JournalEntry)
        .where(JournalEntry.kind == "event", JournalEntry.sim_time >= start)
        .order_by(JournalEntry.id)
    ):
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        if payload.get("event") not in (SEQUENCE_EXECUTED, SEQUENCE_INTERRUPTED):
            continue
        body = payload.get("payload") or {}
        if body.get("device_wall_s") is not None and body.get("sequence_id") is not None:
            found[int(body["sequence_id"])].append((entry.sim_time, float(body["device_wall_s"])))
    return found


def _nearest(candidates: list[tuple[datetime, float]], ended: datetime) -> float | None:
    """The device time of the end event nearest to ``ended`` (an execution's own event)."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: abs((c[0] - ended).total_seconds()))[1]
