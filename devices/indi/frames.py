"""An INDI camera's FITS BLOB made into a PyROS frame: PyROS's headers merged, written atomically.

The driver's own cards (its exposure, binning, temperature, pixel size...) are kept; PyROS's cards
(``IMAGETYP``, ``FILTER``, ``INSTRUME``, ``EXPTIME``, ``DATE-OBS``, ``IMAGEID``...) override
them, since the pipeline reads those (``tasks/nrt/frame.py``). The file is written to a temporary
name, fsynced and renamed into place (``infra.files.write_atomic``): a reader never sees half a
frame.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from astropy.io import fits

from devices.errors import ProtocolError
from infra.files import write_atomic


@dataclass(frozen=True)
class FrameCards:
    """What PyROS knows about a frame that the INDI driver does not."""

    frame_id: str
    image_type: str
    exposure_s: float
    filter: str | None
    instrument: str
    telescope: str
    started_at: datetime


def pyros_cards(cards: FrameCards) -> dict[str, tuple[Any, str]]:
    """The header cards PyROS puts in a frame (keyword -> (value, comment))."""
    merged: dict[str, tuple[Any, str]] = {
        "DATE-OBS": (
            cards.started_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23],
            "exposure start (UTC)",
        ),
        "EXPTIME": (float(cards.exposure_s), "exposure time (s)"),
        "IMAGETYP": (cards.image_type, "bias, dark, flat or light"),
        "INSTRUME": (cards.instrument, "camera"),
        "TELESCOP": (cards.telescope, "telescope"),
        "IMAGEID": (cards.frame_id, "image id"),
        "ORIGIN": ("PyROS", "frame from an INDI camera"),
    }
    if cards.filter:
        merged["FILTER"] = (cards.filter, "filter in the beam")
    return merged


def merge_headers(blob: bytes, cards: FrameCards) -> bytes:
    """The FITS file ``blob`` with PyROS's cards merged into its primary header.

    Raises
    ------
    ProtocolError
        When the BLOB is not a FITS file.
    """
    try:
        with fits.open(io.BytesIO(blob), memmap=False) as hdul:
            header = hdul[0].header
            for keyword, (value, comment) in pyros_cards(cards).items():
                header[keyword] = (_ascii(value), comment)
            out = io.BytesIO()
            hdul.writeto(out, output_verify="silentfix")
    except (OSError, ValueError, IndexError) as exc:
        raise ProtocolError(f"the INDI camera sent a BLOB that is not FITS: {exc}") from None
    return out.getvalue()


def _ascii(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("ascii", "replace").decode("ascii")
    return value


def store_frame(path: Path, blob: bytes, cards: FrameCards) -> dict[str, Any]:
    """Write the frame atomically at ``path``; returns its size and SHA-256."""
    payload = merge_headers(blob, cards)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, payload)
    return {"size_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
