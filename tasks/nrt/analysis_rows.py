"""The analysis with the database: frames waiting, NrtAnalysis rows, alerts, events.

Short transactions only: the consumer never holds a lock while it computes, so acquisition
(which inserts Image rows) never waits on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, exists, select

from infra.db import session_scope
from infra.db.models import Alert, Image, NrtAnalysis, Sequence
from tasks.nrt.candidates import AlertRegion

#: Sequence states after which no more frames come for it (a per-sequence consumer may stop).
SEQUENCE_DONE = frozenset({"executed", "interrupted", "cancelled", "unplannable", "invalid"})


def pending_images(
    engine: Engine | None,
    *,
    sequence_id: int | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[dict]:
    """Light frames without an analysis, oldest first (optionally of one sequence or since)."""
    query = (
        select(Image.id, Image.path, Image.sequence_id, Image.alert_ivorn, Image.acquired_at)
        .where(Image.image_type == "light")
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
        row = NrtAnalysis(image_id=image_id, status="running", started_at=now)
        session.add(row)
        session.flush()
        return row.id


def finish(
    engine: Engine | None,
    analysis_id: int,
    *,
    status: str,
    now: datetime,
    reason: str = "",
    figures: dict | None = None,
    results: dict | None = None,
) -> None:
    """Record the outcome of an analysis (``done`` with figures, or ``failed`` with the reason)."""
    from infra.journal import to_json_payload

    with session_scope(engine) as session:
        row = session.get(NrtAnalysis, analysis_id)
        row.status = status
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
        radius = alert.error_radius_deg if (alert.error_radius_deg or 0) > 0 else 0.0
        return AlertRegion(ivorn, alert.ra_deg, alert.dec_deg, radius * 3600.0, alert.event_time)


def sequence_state(engine: Engine | None, sequence_id: int) -> str | None:
    """The sequence's state (None when it does not exist)."""
    with session_scope(engine) as session:
        return session.scalar(select(Sequence.state).where(Sequence.id == sequence_id))


def stored_tracks(engine: Engine | None, sequence_id: int) -> list[dict]:
    """The light curves stored by earlier analyses of the sequence (the latest of each track)."""
    query = (
        select(NrtAnalysis.results)
        .join(Image, Image.id == NrtAnalysis.image_id)
        .where(Image.sequence_id == sequence_id, NrtAnalysis.status == "done")
        .order_by(Image.acquired_at)
    )
    tracks: dict[int, dict] = {}
    with session_scope(engine) as session:
        for results in session.scalars(query):
            for track in (results or {}).get("light_curves", []):
                tracks[track["track_id"]] = track
    return [tracks[k] for k in sorted(tracks)]
