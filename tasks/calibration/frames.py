"""Calibration frames on disk: opened once, checked, read in row bands.

:class:`OpenFrames` opens every input file once (no memory map: a BZERO-scaled 16-bit frame
cannot stay mapped anyway) and keeps it open while a master is built: the checks read the header
and a central window, the combine reads row bands through ``hdu.section``, which reads only the
bytes of those rows. ccdproc's ``combine`` instead calls ``CCDData.read`` on every input for
every chunk of the output, so its time grows as the square of the number of inputs
(astropy/ccdproc#1012).

A frame that cannot be used (truncated, not a 2-D image, wrong size, a required keyword
missing, another camera, filter, flat source or exposure than the set) is *rejected* with a
reason naming the file and the problem; the master is built from the rest.
"""

from __future__ import annotations

import contextlib
import math
import os
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy.typing as npt
from astropy.io import fits

#: Calibration frame types.
KINDS = ("bias", "dark", "flat")
#: Keywords a frame of each type must carry.
REQUIRED_KEYWORDS = {
    "bias": ("IMAGETYP", "INSTRUME"),
    "dark": ("IMAGETYP", "INSTRUME", "EXPTIME"),
    "flat": ("IMAGETYP", "INSTRUME", "EXPTIME", "FILTER"),
    "light": ("IMAGETYP", "INSTRUME", "EXPTIME", "DATE-OBS"),
}
#: Side of the central window read to check a frame and measure its level (pixels).
WINDOW_PX = 1024


class FrameError(ValueError):
    """A frame cannot be used; the message names the file and the problem."""


