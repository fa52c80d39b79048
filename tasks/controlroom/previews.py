"""PNG thumbnails of frames with an astronomer's stretch and the NRT candidates circled.

Pure functions: a frame (array or FITS file) and the candidates' pixel positions in, PNG bytes
out. The stretch is astropy's (:mod:`astropy.visualization`): ``zscale`` is linear between
IRAF's zscale limits (the sky and faint stars show, bright stars saturate), ``asinh`` an asinh
stretch over the 99.5 % interval (faint and bright sources both show). The preview is shown as
astronomers show frames: row 0 at the bottom (FITS and ``x``/``y`` of the analysis, 0-based).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.visualization import (
    AsinhStretch,
    BaseInterval,
    BaseStretch,
    LinearStretch,
    ManualInterval,
    PercentileInterval,
    ZScaleInterval,
)
from PIL import Image, ImageDraw

Stretch = Literal["zscale", "asinh"]

#: Colour of a candidate's circle (red on the grey frame).
CIRCLE_RGB = (255, 48, 48)
#: Radius of a candidate's circle in preview pixels (visible whatever the frame's binning).
CIRCLE_RADIUS_PX = 9


class PreviewError(ValueError):
    """A frame cannot be previewed; the message says why."""


def normalized(data: npt.ArrayLike, stretch: Stretch = "zscale") -> npt.NDArray[np.float64]:
    """The frame mapped to [0, 1] by the named stretch (NaNs and infinities shown black).

    Raises
    ------
    PreviewError
        When ``data`` is not a 2-D image or has no finite pixel, or ``stretch`` is unknown.
    """
    image = np.asarray(data, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise PreviewError(f"a preview needs a 2-D image, not shape {image.shape}")
    finite = np.isfinite(image)
    if not finite.any():
        raise PreviewError("the image has no finite pixel")
    interval: BaseInterval
    curve: BaseStretch
    if stretch == "zscale":
        interval, curve = ZScaleInterval(), LinearStretch()
    elif stretch == "asinh":
        interval, curve = PercentileInterval(99.5), AsinhStretch(0.1)
    else:
        raise PreviewError(f"unknown stretch {stretch!r} (zscale or asinh)")
    # The limits from the finite pixels only (ImageNormalize would need matplotlib).
    vmin, vmax = interval.get_limits(image[finite])
    unit = ManualInterval(vmin, vmax)(np.where(finite, image, vmin), clip=True)
    scaled = np.asarray(curve(unit, clip=True), dtype=np.float64)
    return np.where(finite, np.nan_to_num(scaled, nan=0.0), 0.0)


def binned(image: npt.NDArray[Any], factor: int) -> npt.NDArray[np.float32]:
    """``image`` averaged over ``factor`` x ``factor`` blocks (the last partial rows and columns
    dropped); a block with a NaN is NaN. A 4096² frame binned to the preview's scale first costs
    a tenth of the time and memory of stretching it whole."""
    data = np.asarray(image, dtype=np.float32)
    if factor <= 1:
        return data
    rows, columns = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    blocks = data[:rows, :columns].reshape(rows // factor, factor, columns // factor, factor)
    return np.asarray(blocks.mean(axis=(1, 3), dtype=np.float32), dtype=np.float32)


def preview_size(shape: tuple[int, ...], size_px: int) -> tuple[int, int]:
    """``(width, height)`` of the preview of a frame of ``shape`` (rows, columns): its longest
    side ``size_px``, its aspect kept."""
    if size_px < 1:
        raise PreviewError(f"size_px must be positive, not {size_px}")
    rows, columns = shape[0], shape[1]
    scale = size_px / max(rows, columns)
    return max(1, round(columns * scale)), max(1, round(rows * scale))


def render_preview(
    data: npt.ArrayLike,
    candidates: Iterable[Mapping[str, Any]] = (),
    *,
    size_px: int = 512,
    stretch: Stretch = "zscale",
) -> bytes:
    """The PNG preview of a frame, the candidates circled.

    Parameters
    ----------
    data : array_like
        The frame (rows, columns), FITS orientation (row 0 at the bottom).
    candidates : iterable of mappings
        Each with ``x`` and ``y``: 0-based pixel position in ``data`` (the NRT analysis rows').
        Those without a position are skipped.
    size_px : int
        Longest side of the preview.
    stretch : {"zscale", "asinh"}
        See :func:`normalized`.

    Returns
    -------
    bytes
        The PNG file (RGB).
    """
    frame = np.asarray(data)
    if frame.ndim != 2 or frame.size == 0:
        raise PreviewError(f"a preview needs a 2-D image, not shape {frame.shape}")
    width, height = preview_size(frame.shape, size_px)
    # Bin to at least twice the preview's scale: the resampling below still smooths the noise.
    factor = max(1, max(frame.shape) // (2 * max(width, height)))
    levels = normalized(binned(frame, factor), stretch)
    rows, columns = levels.shape
    grey = Image.fromarray(np.flipud(np.round(levels * 255.0).astype(np.uint8)), mode="L")
    picture = grey.resize((width, height), Image.Resampling.LANCZOS).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for candidate in candidates:
        x, y = candidate.get("x"), candidate.get("y")
        if x is None or y is None:
            continue
        # Pixel centres: 0-based (x, y) is at ((x + 0.5) / factor, rows - (y + 0.5) / factor)
        # in the binned, flipped frame.
        px = (float(x) + 0.5) / factor * width / columns
        py = (rows - (float(y) + 0.5) / factor) * height / rows
        r = CIRCLE_RADIUS_PX
        draw.ellipse((px - r, py - r, px + r, py + r), outline=CIRCLE_RGB, width=2)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=False)
    return out.getvalue()


def read_frame(path: Path | str) -> npt.NDArray[np.float32]:
    """The first 2-D image of the FITS file at ``path``.

    Raises
    ------
    PreviewError
        When the file is unreadable or holds no 2-D image.
    """
    try:
        with fits.open(path, memmap=False) as hdus:
            for hdu in hdus:
                if hdu.data is not None and np.ndim(hdu.data) == 2:
                    return np.asarray(hdu.data, dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise PreviewError(f"cannot read {path}: {exc}") from exc
    raise PreviewError(f"{path} holds no 2-D image")


def preview_of_file(
    path: Path | str,
    candidates: Iterable[Mapping[str, Any]] = (),
    *,
    size_px: int = 512,
    stretch: Stretch = "zscale",
) -> bytes:
    """:func:`render_preview` of the FITS frame at ``path``."""
    return render_preview(read_frame(path), candidates, size_px=size_px, stretch=stretch)
