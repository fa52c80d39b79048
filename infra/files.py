"""Writing files whole or not at all (DESIGN §4): a temporary file in the same directory,
fsync, rename over the final name, fsync the directory. A reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (its directory is created when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def default_frame_path(frames_dir: Path, device: str, frame_id: str, now: datetime) -> Path:
    """Where a camera writes a frame it was given no path for: ``frames_dir/<device>/<UTC date
    YYYYMMDD>/<frame id, reduced to a safe file name>.fits`` (PyROS's simulated cameras and its
    INDI cameras alike)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", frame_id).strip("._") or "frame"
    return frames_dir / device / now.strftime("%Y%m%d") / f"{safe}.fits"
