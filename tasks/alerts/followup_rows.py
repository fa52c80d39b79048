"""The database side of a follow-up in progress: what the reflex needs (the mode, the first
pointing) and what the ``alert-follow-up`` flow works from (the burst's current follow-up, its
circle, its sequences, whether it was withdrawn)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from infra.db import session_scope
from infra.db.models import Alert, Sequence
from infra.db.sequence_state import FINAL_STATES, SequenceState, transition
from infra.opmode import OperatingMode, get_operating_mode
from tasks.alerts.decision import AlertDecision, DecisionKind, FollowUpAction

_FINAL = tuple(state.value for state in FINAL_STATES)


def reflex_inputs(
    engine: Engine | None, decision: AlertDecision
) -> tuple[OperatingMode, tuple[float, float] | None]:
    """The operating mode, and the first pointing of the decision's follow-up request (the
    first tile; None without a request)."""
    with session_scope(engine) as session:
        mode = get_operating_mode(session)
        if decision.request_id is None:
            return mode, None
        first = session.scalars(
            select(Sequence)
            .where(Sequence.request_id == decision.request_id)
            .order_by(Sequence.id)
            .limit(1)
        ).first()
        if first is None or first.ra_deg is None or first.dec_deg is None:
            return mode, None
        return mode, (first.ra_deg, first.dec_deg)


@dataclass(frozen=True)
class FollowUp:
    """A burst's follow-up as it stands.

    Attributes
    ----------
    burst_key : str
        The burst.
    ivorn : str
        The notice whose request is followed now (the latest position).
    request_id : int or None
        Its request.
    ra_deg, dec_deg, radius_deg : float
        The alert's error circle.
    window_end : datetime or None
        The follow-up's deadline (the request's validity).
    sequences : tuple of int
        Its sequences still to execute, in order.
    withdrawn : str or None
        Why the burst was withdrawn (a retraction, a lost lock), None while it stands.
    coverage : str
        How much of the error circle the tiles cover, in words ("" for one pointing).
    """

    burst_key: str
    ivorn: str
    request_id: int | None
    ra_deg: float
    dec_deg: float
    radius_deg: float
    window_end: datetime | None
    sequences: tuple[int, ...]
    withdrawn: str | None = None
    coverage: str = ""


def coverage_words(details: dict[str, Any] | None) -> str:
    """The tiling of a followed alert (its row's details) in words: "" for one pointing."""
    details = details or {}
    tiles, needed = details.get("tiles") or 0, details.get("tiles_needed") or 0
    probability = details.get("probability_covered")
    if tiles <= 1 or probability is None:
        return ""
    which = "all" if tiles >= needed else f"the most probable {tiles} of {needed}"
    return f"{which} tiles, {probability:.0%} of the burst's probability"


def current_follow_up(engine: Engine | None, burst_key: str) -> FollowUp | None:
    """The burst's latest followed notice and what is left of its request (None: never
    followed)."""
    with session_scope(engine) as session:
        alerts = session.scalars(
            select(Alert).where(Alert.burst_key == burst_key).order_by(Alert.id)
        ).all()
        followed = [
            a for a in alerts if a.decision == DecisionKind.FOLLOW_UP and a.request_id is not None
        ]
        if not followed:
            return None
        latest = followed[-1]
        withdrawn = next(
            (a.reason for a in alerts if a.id > latest.id and a.action == FollowUpAction.CANCEL),
            None,
        )
        rows = session.scalars(
            select(Sequence)
            .where(Sequence.request_id == latest.request_id, Sequence.state.not_in(_FINAL))
            .order_by(Sequence.id)
        ).all()
        window_end = max((s.window_end for s in rows), default=None)
        return FollowUp(
            burst_key=burst_key,
            ivorn=latest.ivorn or "",
            request_id=latest.request_id,
            ra_deg=float(latest.ra_deg or 0.0),
            dec_deg=float(latest.dec_deg or 0.0),
            radius_deg=float(latest.error_radius_deg or 0.0),
            window_end=window_end,
            sequences=tuple(s.id for s in rows),
            withdrawn=withdrawn,
            coverage=coverage_words(latest.details),
        )


def sequence_state(engine: Engine | None, sequence_id: int) -> str:
    """The state of one sequence."""
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        return sequence.state if sequence is not None else SequenceState.CANCELLED.value


def make_ready(engine: Engine | None, sequence_id: int, at: datetime) -> bool:
    """Bring a follow-up sequence to ``planned`` (the flow takes it without waiting for the
    night's planner); False when it is no longer executable (cancelled, executed)."""
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        if sequence is None:
            return False
        state = SequenceState(sequence.state)
        if state is SequenceState.PLANNED:
            return True
        if state in (SequenceState.INTERRUPTED, SequenceState.UNPLANNABLE):
            transition(session, sequence, SequenceState.TO_BE_PLANNED, "alert follow-up", at)
            state = SequenceState.TO_BE_PLANNED
        if state is SequenceState.TO_BE_PLANNED:
            transition(session, sequence, SequenceState.PLANNED, "taken by the alert follow-up", at)
            return True
        return False
