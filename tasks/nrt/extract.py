"""Background, source detection and aperture photometry, with SEP or photutils.

Both engines produce the same :class:`Extraction` (0-based pixel positions, pixel centres at
integers as astropy and photutils count). The steps:

1. **background**: a mesh of ``background_box_px`` boxes (sigma-clipped mode estimate), median
   filtered 3×3 and interpolated; subtracted in place; its global RMS is the pixel noise;
2. **detection**: matched-filter detection above ``detect_threshold_sigma`` × RMS, at least
   ``detect_min_area_px`` connected pixels, masked (bad, saturated) pixels ignored — except
   one-pixel-wide defects (dead columns, hot pixels), interpolated from their neighbours for
   detection and centroids so that they do not split a source in two;
3. **FWHM and curve of growth** (:mod:`~tasks.nrt.photcal`): from the brightest clean stars;
4. **centroids** refined in a Gaussian window of the FWHM, then **aperture photometry** in a
   circle of ``aperture_fwhm`` × FWHM, corrected to total flux by the curve of growth. Flux
   errors: ``sqrt(A σ² + F / g)`` (ADU) — background noise over the aperture plus photon noise.

SEP (``engine = "sep"``) does each step in C; photutils (``engine = "photutils"``) with
``Background2D``, ``detect_sources`` and ``aperture_photometry``. ``docs/benchmarks.md`` has the
side-by-side figures; SEP is the default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

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


@dataclass
class Extraction:
    """Sources measured on a frame (arrays of equal length) and the frame's background."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray  # ADU, total (aperture corrected)
    flux_err: np.ndarray  # ADU
    flux_aperture: np.ndarray  # ADU within the aperture
    peak: np.ndarray  # ADU above background, brightest pixel
    a: np.ndarray  # second-moment semi-axes (px)
    b: np.ndarray
    flags: np.ndarray
    background_adu: float
    background_rms_adu: float
    fwhm_px: float
    aperture_px: float
    aperture_correction: float  # total / aperture flux
    growth_radii_px: np.ndarray
    growth_ee: np.ndarray
    engine: str
    seconds: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def snr(self) -> np.ndarray:
        """Measured signal-to-noise ratio (aperture flux over its error)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.flux_err > 0, self.flux_aperture / self.flux_err, 0.0)

    @property
    def sharpness(self) -> np.ndarray:
        """Peak pixel over aperture flux (cosmic rays and hot pixels are sharper than stars)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.flux_aperture > 0, self.peak / self.flux_aperture, np.inf)

    def subset(self, keep: np.ndarray) -> Extraction:
        """The sources selected by ``keep`` (boolean or index array)."""
        values = dict(vars(self))
        for name in ("x", "y", "flux", "flux_err", "flux_aperture", "peak", "a", "b", "flags"):
            values[name] = getattr(self, name)[keep]
        return Extraction(**values)


@dataclass
class Detections:
    """What detection gives before photometry."""

    x: np.ndarray
    y: np.ndarray
    peak: np.ndarray
    a: np.ndarray
    b: np.ndarray
    flags: np.ndarray


