"""The analysis with the database: frames waiting, NrtAnalysis rows, alerts, events.

Short transactions only: the consumer never holds a lock while it computes, so acquisition
(which inserts Image rows) never waits on it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Engine, Exists, exists, or_, select, true

from devices.controllers.camera import ImageType
from infra.db import session_scope
from infra.db.models import Alert, Image, NrtAnalysis, Sequence
from infra.db.sequence_state import SequenceState
from infra.journal import to_json_payload
from tasks.nrt.candidates import AlertRegion

log = logging.getLogger(__name__)

#: Sequence states after which no more frames come for it (a per-sequence consumer may stop).
SEQUENCE_DONE = frozenset(
    {
        SequenceState.EXECUTED,
        SequenceState.INTERRUPTED,
        SequenceState.CANCELLED,
        SequenceState.UNPLANNABLE,
        SequenceState.INVALID,
    }
)

#: An Image row waiting for its analysis: ``id``, ``path``, ``sequence_id``, ``alert_ivorn``,
#: ``acquired_at``.
ImageRow = dict[str, Any]


class AnalysisStatus(StrEnum):
    """Where a frame's analysis is (the ``NrtAnalysis.status`` column)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def pending_images(
    engine: Engine | None,
    *,
    sequence_id: int | None = None,
    since: datetime | None = None,
    limit: int = 20,
    stale_before: datetime | None = None,
) -> list[ImageRow]:
    """Light frames without an analysis, oldest first (optionally of one sequence or since);
    with ``stale_before``, also those whose only analysis is a claim still ``running`` that was
    made before it (abandoned: see :func:`claim`)."""
    live = exists().where(NrtAnalysis.image_id == Image.id, _keeps_its_frame(stale_before))
    query = (
        select(Image.id, Image.path, Image.sequence_id, Image.alert_ivorn, Image.acquired_at)
        .where(Image.image_type == ImageType.LIGHT.value)
        .where(~live)
        .order_by(Image.acquired_at, Image.id)
        .limit(limit)
    )
    if sequence_id is not None:
        query = query.where(Image.sequence_id == sequence_id)
    if since is not None:
        query = query.where(Image.acquired_at >= since)
    with session_scope(engine) as session:
        return [row._asdict() for row in session.execute(query)]


#: How long (wall seconds) a claim may stay ``running`` before another consumer takes it over:
#: its consumer was stopped mid-analysis (a cancelled follow-up, a killed worker). An analysis
#: takes seconds (a crowded 2048² frame about 6 s); a live one is never this slow.
CLAIM_LEASE_WALL_S = 60.0
#: A frame whose analysis this many consumers abandoned is recorded failed instead of taken over.
MAX_ABANDONED = 3


class Claim(NamedTuple):
    """A consumer's hold on a frame's analysis: the row, and which claim of it this is (0 the
    first, ``n`` the n-th takeover). Only the latest claim records an outcome (:func:`finish`)."""

    analysis_id: int
    takeover: int


def claim(
    engine: Engine | None,
    image_id: str,
    now: datetime,
    stale_before: datetime | None = None,
) -> Claim | None:
    """Insert the image's analysis row (``running``) and return the claim, or None when the
    frame already has one: each frame is analysed once, however many consumers poll.

    Consumers overlap (a block's and the next block's around their boundary; a follow-up's and
    its block's), and each works through a batch read before it claims: without this check, a
    frame was analysed twice, and a second analysis cut off by the night's end left the frame
    counted pending (CI, 2026-12-06: 75 of 76 frames analysed).

    With ``stale_before``, a claim still ``running`` that was made before it is abandoned (its
    consumer stopped mid-analysis) and is taken over: the same row, claimed again at ``now``
    (a claim with the next ``takeover``). Without it, such a frame stayed pending for good (the
    landing CI of 2026-12-06: a night that never ended its wait for the analysis). Abandoned
    :data:`MAX_ABANDONED` times, the analysis is recorded ``failed`` with the reason instead.
    """
    with session_scope(engine) as session:
        # PostgreSQL: claimers of one frame queue on its row, and the check below then sees a
        # committed claim (SQLite's transactions are BEGIN IMMEDIATE: one writer at a time).
        session.execute(select(Image.id).where(Image.id == image_id).with_for_update())
        rows = list(session.scalars(select(NrtAnalysis).where(NrtAnalysis.image_id == image_id)))
        if not rows:
            row = NrtAnalysis(
                image_id=image_id, status=AnalysisStatus.RUNNING.value, started_at=now
            )
            session.add(row)
            session.flush()
            return Claim(row.id, 0)
        if session.scalar(select(_kept(image_id, stale_before))):
            return None
        taken = max(rows, key=lambda row: row.id)
        abandoned = _takeovers(taken) + 1
        if abandoned >= MAX_ABANDONED:
            # A frame whose analysis stops every consumer (memory, a crash in a library) is not
            # handed on to the next one for ever: it is recorded failed, with why.
            taken.status = AnalysisStatus.FAILED.value
            taken.reason = (
                f"the analysis never ended: {abandoned} consumers stopped during it "
                "(does this frame stop its consumer?)"
            )
            taken.finished_at = now
            log.error("NRT analysis of %s: %s", image_id, taken.reason)
            return None
        log.warning(
            "NRT analysis of %s: the claim made at %s never ended (its consumer stopped): "
            "taken over",
            image_id,
            taken.started_at,
        )
        taken.started_at = now
        taken.results = {"abandoned": abandoned}
        return Claim(taken.id, abandoned)


