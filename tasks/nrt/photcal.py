"""Image quality and photometric calibration: curve of growth, FWHM, zero point, depth.

- **Curve of growth**: the flux of the brightest clean, isolated stars in circles of growing
  radius, normalised star by star, median per radius; a Moffat encircled-energy curve fitted to
  it gives the **FWHM** (and beta) and the correction from aperture to total flux.
- **Zero point** per frame and filter: ``mag = ZP - 2.5 log10(flux_ADU)`` against the reference
  catalog's magnitudes (matched stars with SNR >= 20, not saturated), weighted and 3-sigma
  clipped. Reported also as the magnitude giving 1 e⁻/s (``zero_point_e_s``), comparable across
  exposures and with the renderer's effective zero point.
- **Limiting magnitude**: the magnitude of a point source reaching SNR 5 in the optimal aperture
  (:mod:`~tasks.nrt.snr`, the one SNR definition) on this frame's background noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.stats import sigma_clip
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from tasks.nrt.engines import ExtractionEngine
from tasks.nrt.frame import FramePixels
from tasks.nrt.snr import flux_at_snr, moffat_ee

Floats = npt.NDArray[np.float64]

#: Radii of the curve of growth, in units of the first FWHM estimate.
GROWTH_RADII_FWHM = np.array([0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 1.8, 2.2, 2.7, 3.3, 4.0, 5.0])
GROWTH_STARS = 60
#: A growth star must have no masked pixel within this radius (FWHM): its core.
CORE_RADIUS_FWHM = 1.5


def growth_curve(
    engine: ExtractionEngine,
    pixels: FramePixels,
    x: Floats,
    y: Floats,
    peak: Floats,
    flags: npt.NDArray[np.int32],
    fwhm_guess: float,
) -> tuple[Floats, Floats, float, int]:
    """Curve of growth and FWHM from bright isolated stars.

    Parameters
    ----------
    engine : ExtractionEngine
        Sums the apertures.
    pixels : FramePixels
        The background-subtracted frame, its mask and noise.
    x, y, peak, flags : ndarray
        The detections (0-based pixels, peak above background in ADU, flags): the growth stars
        are the brightest unflagged, isolated ones.
    fwhm_guess : float
        The first FWHM estimate (px): sets the radii.

    Returns
    -------
    radii : ndarray
        Radii (px).
    ee : ndarray
        Encircled energy at ``radii`` (fraction of the total flux).
    fwhm : float
        FWHM of the Moffat profile fitted to the curve (px).
    n_stars : int
        Stars used (0: the first estimate was kept, with a Moffat beta of 3).
    """
    data, mask, rms, gain = pixels.data, pixels.mask, pixels.rms_adu, pixels.gain
    radii = GROWTH_RADII_FWHM * fwhm_guess
    stars = _growth_stars(x, y, peak, flags, rms, fwhm_guess, data.shape)
    if len(stars) >= 3:
        sums = [engine.sum_circle(data, x[stars], y[stars], r, rms, gain, mask) for r in radii]
        fluxes = np.vstack([flux for flux, _, _ in sums])
        total = fluxes[-1]
        # A star with masked pixels in its core (a saturated core the detection did not see as
        # saturated) has no curve of growth: one such star made every aperture correction NaN
        # and a whole frame unusable. Masked pixels in the wings (a hot pixel) cost little.
        core = int(np.searchsorted(GROWTH_RADII_FWHM, CORE_RADIUS_FWHM))
        good = (total > 0) & np.all(np.isfinite(fluxes), axis=0) & (sums[core][2] == 0)
        if good.sum() >= 3:
            measured = np.median(fluxes[:, good] / total[good], axis=1)
            fwhm, beta = _fit_moffat(radii, measured, fwhm_guess)
            ee = np.clip(measured * moffat_ee(radii[-1], fwhm, beta), 0.0, 1.0)
            return radii, np.maximum.accumulate(ee), fwhm, int(good.sum())
    return radii, moffat_ee(radii, fwhm_guess, 3.0), fwhm_guess, 0


def _growth_stars(
    x: Floats,
    y: Floats,
    peak: Floats,
    flags: npt.NDArray[np.int32],
    rms: float,
    fwhm: float,
    shape: tuple[int, ...],
) -> npt.NDArray[np.intp]:
    height, width = shape
    margin = 6 * fwhm
    inside = (x > margin) & (x < width - 1 - margin) & (y > margin) & (y < height - 1 - margin)
    good = inside & (flags == 0) & (peak > 30 * rms)
    candidates = np.flatnonzero(good)
    if len(candidates) == 0:
        return candidates
    tree = cKDTree(np.column_stack([x, y]))
    neighbours = tree.query_ball_point(
        np.column_stack([x[candidates], y[candidates]]), 5 * fwhm, return_length=True
    )
    isolated: npt.NDArray[np.intp] = candidates[neighbours == 1]
    order = np.argsort(-peak[isolated])
    # Skip the very brightest few: their wings and any near-saturation hurt more than help.
    return isolated[order][2 : 2 + GROWTH_STARS] if len(isolated) > 8 else isolated[order]


def _fit_moffat(radii: Floats, ee_norm: Floats, fwhm_guess: float) -> tuple[float, float]:
    """Fit ``EE(r) / EE(r_max)`` of a Moffat profile: (FWHM, beta)."""
    r_max = radii[-1]

    def residuals(params: Floats) -> Floats:
        fwhm, beta = params
        return moffat_ee(radii, fwhm, beta) / moffat_ee(r_max, fwhm, beta) - ee_norm

    try:
        fit = least_squares(residuals, [fwhm_guess, 3.0], bounds=([0.5, 1.2], [60.0, 30.0]))
        fwhm, beta = (float(v) for v in fit.x)
    except (ValueError, np.linalg.LinAlgError):
        return fwhm_guess, 3.0
    if not (math.isfinite(fwhm) and 0.3 * fwhm_guess < fwhm < 3 * fwhm_guess):
        return fwhm_guess, 3.0
    return fwhm, beta


@dataclass(frozen=True)
class ZeroPoint:
    """``mag = zero_point - 2.5 log10(flux_ADU)`` for this frame and filter."""

    zero_point: float
    error: float
    scatter: float
    n_stars: int
    zero_point_e_s: float  # magnitude giving 1 e-/s

    def magnitude(self, flux_adu: Floats) -> Floats:
        """Magnitudes of fluxes (ADU); NaN where the flux is not positive."""
        with np.errstate(divide="ignore", invalid="ignore"):
            mag: Floats = np.where(flux_adu > 0, self.zero_point - 2.5 * np.log10(flux_adu), np.nan)
        return mag


def zero_point(
    flux: Floats,
    flux_err: Floats,
    catalog_mag: Floats,
    catalog_err: Floats,
    *,
    gain: float,
    exposure_s: float,
    snr_min: float = 20.0,
) -> ZeroPoint | None:
    """The frame's zero point from matched stars (None when fewer than 3 are usable)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / flux_err
    good = (snr >= snr_min) & np.isfinite(catalog_mag) & (catalog_err < 0.1) & (flux > 0)
    if good.sum() < 3:
        return None
    zp = catalog_mag[good] + 2.5 * np.log10(flux[good])
    sigma = np.hypot(1.0857362 / snr[good], catalog_err[good])
    clipped = sigma_clip(zp, sigma=3.0, maxiters=5, stdfunc="mad_std")
    keep = ~np.ma.getmaskarray(clipped)
    weights = 1.0 / sigma[keep] ** 2
    value = float(np.sum(zp[keep] * weights) / np.sum(weights))
    scatter = float(np.std(zp[keep]))
    error = max(float(np.sqrt(1.0 / np.sum(weights))), scatter / math.sqrt(keep.sum()))
    return ZeroPoint(
        zero_point=value,
        error=error,
        scatter=scatter,
        n_stars=int(keep.sum()),
        zero_point_e_s=value - 2.5 * math.log10(exposure_s) + 2.5 * math.log10(gain),
    )


def limiting_flux_adu(
    radii: Floats, ee: Floats, rms_adu: float, gain: float, snr: float = 5.0
) -> float:
    """Total flux (ADU) of a point source at SNR ``snr`` in the optimal aperture."""
    variance_e = (rms_adu * gain) ** 2
    return flux_at_snr(snr, radii, ee, variance_e) / gain