def ascii_fold(text: str) -> str:
    """FITS strings are ASCII: fold accents as the camera does (Mártir -> Martir)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def frame_kind(imagetyp: str) -> str:
    """Normalise IMAGETYP (``bias``, ``Bias Frame``, ``zero``, ``Flat Field``...) to a kind."""
    value = str(imagetyp).strip().lower()
    if "bias" in value or value == "zero":
        return "bias"
    if "dark" in value:
        return "dark"
    if "flat" in value:
        return "flat"
    return "light" if value in ("light", "object", "science", "light frame") else value


@dataclass(frozen=True)
class FrameInfo:
    """What the header and the file size say about one frame."""

    path: Path
    kind: str
    instrument: str
    shape: tuple[int, int]
    exposure_s: float
    filter: str
    flat_source: str
    date_obs: datetime | None
    saturate_adu: float | None
    gain: float | None
    image_id: str | None


def _date_obs(header: fits.Header) -> datetime | None:
    value = header.get("DATE-OBS")
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def describe(path: Path, hdul: fits.HDUList, kind: str | None = None) -> FrameInfo:
    """Check an open file's primary HDU and describe it.

    Parameters
    ----------
    path : Path
        The file (for messages and the size check).
    hdul : HDUList
        The open file.
    kind : str, optional
        Expected kind; its required keywords are checked (default: from IMAGETYP).

    Raises
    ------
    FrameError
        Truncated data, not a 2-D image, a missing or unreadable keyword.
    """
    hdu = hdul[0]
    header = hdu.header
    if header.get("NAXIS") != 2 or hdu.shape is None or len(hdu.shape) != 2:
        raise FrameError(f"{path}: not a 2-D image (NAXIS={header.get('NAXIS')})")
    height, width = hdu.shape
    bytes_per_pixel = abs(int(header["BITPIX"])) // 8
    data_end = hdul.fileinfo(0)["datLoc"] + width * height * bytes_per_pixel
    size = os.path.getsize(path)
    if size < data_end:
        raise FrameError(f"{path}: truncated: {size} bytes, the image needs {data_end}")
    if "IMAGETYP" not in header:
        raise FrameError(f"{path}: missing keyword IMAGETYP")
    actual = frame_kind(header["IMAGETYP"])
    for keyword in REQUIRED_KEYWORDS.get(kind or actual, REQUIRED_KEYWORDS["bias"]):
        if keyword not in header or header[keyword] in (None, ""):
            raise FrameError(f"{path}: missing keyword {keyword}")
    try:
        exposure = float(header.get("EXPTIME", 0.0) or 0.0)
    except (TypeError, ValueError):
        raise FrameError(f"{path}: EXPTIME is not a number ({header.get('EXPTIME')!r})") from None
    if not math.isfinite(exposure) or exposure < 0:
        raise FrameError(f"{path}: EXPTIME must be >= 0 (got {exposure})")

    def number(key: str) -> float | None:
        try:
            value = header.get(key)
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    image_id = header.get("IMAGEID")
    return FrameInfo(
        path=path,
        kind=actual,
        instrument=str(header["INSTRUME"]).strip(),
        shape=(int(height), int(width)),
        exposure_s=exposure,
        filter=str(header.get("FILTER", "") or "").strip(),
        flat_source=str(header.get("FLATTYPE", "") or "").strip().lower(),
        date_obs=_date_obs(header),
        saturate_adu=number("SATURATE"),
        gain=number("GAIN"),
        image_id=None if image_id is None else str(image_id),
    )


class OpenFrames:
    """Input frames, each opened once and kept open (use as a context manager).

    Files that cannot be opened or described are not kept: :attr:`rejected` lists them with
    the reason. :meth:`band` reads rows ``[r0, r1)`` of frame ``i`` (only those bytes).
    """

    def __init__(self, paths: Iterable[Path | str], kind: str | None = None) -> None:
        self._stack = contextlib.ExitStack()
        self.infos: list[FrameInfo] = []
        self._hdus: list[Any] = []  # astropy PrimaryHDU (untyped)
        self.rejected: list[dict[str, str]] = []
        for raw_path in paths:
            path = Path(raw_path)
            try:
                with warnings.catch_warnings():
                    # astropy warns "File may have been truncated" and goes on: we check the
                    # size ourselves and reject the frame with a clear reason.
                    warnings.simplefilter("ignore")
                    hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
            except FileNotFoundError:
                self.rejected.append({"path": str(path), "reason": f"{path}: no such file"})
                continue
            except (OSError, ValueError, TypeError) as exc:
                reason = f"{path}: not a readable FITS file ({str(exc).splitlines()[0]})"
                self.rejected.append({"path": str(path), "reason": reason})
                continue
            try:
                info = describe(path, hdul, kind)
            except FrameError as exc:
                hdul.close()
                self.rejected.append({"path": str(path), "reason": str(exc)})
                continue
            except Exception as exc:  # a mangled header: reject the frame, never crash
                hdul.close()
                reason = f"{path}: unreadable header ({type(exc).__name__}: {exc})"
                self.rejected.append({"path": str(path), "reason": reason})
                continue
            self._stack.callback(hdul.close)
            self.infos.append(info)
            self._hdus.append(hdul[0])

    def __enter__(self) -> OpenFrames:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every file."""
        self._stack.close()
        self._hdus.clear()

    def __len__(self) -> int:
        return len(self.infos)

    def reject(self, indices: Sequence[int], reasons: Sequence[str]) -> None:
        """Drop frames ``indices`` (with their reasons) from the set; their files stay open."""
        drop = dict(zip(indices, reasons, strict=True))
        for index, reason in sorted(drop.items()):
            self.rejected.append({"path": str(self.infos[index].path), "reason": reason})
        keep = [i for i in range(len(self.infos)) if i not in drop]
        self.infos = [self.infos[i] for i in keep]
        self._hdus = [self._hdus[i] for i in keep]

    def band(self, index: int, r0: int, r1: int) -> npt.NDArray[Any]:
        """Rows ``[r0, r1)`` of frame ``index``, in the file's own type (uint16 for the cameras)."""
        try:
            rows: npt.NDArray[Any] = self._hdus[index].section[r0:r1, :]
            return rows
        except Exception as exc:
            raise FrameError(f"{self.infos[index].path}: rows {r0}-{r1} unreadable: {exc}") from exc

    def window(self, index: int, size: int = WINDOW_PX) -> npt.NDArray[Any]:
        """The central ``size`` x ``size`` window of frame ``index`` (all of a smaller frame)."""
        rows, columns = central_window(self.infos[index].shape, size)
        pixels: npt.NDArray[Any] = self._hdus[index].section[rows, columns]
        return pixels


def central_window(shape: tuple[int, int], size: int = WINDOW_PX) -> tuple[slice, slice]:
    """Slices of the central ``size`` x ``size`` window of an image of ``shape``."""
    height, width = shape
    h, w = min(size, height), min(size, width)
    r0, c0 = (height - h) // 2, (width - w) // 2
    return slice(r0, r0 + h), slice(c0, c0 + w)


def majority(values: Sequence[str]) -> str:
    """The most common value (the first seen among equals)."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return max(counts, key=lambda v: counts[v]) if counts else ""
