"""Light curves: candidates seen again in the consecutive frames of a sequence.

A :class:`LightCurveTracker` lives as long as the consumer's sequence. Each frame's candidates are
linked to the tracks already known (nearest within ``link_radius_arcsec``); tracks not detected
in a frame get its forced photometry at their position (a measurement or an upper limit), so a
fading afterglow keeps its light curve after it drops below the detection threshold. A track
with two or more detections is fitted: the power-law decay index ``alpha`` (``m = m0 + 2.5 alpha
log10(t - t_trigger)``) when the trigger time is known, else a linear rate in mag per hour.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.candidates import Candidate

Floats = npt.NDArray[np.float64]
#: A light curve as stored and sent (JSON-able): see :meth:`Track.as_dict`.
TrackRecord = dict[str, Any]


class ForcedMeasurement(TypedDict):
    """Forced photometry at a sky position (``mag`` None below SNR 2: an upper limit)."""

    mag: float | None
    mag_err: float | None
    snr: float
    limit_mag: float


#: ``forced(ra, dec)``: forced photometry at a sky position, None off the frame.
ForcedPhotometry = Callable[[float, float], ForcedMeasurement | None]


@dataclass
class Point:
    """One measurement of a track (``detected`` False: forced photometry only)."""

    time: datetime
    image_id: str
    mag: float | None
    mag_err: float | None
    snr: float
    detected: bool
    limit_mag: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The point as stored (JSON-able)."""
        return {
            "time": self.time.isoformat(),
            "image_id": self.image_id,
            "mag": self.mag,
            "mag_err": self.mag_err,
            "snr": self.snr,
            "detected": self.detected,
            "limit_mag": self.limit_mag,
        }


@dataclass
class Track:
    """A candidate followed across frames."""

    track_id: int
    ra: float
    dec: float
    kind: str
    points: list[Point] = field(default_factory=list)

    @property
    def detections(self) -> int:
        return sum(p.detected for p in self.points)

    def fit(self, trigger_time: datetime | None) -> dict[str, float | bool]:
        """Fading fit of the detected points (empty when fewer than two)."""
        pts = [p for p in self.points if p.detected and p.mag is not None]
        if len(pts) < 2:
            return {}
        mags = np.array([p.mag for p in pts])
        errs = np.array([max(p.mag_err or 0.05, 0.005) for p in pts])
        if trigger_time is not None:
            t = np.array([(p.time - trigger_time).total_seconds() for p in pts])
            if (t > 0).all():
                slope, error = _weighted_slope(np.log10(t), mags, errs)
                return {
                    "alpha": round(slope / 2.5, 4),
                    "alpha_err": round(error / 2.5, 4),
                    "fading": bool(slope > 3 * error),
                }
        hours = np.array([(p.time - pts[0].time).total_seconds() / 3600.0 for p in pts])
        if np.ptp(hours) <= 0:
            return {}
        slope, error = _weighted_slope(hours, mags, errs)
        return {
            "mag_per_hour": round(slope, 4),
            "mag_per_hour_err": round(error, 4),
            "fading": bool(slope > 3 * error),
        }

    def as_dict(self, trigger_time: datetime | None = None) -> TrackRecord:
        """The track as stored and sent, with its fading fit."""
        return {
            "track_id": self.track_id,
            "ra": round(self.ra, 7),
            "dec": round(self.dec, 7),
            "kind": self.kind,
            "detections": self.detections,
            "points": [p.as_dict() for p in self.points],
            **self.fit(trigger_time),
        }


def _weighted_slope(x: Floats, y: Floats, err: Floats) -> tuple[float, float]:
    w = 1.0 / err**2
    design = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.pinv(design.T @ (design * w[:, None]))
    coef = cov @ design.T @ (w * y)
    return float(coef[1]), float(math.sqrt(max(cov[1, 1], 0.0)))


class LightCurveTracker:
    """Tracks of one sequence (see the module docstring)."""

    def __init__(self, link_radius_arcsec: float = 1.0, trigger_time: datetime | None = None):
        self.link_radius_arcsec = link_radius_arcsec
        self.trigger_time = trigger_time
        self.tracks: list[Track] = []

    def update(
        self,
        time: datetime,
        image_id: str,
        candidates: list[Candidate],
        forced: ForcedPhotometry,
    ) -> list[TrackRecord]:
        """Link a frame's candidates; measure the others by ``forced(ra, dec)``.

        Parameters
        ----------
        time : datetime
            Mid-exposure instant of the frame.
        image_id : str
        candidates : list of dict
            The frame's candidates (``ra``, ``dec``, ``mag``, ``mag_err``, ``snr``); each gets its
            ``track_id``.
        forced : callable
            ``forced(ra, dec) -> dict(mag, mag_err, snr, limit_mag)`` (None: off the frame).

        Returns
        -------
        list of dict
            The tracks touched by this frame, with their fits.
        """
        seen: set[int] = set()
        for candidate in candidates:
            track = None
            if self.tracks:
                ra = np.array([t.ra for t in self.tracks])
                dec = np.array([t.dec for t in self.tracks])
                d = separation_arcsec(ra, dec, candidate["ra"], candidate["dec"])
                k = int(np.argmin(d))
                if d[k] <= self.link_radius_arcsec and self.tracks[k].track_id not in seen:
                    track = self.tracks[k]
            if track is None:
                track = Track(
                    len(self.tracks) + 1, candidate["ra"], candidate["dec"], candidate["kind"]
                )
                self.tracks.append(track)
            track.points.append(
                Point(
                    time,
                    image_id,
                    candidate.get("mag"),
                    candidate.get("mag_err"),
                    candidate["snr"],
                    True,
                )
            )
            candidate["track_id"] = track.track_id
            seen.add(track.track_id)
        for track in self.tracks:
            if track.track_id in seen:
                continue
            measured = forced(track.ra, track.dec)
            if measured is None:
                continue
            track.points.append(
                Point(
                    time,
                    image_id,
                    measured.get("mag"),
                    measured.get("mag_err"),
                    measured.get("snr", 0.0),
                    False,
                    measured.get("limit_mag"),
                )
            )
            seen.add(track.track_id)
        return [t.as_dict(self.trigger_time) for t in self.tracks if t.track_id in seen]

    def restore(self, tracks: list[TrackRecord]) -> None:
        """Rebuild the tracks from stored results (a consumer restarted mid-sequence)."""
        for item in tracks:
            existing = next((t for t in self.tracks if t.track_id == item["track_id"]), None)
            if existing is None:
                existing = Track(item["track_id"], item["ra"], item["dec"], item.get("kind", ""))
                self.tracks.append(existing)
            known = {(p.image_id, p.detected) for p in existing.points}
            for p in item.get("points", []):
                if (p["image_id"], p["detected"]) in known:
                    continue
                existing.points.append(
                    Point(
                        datetime.fromisoformat(p["time"]),
                        p["image_id"],
                        p.get("mag"),
                        p.get("mag_err"),
                        p.get("snr", 0.0),
                        p["detected"],
                        p.get("limit_mag"),
                    )
                )
            existing.points.sort(key=lambda p: p.time)
        self.tracks.sort(key=lambda t: t.track_id)
