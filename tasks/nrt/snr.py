"""Signal-to-noise: THE one definition used by the pipeline, the tests and the benchmarks.

**SNR of a point source** = its true flux over the noise of that flux measured in the optimal
circular aperture::

    SNR(F) = max_r  F * EE(r) / sqrt(F * EE(r) + pi r^2 * v)

where ``F`` is the source's total flux (electrons), ``EE(r)`` the fraction of it the PSF puts
within radius ``r``, and ``v`` the per-pixel noise variance of everything else (sky and dark
electrons plus the read noise squared). Equivalently: the flux over the aperture-corrected noise
``sqrt(F EE + A v) / EE``, at the aperture that makes it smallest. For the truth, ``F`` is the
renderer's ``flux_e`` and ``EE`` the Moffat profile it rendered with (:func:`moffat_ee`, with
:func:`infra.astro.moffat_alpha`, the width both sides share); the
pipeline uses the same formula with its measured curve of growth for limiting magnitudes
(:func:`flux_at_snr`). Everything here works in electrons.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from infra.astro import moffat_alpha

#: Aperture radii (in FWHM) over which the optimum is searched.
RADII_FWHM = np.linspace(0.3, 3.0, 55)

Floats = npt.NDArray[np.float64]


def moffat_ee(radius: float | Floats, fwhm: float | Floats, beta: float) -> Floats:
    """Encircled energy of a Moffat profile within ``radius`` (same unit as ``fwhm``)."""
    alpha = moffat_alpha(fwhm, beta)
    ee: Floats = 1.0 - (1.0 + (np.asarray(radius) / alpha) ** 2) ** (1.0 - beta)
    return ee


def optimal_snr(
    flux_e: Floats,
    fwhm_px: float | Floats,
    beta: float,
    background_e: float,
    read_noise_e: float,
) -> Floats:
    """SNR of point sources by the definition above, for a Moffat PSF (the truth's SNR).

    Parameters
    ----------
    flux_e : array
        True total fluxes (electrons).
    fwhm_px : array or float
        PSF FWHM at each source (pixels).
    beta : float
        Moffat beta.
    background_e : float
        Sky plus dark electrons per pixel.
    read_noise_e : float
        Read noise (electrons).
    """
    flux = np.atleast_1d(np.asarray(flux_e, dtype=float))
    fwhm = np.broadcast_to(np.asarray(fwhm_px, dtype=float), flux.shape)
    radii = RADII_FWHM[:, None] * fwhm[None, :]
    ee = moffat_ee(radii, fwhm[None, :], beta)
    variance = background_e + read_noise_e**2
    signal = flux[None, :] * ee
    snr = signal / np.sqrt(np.maximum(signal, 0.0) + np.pi * radii**2 * variance)
    best: Floats = snr.max(axis=0)
    return best


def snr_curve(flux: float, radii: Floats, ee: Floats, variance: float) -> Floats:
    """SNR of a flux in each aperture of a curve of growth (``ee`` at ``radii``)."""
    signal = flux * np.asarray(ee)
    return signal / np.sqrt(np.maximum(signal, 0.0) + np.pi * np.asarray(radii) ** 2 * variance)


def flux_at_snr(target: float, radii: Floats, ee: Floats, variance: float) -> float:
    """The smallest total flux reaching SNR ``target`` in the best aperture (electrons).

    Solves ``F ee / sqrt(F ee + A v) = S`` for each aperture: ``F ee = (S² + sqrt(S⁴ + 4 S² A v))
    / 2``, and keeps the aperture needing the least flux (the optimal one).
    """
    radii = np.asarray(radii, dtype=float)
    ee = np.asarray(ee, dtype=float)
    good = ee > 0
    area_var = np.pi * radii[good] ** 2 * variance
    s2 = target * target
    inside = 0.5 * (s2 + np.sqrt(s2 * s2 + 4.0 * s2 * area_var))
    return float(np.min(inside / ee[good]))
