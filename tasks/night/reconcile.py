"""On start, sequences left ``executing`` by a run that died become ``interrupted`` (DESIGN §2).

A sequence is only ever executing under its run's lease of the mount; when that lease has lapsed
(nobody, or someone else holds the mount now) the run is gone and the sequence resumes, with what
is left, once re-planned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from infra.db import session_scope
from infra.db.models import Sequence
from infra.db.sequence_state import SequenceState, transition


def reconcile(
    engine: Engine | None,
    now: datetime,
    live_owner: str | None,
    executing_owner: dict[int, str] | None = None,
) -> list[int]:
    """Interrupt the sequences left executing whose run no longer holds the mount.

    Parameters
    ----------
    engine : Engine
        Database.
    now : datetime
        The clock's now.
    live_owner : str or None
        Who holds the mount's lease now (None: nobody, the lease lapsed).
    executing_owner : dict, optional
        Owner of each executing sequence when known (from its transition's reason); a sequence
        whose owner still holds the mount is left alone.

    Returns
    -------
    list of int
        The sequences interrupted.
    """
    interrupted = []
    with session_scope(engine) as session:
        executing = select(Sequence).where(Sequence.state == SequenceState.EXECUTING)
        for sequence in session.scalars(executing):
            owner = (executing_owner or {}).get(sequence.id) or _owner_of(sequence)
            if owner is not None and owner == live_owner:
                continue
            transition(
                session,
                sequence,
                SequenceState.INTERRUPTED,
                f"its run ({owner or 'unknown'}) ended without finishing it; resumed with "
                "what is left",
                now,
            )
            interrupted.append(sequence.id)
    return interrupted


def _owner_of(sequence: Sequence) -> str | None:
    """The owner named by the transition that started the execution (``started by <owner>``)."""
    for record in reversed(sequence.transitions):
        if record.to_state == SequenceState.EXECUTING:
            reason = record.reason or ""
            return reason.removeprefix("started by ").strip() or None
    return None
