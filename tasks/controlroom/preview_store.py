"""The previews directory (``$PYROS_HOME/previews``): the PNG of each of the latest frames and a
small JSON note beside it, the newest ``keep`` kept.

The NRT flow writes (:func:`store_preview`), the previews server reads (:func:`preview_file`,
:func:`latest_previews`). Files are written whole and renamed into place, so the server never
serves half a PNG. A frame's file name is its image id, restricted to safe characters.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What an image id may keep in a file name (anything else becomes ``_``).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: A preview's file name as served: a safe stem and ``.png``.
PREVIEW_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\.png$")


@dataclass(frozen=True)
class StoredPreview:
    """One preview on disk: its file name, the image it shows and what the note says."""

    name: str
    image_id: str
    candidates: int
    written: float

    def url(self, base_url: str) -> str:
        """Its address on the previews server at ``base_url``."""
        return f"{base_url}/previews/{self.name}"


def preview_name(image_id: str) -> str:
    """The file name of ``image_id``'s preview (unsafe characters replaced, never hidden)."""
    stem = _UNSAFE.sub("_", image_id)[:120].lstrip(".") or "_"
    return f"{stem}.png"


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def store_preview(
    directory: Path, image_id: str, png: bytes, *, candidates: int = 0, keep: int = 12
) -> StoredPreview:
    """Write ``image_id``'s preview and its note into ``directory``, then drop all but the
    newest ``keep`` previews; returns the preview written."""
    directory.mkdir(parents=True, exist_ok=True)
    name = preview_name(image_id)
    path = directory / name
    written = time.time()
    note = {"image_id": image_id, "candidates": candidates, "written": written}
    _write_atomically(path.with_suffix(".json"), json.dumps(note).encode())
    _write_atomically(path, png)
    prune(directory, keep)
    return StoredPreview(name, image_id, candidates, written)


def _note(png: Path) -> dict[str, Any]:
    try:
        data = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def latest_previews(directory: Path, limit: int | None = None) -> list[StoredPreview]:
    """The previews in ``directory``, newest first (at most ``limit``)."""
    found = []
    for png in directory.glob("*.png") if directory.is_dir() else ():
        if not PREVIEW_NAME.match(png.name):
            continue
        try:
            mtime = png.stat().st_mtime
        except FileNotFoundError:  # pruned meanwhile
            continue
        note = _note(png)
        found.append(
            StoredPreview(
                png.name,
                str(note.get("image_id", png.stem)),
                int(note.get("candidates", 0)),
                float(note.get("written", mtime)),
            )
        )
    found.sort(key=lambda p: (p.written, p.name), reverse=True)
    return found if limit is None else found[:limit]


def prune(directory: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` previews (and their notes); returns the names
    deleted."""
    dropped = [p.name for p in latest_previews(directory)[keep:]]
    for name in dropped:
        for path in (directory / name, (directory / name).with_suffix(".json")):
            path.unlink(missing_ok=True)
    return dropped


def preview_file(directory: Path, name: str) -> Path | None:
    """The file of preview ``name`` (``latest.png``: the newest), or None when there is none
    or the name is not a preview's."""
    if name == "latest.png":
        newest = latest_previews(directory, 1)
        return directory / newest[0].name if newest else None
    if not PREVIEW_NAME.match(name):
        return None
    path = directory / name
    return path if path.is_file() else None
