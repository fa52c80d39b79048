"""Calibration masters in the database: recording builds and choosing the masters for a night.

Rulings (docs/calibration.md):

- a master is valid for its night; when tonight's is missing, the most recent good one not older
  than ``max_master_age_nights`` is used and its age (nights) travels with it;
- flats: among masters of the same night, twilight flats are preferred to dome flats (the dome
  lamp's illumination gradient is not the sky's); a newer night always wins over an older one;
- darks: among masters of the chosen night, the exposure closest (in ratio) to the frame's;
- a failed build is recorded (status ``failed``, its reason) and never chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import CalibrationMaster
from infra.db.models.calibration import MasterStatus
from tasks.calibration.masters import MasterBuild

#: Preference of flat sources within one night (lower first).
FLAT_SOURCE_RANK = {"twilight": 0, "dome": 1}


@dataclass(frozen=True)
class MasterChoice:
    """A master chosen for a night, with its age (nights before the night it serves)."""

    id: int
    kind: str
    camera: str
    filter: str
    flat_source: str
    exposure_s: float
    night: str
    path: str
    sha256: str
    age_nights: int
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        """The choice as plain data."""
        return dict(vars(self))


def night_age(master_night: str, night: str) -> int:
    """Nights between a master's night and the night it serves (0: tonight's)."""
    return (date.fromisoformat(night) - date.fromisoformat(master_night)).days


def record_build(
    session: Session,
    build: MasterBuild,
    created_at: datetime,
    path: str = "",
    sha256: str = "",
) -> CalibrationMaster:
    """Insert the row of a build, good (with its file) or failed (with its reason)."""
    height, width = build.shape
    row = CalibrationMaster(
        camera=build.camera,
        type=build.kind,
        filter=build.filter,
        flat_source=build.flat_source,
        exposure_s=float(build.exposure_s),
        night=build.night,
        width=int(width),
        height=int(height),
        path=str(path),
        sha256=sha256,
        n_frames=len(build.frames),
        frames=build.frames,
        rejected=build.rejected,
        created_at=created_at,
        status=MasterStatus.GOOD if build.ok and path else MasterStatus.FAILED,
        reason=build.reason,
        quality=_json_safe(build.quality),
    )
    session.add(row)
    session.flush()
    return row


def _json_safe(value: object) -> Any:
    """``value`` as JSON data: keys as strings, NumPy scalars as Python numbers, NaN and
    infinities as None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value


def choose_master(
    session: Session,
    camera: str,
    kind: str,
    night: str,
    *,
    filter_name: str = "",
    exposure_s: float | None = None,
    shape: tuple[int, int] | None = None,
    max_age_nights: int = 30,
) -> MasterChoice | None:
    """The master of ``kind`` to use on ``night`` (tonight's, else the most recent good one).

    Parameters
    ----------
    session : Session
        Open session.
    camera : str
        Instrument name.
    kind : str
        ``bias``, ``dark`` or ``flat``.
    night : str
        Night label the master must serve.
    filter_name : str
        Flats: the filter.
    exposure_s : float, optional
        Darks: the frame's exposure (the closest dark exposure of the chosen night wins).
    shape : tuple, optional
        (height, width) the master must have.
    max_age_nights : int
        Older masters are not used.
    """
    oldest = (date.fromisoformat(night) - timedelta(days=max_age_nights)).isoformat()
    query = select(CalibrationMaster).where(
        CalibrationMaster.camera == camera,
        CalibrationMaster.type == kind,
        CalibrationMaster.status == MasterStatus.GOOD,
        CalibrationMaster.night <= night,
        CalibrationMaster.night >= oldest,
    )
    if kind == "flat":
        query = query.where(CalibrationMaster.filter == filter_name)
    if shape is not None:
        query = query.where(
            CalibrationMaster.height == shape[0], CalibrationMaster.width == shape[1]
        )
    rows = list(session.scalars(query))
    if not rows:
        return None

    def preference(row: CalibrationMaster) -> tuple[Any, ...]:
        key: list[Any] = [row.night]
        if kind == "flat":
            key.append(-FLAT_SOURCE_RANK.get(row.flat_source, 2))
        if kind == "dark" and exposure_s and row.exposure_s > 0:
            key.append(-abs(math.log(row.exposure_s / exposure_s)))
        key.append(row.created_at)
        key.append(row.id)
        return tuple(key)

    best = max(rows, key=preference)
    return MasterChoice(
        id=best.id,
        kind=best.type,
        camera=best.camera,
        filter=best.filter,
        flat_source=best.flat_source,
        exposure_s=best.exposure_s,
        night=best.night,
        path=best.path,
        sha256=best.sha256,
        age_nights=night_age(best.night, night),
        width=best.width,
        height=best.height,
    )


def list_masters(
    session: Session,
    *,
    camera: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The most recent master rows (newest first) as plain dictionaries."""
    query = select(CalibrationMaster).order_by(CalibrationMaster.id.desc()).limit(limit)
    if camera:
        query = query.where(CalibrationMaster.camera == camera)
    if kind:
        query = query.where(CalibrationMaster.type == kind)
    if status:
        query = query.where(CalibrationMaster.status == status)
    return [
        {
            "id": row.id,
            "camera": row.camera,
            "type": row.type,
            "filter": row.filter,
            "flat_source": row.flat_source,
            "exposure_s": row.exposure_s,
            "night": row.night,
            "status": row.status,
            "reason": row.reason,
            "n_frames": row.n_frames,
            "n_rejected": len(row.rejected or []),
            "path": row.path,
            "sha256": row.sha256,
            "created_at": row.created_at.astimezone(UTC),
            "quality": row.quality,
            "rejected": row.rejected,
        }
        for row in session.scalars(query)
    ]


#: Re-exported for callers that only need the status names.
__all__ = [
    "MasterChoice",
    "MasterStatus",
    "choose_master",
    "list_masters",
    "night_age",
    "record_build",
]
