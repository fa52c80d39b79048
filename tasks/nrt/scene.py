"""The alert region modelled source by source, so that a transient hidden in a star's light shows.

Aperture photometry sees one source where an afterglow lies within about a FWHM of a brighter
catalog star: the detection is matched to the star and only a little brighter than its catalog
magnitude. Here the region around an alert's position is fitted as a scene: every catalog star
at its catalog position (allowed to move within its stated position error), every other
detection free, all with the local PSF (:mod:`tasks.nrt.psf`) and a constant background. Peaks
of the residual — measured with the PSF as a matched filter, the noise including photon noise
and a fraction ``model_error`` of the model for imperfect PSF wings — join the scene as new
free sources, one at a time, until none reaches ``snr_min``. The non-catalog sources of the
final scene are what the region holds beyond the catalog; :mod:`tasks.nrt.pipeline` turns
those within the alert's error circle into candidates.

SNR of a scene source: its fitted flux over the flux's standard deviation from the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.ndimage import correlate
from scipy.optimize import least_squares

from tasks.nrt.frame import FramePixels
from tasks.nrt.psf import MoffatPsf

#: Residual peaks added to a scene at most (each refits the scene).
MAX_NEW_SOURCES = 3

Floats = npt.NDArray[np.float64]


class SourceOrigin(StrEnum):
    """Where a scene source comes from."""

    CATALOG = "catalog"  # a catalog star, at its catalog position
    DETECTION = "detection"  # another detection of the frame
    RESIDUAL = "residual"  # a peak of the residual, added by the fit


@dataclass(frozen=True)
class SceneSource:
    """One fitted source of the scene (0-based pixels, ADU)."""

    x: float
    y: float
    flux: float
    flux_err: float
    catalog_index: int  # -1: not a catalog star
    origin: SourceOrigin
    sharpness: float  # (peak pixel - 3 sigma) over fitted flux, over the PSF's peak fraction

    @property
    def snr(self) -> float:
        return self.flux / self.flux_err if self.flux_err > 0 else 0.0


@dataclass(frozen=True)
class SceneStart:
    """The sources a scene starts from (0-based pixels).

    Catalog stars near the region at their projected positions, with their position errors
    (pixels) and their index in the catalog; the frame's other detections near the region
    (positions fitted freely).
    """

    catalog_x: Floats
    catalog_y: Floats
    catalog_sigma_px: Floats
    catalog_index: npt.NDArray[np.int64]
    free_x: Floats
    free_y: Floats


@dataclass(frozen=True)
class Region:
    """The square of pixels fitted, and the circle searched (centre and radius, pixels)."""

    x0: int
    y0: int
    x1: int
    y1: int
    cx: float
    cy: float
    radius_px: float


def region_around(
    cx: float, cy: float, radius_px: float, margin_px: float, shape: tuple[int, ...]
) -> Region:
    """The square ``radius_px + margin_px`` either side of ``(cx, cy)``, clipped to the frame."""
    half = radius_px + margin_px
    height, width = shape
    x0, y0 = max(math.floor(cx - half), 0), max(math.floor(cy - half), 0)
    x1, y1 = min(math.ceil(cx + half) + 1, width), min(math.ceil(cy + half) + 1, height)
    return Region(x0, y0, x1, y1, cx, cy, radius_px)


@dataclass(frozen=True)
class _RegionPixels:
    """The region's pixels, raveled: centres, values and which are good (unmasked)."""

    x: Floats
    y: Floats
    values: Floats
    good: npt.NDArray[np.bool_]


