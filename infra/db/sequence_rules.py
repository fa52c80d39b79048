"""The sequence states and the transitions between them: the vocabulary and the table.

Pure (no ORM): the models build their ``state`` column's check constraint from
:data:`STATE_VALUES`, and :mod:`infra.db.sequence_state`, which records transitions in the
database, stands on this module and on the models, so the dependency runs one way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


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


def check_transition(sequence_id: int | None, current: str | None, target: str) -> None:
    """Refuse a change the table does not allow (``current`` None: the sequence is new).

    Raises
    ------
    IllegalTransition
        When ``target`` is not a state, or not reachable from ``current``.
    """
    if target not in STATE_VALUES:
        raise IllegalTransition(sequence_id, current, target)
    if current is None:
        if SequenceState(target) not in INITIAL_STATES:
            raise IllegalTransition(sequence_id, current, target)
    elif not can_transition(current, target):
        raise IllegalTransition(sequence_id, current, target)


def creation_row(
    sequence_id: int,
    state: SequenceState | str,
    reason: str,
    at: datetime,
    wall_at: datetime | None = None,
) -> dict[str, Any]:
    """The transition row recording a sequence's creation (for bulk inserts).

    Raises
    ------
    IllegalTransition
        When ``state`` is not a state a sequence may be created in.
    """
    check_transition(sequence_id, None, str(state))
    return {
        "sequence_id": sequence_id,
        "from_state": None,
        "to_state": str(state),
        "at": at,
        "wall_at": wall_at or datetime.now(UTC),
        "reason": reason,
    }
