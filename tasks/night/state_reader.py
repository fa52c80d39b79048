"""What the night policy looks at, read from the database (and the devices, by the caller)."""

from __future__ import annotations

from collections import abc
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.config import SafetySection
from infra.db.models import Album, Alert, Plan, Request, Schedule, ScheduledSequence, Sequence
from infra.db.sequence_state import FINAL_STATES, SequenceState
from infra.opmode import get_operating_mode
from tasks.alerts.decision import DecisionKind
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
    "INSERT_AT_MOST",
    "DeviceView",
    "NightAgenda",
    "ReplanNeed",
    "current_schedule",
    "follow_up_sequences",
    "needed_instruments",
    "planned_entries",
    "read_night_state",
    "replan_need",
    "replan_reason",
    "trusted_verdict_age_s",
]

S = SequenceState

#: At most this many sequences are inserted one by one into the current schedule (#18: an
#: alert's, the sequence it interrupted, a new request's); more re-plan the rest of the night at
#: once (a 32-tile mosaic, a burst of submissions): each insertion loads, plans and saves a
#: schedule of its own, so beyond a few a full plan costs less, and it plans better.
INSERT_AT_MOST = 5


@dataclass(frozen=True)
class DeviceView:
    """The devices as the caller sees them (the dome's shutter, trouble)."""

    dome_open: bool
    ok: bool = True
    problem: str = ""
    #: Each device's condition (#24).
    health: tuple[DeviceHealth, ...] = ()
    #: Who holds the mount's lease at alert priority ('' when no alert holds it: #18).
    alert_holder: str = ""


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


@dataclass(frozen=True)
class ReplanNeed:
    """Why the schedule is out of date ('' when it is not), and the sequences to insert one by
    one when inserting them is enough (empty: plan the whole rest of the night)."""

    reason: str = ""
    insert: tuple[int, ...] = ()


def replan_reason(
    session: Session, now: datetime, schedule: Schedule | None, weather_safe_since: datetime | None
) -> str:
    """Why the schedule is out of date ('' when it is not)."""
    return replan_need(session, now, schedule, weather_safe_since).reason


def replan_need(
    session: Session,
    now: datetime,
    schedule: Schedule | None,
    weather_safe_since: datetime | None,
    follow_up: abc.Mapping[int, str] | None = None,
) -> ReplanNeed:
    """Why the schedule is out of date, and whether inserting a few sequences brings it up to
    date (#18).

    Interrupted sequences to resume and new sequences to plan (an alert's, a new request's) are
    inserted incrementally — the alert's first (it goes at the head), then the interrupted
    ones, then the new ones, each by id — when they are all there is to do and at most
    :data:`INSERT_AT_MOST`. No schedule yet, a cancelled sequence in the schedule, a missed
    slot and the weather safe again (and more sequences than that) re-plan the whole rest of
    the night. A sequence the planner left waiting for a later night (``later-night``) is not
    new: it waits for that night's plan. ``follow_up`` is :func:`follow_up_sequences` when the
    caller has read it already (read here otherwise).
    """
    if schedule is None:
        return ReplanNeed("no schedule yet tonight")
    waiting = session.execute(
        select(Sequence.id, Sequence.state, Request.is_alert)
        .join(Request, Request.id == Sequence.request_id)
        .where(
            Sequence.state.in_((S.TO_BE_PLANNED, S.INTERRUPTED)),
            Sequence.window_end > now,
            ~Sequence.state_reason.like(f"{why.LATER_NIGHT}:%"),
        )
    ).all()
    interrupted = sum(1 for _, state, _ in waiting if state == S.INTERRUPTED)
    if follow_up is None:
        follow_up = follow_up_sequences(session, now)
    other = _other_reason(session, now, schedule, weather_safe_since, follow_up)
    if interrupted:
        reason = f"{interrupted} interrupted sequence(s) to resume"
    elif waiting:
        reason = f"{len(waiting)} new sequence(s) to plan"
    else:
        return ReplanNeed(other)
    if other or len(waiting) > INSERT_AT_MOST:
        return ReplanNeed(reason)
    order = sorted(waiting, key=lambda row: (not row[2], row[1] != S.INTERRUPTED, row[0]))
    return ReplanNeed(reason, tuple(sid for sid, _, _ in order))


def _other_reason(
    session: Session,
    now: datetime,
    schedule: Schedule,
    weather_safe_since: datetime | None,
    follow_up: abc.Collection[int],
) -> str:
    """A reason to re-plan the whole night besides the sequences to add ('' when none);
    ``follow_up``: the alert follow-up's sequences (their slots are never missed)."""
    cancelled = _scheduled_count(
        session, schedule.id, ScheduledSequence.planned_end > now, S.CANCELLED
    )
    if cancelled:
        # A request cancelled (issue #23, `pyros request cancel`): give its time to the others.
        return f"{cancelled} cancelled sequence(s) in the schedule"
    missed = _scheduled_count(
        session,
        schedule.id,
        ScheduledSequence.planned_end < now,
        S.PLANNED,
        but=follow_up,
    )
    if missed:
        # The sequence before overran its slot (or the dome was closed): plan them again. An
        # alert follow-up's slot left unused is not missed: the flow runs it, not the night.
        return f"{missed} sequence(s) missed their slot"
    if weather_safe_since is not None and weather_safe_since > schedule.created_at:
        return "the weather is safe again"
    return ""


def follow_up_sequences(session: Session, now: datetime) -> dict[int, str]:
    """The sequences an alert follow-up still has to run (id -> state): those of the requests
    of alerts decided ``follow-up`` (the ``alert-follow-up`` flow runs them under the alert's
    lease; a ``not-observable`` alert's request is planned and executed by the night as any
    other), neither over nor past their window."""
    rows = session.execute(
        select(Sequence.id, Sequence.state)
        .join(Alert, Alert.request_id == Sequence.request_id)
        .where(
            Alert.decision == DecisionKind.FOLLOW_UP.value,
            Sequence.state.not_in(tuple(state.value for state in FINAL_STATES)),
            Sequence.window_end > now,
        )
    )
    return {sid: state for sid, state in rows}


def alert_holds(follow_up: dict[int, str], alert_holder: str) -> str:
    """Why the telescope is an alert follow-up's now ('' when it is not)."""
    executing = sorted(sid for sid, state in follow_up.items() if state == S.EXECUTING)
    if executing:
        return f"its sequence {executing[0]} is executing"
    if alert_holder:
        return f"the mount's lease is held by {alert_holder} at alert priority"
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
    follow_up = follow_up_sequences(session, now)
    need = replan_need(session, now, schedule, verdict.at if verdict.safe else None, follow_up)
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
        replan_needed=bool(need.reason),
        replan_reason=need.reason,
        to_insert=need.insert,
        follow_up=frozenset(follow_up),
        alert_holds=alert_holds(follow_up, devices.alert_holder),
        calibrations_done=agenda.calibrations_done,
        early_start_s=agenda.early_start_s,
        evening_calibrations=agenda.evening_calibrations,
        dusk_flat_calibrations=agenda.dusk_flat_calibrations,
        health=devices.health,
        waiting_on=waiting_on_devices(session, now),
    )


def _scheduled_count(
    session: Session,
    schedule_id: int,
    when: ColumnElement[bool],
    state: SequenceState,
    but: abc.Collection[int] = (),
) -> int:
    """Sequences of schedule ``schedule_id`` planned with ``when`` true, now in ``state``
    (those in ``but`` not counted)."""
    query = (
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
    if but:
        query = query.where(Sequence.id.not_in(list(but)))
    return session.scalar(query) or 0