def fit_scene(
    pixels: FramePixels,
    region: Region,
    psf: MoffatPsf,
    start: SceneStart,
    *,
    snr_min: float = 5.0,
    model_error: float = 0.02,
) -> list[SceneSource]:
    """Fit the region's sources and add residual peaks until none reaches ``snr_min``.

    Parameters
    ----------
    pixels : FramePixels
        The background-subtracted frame (ADU), its bad-pixel mask, background noise and gain.
    region : Region
        Where to fit, and the circle where residual peaks are looked for.
    psf : MoffatPsf
        The local PSF.
    start : SceneStart
        The catalog stars and the other detections near the region.
    snr_min : float
        Residual peaks below this matched-filter SNR end the search.
    model_error : float
        Fraction of the model added to the noise (PSF mismatch in bright stars' cores).

    Returns
    -------
    list of SceneSource
        Catalog stars first, then the other sources; empty when the region holds no pixel.
    """
    yy, xx = np.mgrid[region.y0 : region.y1, region.x0 : region.x1]
    if xx.size == 0:
        return []
    values = np.asarray(pixels.data[region.y0 : region.y1, region.x0 : region.x1], dtype=float)
    good = np.ones(values.shape, bool)
    if pixels.mask is not None:
        good = ~np.asarray(pixels.mask[region.y0 : region.y1, region.x0 : region.x1], dtype=bool)
    flat = _RegionPixels(
        xx.ravel().astype(float), yy.ravel().astype(float), values.ravel(), good.ravel()
    )
    sources = _Sources.starting(start, region, psf)
    kernel = _kernel(psf)
    rms_adu, gain = pixels.rms_adu, pixels.gain
    first_weight = np.where(
        flat.good, 1.0 / (rms_adu**2 + np.maximum(flat.values, 0.0) / gain), 0.0
    )
    model, flux, flux_err = _fit(flat, psf, sources, first_weight)
    # Noise of each pixel from the first model, kept for every later fit.
    variance = rms_adu**2 + np.maximum(model, 0.0) / gain + (model_error * model) ** 2
    weight = np.where(flat.good, 1.0 / variance, 0.0)
    for added in range(MAX_NEW_SOURCES + 1):
        model, flux, flux_err = _fit(flat, psf, sources, weight)
        if added == MAX_NEW_SOURCES:
            break
        peak = _residual_peak(values - model.reshape(values.shape), weight, kernel, region, xx, yy)
        if peak is None or peak[2] < snr_min:
            break
        sources.add(peak[0], peak[1])
    residual = (flat.values - model).reshape(values.shape)
    return [
        SceneSource(
            x=float(sources.x[i]),
            y=float(sources.y[i]),
            flux=float(flux[i]),
            flux_err=float(flux_err[i]),
            catalog_index=int(sources.index[i]),
            origin=sources.origin[i],
            sharpness=_sharpness(residual, region, psf, sources.x[i], sources.y[i], flux[i])
            - 3.0 * rms_adu / max(float(flux[i]), 1e-9) / psf.peak_fraction,
        )
        for i in range(len(sources.x))
    ]


class _Sources:
    """The scene's sources while it is fitted (positions updated in place)."""

    def __init__(
        self,
        x: Floats,
        y: Floats,
        sigma: list[float],
        index: list[int],
        origin: list[SourceOrigin],
        movable: npt.NDArray[np.bool_],
    ) -> None:
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.movable = np.asarray(movable, dtype=bool)
        self.x0, self.y0 = self.x.copy(), self.y.copy()
        self.sigma = np.asarray(sigma, dtype=float)
        self.index = np.asarray(index, dtype=np.int64)
        self.origin = list(origin)

    @classmethod
    def starting(cls, start: SceneStart, region: Region, psf: MoffatPsf) -> _Sources:
        """Catalog stars then free detections; positions fitted near the circle only."""
        n_cat, n_free = len(start.catalog_x), len(start.free_x)
        all_x = np.concatenate([start.catalog_x, start.free_x]).astype(float)
        all_y = np.concatenate([start.catalog_y, start.free_y]).astype(float)
        # Farther sources just lend the region their wings.
        reach = region.radius_px + 2.0 * psf.fwhm_px
        return cls(
            all_x,
            all_y,
            list(start.catalog_sigma_px) + [math.inf] * n_free,
            list(start.catalog_index) + [-1] * n_free,
            [SourceOrigin.CATALOG] * n_cat + [SourceOrigin.DETECTION] * n_free,
            movable=np.hypot(all_x - region.cx, all_y - region.cy) <= reach,
        )

    def add(self, x: float, y: float) -> None:
        self.x, self.y = np.append(self.x, x), np.append(self.y, y)
        self.x0, self.y0 = np.append(self.x0, x), np.append(self.y0, y)
        self.sigma = np.append(self.sigma, math.inf)
        self.index = np.append(self.index, -1)
        self.origin.append(SourceOrigin.RESIDUAL)
        self.movable = np.append(self.movable, True)


