"""The sequence state machine, in one place (DESIGN §4).

States: draft, to-be-planned, planned, executing, executed, interrupted, cancelled, unplannable,
invalid. Every change goes through :func:`transition`, which refuses what :data:`ALLOWED` does not
list and stores a :class:`~infra.db.models.SequenceTransition` with the simulated time, the wall
time and the reason. The change is a compare-and-set on the stored state: two processes changing
the same sequence at once (an alert's re-point cancelling the sequence its follow-up run is
interrupting) cannot overwrite each other; the later one sees the stored state and is judged
from it.

The states and the table are defined in :mod:`infra.db.sequence_rules` (which the models use for
their check constraint) and exported from here with :func:`transition`, which needs the models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from infra.db.models import Sequence, SequenceTransition
from infra.db.sequence_rules import (
    ALLOWED,
    FINAL_STATES,
    INITIAL_STATES,
    STATE_VALUES,
    IllegalTransition,
    SequenceState,
    can_transition,
    check_transition,
    creation_row,
)

__all__ = [
    "ALLOWED",
    "FINAL_STATES",
    "INITIAL_STATES",
    "STATE_VALUES",
    "IllegalTransition",
    "SequenceState",
    "can_transition",
    "creation_row",
    "transition",
]


def transition(
    session: Session,
    sequence: Sequence,
    target: SequenceState | str,
    reason: str,
    at: datetime,
    *,
    wall_at: datetime | None = None,
) -> SequenceTransition:
    """Move ``sequence`` to ``target`` and record the transition in ``session``.

    Parameters
    ----------
    session : Session
        The caller's transaction (the change commits with it).
    sequence : Sequence
        The sequence to change.
    target : SequenceState or str
        The new state.
    reason : str
        Why (stored with the transition and on the sequence).
    at : datetime
        Simulated instant of the change (from the clock).
    wall_at : datetime, optional
        Wall instant (default: now).

    Raises
    ------
    IllegalTransition
        When the state machine does not allow the change from the state stored now (which may
        differ from ``sequence.state`` when another process changed it); nothing is modified.
    """
    target_value = str(target)
    current = _compare_and_set(session, sequence, target_value, reason, at)
    record = SequenceTransition(
        from_state=current,
        to_state=target_value,
        at=at,
        wall_at=wall_at or datetime.now(UTC),
        reason=reason,
    )
    sequence.transitions.append(record)
    session.add(record)
    return record


#: How often a transition re-reads a state another process keeps changing before giving up.
_ATTEMPTS = 5


def _compare_and_set(
    session: Session, sequence: Sequence, target: str, reason: str, at: datetime
) -> str | None:
    """Store ``target`` only where the stored state is the one it was judged from; returns that
    state. A sequence not yet stored (no row to race on) is simply assigned."""
    for _ in range(_ATTEMPTS):
        current = sequence.state
        check_transition(sequence.id, current, target)
        if sequence.id is None or inspect(sequence).pending:
            sequence.state, sequence.state_changed_at, sequence.state_reason = target, at, reason
            return current
        changed = session.execute(
            update(Sequence)
            .where(Sequence.id == sequence.id, Sequence.state == current)
            .values(state=target, state_changed_at=at, state_reason=reason)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            stored = {"state": target, "state_changed_at": at, "state_reason": reason}
            for name, value in stored.items():
                set_committed_value(sequence, name, value)
            return current
        # Another process changed it meanwhile: judge again from what it stored.
        session.refresh(sequence, ["state"])
    raise IllegalTransition(sequence.id, sequence.state, target)
