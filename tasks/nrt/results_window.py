"""The NRT results artifact's content: the latest frames of a run and its totals, bounded.

The flow keeps a :class:`ResultsWindow` and republishes it after every frame under one stable
key, updated in place: what is shown stays the size of the window however long the night.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tasks.nrt.analysis_rows import AnalysisStatus
from tasks.nrt.consumer import FrameSummary

#: Frames kept when no size is given ([controlroom] nrt_artifact_frames).
DEFAULT_FRAMES = 20


def table_row(s: FrameSummary, preview_url: str | None = None) -> dict[str, Any]:
    """One analysed frame as a row of the results table (``preview``: its image's URL)."""
    best = max(s.get("candidates") or [], key=lambda c: c["snr"], default=None)
    return {
        "image": s["image_id"],
        "status": s["status"],
        "sources": s.get("n_sources"),
        "fwhm_arcsec": s.get("fwhm_arcsec"),
        "limiting_mag": s.get("limiting_mag"),
        "zero_point": s.get("zero_point"),
        "astrometry_rms_arcsec": s.get("astrometry_rms_arcsec"),
        "candidates": len(s.get("candidates") or []),
        "best_candidate": None
        if best is None
        else (
            f"{best['kind']} {best['ra']:.5f} {best['dec']:+.5f} "
            f"mag {best['mag']} SNR {best['snr']}"
        ),
        "seconds": s.get("seconds"),
        "reason": s.get("reason", ""),
        "preview": preview_url or "",
    }


@dataclass
class ResultsWindow:
    """The latest ``size`` frames' rows (newest first) and the totals of every frame seen."""

    size: int = DEFAULT_FRAMES
    done: int = 0
    failed: int = 0
    candidates: int = 0
    _rows: deque[dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a results window holds at least one frame, not {self.size}")
        self._rows = deque(maxlen=self.size)

    def add(self, summary: FrameSummary, preview_url: str | None = None) -> None:
        """Count ``summary`` and keep its row (the oldest row leaves when the window is full)."""
        if summary["status"] == AnalysisStatus.DONE:
            self.done += 1
        else:
            self.failed += 1
        self.candidates += len(summary.get("candidates") or [])
        self._rows.appendleft(table_row(summary, preview_url))

    @property
    def frames(self) -> int:
        """Frames seen."""
        return self.done + self.failed

    def rows(self) -> list[dict[str, Any]]:
        """The rows shown, newest first (at most ``size``)."""
        return list(self._rows)

    def description(self) -> str:
        """The artifact's description: the totals, and which frames the table shows."""
        shown = len(self._rows)
        return (
            f"**Near-real-time analysis**: {self.done} frame(s) analysed, {self.failed} failed, "
            f"{self.candidates} candidate(s); the latest {shown} of {self.frames} frame(s) below, "
            "newest first."
        )
