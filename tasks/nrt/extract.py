"""Background, source detection and aperture photometry, with either extraction engine.

Both engines (:mod:`~tasks.nrt.engines`: SEP or photutils) produce the same :class:`Extraction`
(0-based pixel positions, pixel centres at integers as astropy and photutils count). The steps:

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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from infra.config_nrt import NrtSection
from tasks.nrt.engines import FLAG_SATURATED, Detections, ExtractionEngine
from tasks.nrt.frame import FramePixels, Image, Mask
from tasks.nrt.photcal import growth_curve

Floats = npt.NDArray[np.float64]
#: Pixels interpolated over (row and column indices), as :func:`fill_thin_defects` returns them.
PixelIndex = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]


@dataclass
class Extraction:
    """Sources measured on a frame (arrays of equal length) and the frame's background."""

    x: Floats
    y: Floats
    flux: Floats  # ADU, total (aperture corrected)
    flux_err: Floats  # ADU
    flux_aperture: Floats  # ADU within the aperture
    peak: Floats  # ADU above background, brightest pixel
    a: Floats  # second-moment semi-axes (px)
    b: Floats
    flags: npt.NDArray[np.int32]
    background_adu: float
    background_rms_adu: float
    fwhm_px: float
    aperture_px: float
    aperture_correction: float  # total / aperture flux
    growth_radii_px: Floats
    growth_ee: Floats
    engine: str
    seconds: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def snr(self) -> Floats:
        """Measured signal-to-noise ratio (aperture flux over its error)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.flux_err > 0, self.flux_aperture / self.flux_err, 0.0)

    @property
    def sharpness(self) -> Floats:
        """Peak pixel over aperture flux (cosmic rays and hot pixels are sharper than stars)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.flux_aperture > 0, self.peak / self.flux_aperture, np.inf)

    def subset(self, keep: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Extraction:
        """The sources selected by ``keep`` (boolean or index array)."""
        values = dict(vars(self))
        for name in ("x", "y", "flux", "flux_err", "flux_aperture", "peak", "a", "b", "flags"):
            values[name] = getattr(self, name)[keep]
        return Extraction(**values)


@dataclass(frozen=True)
class ExtractParams:
    """Detection and photometry settings (from ``[nrt]``)."""

    box: int = 64  # background mesh (px)
    threshold: float = 1.5  # detection threshold (background sigmas)
    min_area: int = 5  # connected pixels of a detection
    aperture_fwhm: float = 1.5  # aperture radius (FWHM)

    @classmethod
    def from_section(cls, nrt: NrtSection) -> ExtractParams:
        """The settings of the ``[nrt]`` configuration section."""
        return cls(
            box=nrt.background_box_px,
            threshold=nrt.detect_threshold_sigma,
            min_area=nrt.detect_min_area_px,
            aperture_fwhm=nrt.aperture_fwhm,
        )


def extract(
    data: Image,
    mask: Mask | None,
    *,
    gain: float,
    saturation_adu: float | None,
    engine: ExtractionEngine,
    params: ExtractParams = ExtractParams(),
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
    engine : ExtractionEngine
        See :func:`~tasks.nrt.engines.make_engine`.
    params : ExtractParams
        Background mesh, detection threshold and area, aperture radius.
    """
    started = time.perf_counter()
    mask = _mask_non_finite(data, mask)
    box = max(8, min(params.box, min(data.shape) // 2))
    back, rms = engine.subtract_background(data, mask, box)
    seconds = {"background": time.perf_counter() - started}
    # Detection and centroids see one-pixel defects (dead columns and rows, hot pixels)
    # interpolated from their neighbours, so that a defect crossing a source does not split it
    # into two half-sources; photometry sees the frame as it is (and flags the masked pixels).
    filled, original, seen_mask = fill_thin_defects(data, mask)
    found = engine.detect(data, seen_mask, rms, params.threshold, params.min_area)
    seconds["detect"] = time.perf_counter() - seconds["background"] - started
    mark = time.perf_counter()
    flags = found.flags.copy()
    if saturation_adu is not None:
        flags[found.peak + back >= 0.98 * saturation_adu] |= FLAG_SATURATED
    pixels = FramePixels(data, mask, rms, gain)
    radii, ee, fwhm = _curve_of_growth(engine, pixels, found, flags)
    x, y = _centroids(engine, pixels, found, fwhm, seen_mask)
    if filled is not None and original is not None:
        data[filled] = original
    aperture = params.aperture_fwhm * fwhm
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


def _mask_non_finite(data: Image, mask: Mask | None) -> Mask | None:
    """Set NaN and infinite pixels to 0 (in place) and add them to the mask."""
    bad = ~np.isfinite(data)
    if not bad.any():
        return mask
    data[bad] = 0.0
    return bad if mask is None else (mask | bad)


def _curve_of_growth(
    engine: ExtractionEngine,
    pixels: FramePixels,
    found: Detections,
    flags: npt.NDArray[np.int32],
) -> tuple[Floats, Floats, float]:
    """Radii, encircled energy and FWHM, from stars that look like stars."""
    fwhm_guess = _moment_fwhm(found, pixels.rms_adu)
    # Growth-curve stars must look like stars (not cosmic rays or hot pixels).
    sharp = np.sqrt(found.a * found.b) < 0.6 * fwhm_guess / 2.3548
    radii, ee, fwhm, _ = growth_curve(
        engine, pixels, found.x, found.y, found.peak, flags | sharp.astype(np.int32), fwhm_guess
    )
    return radii, ee, fwhm


def _centroids(
    engine: ExtractionEngine,
    pixels: FramePixels,
    found: Detections,
    fwhm: float,
    seen_mask: Mask | None,
) -> tuple[Floats, Floats]:
    """Windowed centroids for the sources that can be measured (noise peaks keep their
    isophotal ones: they are never reported)."""
    bright = found.peak >= 3.0 * pixels.rms_adu
    x, y = found.x.copy(), found.y.copy()
    x[bright], y[bright] = engine.centroid(pixels.data, x[bright], y[bright], fwhm, seen_mask)
    return x, y


def fill_thin_defects(
    data: Image, mask: Mask | None
) -> tuple[PixelIndex | None, Image | None, Mask | None]:
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
