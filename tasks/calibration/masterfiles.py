"""Master files: names, atomic writing, reading back (with the bad-pixel mask)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from tasks.calibration.fitsio import write_fits_atomic
from tasks.calibration.frames import ascii_fold
from tasks.calibration.masters import MasterBuild, MasterError, MasterRef


def master_filename(build: MasterBuild, created_at: datetime) -> str:
    """``<type>[-<filter>][-<source>][-<exposure>s]-<UTC stamp>.fits``, safe characters only."""
    parts = [build.kind]
    if build.filter:
        parts.append(build.filter)
    if build.flat_source:
        parts.append(build.flat_source)
    if build.kind == "dark":
        parts.append(f"{build.exposure_s:g}s")
    parts.append(created_at.strftime("%Y%m%dT%H%M%S%f"))
    return "-".join(_slug(p) for p in parts) + ".fits"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", ascii_fold(text)).strip("_") or "x"


def write_master(build: MasterBuild, directory: Path, created_at: datetime) -> tuple[Path, str]:
    """Write a good master atomically under ``directory/<night>/<camera>/``.

    Returns the path and the file's SHA-256. The data is float32; the bad-pixel mask, when there
    is one, is a ``BPM`` image extension (uint8, 1 = bad).
    """
    if not build.ok or build.data is None or build.header is None:
        raise MasterError(f"no master to write: {build.reason}")
    path = Path(directory) / build.night / _slug(build.camera) / master_filename(build, created_at)
    hdus = [fits.PrimaryHDU(data=build.data, header=build.header)]
    if build.bpm is not None:
        hdus.append(fits.ImageHDU(data=build.bpm.astype(np.uint8), name="BPM"))
    sha256, _ = write_fits_atomic(fits.HDUList(hdus), path, digest=True)
    return path, sha256


def read_master(
    path: Path | str,
    *,
    id: int | None = None,
    kind: str | None = None,
    night: str | None = None,
) -> MasterRef:
    """Load a master file (data float32, read-only; mask from its ``BPM`` extension).

    ``id`` is the master's row (None: unknown); ``kind`` and ``night``, when given, override
    what the header says (the database's word on its master).

    Raises
    ------
    MasterError
        The file is missing or unreadable.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data, dtype=np.float32)
            bpm = np.asarray(hdul["BPM"].data, dtype=bool) if "BPM" in hdul else None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise MasterError(f"master {path} unreadable: {exc}") from None
    if data.ndim != 2:
        raise MasterError(f"master {path} is not a 2-D image")
    data.flags.writeable = False
    if bpm is not None:
        bpm.flags.writeable = False
    header_kind = str(header.get("IMAGETYP", "")).removeprefix("master")
    return MasterRef(
        id=id,
        kind=header_kind if kind is None else kind,
        path=str(path),
        night=str(header.get("NIGHT", "")) if night is None else night,
        data=data,
        bpm=bpm,
        exposure_s=float(header.get("EXPTIME", 0.0) or 0.0),
        filter=str(header.get("FILTER", "")),
        flat_source=str(header.get("FLATTYPE", "")) if header_kind == "flat" else "",
        header=header,
    )
