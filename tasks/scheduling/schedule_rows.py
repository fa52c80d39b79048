"""Plan from the database and save the schedule (candidates come from :mod:`.load`).

Three short transactions, never one long one (SQLite writers wait on each other): read the
candidates, plan outside any transaction, then save the :class:`~infra.db.models.Schedule`, its
:class:`~infra.db.models.ScheduledSequence` rows and the sequences' new states in one transaction.
Every state change goes through :func:`~infra.db.sequence_state.transition`, following its table:
a sequence left ``unplannable`` or ``interrupted`` returns to ``to-be-planned`` before it is
planned again. A state is only changed when the outcome changed (same reason, no new row), so
re-planning 10,000 sequences writes rows for what moved, not for everything. A sequence whose
state changed meanwhile (started, cancelled) keeps its row in the schedule but is not touched.
``pyros.schedule.updated`` is emitted after the commit.
"""

from __future__ import annotations

import logging
from collections import abc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from infra.db.models import Request, Schedule, ScheduledSequence, Sequence
from infra.db.sequence_state import SequenceState, transition
from infra.events import SCHEDULE_UPDATED, emit
from infra.journal import to_json_payload
from tasks.scheduling import reasons as why
from tasks.scheduling.draft import Entry
from tasks.scheduling.load import PLANNABLE_STATES, load_candidates
from tasks.scheduling.night_times import night_to_plan
from tasks.scheduling.tonight import PlannedNight, add_sequence, plan_night, resume_plan

log = logging.getLogger(__name__)
S = SequenceState


class SchedulingError(ValueError):
    """A scheduling request that cannot be honoured (unknown sequence, wrong state)."""


def _planned_reason(entry: Entry) -> str:
    return f"planned {entry.start:%Y-%m-%d %H:%M:%S} -> {entry.end:%H:%M:%S} UTC"


def target_state(entry: Entry) -> tuple[SequenceState, str] | None:
    """The state and reason ``entry`` gives its sequence (None: leave it, it is executing)."""
    if entry.executing:
        return None
    if entry.planned:
        return S.PLANNED, _planned_reason(entry)
    if why.code_of(entry.reason) in why.WAITING:
        return S.TO_BE_PLANNED, entry.reason
    return S.UNPLANNABLE, entry.reason


def needs_change(state: str, state_reason: str, target: tuple[SequenceState, str] | None) -> bool:
    """Whether a sequence in ``state`` (with ``state_reason``) must move to ``target``."""
    if target is None or state not in PLANNABLE_STATES:
        return False
    goal, reason = target
    return not (state == goal and (goal == S.TO_BE_PLANNED or state_reason == reason))


def apply_outcome(session: Session, sequence: Sequence, entry: Entry, at: datetime) -> None:
    """Move ``sequence`` to the state ``entry`` gives it, through the state machine."""
    target = target_state(entry)
    if target is None or not needs_change(sequence.state, sequence.state_reason, target):
        return
    goal, reason = target
    if sequence.state != S.TO_BE_PLANNED and goal != S.TO_BE_PLANNED:
        transition(session, sequence, S.TO_BE_PLANNED, "re-planned", at)
    transition(session, sequence, goal, reason, at)


def save_outcome(
    session: Session,
    outcome: PlannedNight,
    *,
    reason: str,
    clock: Clock,
    carried: list[Entry] | None = None,
) -> Schedule:
    """Store ``outcome`` as the night's current schedule and move its sequences' states.

    ``carried`` entries (left out by the previous schedule and untouched by an incremental
    insertion) are stored as they were, without touching their sequences.
    """
    now = clock.now()
    night = outcome.night
    session.execute(
        update(Schedule)
        .where(Schedule.night == night.label, Schedule.is_current.is_(True))
        .values(is_current=False)
    )
    entries = outcome.entries()
    summary = outcome.summary(entries)
    schedule = Schedule(
        night=night.label,
        created_at=now,
        wall_created_at=datetime.now(UTC),
        night_start=summary["plan_begin"],
        night_end=summary["plan_end"],
        reason=reason,
        is_current=True,
        objective=outcome.objective().weighted(),
        planning_seconds=outcome.seconds,
        details=to_json_payload({"night": night.as_dict(), "summary": summary}),
    )
    session.add(schedule)
    session.flush()
    rows = [
        {
            "schedule_id": schedule.id,
            "sequence_id": entry.sequence_id,
            "position": position,
            "planned": entry.planned,
            "planned_start": entry.start,
            "planned_end": entry.end,
            "reason": S.EXECUTING.value if entry.executing else entry.reason,
        }
        for position, entry in enumerate([*entries, *(carried or [])])
    ]
    if rows:
        session.execute(insert(ScheduledSequence), rows)
    _apply_states(session, entries, now)
    return schedule