def _fit(
    pixels: _RegionPixels, psf: MoffatPsf, sources: _Sources, weight: Floats
) -> tuple[Floats, Floats, Floats]:
    """Fluxes of every source, positions of those near the circle (with their priors), and a
    constant background; the other sources keep their positions (their wings only matter).

    Returns the model of the region's pixels, the fluxes and their errors."""
    px, py, v = pixels.x, pixels.y, pixels.values
    n = len(sources.x)
    sw = np.sqrt(weight)
    moving = np.flatnonzero(sources.movable)
    m = len(moving)
    sigma = sources.sigma[moving]
    inv_sigma = np.where(np.isfinite(sigma), 1.0 / np.maximum(sigma, 1e-3), 0.0)

    def unpack(p: Floats) -> tuple[float, Floats, Floats, Floats]:
        x, y = sources.x.copy(), sources.y.copy()
        x[moving], y[moving] = p[1 + n : 1 + n + m], p[1 + n + m :]
        return p[0], p[1 : 1 + n], x, y

    def model_of(p: Floats) -> Floats:
        bg, flux, x, y = unpack(p)
        return bg + psf.evaluate(px[:, None] - x[None, :], py[:, None] - y[None, :]) @ flux

    def residuals(p: Floats) -> Floats:
        _, _, x, y = unpack(p)
        return np.concatenate(
            [
                (v - model_of(p)) * sw,
                (x[moving] - sources.x0[moving]) * inv_sigma,
                (y[moving] - sources.y0[moving]) * inv_sigma,
            ]
        )

    def jacobian(p: Floats) -> Floats:
        _, flux, x, y = unpack(p)
        dx, dy = px[:, None] - x[None, :], py[:, None] - y[None, :]
        gx, gy = psf.gradient(dx[:, moving], dy[:, moving])
        top = np.column_stack(
            [np.ones_like(px), psf.evaluate(dx, dy), gx * flux[moving], gy * flux[moving]]
        )
        pos = np.zeros((2 * m, 1 + n + 2 * m))
        pos[np.arange(2 * m), 1 + n + np.arange(2 * m)] = np.concatenate([inv_sigma, inv_sigma])
        return np.vstack([-top * sw[:, None], pos])

    # Fluxes first, at the starting positions (linear), then everything together.
    start = psf.evaluate(px[:, None] - sources.x[None, :], py[:, None] - sources.y[None, :])
    design = np.column_stack([np.ones_like(px), start]) * sw[:, None]
    coef, *_ = np.linalg.lstsq(design, v * sw, rcond=None)
    p0 = np.concatenate([coef, sources.x[moving], sources.y[moving]])
    fit = least_squares(residuals, p0, jac=jacobian, method="lm", max_nfev=50)
    _, flux, x, y = unpack(fit.x)
    sources.x, sources.y = x, y
    model = model_of(fit.x)
    try:
        covariance = np.linalg.pinv(fit.jac.T @ fit.jac)
        flux_err = np.sqrt(np.maximum(np.diag(covariance)[1 : 1 + n], 0.0))
    except np.linalg.LinAlgError:
        flux_err = np.full(n, np.inf)
    return model, flux.copy(), flux_err


def _kernel(psf: MoffatPsf) -> Floats:
    half = max(2, math.ceil(1.5 * psf.fwhm_px))
    gy, gx = np.mgrid[-half : half + 1, -half : half + 1]
    return psf.evaluate(gx.astype(float), gy.astype(float))


def _residual_peak(
    residual: Floats,
    weight: Floats,
    kernel: Floats,
    region: Region,
    xx: npt.NDArray[np.int_],
    yy: npt.NDArray[np.int_],
) -> tuple[float, float, float] | None:
    """Position and matched-filter SNR of the strongest residual peak inside the circle."""
    w = weight.reshape(residual.shape)
    numerator = correlate(residual * w, kernel, mode="constant")
    denominator = correlate(w, kernel * kernel, mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(denominator > 0, numerator / np.sqrt(denominator), 0.0)
    inside = np.hypot(xx - region.cx, yy - region.cy) <= region.radius_px
    if not inside.any():
        return None
    snr = np.where(inside, snr, -np.inf)
    k = int(np.argmax(snr))
    return float(xx.flat[k]), float(yy.flat[k]), float(snr.flat[k])


def _sharpness(
    residual: Floats, region: Region, psf: MoffatPsf, x: float, y: float, flux: float
) -> float:
    """Brightest pixel of a source (its own model added back to the residual) over its flux.

    In units of the PSF's peak fraction: a star is about 1, a cosmic ray or hot pixel far
    above. Infinite for a source without flux or off the fitted region.
    """
    ix, iy = round(x) - region.x0, round(y) - region.y0
    height, width = residual.shape
    if flux <= 0 or not (0 <= ix < width and 0 <= iy < height):
        return math.inf
    ys, xs = slice(max(iy - 1, 0), min(iy + 2, height)), slice(max(ix - 1, 0), min(ix + 2, width))
    gy, gx = np.mgrid[ys, xs]
    own = flux * psf.evaluate(gx + region.x0 - x, gy + region.y0 - y)
    return float(np.max(residual[ys, xs] + own)) / flux / psf.peak_fraction
