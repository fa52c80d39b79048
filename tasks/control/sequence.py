"""Cancelling one sequence by hand (not its whole request: that is ``cancel-request``).

A sequence not yet executing becomes ``cancelled`` (final: no re-plan brings it back). One
executing now is refused with what to do instead: the night's executor looks for a cancellation
of its *request* before each frame, and nothing smaller, so stopping it means cancelling the
request or preempting it (a manual action at operator priority, the night paused first).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from infra.db import session_scope
from infra.db.models import Sequence
from infra.db.sequence_rules import FINAL_STATES, SequenceState
from infra.db.sequence_state import transition
from tasks.control.lease import DONE, REFUSED, ManualRefused, ManualResult, Operator, journal_action
from tasks.requests.lifecycle import check_may_cancel
from tasks.requests.people import find_user


def _refusal(sequence: Sequence) -> str | None:
    state = SequenceState(sequence.state)
    if state == SequenceState.EXECUTING:
        return (
            f"sequence {sequence.id} is executing: `cancel-request` (request "
            f"{sequence.request_id}) stops it before its next frame, or pause the night and "
            "preempt it with a manual action"
        )
    if state in FINAL_STATES:
        return f"sequence {sequence.id} is already {state.value} (final)"
    return None


def cancel_sequence(
    sequence_id: int, who: Operator, at: datetime, *, engine: Engine | None = None
) -> ManualResult:
    """Cancel sequence ``sequence_id`` on behalf of ``who`` (journaled with who and why).

    Parameters
    ----------
    sequence_id : int
        The sequence.
    who : Operator
        Who asks (a PyROS user allowed to cancel it) and why.
    at : datetime
        Now (simulated instant).
    engine : Engine, optional
        The database (default: the process database).

    Raises
    ------
    tasks.requests.people.AccessError
        Unknown or inactive user, or an observer cancelling another user's sequence.
    LookupError
        No such sequence.
    ManualRefused
        The sequence is executing or already final (journaled ``refused``).
    """
    with session_scope(engine) as session:
        user = find_user(session, who.user)
        sequence = session.get(Sequence, sequence_id)
        if sequence is None:
            raise LookupError(f"sequence {sequence_id}: no such sequence")
        check_may_cancel(user, sequence.request)
        asked = {"sequence_id": sequence_id, "state_before": sequence.state}
        refusal = _refusal(sequence)
        if refusal is None:
            why = f"cancelled by {who.user}: {who.reason}"
            transition(session, sequence, SequenceState.CANCELLED, why, at)
            message = f"sequence {sequence_id} cancelled (was {asked['state_before']})"
            journal_action("cancel-sequence", who, DONE, message, asked, into=session)
            return ManualResult("cancel-sequence", who.user, who.reason, message, asked)
    # After the read-only transaction ends (SQLite takes the write lock at its start).
    journal_action("cancel-sequence", who, REFUSED, refusal, asked, into=engine)
    raise ManualRefused(refusal)