class SepEngine:
    """Background, detection and photometry with SEP."""

    name = "sep"

    def __init__(self) -> None:
        import sep

        sep.set_sub_object_limit(SEP_SUBOBJECTS)
        self.sep = sep

    def subtract_background(self, data: np.ndarray, mask, box: int) -> tuple[float, float]:
        bkg = self.sep.Background(data, mask=mask, bw=box, bh=box, fw=3, fh=3)
        bkg.subfrom(data)
        return float(bkg.globalback), float(bkg.globalrms)

    def detect(
        self,
        data,
        mask,
        rms: float,
        threshold: float,
        min_area: int,
        kernel: np.ndarray | None = None,
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

    def centroid(self, data, x, y, fwhm: float, mask) -> tuple[np.ndarray, np.ndarray]:
        if len(x) == 0:
            return x, y
        sig = np.full(len(x), fwhm / 2.3548)
        xw, yw, flag = self.sep.winpos(data, x, y, sig, mask=mask)
        bad = (flag != 0) | ~np.isfinite(xw) | ~np.isfinite(yw)
        bad |= (np.abs(xw - x) > fwhm) | (np.abs(yw - y) > fwhm)
        return np.where(bad, x, xw), np.where(bad, y, yw)

    def sum_circle(self, data, x, y, radius, rms: float, gain: float, mask):
        flux, err, flag = self.sep.sum_circle(
            data, x, y, radius, err=rms, gain=gain, mask=mask, subpix=5
        )
        flags = np.where(flag & self.sep.APER_HASMASKED, FLAG_MASKED, 0)
        flags |= np.where(flag & self.sep.APER_TRUNC, FLAG_EDGE, 0)
        return flux.astype(float), err.astype(float), flags.astype(np.int32)


class PhotutilsEngine:
    """Background, detection and photometry with photutils (and scipy for the convolution)."""

    name = "photutils"

    def subtract_background(self, data: np.ndarray, mask, box: int) -> tuple[float, float]:
        from photutils.background import Background2D, SExtractorBackground

        bkg = Background2D(
            data, (box, box), filter_size=(3, 3), mask=mask, bkg_estimator=SExtractorBackground()
        )
        data -= bkg.background.astype(np.float32)
        return float(bkg.background_median), float(bkg.background_rms_median)

    def detect(
        self,
        data,
        mask,
        rms: float,
        threshold: float,
        min_area: int,
        kernel: np.ndarray | None = None,
    ) -> Detections:
        from photutils.segmentation import SourceCatalog, detect_sources
        from scipy import ndimage

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

    def centroid(self, data, x, y, fwhm: float, mask) -> tuple[np.ndarray, np.ndarray]:
        from photutils.centroids import centroid_quadratic, centroid_sources

        box = max(5, int(2 * round(fwhm) + 1))
        xc, yc = centroid_sources(
            data, x, y, box_size=box, mask=mask, centroid_func=centroid_quadratic
        )
        bad = ~np.isfinite(xc) | ~np.isfinite(yc) | (np.hypot(xc - x, yc - y) > fwhm)
        return np.where(bad, x, xc), np.where(bad, y, yc)

    def sum_circle(self, data, x, y, radius, rms: float, gain: float, mask):
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


def make_engine(name: str):
    """The extraction engine called ``name`` (``sep`` or ``photutils``)."""
    if name == "sep":
        return SepEngine()
    if name == "photutils":
        return PhotutilsEngine()
    raise ValueError(f"unknown extraction engine {name!r} (sep or photutils)")


def extract(
    data: np.ndarray,
    mask: np.ndarray | None,
    *,
    gain: float,
    saturation_adu: float | None,
    engine,
    box: int = 64,
    threshold: float = 1.5,
    min_area: int = 5,
    aperture_fwhm: float = 1.5,
) -> Extraction:
    """Subtract the background of ``data`` (in place), detect and measure the sources.

    Parameters
    ----------
    data : ndarray
        Calibrated frame (float32 ADU, C-contiguous); modified: the background is subtracted.
    mask : ndarray of bool, optional
        Bad and saturated pixels (ignored by detection, flagged in photometry).
    gain : float
        e⁻/ADU (photon noise of the sources).
    saturation_adu : float, optional
        Peak level (above background) at which a source counts as saturated.
    engine : SepEngine or PhotutilsEngine
        See :func:`make_engine`.
    """
    from tasks.nrt.photcal import growth_curve

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    bad = ~np.isfinite(data)
    if bad.any():
        data[bad] = 0.0
        mask = bad if mask is None else (mask | bad)
    box = max(8, min(box, min(data.shape) // 2))
    back, rms = engine.subtract_background(data, mask, box)
    seconds["background"] = time.perf_counter() - started
    # Detection and centroids see one-pixel defects (dead columns and rows, hot pixels)
    # interpolated from their neighbours, so that a defect crossing a source does not split it
    # into two half-sources; photometry sees the frame as it is (and flags the masked pixels).
    filled, original, seen_mask = fill_thin_defects(data, mask)
    found = engine.detect(data, seen_mask, rms, threshold, min_area)
    seconds["detect"] = time.perf_counter() - seconds["background"] - started
    mark = time.perf_counter()
    fwhm_guess = _moment_fwhm(found, rms)
    x, y = found.x, found.y
    flags = found.flags.copy()
    if saturation_adu is not None:
        flags[found.peak + back >= 0.98 * saturation_adu] |= FLAG_SATURATED
    # Growth-curve stars must look like stars (not cosmic rays or hot pixels).
    sharp = np.sqrt(found.a * found.b) < 0.6 * fwhm_guess / 2.3548
    radii, ee, fwhm, _ = growth_curve(
        engine, data, x, y, found.peak, flags | sharp.astype(np.int32), rms, gain, fwhm_guess, mask
    )
    # Windowed centroids for the sources that can be measured (noise peaks keep their isophotal
    # ones: they are never reported).
    bright = found.peak >= 3.0 * rms
    x, y = x.copy(), y.copy()
    x[bright], y[bright] = engine.centroid(data, x[bright], y[bright], fwhm, seen_mask)
    if filled is not None:
        data[filled] = original
    aperture = aperture_fwhm * fwhm
    flux_ap, err, aperture_flags = engine.sum_circle(data, x, y, aperture, rms, gain, mask)
    flags |= aperture_flags
    correction = 1.0 / float(np.interp(aperture, radii, ee)) if len(radii) else 1.0
    seconds["photometry"] = time.perf_counter() - mark
    return Extraction(
        x=x,
        y=y,
        flux=flux_ap * correction,
        flux_err=err * correction,
        flux_aperture=flux_ap,
        peak=found.peak,
        a=found.a,
        b=found.b,
        flags=flags,
        background_adu=back,
        background_rms_adu=rms,
        fwhm_px=fwhm,
        aperture_px=aperture,
        aperture_correction=correction,
        growth_radii_px=radii,
        growth_ee=ee,
        engine=engine.name,
        seconds=seconds,
    )


def fill_thin_defects(data: np.ndarray, mask: np.ndarray | None):
    """Interpolate, in place, masked pixels whose two opposite neighbours are measured.

    A masked pixel between two unmasked ones along its row (else its column) takes their mean:
    one-pixel-wide defects — dead columns and rows, hot pixels — disappear, wider masked areas
    (saturated cores) stay masked. Returns the filled pixels (index arrays, None when none), their
    original values (to restore) and the mask of the pixels left masked.
    """
    if mask is None or not mask.any():
        return None, None, mask
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    value = np.full(len(ys), np.nan, dtype=np.float64)
    for dy, dx in ((0, 1), (1, 0)):
        y0, x0, y1, x1 = ys - dy, xs - dx, ys + dy, xs + dx
        inside = (y0 >= 0) & (x0 >= 0) & (y1 < height) & (x1 < width)
        ok = np.zeros(len(ys), dtype=bool)
        ok[inside] = ~mask[y0[inside], x0[inside]] & ~mask[y1[inside], x1[inside]]
        ok &= np.isnan(value)
        value[ok] = 0.5 * (
            data[y0[ok], x0[ok]].astype(np.float64) + data[y1[ok], x1[ok]].astype(np.float64)
        )
    done = np.isfinite(value)
    if not done.any():
        return None, None, mask
    filled = (ys[done], xs[done])
    original = data[filled].copy()
    data[filled] = value[done]
    remaining = mask.copy()
    remaining[filled] = False
    return filled, original, remaining


def _moment_fwhm(found: Detections, rms: float) -> float:
    """A first FWHM from the second moments of bright, round detections (refined later)."""
    good = (found.peak > 20 * rms) & (found.flags == 0) & (found.b > 0.6 * found.a)
    if good.sum() < 3:
        return 3.0
    sigma = np.sqrt(found.a[good] * found.b[good])
    # Cosmic rays and hot pixels are much sharper than stars: keep the upper (stellar) mode.
    stellar = sigma > 0.6 * np.percentile(sigma, 90)
    return float(np.clip(2.3548 * np.median(sigma[stellar]), 1.0, 50.0))
