"""The analysis with the database: frames waiting, NrtAnalysis rows, alerts, events.

Short transactions only: the consumer never holds a lock while it computes, so acquisition
(which inserts Image rows) never waits on it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, exists, select

from devices.controllers.camera import ImageType
from infra.db import session_scope
from infra.db.models import Alert, Image, NrtAnalysis, Sequence
from infra.db.sequence_state import SequenceState
from infra.journal import to_json_payload
from tasks.nrt.candidates import AlertRegion

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
) -> list[ImageRow]:
    """Light frames without an analysis, oldest first (optionally of one sequence or since)."""
    query = (
        select(Image.id, Image.path, Image.sequence_id, Image.alert_ivorn, Image.acquired_at)
        .where(Image.image_type == ImageType.LIGHT.value)
        .where(~exists().where(NrtAnalysis.image_id == Image.id))
        .order_by(Image.acquired_at, Image.id)
        .limit(limit)
    )
    if sequence_id is not None:
        query = query.where(Image.sequence_id == sequence_id)
    if since is not None:
        query = query.where(Image.acquired_at >= since)
    with session_scope(engine) as session:
        return [row._asdict() for row in session.execute(query)]


def claim(engine: Engine | None, image_id: str, now: datetime) -> int:
    """Insert the image's analysis row (``running``) and return its id."""
    with session_scope(engine) as session:
        row = NrtAnalysis(image_id=image_id, status=AnalysisStatus.RUNNING.value, started_at=now)
        session.add(row)
        session.flush()
        return row.id


def finish(
    engine: Engine | None,
    analysis_id: int,
    *,
    status: AnalysisStatus,
    now: datetime,
    reason: str = "",
    figures: dict[str, float] | None = None,
    results: dict[str, Any] | None = None,
) -> None:
    """Record the outcome of an analysis (``done`` with figures, or ``failed`` with the reason)."""
    with session_scope(engine) as session:
        row = session.get(NrtAnalysis, analysis_id)
        if row is None:
            raise LookupError(f"NRT analysis {analysis_id} does not exist")
        row.status = status.value
        row.reason = reason[:4000]
        row.finished_at = now
        for key, value in (figures or {}).items():
            setattr(row, key, value)
        row.results = to_json_payload(results or {})


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
