"""Storing the frames of a sequence: one row per frame, after the file exists, with progress.

Frames are written atomically by the camera (temporary file, fsync, rename) at a path derived
from the deterministic image id, so after a crash a frame on disk without its row is complete and
is *adopted* rather than taken again: no image is lost, none is taken twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from devices.controllers.camera import ImageType
from infra.db import session_scope
from infra.db.models import Image, Plan, image_id

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredImage:
    """A frame and its row."""

    image_id: str
    path: str
    sha256: str
    size_bytes: int
    adopted: bool


def frame_path(frames_dir: Path, night: str, sequence_id: int, plan_id: int, index: int) -> Path:
    """Where frame ``index`` (1-based) of a plan goes: ``<frames>/<night>/<image id>.fits``."""
    return Path(frames_dir) / night / f"{image_id(sequence_id, plan_id, index)}.fits"


def sha256_of(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class FrameRecord:
    """What the row of one light frame says: the plan it belongs to and its number in it (from
    1), its file, the camera and filter, when it was taken and where the telescope pointed."""

    sequence_id: int
    plan_id: int
    index: int
    path: Path
    instrument: str
    filter_name: str
    exposure_s: float
    acquired_at: datetime
    ra_deg: float | None
    dec_deg: float | None
    alert_ivorn: str | None


def store_frame(engine: Engine | None, frame: FrameRecord, *, adopted: bool = False) -> StoredImage:
    """Insert the row of ``frame`` (the file must exist) and advance its plan's progress, in one
    transaction.

    Parameters
    ----------
    engine : Engine or None
        Database (None: the process database).
    frame : FrameRecord
        The frame.
    adopted : bool
        The file was found on disk (written before a crash) rather than taken now.

    Raises
    ------
    FileNotFoundError
        When the frame is not on disk (a row is never inserted for a missing file).
    LookupError
        When the frame's plan does not exist.
    """
    digest, size = sha256_of(frame.path)
    identifier = image_id(frame.sequence_id, frame.plan_id, frame.index)
    with session_scope(engine) as session:
        plan = session.get(Plan, frame.plan_id, with_for_update=True)
        if plan is None:
            raise LookupError(f"plan {frame.plan_id}: no such plan")
        if session.get(Image, identifier) is None:
            session.add(
                Image(
                    id=identifier,
                    sequence_id=frame.sequence_id,
                    plan_id=frame.plan_id,
                    index=frame.index,
                    instrument=frame.instrument,
                    filter=frame.filter_name,
                    image_type=ImageType.LIGHT.value,
                    exposure_s=frame.exposure_s,
                    path=str(frame.path),
                    sha256=digest,
                    size_bytes=size,
                    acquired_at=frame.acquired_at,
                    wall_acquired_at=datetime.now(UTC),
                    ra_deg=frame.ra_deg,
                    dec_deg=frame.dec_deg,
                    alert_ivorn=frame.alert_ivorn,
                )
            )
        plan.images_done = max(plan.images_done, frame.index)
    return StoredImage(identifier, str(frame.path), digest, size, adopted)
