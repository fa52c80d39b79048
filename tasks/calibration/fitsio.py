"""Writing FITS files atomically: a temporary file in the same directory, fsync, rename.

A reader never sees half a master or half a calibrated frame: the file appears whole under its
final name or not at all (DESIGN §4), and the directory entry is fsync'ed after the rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from pathlib import Path

from astropy.io import fits

from infra.files import fsync_directory


def write_fits_atomic(hdul: fits.HDUList, path: Path, *, digest: bool = False) -> tuple[str, int]:
    """Write ``hdul`` to ``path`` atomically.

    Parameters
    ----------
    hdul : HDUList
        What to write (verified: an invalid card raises before anything is written).
    path : Path
        Final name; its directory is created when missing.
    digest : bool
        Also return the file's SHA-256 (the bytes are then built in memory first, once).

    Returns
    -------
    tuple of (str, int)
        The SHA-256 (empty unless ``digest``) and the size in bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    sha256 = ""
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if digest:
                buffer = io.BytesIO()
                hdul.writeto(buffer, output_verify="exception")
                payload = buffer.getbuffer()
                sha256 = hashlib.sha256(payload).hexdigest()
                handle.write(payload)
                del payload
            else:
                hdul.writeto(handle, output_verify="exception")
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)
    return sha256, size
