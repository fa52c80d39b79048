"""A request after submission: cancelled, its images listed (issue #23).

Cancelling records who, when and why on the request, and moves every sequence not yet executed
to ``cancelled`` through the state machine (:func:`infra.db.sequence_state.transition`). A
sequence executing at that moment is not touched here: :func:`cancellation_of` is read by the
executor before each exposure, so the exposure in progress completes, nothing more is taken, and
the executor ends the sequence ``cancelled`` with the reason. Images already taken are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.db import session_scope
from infra.db.models import Image, NrtAnalysis, Request, Sequence, User
from infra.db.sequence_state import FINAL_STATES, SequenceState, transition
from infra.events import REQUEST_CANCELLED, emit
from infra.journal import KIND_OPERATOR, record
from tasks.requests.people import CANCEL_ANY, AccessError, find_user, level_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelResult:
    """What a cancellation did."""

    request_id: int
    cancelled: tuple[int, ...]  # sequences now cancelled
    executing: tuple[int, ...]  # sequences that stop at the end of their current exposure
    untouched: dict[int, str]  # sequences already final, with their state
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "request_id": self.request_id,
            "cancelled": list(self.cancelled),
            "executing": list(self.executing),
            "untouched": {str(k): v for k, v in self.untouched.items()},
            "reason": self.reason,
        }


def find_request(session: Session, request_id: int) -> Request:
    """The request ``request_id``; refused when there is none."""
    request = session.get(Request, request_id)
    if request is None:
        raise AccessError(f"request {request_id}: no such request")
    return request


def check_may_cancel(actor: User, request: Request) -> None:
    """An observer cancels their own requests; an operator or an admin anyone's."""
    if request.user_id == actor.id or level_of(actor) in CANCEL_ANY:
        return
    raise AccessError(
        f"{actor.username!r} is {level_of(actor).value} and may cancel only their own "
        f"requests: request {request.id} belongs to another user"
    )


def cancel_request(
    session: Session, request_id: int, actor: str, reason: str, at: datetime
) -> CancelResult:
    """Cancel ``request_id`` on behalf of ``actor`` in the caller's transaction.

    Parameters
    ----------
    session : Session
        The caller's transaction (a refusal raises before anything changes).
    request_id : int
        The request.
    actor : str
        Who cancels (must be active; an observer only their own requests).
    reason : str
        Why (stored on the request and every transition).
    at : datetime
        Simulated instant (from the clock).

    Raises
    ------
    AccessError
        Unknown or inactive actor, no such request, not allowed, already cancelled, or
        nothing left to cancel.
    """
    user = find_user(session, actor)
    request = find_request(session, request_id)
    check_may_cancel(user, request)
    if request.cancelled_at is not None:
        raise AccessError(
            f"request {request_id} was already cancelled by {request.cancelled_by} "
            f"at {request.cancelled_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    states = {s.id: s.state for s in request.sequences}
    if all(SequenceState(state) in FINAL_STATES for state in states.values()):
        raise AccessError(f"request {request_id}: nothing to cancel (every sequence is final)")
    why = f"cancelled by {actor}: {reason}" if reason else f"cancelled by {actor}"
    cancelled, executing, untouched = [], [], {}
    for sequence in request.sequences:
        state = SequenceState(sequence.state)
        if state == SequenceState.EXECUTING:
            executing.append(sequence.id)
        elif state in FINAL_STATES:
            untouched[sequence.id] = state.value
        else:
            transition(session, sequence, SequenceState.CANCELLED, why, at)
            cancelled.append(sequence.id)
    request.cancelled_at, request.cancelled_by, request.cancel_reason = at, actor, why
    record(
        KIND_OPERATOR,
        actor,
        {"command": "request cancel", "request_id": request_id, "reason": reason},
        sim_time=at,
        into=session,
    )
    return CancelResult(request_id, tuple(cancelled), tuple(executing), untouched, why)


def announce_cancel(
    result: CancelResult, actor: str, clock: Clock, engine: Engine | None = None
) -> None:
    """Emit ``pyros.request.cancelled`` (journaled) after the cancellation committed.

    A failure to announce only costs a warning: the cancellation itself is stored, and the night
    loop sees cancelled sequences in its schedule at its next look.
    """
    try:
        emit(
            REQUEST_CANCELLED,
            f"pyros.request.{result.request_id}",
            {"user": actor, **result.as_dict()},
            source="requests",
            clock=clock,
            into=engine,
        )
    except Exception as exc:
        log.warning("request %s cancelled but not announced: %s", result.request_id, exc)


def cancellation_of(engine: Engine | None, sequence_id: int) -> str | None:
    """Why the request of ``sequence_id`` was cancelled, or None (read between exposures)."""
    with session_scope(engine) as session:
        return session.scalar(
            select(Request.cancel_reason)
            .join(Sequence, Sequence.request_id == Request.id)
            .where(Sequence.id == sequence_id, Request.cancelled_at.is_not(None))
        )


def calibrated_file(raw_path: str) -> str | None:
    """The calibrated frame beside the raw one (``<frame>.cal.fits``) when it exists."""
    path = Path(raw_path)
    stem = path.name[: -len(".fits")] if path.name.lower().endswith(".fits") else path.name
    candidate = path.with_name(f"{stem}.cal.fits")
    return str(candidate) if candidate.exists() else None


def _quality(analysis: NrtAnalysis | None) -> dict[str, Any] | None:
    if analysis is None:
        return None
    return {
        "status": analysis.status,
        "reason": analysis.reason,
        "n_sources": analysis.n_sources,
        "fwhm_arcsec": analysis.fwhm_arcsec,
        "limiting_mag": analysis.limiting_mag,
        "zero_point": analysis.zero_point,
        "astrometry_rms_arcsec": analysis.astrometry_rms_arcsec,
    }


def request_images(session: Session, request_id: int) -> list[dict[str, Any]]:
    """Every image of ``request_id`` in order: id, time, filter, exposure, file, calibrated
    file, NRT quality (the latest analysis)."""
    find_request(session, request_id)
    rows = session.execute(
        select(Image)
        .join(Sequence, Image.sequence_id == Sequence.id)
        .where(Sequence.request_id == request_id)
        .order_by(Image.acquired_at, Image.id)
    ).scalars()
    images = list(rows)
    analyses: dict[str, NrtAnalysis] = {}
    if images:
        for analysis in session.scalars(
            select(NrtAnalysis)
            .where(NrtAnalysis.image_id.in_([i.id for i in images]))
            .order_by(NrtAnalysis.id)
        ):
            analyses[analysis.image_id] = analysis  # the latest wins
    return [
        {
            "id": image.id,
            "sequence_id": image.sequence_id,
            "acquired_at": image.acquired_at,
            "instrument": image.instrument,
            "filter": image.filter,
            "exposure_s": image.exposure_s,
            "file": image.path,
            "sha256": image.sha256,
            "calibrated_file": calibrated_file(image.path),
            "nrt": _quality(analyses.get(image.id)),
        }
        for image in images
    ]
