"""Writing a rendered frame: the truth first, then the FITS, each atomically.

Each file is written to a temporary name in the same directory, flushed, fsync'ed and renamed
over its final name (then the directory is fsync'ed), so a reader never sees half a file. The
truth goes first: when the FITS appears, its truth is already beside it (``frame.fits`` →
``frame.truth.ecsv``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from infra.files import write_atomic
from simulators.sky.request import RenderedFrame

TRUTH_SUFFIX = ".truth.ecsv"


@dataclass(frozen=True)
class FrameFiles:
    """Where a frame went: its FITS, its truth, and the FITS's SHA-256 and size."""

    fits_path: Path
    truth_path: Path
    sha256: str
    size_bytes: int


def truth_path_for(fits_path: Path | str) -> Path:
    """``frame.fits`` → ``frame.truth.ecsv`` (any ``.fits``/``.fit``/``.fts`` suffix)."""
    path = Path(fits_path)
    stem = path.name
    for suffix in (".fits", ".fit", ".fts"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return path.with_name(stem + TRUTH_SUFFIX)


def fits_bytes(rendered: RenderedFrame) -> bytes:
    """The frame as FITS bytes (primary HDU, unsigned 16-bit via BZERO = 32768)."""
    hdu = fits.PrimaryHDU(data=rendered.data, header=rendered.header.copy())
    buffer = io.BytesIO()
    hdu.writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def truth_bytes(rendered: RenderedFrame) -> bytes:
    """The truth table as ECSV bytes.

    astropy writes the ECSV header (schema and ``meta``); the rows are formatted by NumPy, which
    is ~20× faster than astropy's row-by-row writer on crowded fields (10⁵ rows). Floats keep 17
    significant digits (exact round trip); strings are quoted when they hold a space or a quote.
    """
    table = rendered.truth
    buffer = io.StringIO()
    table[:0].write(buffer, format="ascii.ecsv")
    if not len(table):
        return buffer.getvalue().encode("utf-8")
    formats, columns = [], []
    for name in table.colnames:
        column = np.asarray(table[name])
        if column.dtype.kind == "f":
            formats.append("%.17g")
            columns.append(column.astype(object))
        elif column.dtype.kind in "iu":
            formats.append("%d")
            columns.append(column.astype(object))
        elif column.dtype.kind == "b":
            formats.append("%s")
            columns.append(np.where(column, "True", "False").astype(object))
        else:
            formats.append("%s")
            columns.append(np.array([_ecsv_string(v) for v in column], dtype=object))
    rows = io.StringIO()
    np.savetxt(rows, np.column_stack(columns), fmt=formats, delimiter=" ")
    return (buffer.getvalue() + rows.getvalue()).encode("utf-8")


def _ecsv_string(value: str) -> str:
    if value == "" or any(c in value for c in ' "\t'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_frame(rendered: RenderedFrame, path: Path | str) -> FrameFiles:
    """Write the frame's truth, then its FITS, atomically.

    Parameters
    ----------
    rendered : RenderedFrame
        From :func:`~simulators.sky.render.render_frame`.
    path : Path or str
        The FITS path; the truth goes beside it (:func:`truth_path_for`).

    Returns
    -------
    FrameFiles
        Both paths, and the FITS's SHA-256 and size (for the image's database row).
    """
    fits_path = Path(path)
    truth = truth_path_for(fits_path)
    write_atomic(truth, truth_bytes(rendered))
    payload = fits_bytes(rendered)
    write_atomic(fits_path, payload)
    return FrameFiles(fits_path, truth, hashlib.sha256(payload).hexdigest(), len(payload))


def read_truth(fits_path: Path | str) -> Table:
    """The truth table written beside ``fits_path`` (astropy Table, meta included)."""
    return Table.read(truth_path_for(fits_path), format="ascii.ecsv")
