"""The night's alerts, as the night report shows them (#18): one line per alert received, what
its follow-up took and found, and how fast.

Per alert, from the database alone (the alert row, the follow-up's images and their analyses, the
``pyros.alert.follow-up`` event the listener journals after its reflex):

- ``frames`` / ``analysed``: follow-up frames (images carrying the alert's IVORN), analysed ones;
- ``position``: the alert candidate of highest SNR (the position found), with its SNR;
- ``afterglow_found``: whether a candidate of the alert lies within :data:`AFTERGLOW_MATCH_ARCSEC`
  of a transient of its frame's truth (None where frames carry no truth: a real night);
- ``alert_to_slew_s``: **wall** seconds from the alert's reception to the slew the reflex sent
  (the reflex acts in wall time, whatever the clock's speed);
- ``alert_to_first_frame_s``: **simulated** seconds from the reception to the first follow-up
  frame's acquisition (the sky's time: what an afterglow's fading counts);
- ``alert_to_afterglow_s``: simulated seconds from the reception to the end of the first analysis
  that found the afterglow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import Alert, Image, JournalEntry, NrtAnalysis
from infra.events import ALERT_FOLLOW_UP
from tasks.nrt.analysis_rows import AnalysisStatus
from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.night_frames import truth_transients

#: How close to the injected truth a candidate must be to count as the afterglow found.
AFTERGLOW_MATCH_ARCSEC = 1.0


@dataclass(frozen=True)
class AlertLine:
    """One alert of the night (see the module for each figure)."""

    ivorn: str
    mission: str | None
    decision: str
    received_at: datetime
    frames: int
    analysed: int
    position: tuple[float, float] | None
    position_snr: float | None
    afterglow_found: bool | None
    alert_to_slew_s: float | None
    alert_to_first_frame_s: float | None
    alert_to_afterglow_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "received_at": self.received_at.isoformat()}


def night_alerts(session: Session, start: datetime, end: datetime) -> list[AlertLine]:
    """The alerts received in ``[start, end)``, oldest first (see the module)."""
    alerts = session.scalars(
        select(Alert)
        .where(Alert.received_at >= start, Alert.received_at < end)
        .order_by(Alert.received_at, Alert.id)
    ).all()
    slews = _slews_sent(session, start, end)
    return [_line(session, alert, slews.get(alert.ivorn or "")) for alert in alerts]


def alert_figures(lines: list[AlertLine]) -> dict[str, Any]:
    """The summary's alert figures: ``alerts_received``, ``alerts_followed`` (at least one
    follow-up frame analysed), ``afterglows_found`` and one dict per followed alert."""
    followed = [line for line in lines if line.analysed]
    return {
        "alerts_received": len(lines),
        "alerts_followed": len(followed),
        "afterglows_found": sum(1 for line in lines if line.afterglow_found),
        "alerts": [
            {
                "ivorn": line.ivorn,
                "afterglow_found": line.afterglow_found,
                "alert_to_slew_s": line.alert_to_slew_s,
                "alert_to_first_frame_s": line.alert_to_first_frame_s,
                "alert_to_afterglow_s": line.alert_to_afterglow_s,
            }
            for line in followed
        ],
    }


def _line(session: Session, alert: Alert, slew_wall: datetime | None) -> AlertLine:
    ivorn = alert.ivorn or ""
    rows = session.execute(
        select(Image, NrtAnalysis)
        .outerjoin(NrtAnalysis, NrtAnalysis.image_id == Image.id)
        .where(Image.alert_ivorn == ivorn)
        .order_by(Image.acquired_at, NrtAnalysis.id)
    ).all()
    images = {image.id: image for image, _ in rows}
    done = {
        analysis.image_id: analysis
        for _, analysis in rows
        if analysis is not None and analysis.status == AnalysisStatus.DONE
    }
    best: dict[str, Any] | None = None
    found_at: datetime | None = None
    truth_seen = False
    for image_id, analysis in done.items():
        ours = [
            c
            for c in (analysis.results or {}).get("candidates") or []
            if c.get("alert_ivorn") == ivorn
        ]
        for candidate in ours:
            if best is None or candidate["snr"] > best["snr"]:
                best = candidate
        truth = truth_transients(Path(images[image_id].path))
        truth_seen = truth_seen or truth is not None
        if truth is not None and any(_near(c, truth) for c in ours) and analysis.finished_at:
            found_at = min(found_at or analysis.finished_at, analysis.finished_at)
    first = min((image.acquired_at for image in images.values()), default=None)
    return AlertLine(
        ivorn=ivorn,
        mission=alert.mission,
        decision=alert.decision,
        received_at=alert.received_at,
        frames=len(images),
        analysed=len(done),
        position=(best["ra"], best["dec"]) if best else None,
        position_snr=best["snr"] if best else None,
        afterglow_found=(found_at is not None) if truth_seen else None,
        alert_to_slew_s=_seconds(alert.wall_received_at, slew_wall),
        alert_to_first_frame_s=_seconds(alert.received_at, first),
        alert_to_afterglow_s=_seconds(alert.received_at, found_at),
    )


def _near(candidate: dict[str, Any], truth: tuple[Any, Any]) -> bool:
    ra, dec = candidate.get("ra"), candidate.get("dec")
    if ra is None or dec is None or not len(truth[0]):
        return False
    return float(np.min(separation_arcsec(ra, dec, truth[0], truth[1]))) <= AFTERGLOW_MATCH_ARCSEC


def _slews_sent(session: Session, start: datetime, end: datetime) -> dict[str, datetime]:
    """The wall instant each alert's reflex sent its slew (the listener's follow-up event)."""
    sent: dict[str, datetime] = {}
    payload: Any
    for payload in session.scalars(
        select(JournalEntry.payload)
        .where(JournalEntry.kind == "event", JournalEntry.sim_time >= start)
        .where(JournalEntry.sim_time < end)
        .order_by(JournalEntry.id)
    ):
        if not isinstance(payload, dict) or payload.get("event") != ALERT_FOLLOW_UP:
            continue
        body = payload.get("payload") or {}
        wall = (body.get("reflex") or {}).get("slew_sent_wall")
        if body.get("ivorn") and wall and body["ivorn"] not in sent:
            sent[body["ivorn"]] = _instant(wall)
    return sent


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _seconds(since: datetime | None, until: datetime | None) -> float | None:
    if since is None or until is None:
        return None
    seconds = (until - since).total_seconds()
    return round(seconds, 3) if math.isfinite(seconds) else None
