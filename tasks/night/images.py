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


def store_frame(
    engine: Engine,
    *,
    sequence_id: int,
    plan_id: int,
    index: int,
    path: Path,
    instrument: str,
    filter_name: str,
    exposure_s: float,
    acquired_at: datetime,
    ra_deg: float | None,
    dec_deg: float | None,
    alert_ivorn: str | None,
    adopted: bool = False,
) -> StoredImage:
    """Insert the row of frame ``index`` (the file must exist) and advance the plan's progress,
    in one transaction.

    Raises
    ------
    FileNotFoundError
        When the frame is not on disk (a row is never inserted for a missing file).
    """
    digest, size = sha256_of(path)
    identifier = image_id(sequence_id, plan_id, index)
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id, with_for_update=True)
        if session.get(Image, identifier) is None:
            session.add(
                Image(
                    id=identifier,
                    sequence_id=sequence_id,
                    plan_id=plan_id,
                    index=index,
                    instrument=instrument,
                    filter=filter_name,
                    image_type="light",
                    exposure_s=exposure_s,
                    path=str(path),
                    sha256=digest,
                    size_bytes=size,
                    acquired_at=acquired_at,
                    wall_acquired_at=datetime.now(UTC),
                    ra_deg=ra_deg,
                    dec_deg=dec_deg,
                    alert_ivorn=alert_ivorn,
                )
            )
        plan.images_done = max(plan.images_done, index)
    return StoredImage(identifier, str(path), digest, size, adopted)