def _apply_states(session: Session, entries: list[Entry], at: datetime) -> None:
    """Move the sequences whose outcome changed (a light query first: on a re-plan of 10,000
    sequences, only the few that changed are loaded as objects)."""
    by_id = {entry.sequence_id: entry for entry in entries}
    current = {
        sid: (state, reason)
        for chunk in _chunks(list(by_id), 5000)
        for sid, state, reason in session.execute(
            select(Sequence.id, Sequence.state, Sequence.state_reason).where(Sequence.id.in_(chunk))
        )
    }
    changed = [
        sid
        for sid, (state, reason) in current.items()
        if needs_change(state, reason, target_state(by_id[sid]))
    ]
    for chunk in _chunks(sorted(changed), 5000):
        query = select(Sequence).where(Sequence.id.in_(chunk)).order_by(Sequence.id)
        for sequence in session.scalars(query):
            # transition() appends to sequence.transitions: marked loaded (and empty here) so the
            # append does not load each history, one query per sequence on a night of 10,000.
            set_committed_value(sequence, "transitions", [])
            apply_outcome(session, sequence, by_id[sequence.id], at)


def _chunks(values: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def plan_and_save(
    *,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    reason: str = "plan",
    lost: abc.Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Plan the rest of the night from the clock's now and save it as the current schedule.

    ``lost`` instruments (instrument -> its loss, #24): the sequences that still need one are
    left out with the reason (``device-lost: waits for ...``) and planned again when it is back.

    Returns
    -------
    dict
        ``schedule_id``, the reason and the plan's summary (counts, hours, objective, timing).
    """
    config = config or get_config()
    clock = clock or get_clock()
    now = clock.now()
    with session_scope(engine) as session:
        loaded = load_candidates(session, config, now, lost=lost)
    outcome = plan_night(
        loaded.candidates, config, now, executing=loaded.executing, uses=loaded.uses
    )
    with session_scope(engine) as session:
        schedule = save_outcome(session, outcome, reason=reason, clock=clock)
        result = {"schedule_id": schedule.id, "reason": reason, **outcome.summary()}
    announce(result, clock, engine)
    return result


def current_schedule(session: Session, label: str) -> Schedule | None:
    """Night ``label``'s current schedule (None before the first plan)."""
    return session.scalars(
        select(Schedule)
        .where(Schedule.night == label, Schedule.is_current.is_(True))
        .order_by(Schedule.id.desc())
        .limit(1)
    ).first()


def insert_and_save(
    sequence_id: int,
    *,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    reason: str | None = None,
    cause: str = "",
) -> dict[str, Any]:
    """Add one sequence to the current schedule incrementally (an alert goes at the head).

    The planned sequences of the current schedule are put back where they were and the new one
    inserted (:func:`~tasks.scheduling.tonight.add_sequence`); the sequences the current schedule
    left out are carried over with their reasons. Without a current schedule for the night,
    this is a full :func:`plan_and_save`. The schedule's reason is ``reason``, else
    ``[<cause>: ](alert )sequence <id> inserted``.

    Raises
    ------
    SchedulingError
        Unknown sequence, or a sequence in a state the planner does not plan.
    """
    config = config or get_config()
    clock = clock or get_clock()
    now = clock.now()
    night = night_to_plan(now, config)
    with session_scope(engine) as session:
        is_alert = _is_alert_if_plannable(session, sequence_id)
        schedule_rows = _current_rows(session, night.label)
    if schedule_rows is None:
        return plan_and_save(
            engine=engine,
            config=config,
            clock=clock,
            reason=reason or f"sequence {sequence_id} added",
        )
    starts, carried = _previous_plan(schedule_rows, sequence_id)
    with session_scope(engine) as session:
        loaded = load_candidates(session, config, now, ids=[*starts, sequence_id])
    new = [c for c in loaded.candidates if c.id == sequence_id]
    if not new:
        raise SchedulingError(f"sequence {sequence_id} changed state while being inserted")
    kept = [c for c in loaded.candidates if c.id != sequence_id]
    outcome = resume_plan(kept, starts, config, now, executing=loaded.executing, night=night)
    outcome, _ = add_sequence(outcome, new[0], config, at_head=bool(is_alert))
    why = reason or (
        f"alert sequence {sequence_id} inserted" if is_alert else f"sequence {sequence_id} inserted"
    )
    if cause and not reason:
        why = f"{cause}: {why}"
    with session_scope(engine) as session:
        schedule = save_outcome(session, outcome, reason=why, clock=clock, carried=carried)
        result = {"schedule_id": schedule.id, "reason": why, **outcome.summary()}
        result["unplanned"] += len(carried)
    announce(result, clock, engine)
    return result


def insert_all_and_save(
    sequence_ids: abc.Sequence[int],
    *,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    cause: str = "",
) -> dict[str, Any]:
    """Insert ``sequence_ids`` one by one, in that order, into the current schedule (#18: the
    night's re-plan when only a few sequences are new or to resume; the alert's first).

    A sequence that is no longer to be planned when its turn comes (the ``alert-follow-up``
    flow took it, an operator cancelled it) is skipped, named in ``skipped``. Without a
    current schedule the first insertion is a full plan (:func:`insert_and_save`).

    Returns
    -------
    dict
        The last saved schedule's result (as :func:`insert_and_save`), with ``inserted`` and
        ``skipped`` (ids), and ``schedule_id`` None when nothing was saved.
    """
    result: dict[str, Any] = {"schedule_id": None, "reason": cause}
    inserted: list[int] = []
    skipped: list[int] = []
    for sequence_id in sequence_ids:
        try:
            result = insert_and_save(
                sequence_id, engine=engine, config=config, clock=clock, cause=cause
            )
        except SchedulingError as error:
            log.info("sequence %s not inserted: %s", sequence_id, error)
            skipped.append(sequence_id)
            continue
        inserted.append(sequence_id)
    return {**result, "inserted": inserted, "skipped": skipped}


def _is_alert_if_plannable(session: Session, sequence_id: int) -> bool:
    """Whether ``sequence_id`` follows an alert; SchedulingError if it is not to be planned."""
    sequence = session.get(Sequence, sequence_id)
    if sequence is None:
        raise SchedulingError(f"sequence {sequence_id}: no such sequence")
    if sequence.state not in PLANNABLE_STATES:
        raise SchedulingError(
            f"sequence {sequence_id} is {sequence.state}: only "
            f"{', '.join(PLANNABLE_STATES)} sequences are planned"
        )
    is_alert = session.scalar(select(Request.is_alert).where(Request.id == sequence.request_id))
    return bool(is_alert)


#: An entry of a saved schedule with its sequence's name, priority and state.
_SavedRow = Row[ScheduledSequence, str, int, str]


def _current_rows(session: Session, label: str) -> abc.Sequence[_SavedRow] | None:
    """The entries of night ``label``'s current schedule in order (None without one)."""
    current = current_schedule(session, label)
    if current is None:
        return None
    return session.execute(
        select(ScheduledSequence, Sequence.name, Sequence.priority, Sequence.state)
        .join(Sequence, Sequence.id == ScheduledSequence.sequence_id)
        .where(ScheduledSequence.schedule_id == current.id)
        .order_by(ScheduledSequence.position)
    ).all()


def _previous_plan(
    rows: abc.Sequence[_SavedRow], sequence_id: int
) -> tuple[dict[int, datetime], list[Entry]]:
    """From a saved schedule: the planned starts to put back, and the left-out entries carried
    over (both without ``sequence_id``, the one being inserted)."""
    starts = {
        row.sequence_id: row.planned_start
        for row, _, _, state in rows
        if row.planned
        and row.planned_start is not None
        and state == S.PLANNED
        and row.sequence_id != sequence_id
    }
    carried = [
        Entry(row.sequence_id, name, priority, False, None, None, row.reason)
        for row, name, priority, state in rows
        if not row.planned and state in PLANNABLE_STATES and row.sequence_id != sequence_id
    ]
    return starts, carried


def announce(result: dict[str, Any], clock: Clock, engine: Engine | None) -> None:
    """Emit ``pyros.schedule.updated`` (after the commit; a failure is logged, not raised)."""
    payload = {
        key: result[key]
        for key in (
            "schedule_id",
            "night",
            "reason",
            "planned",
            "unplanned",
            "planned_hours",
            "planning_seconds",
        )
    }
    try:
        emit(
            SCHEDULE_UPDATED,
            f"pyros.schedule.{result['night']}",
            payload,
            source="scheduler",
            clock=clock,
            into=engine,
        )
    except Exception as exc:
        log.warning("schedule %s saved but not announced: %s", result["schedule_id"], exc)
