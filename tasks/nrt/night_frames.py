"""The night's frames as the near-real-time analysis saw them: taken, analysed, failed and why,
and the candidates that were not real (scored against the simulator's truth).

:func:`frame_figures` is pure over a database session: it reads the night's science Image rows,
their latest NrtAnalysis rows and, for simulated frames, the truth table the sky renderer writes
beside each frame (``frame.fits`` → ``frame.truth.ecsv``: one row per rendered source with its
``kind`` — ``star``, ``afterglow``, ``cosmic_ray`` — and true ``ra``/``dec``). A candidate farther
than ``match_arcsec`` from every transient of the truth (an afterglow) is false. Frames without a
truth file (real sky) are counted but not scored.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.controllers.camera import ImageType
from infra.config import get_config
from infra.db.models import Image, NrtAnalysis
from infra.journal import night_start_date
from tasks.nrt.analysis_rows import AnalysisStatus
from tasks.nrt.astrometry import separation_arcsec

#: The renderer writes the truth of ``frame.fits`` to ``frame.truth.ecsv``.
TRUTH_SUFFIX = ".truth.ecsv"
#: Truth source kinds that are real transients (a candidate on one is not false).
TRANSIENT_KINDS = frozenset({"afterglow", "transient", "variable"})
#: Default radius (arcsec) within which a candidate is the transient of the truth.
MATCH_ARCSEC = 1.0

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_FILE_PREFIX = re.compile(r"^[^\s:]+\.(?:fits|fit|fts)(?:\.gz)?:\s*", re.IGNORECASE)


def frame_figures(
    session: Session,
    night_label: str,
    longitude_deg: float | None = None,
    match_arcsec: float = MATCH_ARCSEC,
) -> dict[str, Any]:
    """Per camera: the night's science frames taken, analysed, failed (with the reasons) and the
    false candidates per analysed frame against the truth.

    Parameters
    ----------
    session : Session
        An open database session (read only).
    night_label : str
        The night (``YYYY-MM-DD``, the local-solar date of its evening).
    longitude_deg : float, optional
        The site's longitude (east positive; default: the configured site's): a night runs from
        local solar noon to noon.
    match_arcsec : float
        A candidate within this distance of a transient of the truth is real.

    Returns
    -------
    dict
        ``{"night": label, "match_arcsec": r, "cameras": {instrument: figures}, "total": figures}``
        where ``figures`` is::

            {
              "frames_taken": int,        # science (light) Image rows of the night
              "frames_analysed": int,     # latest analysis done
              "frames_failed": int,       # latest analysis failed
              "frames_pending": int,      # no analysis yet, or still running
              "analysed_fraction": float | None,   # analysed / taken (None: none taken)
              "failure_reasons": [        # most frequent first
                  {"reason": str,         # the reason with numbers and file names generalised
                   "count": int,
                   "example": str},       # one reason as stored
              ],
              "candidates": int,          # candidates of the analysed frames
              "frames_scored": int,       # analysed frames with a truth file beside them
              "false_candidates": int,    # candidates of scored frames on no transient
              "false_candidates_per_frame": float | None,  # over the scored frames
            }
    """
    if longitude_deg is None:
        longitude_deg = get_config().site.longitude_deg
    start = datetime.combine(night_start_date(night_label), datetime.min.time(), tzinfo=UTC)
    start += timedelta(hours=12.0 - longitude_deg / 15.0)
    rows = session.execute(
        select(Image.id, Image.instrument, Image.path)
        .where(Image.image_type == ImageType.LIGHT.value)
        .where(Image.acquired_at >= start, Image.acquired_at < start + timedelta(days=1))
        .order_by(Image.acquired_at, Image.id)
    ).all()
    latest = _latest_analyses(session, [row.id for row in rows])
    tallies: dict[str, _Tally] = {}
    for image_id, instrument, path in rows:
        tally = tallies.setdefault(instrument, _Tally())
        tally.add(latest.get(image_id), Path(path), match_arcsec)
    total = _Tally()
    for tally in tallies.values():
        total.merge(tally)
    return {
        "night": night_label,
        "match_arcsec": match_arcsec,
        "cameras": {name: tallies[name].figures() for name in sorted(tallies)},
        "total": total.figures(),
    }


def _latest_analyses(session: Session, image_ids: list[str]) -> dict[str, NrtAnalysis]:
    """The latest NrtAnalysis row of each image (by id)."""
    latest: dict[str, NrtAnalysis] = {}
    for chunk in range(0, len(image_ids), 500):
        ids = image_ids[chunk : chunk + 500]
        for row in session.scalars(
            select(NrtAnalysis).where(NrtAnalysis.image_id.in_(ids)).order_by(NrtAnalysis.id)
        ):
            latest[row.image_id] = row
    return latest


class _Tally:
    """Counts of one camera (or all)."""

    def __init__(self) -> None:
        self.taken = self.analysed = self.failed = self.pending = 0
        self.candidates = self.scored = self.false = 0
        self.reasons: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, analysis: NrtAnalysis | None, path: Path, match_arcsec: float) -> None:
        self.taken += 1
        status = analysis.status if analysis is not None else None
        if analysis is None or status not in (AnalysisStatus.DONE, AnalysisStatus.FAILED):
            self.pending += 1
            return
        if status == AnalysisStatus.FAILED:
            self.failed += 1
            general = general_reason(analysis.reason or "no reason recorded")
            self.reasons[general] += 1
            self.examples.setdefault(general, analysis.reason or "")
            return
        self.analysed += 1
        candidates = list((analysis.results or {}).get("candidates") or [])
        self.candidates += len(candidates)
        transients = truth_transients(path)
        if transients is None:
            return
        self.scored += 1
        self.false += false_candidates(candidates, transients, match_arcsec)

    def merge(self, other: _Tally) -> None:
        for name in ("taken", "analysed", "failed", "pending", "candidates", "scored", "false"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)
        for key, value in other.examples.items():
            self.examples.setdefault(key, value)

    def figures(self) -> dict[str, Any]:
        return {
            "frames_taken": self.taken,
            "frames_analysed": self.analysed,
            "frames_failed": self.failed,
            "frames_pending": self.pending,
            "analysed_fraction": round(self.analysed / self.taken, 4) if self.taken else None,
            "failure_reasons": [
                {"reason": reason, "count": count, "example": self.examples[reason]}
                for reason, count in self.reasons.most_common()
            ],
            "candidates": self.candidates,
            "frames_scored": self.scored,
            "false_candidates": self.false,
            "false_candidates_per_frame": round(self.false / self.scored, 4)
            if self.scored
            else None,
        }


def general_reason(reason: str) -> str:
    """A failure reason with its file name and numbers generalised, so that the same cause on
    different frames counts once (``astrometry: 3 usable sources detected, 12 needed`` →
    ``astrometry: N usable sources detected, N needed``)."""
    text = _FILE_PREFIX.sub("", reason.strip())
    return _NUMBER.sub("N", text)


def truth_transients(fits_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """RA and Dec (degrees) of the transients in the truth beside ``fits_path``; None when the
    frame has no truth (not simulated) or it cannot be read."""
    truth = _truth_path(fits_path)
    try:
        text = truth.read_text(encoding="utf-8")
    except OSError:
        return None
    # Only the header and the transient rows are parsed (a crowded field has 10⁵ star rows).
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    if not body:
        return None
    wanted = [body[0]] + [
        line for line in body[1:] if any(kind in line for kind in TRANSIENT_KINDS)
    ]
    try:
        table = Table.read("\n".join([*header, *wanted, ""]), format="ascii.ecsv")
    except Exception:
        return None
    kinds = np.asarray(table["kind"]).astype(str) if len(table) else np.empty(0, dtype=str)
    keep = np.isin(kinds, sorted(TRANSIENT_KINDS))
    ra = np.asarray(table["ra"], dtype=float)[keep] if len(table) else np.empty(0)
    dec = np.asarray(table["dec"], dtype=float)[keep] if len(table) else np.empty(0)
    return ra, dec


def false_candidates(
    candidates: list[dict[str, Any]],
    transients: tuple[np.ndarray, np.ndarray],
    match_arcsec: float = MATCH_ARCSEC,
) -> int:
    """Candidates (dicts with ``ra``/``dec`` in degrees) farther than ``match_arcsec`` from every
    transient at (``ra``, ``dec``)."""
    t_ra, t_dec = transients
    count = 0
    for candidate in candidates:
        ra, dec = candidate.get("ra"), candidate.get("dec")
        if ra is None or dec is None or not (math.isfinite(ra) and math.isfinite(dec)):
            count += 1
            continue
        if not len(t_ra) or float(np.min(separation_arcsec(ra, dec, t_ra, t_dec))) > match_arcsec:
            count += 1
    return count


def _truth_path(fits_path: Path) -> Path:
    name = fits_path.name
    for suffix in (".fits", ".fit", ".fts"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return fits_path.with_name(name + TRUTH_SUFFIX)
