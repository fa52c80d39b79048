"""The sequence state machine, in one place (DESIGN §4).

States: draft, to-be-planned, planned, executing, executed, interrupted, cancelled, unplannable,
invalid. Every change goes through :func:`transition`, which refuses what :data:`ALLOWED` does not
list and stores a :class:`~infra.db.models.SequenceTransition` with the simulated time, the wall
time and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from infra.db.models import Sequence, SequenceTransition


class SequenceState(StrEnum):
    """Where a sequence is in its life."""

    DRAFT = "draft"
    TO_BE_PLANNED = "to-be-planned"
    PLANNED = "planned"
    EXECUTING = "executing"
    EXECUTED = "executed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    UNPLANNABLE = "unplannable"
    INVALID = "invalid"


S = SequenceState
STATE_VALUES: tuple[str, ...] = tuple(state.value for state in SequenceState)

#: Allowed transitions. ``unplannable`` and ``interrupted`` return to ``to-be-planned`` when
#: re-planned; ``executed``, ``cancelled`` and ``invalid`` are final.
ALLOWED: dict[SequenceState, frozenset[SequenceState]] = {
    S.DRAFT: frozenset({S.TO_BE_PLANNED, S.INVALID, S.CANCELLED}),
    S.TO_BE_PLANNED: frozenset({S.PLANNED, S.UNPLANNABLE, S.CANCELLED, S.INVALID}),
    S.PLANNED: frozenset({S.EXECUTING, S.TO_BE_PLANNED, S.UNPLANNABLE, S.CANCELLED}),
    S.EXECUTING: frozenset({S.EXECUTED, S.INTERRUPTED, S.CANCELLED}),
    S.INTERRUPTED: frozenset({S.TO_BE_PLANNED, S.CANCELLED}),
    S.UNPLANNABLE: frozenset({S.TO_BE_PLANNED, S.CANCELLED}),
    S.EXECUTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.INVALID: frozenset(),
}

#: States a new sequence may be created in.
INITIAL_STATES = frozenset({S.DRAFT, S.TO_BE_PLANNED})
FINAL_STATES = frozenset(state for state, targets in ALLOWED.items() if not targets)


class IllegalTransition(ValueError):
    """A state change the state machine does not allow."""

    def __init__(self, sequence_id: int | None, current: str | None, target: str) -> None:
        self.sequence_id = sequence_id
        self.current = current
        self.target = target
        allowed = sorted(ALLOWED.get(SequenceState(current), ())) if current in STATE_VALUES else []
        super().__init__(
            f"sequence {sequence_id}: illegal transition {current!r} -> {target!r} "
            f"(allowed from {current!r}: {', '.join(allowed) or 'none, it is final'})"
        )


def can_transition(current: str, target: str) -> bool:
    """Whether ``current`` -> ``target`` is allowed."""
    try:
        return SequenceState(target) in ALLOWED[SequenceState(current)]
    except ValueError:
        return False


def creation_row(
    sequence_id: int,
    state: SequenceState | str,
    reason: str,
    at: datetime,
    wall_at: datetime | None = None,
) -> dict:
    """The transition row recording a sequence's creation (for bulk inserts).

    Raises
    ------
    IllegalTransition
        When ``state`` is not a state a sequence may be created in.
    """
    if str(state) not in STATE_VALUES or SequenceState(str(state)) not in INITIAL_STATES:
        raise IllegalTransition(sequence_id, None, str(state))
    return {
        "sequence_id": sequence_id,
        "from_state": None,
        "to_state": str(state),
        "at": at,
        "wall_at": wall_at or datetime.now(UTC),
        "reason": reason,
    }


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
    from infra.db.models import SequenceTransition

    target_value = str(target)
    if target_value not in STATE_VALUES:
        raise IllegalTransition(sequence.id, sequence.state, target_value)
    current = sequence.state
    if current is None:
        if SequenceState(target_value) not in INITIAL_STATES:
            raise IllegalTransition(sequence.id, current, target_value)
    elif not can_transition(current, target_value):
        raise IllegalTransition(sequence.id, current, target_value)
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
