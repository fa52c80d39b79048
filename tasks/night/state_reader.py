"""What the night policy looks at, read from the database (and the devices, by the caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.config import SafetySection
from infra.db.models import Album, Plan, Schedule, ScheduledSequence, Sequence
from infra.db.sequence_state import SequenceState
from infra.opmode import get_operating_mode
from tasks.environment.observatory_state import (
    DomeRequestState,
    dome_request,
    monitor_last_word,
    verdict_age_s,
    weather_verdict,
)
from tasks.night.device_health import DeviceHealth
from tasks.night.policy import NightState, NightWindows, PlannedEntry
from tasks.scheduling import reasons as why
from tasks.scheduling.schedule_rows import current_schedule

__all__ = [
    "DeviceView",
    "NightAgenda",
    "current_schedule",
    "needed_instruments",
    "planned_entries",
    "read_night_state",
    "replan_reason",
    "trusted_verdict_age_s",
]

S = SequenceState


@dataclass(frozen=True)
class DeviceView:
    """The devices as the caller sees them (the dome's shutter, trouble)."""

    dome_open: bool
    ok: bool = True
    problem: str = ""
    #: Each device's condition (#24).
    health: tuple[DeviceHealth, ...] = ()


@dataclass(frozen=True)
class NightAgenda:
    """What the night still wants besides its schedule: the calibration sets (evening, dusk
    flats) and those already done, and how early a sequence may start before its instant."""

    calibrations_done: frozenset[str] = frozenset()
    evening_calibrations: tuple[str, ...] = ()
    dusk_flat_calibrations: tuple[str, ...] = ()
    early_start_s: float = 60.0
    #: Oldest weather verdict the night trusts (simulated s; None: any age, as in replays that
    #: feed verdicts without a monitor).
    verdict_max_age_s: float | None = None


def trusted_verdict_age_s(safety: SafetySection, clock: Clock) -> float:
    """The oldest verdict the night trusts (simulated s): ``verdict_max_age_s``, and never less
    than ``verdict_max_age_wall_min_s`` of wall time on this clock."""
    wall_per_sim = clock.wall_seconds(1.0)
    floor = safety.verdict_max_age_wall_min_s / wall_per_sim if wall_per_sim > 0 else 0.0
    return max(safety.verdict_max_age_s, floor)


def needed_instruments(session: Session, ids: list[int]) -> dict[int, frozenset[str]]:
    """The instruments each sequence still needs: its albums with images left (#24)."""
    needs: dict[int, set[str]] = {sid: set() for sid in ids}
    if not ids:
        return {}
    rows = session.execute(
        select(Album.sequence_id, Album.instrument)
        .join(Plan, Plan.album_id == Album.id)
        .where(Album.sequence_id.in_(ids), Plan.images_done < Plan.nb_images)
        .distinct()
    )
    for sid, instrument in rows:
        needs[sid].add(instrument)
    return {sid: frozenset(names) for sid, names in needs.items()}


def waiting_on_devices(session: Session, now: datetime) -> frozenset[frozenset[str]]:
    """What the sequences left out for a lost device still need (one set per sequence)."""
    ids = list(
        session.scalars(
            select(Sequence.id).where(
                Sequence.state == S.UNPLANNABLE,
                Sequence.state_reason.like(f"{why.DEVICE_LOST}:%"),
                Sequence.window_end > now,
            )
        )
    )
    return frozenset(needs for needs in needed_instruments(session, ids).values() if needs)


def planned_entries(session: Session, schedule: Schedule | None) -> tuple[PlannedEntry, ...]:
    """Entries of ``schedule`` whose sequence is still ``planned``, with what they need."""
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
            Sequence.state == S.PLANNED,
        )
        .order_by(ScheduledSequence.planned_start)
    ).all()
    needs = needed_instruments(session, [sid for sid, _, _ in rows])
    # A planned entry always has its instants; the test only tells the type checker so.
    return tuple(
        PlannedEntry(sid, start, end, needs.get(sid, frozenset()))
        for sid, start, end in rows
        if start is not None and end is not None
    )


