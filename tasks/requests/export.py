"""``pyros request export``: a request's calibrated frames with their provenance, and a manifest.

Each light frame of the request is calibrated (the masters the calibration service chooses for
its night; a step without a master is skipped and the header says why), given the request's
provenance cards (``PYREQ*``: request, sequence, image, user, program, raw file and its SHA-256),
and written as ``<image id>.cal.fits``. ``manifest.json`` lists every file with its checksum.
Everything is written into a staging folder renamed to ``DIR`` at the end: a failed export
leaves nothing behind, and ``DIR`` must not exist yet.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from astropy.io import fits
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.db.models import Image, ScientificProgram, User
from infra.files import write_atomic
from infra.journal import to_json_payload
from infra.version import code_version
from tasks.requests.lifecycle import find_request, request_images
from tasks.requests.people import AccessError

MANIFEST = "manifest.json"


class Calibrated(Protocol):
    """What export needs from a calibrated frame (``CalibratedFrame`` of the calibration)."""

    @property
    def ccd(self) -> Any: ...


#: Calibrates a raw frame in memory (``ScienceCalibrator.calibrate(path, output=False)``).
Calibrate = Callable[[Path], Calibrated]
#: Writes a calibrated frame atomically (``tasks.calibration.science.write_calibrated``).
Write = Callable[[Any, Path], int]


@dataclass(frozen=True)
class ExportResult:
    """What was exported."""

    request_id: int
    directory: Path
    files: int
    skipped: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "request_id": self.request_id,
            "directory": str(self.directory),
            "files": self.files,
            "skipped": self.skipped,
        }


def provenance_cards(header: fits.Header, context: dict[str, Any], image: dict[str, Any]) -> None:
    """Write the request's provenance into ``header`` (keywords ``PYREQ*``, ``PYSEQID``...)."""
    header["PYREQID"] = (context["request_id"], "PyROS request id")
    header["PYREQNM"] = (str(context["request_name"])[:60], "request name")
    header["PYUSER"] = (context["user"], "submitting user")
    header["PYPROG"] = (context["program"], "scientific program")
    header["PYSEQID"] = (int(image["sequence_id"]), "sequence id")
    header["PYIMGID"] = (image["id"], "image id (sequence, plan, index)")
    header["PYRAWSHA"] = image["sha256"]  # SHA-256 of the raw frame (no room for a comment)
    header["PYSOFT"] = (f"pyros {context['version']}"[:40], "exporting software")
    header["HISTORY"] = f"raw frame: {image['file']}"
    header["HISTORY"] = f"exported for request {context['request_id']} at {context['at']}"


def _context(session: Session, request_id: int, at: datetime) -> dict[str, Any]:
    request = find_request(session, request_id)
    user = session.get(User, request.user_id)
    program = session.get(ScientificProgram, request.program_id)
    return {
        "request_id": request.id,
        "request_name": request.name,
        "user": user.username if user else "",
        "program": program.name if program else "",
        "state": "cancelled" if request.cancelled_at is not None else "active",
        "at": at.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": code_version(),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_request(
    engine: Engine | None,
    request_id: int,
    directory: Path,
    at: datetime,
    *,
    calibrate: Calibrate,
    write: Write,
) -> ExportResult:
    """Export the calibrated frames of ``request_id`` into ``directory`` (new) with a manifest.

    Parameters
    ----------
    engine : Engine or None
        The database (read first, in one short transaction; calibrating reads the masters).
    request_id : int
        The request.
    directory : Path
        Where to write (must not exist; made at the end, whole).
    at : datetime
        The export instant (manifest and headers).
    calibrate, write : callable
        The calibration of one raw frame, and the atomic writer of the result.

    Raises
    ------
    AccessError
        No such request, ``directory`` exists, or the request has no image.
    """
    directory = Path(directory)
    if directory.exists():
        raise AccessError(f"{directory}: already exists (export writes a new folder)")
    with session_scope(engine) as session:
        context = _context(session, request_id, at)
        images = [i for i in request_images(session, request_id) if _is_light(session, i["id"])]
    if not images:
        raise AccessError(f"request {request_id}: no image to export")
    staging = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        entries = [_export_one(image, context, staging, calibrate, write) for image in images]
        manifest = {**context, "files": entries}
        payload = json.dumps(to_json_payload(manifest), indent=2, ensure_ascii=False)
        write_atomic(staging / MANIFEST, payload.encode("utf-8"))
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    skipped = sum(1 for e in entries if e["file"] is None)
    return ExportResult(request_id, directory, len(entries) - skipped, skipped)


def _is_light(session: Session, image_id: str) -> bool:
    image = session.get(Image, image_id)
    return image is not None and image.image_type == "light"


def _export_one(
    image: dict[str, Any],
    context: dict[str, Any],
    staging: Path,
    calibrate: Calibrate,
    write: Write,
) -> dict[str, Any]:
    """One frame calibrated, stamped and written; its manifest entry (a frame that cannot be
    calibrated is listed with the reason and no file)."""
    entry: dict[str, Any] = {
        "image_id": image["id"],
        "sequence_id": image["sequence_id"],
        "acquired_at": image["acquired_at"],
        "instrument": image["instrument"],
        "filter": image["filter"],
        "exposure_s": image["exposure_s"],
        "raw_file": image["file"],
        "raw_sha256": image["sha256"],
        "nrt": image["nrt"],
    }
    try:
        calibrated = calibrate(Path(image["file"]))
    except Exception as exc:  # the calibration's errors name the file and the problem
        return {**entry, "file": None, "sha256": None, "skipped": str(exc).splitlines()[0]}
    provenance_cards(calibrated.ccd.header, context, image)
    target = staging / f"{image['id']}.cal.fits"
    write(calibrated.ccd, target)
    return {**entry, "file": target.name, "sha256": _sha256(target)}
