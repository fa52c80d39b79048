"""The sequence state machine, in one place (DESIGN §4).

States: draft, to-be-planned, planned, executing, executed, interrupted, cancelled, unplannable,
invalid. Every change goes through :func:`transition`, which refuses what :data:`ALLOWED` does not
list and stores a :class:`~infra.db.models.SequenceTransition` with the simulated time, the wall
time and the reason.

The states and the table are defined in :mod:`infra.db.sequence_rules` (which the models use for
their check constraint) and exported from here with :func:`transition`, which needs the models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

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
        When the state machine does not allow the change; nothing is modified.
    """
    target_value = str(target)
    current = sequence.state
    check_transition(sequence.id, current, target_value)
    record = SequenceTransition(
        from_state=current,
        to_state=target_value,
        at=at,
        wall_at=wall_at or datetime.now(UTC),
        reason=reason,
    )
    sequence.transitions.append(record)
    sequence.state = target_value
    sequence.state_changed_at = at
    sequence.state_reason = reason
    session.add(record)
    return record