def replan_reason(
    session: Session, now: datetime, schedule: Schedule | None, weather_safe_since: datetime | None
) -> str:
    """Why the schedule is out of date ('' when it is not)."""
    if schedule is None:
        return "no schedule yet tonight"
    waiting = {
        state: count
        for state, count in session.execute(
            select(Sequence.state, func.count())
            .where(Sequence.state.in_((S.TO_BE_PLANNED, S.INTERRUPTED)), Sequence.window_end > now)
            .group_by(Sequence.state)
        )
    }
    if waiting.get(S.INTERRUPTED):
        return f"{waiting[S.INTERRUPTED]} interrupted sequence(s) to resume"
    if waiting.get(S.TO_BE_PLANNED):
        return f"{waiting[S.TO_BE_PLANNED]} new sequence(s) to plan"
    cancelled = _scheduled_count(
        session, schedule.id, ScheduledSequence.planned_end > now, S.CANCELLED
    )
    if cancelled:
        # A request cancelled (issue #23, `pyros request cancel`): give its time to the others.
        return f"{cancelled} cancelled sequence(s) in the schedule"
    missed = _scheduled_count(session, schedule.id, ScheduledSequence.planned_end < now, S.PLANNED)
    if missed:
        # The sequence before overran its slot (or the dome was closed): plan them again.
        return f"{missed} sequence(s) missed their slot"
    if weather_safe_since is not None and weather_safe_since > schedule.created_at:
        return "the weather is safe again"
    return ""


def read_night_state(
    session: Session,
    now: datetime,
    windows: NightWindows,
    devices: DeviceView,
    label: str,
    agenda: NightAgenda | None = None,
) -> NightState:
    """The night's state now, as the policy sees it.

    Parameters
    ----------
    session : Session
        Database session (schedule, sequences, weather verdict, dome request, mode).
    now : datetime
        The clock's now.
    windows : NightWindows
        Tonight's instants.
    devices : DeviceView
        The dome's shutter and any device trouble.
    label : str
        Night label (its current schedule).
    agenda : NightAgenda, optional
        The calibration sets the night still wants and the early-start margin (default: no
        calibrations, 60 s).
    """
    agenda = agenda or NightAgenda()
    schedule = current_schedule(session, label)
    verdict = weather_verdict(session)
    stale_s = None
    if agenda.verdict_max_age_s is not None:
        age = verdict_age_s(monitor_last_word(session, verdict), now)
        if age is not None and age > agenda.verdict_max_age_s:
            stale_s = age
    reason = replan_reason(session, now, schedule, verdict.at if verdict.safe else None)
    executing = session.scalar(select(Sequence.id).where(Sequence.state == S.EXECUTING).limit(1))
    return NightState(
        now=now,
        windows=windows,
        mode=get_operating_mode(session),
        weather_safe=verdict.safe and stale_s is None,
        weather_stale_s=stale_s,
        dome_open=devices.dome_open,
        dome_requested_open=dome_request(session).state == DomeRequestState.OPEN,
        schedule=planned_entries(session, schedule),
        executing=executing,
        devices_ok=devices.ok,
        devices_problem=devices.problem,
        replan_needed=bool(reason),
        replan_reason=reason,
        calibrations_done=agenda.calibrations_done,
        early_start_s=agenda.early_start_s,
        evening_calibrations=agenda.evening_calibrations,
        dusk_flat_calibrations=agenda.dusk_flat_calibrations,
        health=devices.health,
        waiting_on=waiting_on_devices(session, now),
    )


def _scheduled_count(
    session: Session, schedule_id: int, when: ColumnElement[bool], state: SequenceState
) -> int:
    """Sequences of schedule ``schedule_id`` planned with ``when`` true, now in ``state``."""
    return (
        session.scalar(
            select(func.count())
            .select_from(ScheduledSequence)
            .join(Sequence, Sequence.id == ScheduledSequence.sequence_id)
            .where(
                ScheduledSequence.schedule_id == schedule_id,
                ScheduledSequence.planned.is_(True),
                when,
                Sequence.state == state,
            )
        )
        or 0
    )
