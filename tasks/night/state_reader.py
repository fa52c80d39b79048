"""What the night policy looks at, read from the database (and the devices, by the caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db.models import Schedule, ScheduledSequence, Sequence
from infra.opmode import get_operating_mode
from tasks.environment.observatory_state import dome_request, weather_verdict
from tasks.night.policy import NightState, NightWindows, PlannedEntry
from tasks.scheduling.schedule_rows import current_schedule

__all__ = ["DeviceView", "current_schedule", "observe", "planned_entries", "replan_reason"]


@dataclass(frozen=True)
class DeviceView:
    """The devices as the caller sees them (the dome's shutter, trouble)."""

    dome_open: bool
    ok: bool = True
    problem: str = ""


def planned_entries(session: Session, schedule: Schedule | None) -> tuple[PlannedEntry, ...]:
    """Entries of ``schedule`` whose sequence is still ``planned``."""
    if schedule is None:
        return ()
    rows = session.execute(
        select(
            ScheduledSequence.sequence_id,
            ScheduledSequence.planned_start,
            ScheduledSequence.planned_end,
        )
        .join(Sequence, Sequence.id == ScheduledSequence.sequence_id)
        .where(
            ScheduledSequence.schedule_id == schedule.id,
            ScheduledSequence.planned.is_(True),
            Sequence.state == "planned",
        )
        .order_by(ScheduledSequence.planned_start)
    ).all()
    return tuple(PlannedEntry(sid, start, end) for sid, start, end in rows)


def replan_reason(
    session: Session, now: datetime, schedule: Schedule | None, weather_safe_since: datetime | None
) -> str:
    """Why the schedule is out of date ('' when it is not)."""
    if schedule is None:
        return "no schedule yet tonight"
    waiting = dict(
        session.execute(
            select(Sequence.state, func.count())
            .where(Sequence.state.in_(("to-be-planned", "interrupted")), Sequence.window_end > now)
            .group_by(Sequence.state)
        ).all()
    )
    if waiting.get("interrupted"):
        return f"{waiting['interrupted']} interrupted sequence(s) to resume"
    if waiting.get("to-be-planned"):
        return f"{waiting['to-be-planned']} new sequence(s) to plan"
    missed = session.scalar(
        select(func.count())
        .select_from(ScheduledSequence)
        .join(Sequence, Sequence.id == ScheduledSequence.sequence_id)
        .where(
            ScheduledSequence.schedule_id == schedule.id,
            ScheduledSequence.planned.is_(True),
            ScheduledSequence.planned_end < now,
            Sequence.state == "planned",
        )
    )
    if missed:
        # The sequence before overran its slot (or the dome was closed): plan them again.
        return f"{missed} sequence(s) missed their slot"
    if weather_safe_since is not None and weather_safe_since > schedule.created_at:
        return "the weather is safe again"
    return ""


def observe(
    session: Session,
    now: datetime,
    windows: NightWindows,
    devices: DeviceView,
    label: str,
    *,
    calibrations_done: frozenset[str] = frozenset(),
    early_start_s: float = 60.0,
    evening_calibrations: tuple[str, ...] = (),
    dusk_flat_calibrations: tuple[str, ...] = (),
) -> NightState:
    """The night's state now (the calibration sets are those the night still wants)."""
    schedule = current_schedule(session, label)
    verdict = weather_verdict(session)
    reason = replan_reason(session, now, schedule, verdict.at if verdict.safe else None)
    executing = session.scalar(select(Sequence.id).where(Sequence.state == "executing").limit(1))
    return NightState(
        now=now,
        windows=windows,
        mode=get_operating_mode(session).value,
        weather_safe=verdict.safe,
        dome_open=devices.dome_open,
        dome_requested_open=dome_request(session).state == "open",
        schedule=planned_entries(session, schedule),
        executing=executing,
        devices_ok=devices.ok,
        devices_problem=devices.problem,
        replan_needed=bool(reason),
        replan_reason=reason,
        calibrations_done=calibrations_done,
        early_start_s=early_start_s,
        evening_calibrations=evening_calibrations,
        dusk_flat_calibrations=dusk_flat_calibrations,
    )