def _takeovers(row: NrtAnalysis) -> int:
    """How many times a ``running`` claim was taken over (kept in its results until it ends)."""
    return int((row.results or {}).get("abandoned", 0))


def claimable(engine: Engine | None, image_id: str, stale_before: datetime) -> bool:
    """Whether :func:`claim` would give the frame now (no analysis row keeps it: none, or an
    abandoned claim), read without taking a lock: a consumer waiting for another's analysis asks
    this, not ``claim`` (a write transaction), at each of its polls."""
    with session_scope(engine) as session:
        return not session.scalar(select(_kept(image_id, stale_before)))


def _kept(image_id: str, stale_before: datetime | None) -> Exists:
    """Whether an analysis row keeps frame ``image_id`` from being claimed."""
    return exists().where(NrtAnalysis.image_id == image_id, _keeps_its_frame(stale_before))


def _keeps_its_frame(stale_before: datetime | None) -> ColumnElement[bool]:
    """An analysis row that keeps its frame from being claimed: any, without ``stale_before``;
    with it, all but a claim still ``running`` that was made before it (abandoned)."""
    if stale_before is None:
        return true()
    return or_(
        NrtAnalysis.status != AnalysisStatus.RUNNING.value,
        NrtAnalysis.started_at.is_(None),
        NrtAnalysis.started_at >= stale_before,
    )


def stored_summary(engine: Engine | None, image_id: str) -> dict[str, Any] | None:
    """The frame's ended analysis as a consumer's summary (``image_id``, ``analysis_id``,
    ``status``, ``reason``, the figures, ``candidates``, ``light_curves``), or None while it is
    running or when there is none."""
    with session_scope(engine) as session:
        row = session.scalar(
            select(NrtAnalysis)
            .where(NrtAnalysis.image_id == image_id)
            .order_by(NrtAnalysis.id.desc())
            .limit(1)
        )
        if row is None or row.status == AnalysisStatus.RUNNING.value:
            return None
        results = row.results or {}
        return {
            "image_id": image_id,
            "analysis_id": row.id,
            "path": results.get("path", ""),
            "status": row.status,
            "reason": row.reason,
            "n_sources": row.n_sources,
            "fwhm_arcsec": row.fwhm_arcsec,
            "limiting_mag": row.limiting_mag,
            "zero_point": row.zero_point,
            "astrometry_rms_arcsec": row.astrometry_rms_arcsec,
            "candidates": results.get("candidates", []),
            "light_curves": results.get("light_curves", []),
            "seconds": 0.0,
        }


def finish(
    engine: Engine | None,
    claimed: Claim,
    *,
    status: AnalysisStatus,
    now: datetime,
    reason: str = "",
    figures: dict[str, float] | None = None,
    results: dict[str, Any] | None = None,
) -> bool:
    """Record the outcome of an analysis (``done`` with figures, or ``failed`` with the reason).

    Only while ``claimed`` is the frame's latest claim: an analysis that outlived its lease was
    taken over (:func:`claim`), and the later claim's outcome is the one kept, never overwritten
    by the earlier one ending late (nor the reverse).

    Returns
    -------
    bool
        Whether the outcome was recorded (False: the claim was taken over; nothing written).
    """
    with session_scope(engine) as session:
        row = session.get(NrtAnalysis, claimed.analysis_id, with_for_update=True)
        if row is None:
            raise LookupError(f"NRT analysis {claimed.analysis_id} does not exist")
        if row.status != AnalysisStatus.RUNNING.value or _takeovers(row) != claimed.takeover:
            log.warning(
                "NRT analysis of %s: its claim was taken over while it ran (it outlived its "
                "lease of %g wall s); the later claim's outcome is kept",
                row.image_id,
                CLAIM_LEASE_WALL_S,
            )
            return False
        row.status = status.value
        row.reason = reason[:4000]
        row.finished_at = now
        for key, value in (figures or {}).items():
            setattr(row, key, value)
        row.results = to_json_payload(results or {})
        return True


def alert_region(engine: Engine | None, ivorn: str | None) -> AlertRegion | None:
    """The alert's position and error radius (None without an alert or a position)."""
    if not ivorn:
        return None
    with session_scope(engine) as session:
        alert = session.scalar(select(Alert).where(Alert.ivorn == ivorn))
        if alert is None or alert.ra_deg is None or alert.dec_deg is None:
            return None
        error = alert.error_radius_deg
        radius = error if error is not None and error > 0 else 0.0
        return AlertRegion(ivorn, alert.ra_deg, alert.dec_deg, radius * 3600.0, alert.event_time)


def sequence_state(engine: Engine | None, sequence_id: int) -> str | None:
    """The sequence's state (None when it does not exist)."""
    with session_scope(engine) as session:
        state: str | None = session.scalar(select(Sequence.state).where(Sequence.id == sequence_id))
        return state


def stored_tracks(engine: Engine | None, sequence_id: int) -> list[dict[str, Any]]:
    """The light curves stored by earlier analyses of the sequence (the latest of each track)."""
    query = (
        select(NrtAnalysis.results)
        .join(Image, Image.id == NrtAnalysis.image_id)
        .where(Image.sequence_id == sequence_id, NrtAnalysis.status == AnalysisStatus.DONE.value)
        .order_by(Image.acquired_at)
    )
    tracks: dict[int, dict[str, Any]] = {}
    results: dict[str, Any] | None
    with session_scope(engine) as session:
        for results in session.scalars(query):
            stored: list[dict[str, Any]] = (results or {}).get("light_curves", [])
            for track in stored:
                tracks[track["track_id"]] = track
    return [tracks[k] for k in sorted(tracks)]
