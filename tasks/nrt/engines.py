"""The two extraction engines, SEP and photutils, behind one interface.

An engine subtracts the background, detects sources, refines centroids and sums apertures
(:class:`ExtractionEngine`); :mod:`~tasks.nrt.extract` runs the steps. Both engines flag a
measured source the same way (:data:`FLAG_MASKED`, :data:`FLAG_EDGE`, :data:`FLAG_SATURATED`,
:data:`FLAG_BLEND`) and count pixel centres at integers (0-based), as astropy and photutils do.

SEP (``engine = "sep"``) does each step in C; photutils (``engine = "photutils"``) with
``Background2D``, ``detect_sources`` and ``aperture_photometry``. ``docs/benchmarks.md`` has the
side-by-side figures; SEP is the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
from scipy import ndimage

#: SEP's largest pixel stack (every pixel above threshold of a crowded 4096² frame).
SEP_PIXSTACK = 5_000_000
SEP_SUBOBJECTS = 4096
#: Flags of a measured source.
FLAG_MASKED = 1  # a masked (bad or saturated) pixel lies within the aperture
FLAG_EDGE = 2  # the aperture leaves the frame
FLAG_SATURATED = 4  # the source is saturated (its peak reaches the saturation level)
FLAG_BLEND = 8  # deblended from a larger object
#: SEP's default detection filter (a 3x3 pyramid); the photutils engine uses the same.
DEFAULT_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32)

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.int32]
Image = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


@dataclass
class Detections:
    """What detection gives before photometry."""

    x: Floats
    y: Floats
    peak: Floats
    a: Floats
    b: Floats
    flags: Flags


class ExtractionEngine(Protocol):
    """Background, detection, centroids and aperture sums on a float32 frame."""

    name: ClassVar[str]

    def subtract_background(self, data: Image, mask: Mask | None, box: int) -> tuple[float, float]:
        """Subtract the background from ``data`` in place; its global level and RMS (ADU)."""
        ...

    def detect(
        self,
        data: Image,
        mask: Mask | None,
        rms: float,
        threshold: float,
        min_area: int,
        kernel: Image | None = None,
    ) -> Detections:
        """Sources above ``threshold`` × ``rms`` (matched filter), at least ``min_area`` pixels."""
        ...

    def centroid(
        self, data: Image, x: Floats, y: Floats, fwhm: float, mask: Mask | None
    ) -> tuple[Floats, Floats]:
        """Refined centres (the given ones where the refinement fails or runs away)."""
        ...

    def sum_circle(
        self,
        data: Image,
        x: Floats,
        y: Floats,
        radius: float,
        rms: float,
        gain: float,
        mask: Mask | None,
    ) -> tuple[Floats, Floats, Flags]:
        """Flux in circles of ``radius``, its error and the aperture flags, per position."""
        ...


class SepEngine:
    """Background, detection and photometry with SEP."""

    name: ClassVar[str] = "sep"

    def __init__(self) -> None:
        # SEP is loaded when this engine is chosen (a C extension; photutils may be chosen).
        import sep

        sep.set_sub_object_limit(SEP_SUBOBJECTS)
        self.sep: ModuleType = sep

    def subtract_background(self, data: Image, mask: Mask | None, box: int) -> tuple[float, float]:
        bkg = self.sep.Background(data, mask=mask, bw=box, bh=box, fw=3, fh=3)
        bkg.subfrom(data)
        return float(bkg.globalback), float(bkg.globalrms)

    def detect(
        self,
        data: Image,
        mask: Mask | None,
        rms: float,
        threshold: float,
        min_area: int,
        kernel: Image | None = None,
    ) -> Detections:
        # SEP allocates its pixel stack on every call: size it to the frame (a third of the pixels
        # above threshold is far beyond the most crowded field).
        self.sep.set_extract_pixstack(int(min(SEP_PIXSTACK, max(300_000, data.size // 3))))
        options = {} if kernel is None else {"filter_kernel": kernel}
        objects = self.sep.extract(
            data, threshold, err=rms, mask=mask, minarea=min_area, deblend_cont=0.005, **options
        )
        flags = np.where(objects["flag"] & self.sep.OBJ_MERGED, FLAG_BLEND, 0)
        return Detections(
            x=objects["x"].astype(float),
            y=objects["y"].astype(float),
            peak=objects["peak"].astype(float),
            a=objects["a"].astype(float),
            b=objects["b"].astype(float),
            flags=flags.astype(np.int32),
        )

    def centroid(
        self, data: Image, x: Floats, y: Floats, fwhm: float, mask: Mask | None
    ) -> tuple[Floats, Floats]:
        if len(x) == 0:
            return x, y
        sig = np.full(len(x), fwhm / 2.3548)
        xw, yw, flag = self.sep.winpos(data, x, y, sig, mask=mask)
        bad = (flag != 0) | ~np.isfinite(xw) | ~np.isfinite(yw)
        bad |= (np.abs(xw - x) > fwhm) | (np.abs(yw - y) > fwhm)
        return np.where(bad, x, xw), np.where(bad, y, yw)

    def sum_circle(
        self,
        data: Image,
        x: Floats,
        y: Floats,
        radius: float,
        rms: float,
        gain: float,
        mask: Mask | None,
    ) -> tuple[Floats, Floats, Flags]:
        flux, err, flag = self.sep.sum_circle(
            data, x, y, radius, err=rms, gain=gain, mask=mask, subpix=5
        )
        flags = np.where(flag & self.sep.APER_HASMASKED, FLAG_MASKED, 0)
        flags |= np.where(flag & self.sep.APER_TRUNC, FLAG_EDGE, 0)
        return flux.astype(float), err.astype(float), flags.astype(np.int32)


class PhotutilsEngine:
    """Background, detection and photometry with photutils (and scipy for the convolution).

    photutils is imported by each method: it is loaded only when this engine is chosen (it takes
    about a second; SEP is the default).
    """

    name: ClassVar[str] = "photutils"

    def subtract_background(self, data: Image, mask: Mask | None, box: int) -> tuple[float, float]:
        from photutils.background import Background2D, SExtractorBackground

        bkg = Background2D(
            data, (box, box), filter_size=(3, 3), mask=mask, bkg_estimator=SExtractorBackground()
        )
        data -= bkg.background.astype(np.float32)
        return float(bkg.background_median), float(bkg.background_rms_median)

    def detect(
        self,
        data: Image,
        mask: Mask | None,
        rms: float,
        threshold: float,
        min_area: int,
        kernel: Image | None = None,
    ) -> Detections:
        from photutils.segmentation import SourceCatalog, detect_sources

        if kernel is None:  # SEP's default matched filter (a 3x3 pyramid): both engines alike
            kernel = DEFAULT_KERNEL
        kernel = (kernel / kernel.sum()).astype(np.float32)
        convolved = ndimage.convolve(data, kernel, mode="nearest")
        noise = rms * float(np.sqrt((kernel**2).sum()))
        segments = detect_sources(convolved, threshold * noise, min_area, mask=mask)
        if segments is None:
            empty = np.empty(0)
            return Detections(empty, empty, empty, empty, empty, np.empty(0, dtype=np.int32))
        catalog = SourceCatalog(data, segments, mask=mask)
        x = np.asarray(catalog.x_centroid, dtype=float)
        y = np.asarray(catalog.y_centroid, dtype=float)
        good = np.isfinite(x) & np.isfinite(y)
        peak = np.asarray(catalog.max_value, dtype=float)
        a = np.asarray(catalog.semimajor_axis.value, dtype=float)
        b = np.asarray(catalog.semiminor_axis.value, dtype=float)
        return Detections(
            x[good],
            y[good],
            peak[good],
            a[good],
            b[good],
            np.zeros(int(good.sum()), dtype=np.int32),
        )

    def centroid(
        self, data: Image, x: Floats, y: Floats, fwhm: float, mask: Mask | None
    ) -> tuple[Floats, Floats]:
        from photutils.centroids import centroid_quadratic, centroid_sources

        box = max(5, int(2 * round(fwhm) + 1))
        xc, yc = centroid_sources(
            data, x, y, box_size=box, mask=mask, centroid_func=centroid_quadratic
        )
        bad = ~np.isfinite(xc) | ~np.isfinite(yc) | (np.hypot(xc - x, yc - y) > fwhm)
        return np.where(bad, x, xc), np.where(bad, y, yc)

    def sum_circle(
        self,
        data: Image,
        x: Floats,
        y: Floats,
        radius: float,
        rms: float,
        gain: float,
        mask: Mask | None,
    ) -> tuple[Floats, Floats, Flags]:
        from photutils.aperture import CircularAperture, aperture_photometry

        radius = float(np.atleast_1d(radius)[0]) if np.ndim(radius) else float(radius)
        if len(x) == 0:
            empty = np.empty(0)
            return empty, empty, np.empty(0, dtype=np.int32)
        aperture = CircularAperture(np.column_stack([x, y]), r=radius)
        table = aperture_photometry(data, aperture, mask=mask, method="subpixel", subpixels=5)
        flux = np.asarray(table["aperture_sum"], dtype=float)
        area = np.pi * radius**2
        err = np.sqrt(area * rms**2 + np.maximum(flux, 0.0) / gain)
        height, width = data.shape
        flags = np.zeros(len(x), dtype=np.int32)
        outside = (x - radius < -0.5) | (y - radius < -0.5)
        outside |= (x + radius > width - 0.5) | (y + radius > height - 0.5)
        flags[outside] |= FLAG_EDGE
        if mask is not None:
            masked = aperture_photometry(mask.astype(np.float32), aperture, method="center")
            flags[np.asarray(masked["aperture_sum"]) > 0] |= FLAG_MASKED
        return flux, err, flags


def make_engine(name: str) -> ExtractionEngine:
    """The extraction engine called ``name`` (``sep`` or ``photutils``)."""
    if name == "sep":
        return SepEngine()
    if name == "photutils":
        return PhotutilsEngine()
    raise ValueError(f"unknown extraction engine {name!r} (sep or photutils)")
