"""Forced PSF photometry at fixed positions (the difference search's, :mod:`tasks.nrt.difference`).

:func:`forced_psf` measures the optimal PSF flux at given positions of an image, its error, a
sharpness (cosmic rays are sharper than the PSF) and the fit's reduced chi-square (a track is no
PSF). The image's variance map holds the background and the *reference's* sources; the fitted
source's own photon noise is added from its fitted flux: without it, a bright afterglow away from
stars (SNR ~600 on the night's 1024² frames) had its error underestimated threefold and a PSF
fit's chi-square of 51, and was called a cosmic ray.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tasks.nrt.reference import FieldPsf

Floats = npt.NDArray[np.float64]
#: Sources fitted at once: bounded memory, a few (chunk, 2 half + 1, 2 half + 1) arrays at a time.
_CHUNK = 2000


def forced_psf(
    diff: npt.NDArray[np.float32],
    var: npt.NDArray[np.float32],
    psf: FieldPsf,
    x: Floats,
    y: Floats,
    psf_error: float,
    *,
    gain: float,
) -> tuple[Floats, Floats, Floats, Floats]:
    """Optimal PSF fluxes at fixed positions, their errors, the sharpness (brightest pixel,
    lowered by three pixel sigmas, over the flux) — pixels within 2 FWHM, off the frame none —
    and the fit's reduced chi-square within 1 FWHM.

    The flux's error and the chi-square count the fitted source's photon noise (its model over
    ``gain``, e-/ADU) besides ``var``, and ``psf_error`` of the fitted model as the PSF's
    error; the sharpness keeps ``var`` alone (a cosmic ray's charge is no source's noise)."""
    half = _half_width(psf)
    parts = [
        _forced_stamps(
            diff, var, psf, half, x[k : k + _CHUNK], y[k : k + _CHUNK], (psf_error, gain)
        )
        for k in range(0, len(x), _CHUNK)
    ]
    if not parts:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    flux, err, sharp, chi2 = (np.concatenate(column) for column in zip(*parts, strict=True))
    return flux, err, sharp, chi2


def best_fit_chi2(
    image: npt.NDArray[np.float32],
    var: npt.NDArray[np.float32],
    psf: FieldPsf,
    x: Floats,
    y: Floats,
    errors: tuple[float, float],
    reach_px: float = 0.25,
) -> Floats:
    """The PSF fit's reduced chi-square (as :func:`forced_psf`'s) at its best position near
    (x, y): a pattern search with steps of ``reach_px / 2``, halved down to 0.03 px (reaching
    about ``reach_px`` in each axis, 25 fits per source at the default).

    A centroid a tenth of a pixel off leaves a residual that, for a bright source on an
    undersampled frame (FWHM 1.5 px), reaches a chi-square of 30–45 — as much as a cosmic
    ray's track; at its best position the same afterglow fits at 1.0.

    Parameters
    ----------
    errors : (psf_error, gain)
        As for :func:`forced_psf`.
    """
    half = _half_width(psf) + 1
    best = np.full(len(x), np.inf)
    for k in range(0, len(x), _CHUNK):
        part = slice(k, k + _CHUNK)
        at_x, at_y = x[part].copy(), y[part].copy()
        chi2_part = _forced_stamps(image, var, psf, half, at_x, at_y, errors)[3]
        # A pattern search: the 8 neighbours at a step, moving to the best; the step halved.
        step = reach_px / 2.0
        while step >= 0.03:
            centre_x, centre_y = at_x, at_y
            for dx, dy in _NEIGHBOURS:
                tx, ty = centre_x + dx * step, centre_y + dy * step
                chi2 = _forced_stamps(image, var, psf, half, tx, ty, errors)[3]
                better = chi2 < chi2_part
                chi2_part = np.where(better, chi2, chi2_part)
                at_x, at_y = np.where(better, tx, at_x), np.where(better, ty, at_y)
            step /= 2.0
        best[part] = chi2_part
    return best


_NEIGHBOURS = tuple((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)


def _half_width(psf: FieldPsf) -> int:
    """Half the side of the fitted stamps: 2 FWHM where the PSF is widest."""
    return max(2, math.ceil(2.0 * psf.shape.fwhm_px * (1.0 + max(psf.slope, 0.0))))


def _forced_stamps(
    image: npt.NDArray[np.float32],
    var: npt.NDArray[np.float32],
    psf: FieldPsf,
    half: int,
    x: Floats,
    y: Floats,
    errors: tuple[float, float],
) -> tuple[Floats, Floats, Floats, Floats]:
    psf_error, gain = errors
    ix, iy = np.rint(x).astype(np.intp), np.rint(y).astype(np.intp)
    steps = np.arange(-half, half + 1)
    rows = iy[:, None, None] + steps[None, :, None]
    cols = ix[:, None, None] + steps[None, None, :]
    # Stamps cut from the image as it is (padding a 4096² image twice per call cost more than
    # the fits): pixels off the frame get no weight (infinite variance).
    height, width = image.shape
    outside = (rows < 0) | (rows >= height) | (cols < 0) | (cols >= width)
    r, c = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
    d = np.where(outside, 0.0, image[r, c].astype(float))
    v = np.where(outside, np.inf, var[r, c].astype(float))
    base, s = psf.shape, psf.scale(x, y)[:, None, None]
    dx = (ix - x)[:, None, None] + steps[None, None, :]
    dy = (iy - y)[:, None, None] + steps[None, :, None]
    q = s * (base.a * dx * dx + 2.0 * base.b * dx * dy + base.c * dy * dy)
    profile = base.peak_fraction * s * (1.0 + q) ** -base.beta
    weight = profile / v
    info = np.sum(weight * profile, axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        flux = np.where(info > 0, np.sum(weight * d, axis=(1, 2)) / info, 0.0)
        core = slice(half - 1, half + 2)
        peak = np.max(d[:, core, core] - 3.0 * np.sqrt(v[:, core, core]), axis=(1, 2))
        sharp = np.where(flux > 0, peak / flux, np.inf)
        model = flux[:, None, None] * profile
        # v's off-frame pixels are infinite: their weight is zero, and so is their share here.
        total = v + np.maximum(model, 0.0) / gain
        spread = np.sum(np.where(weight > 0, weight * weight * total, 0.0), axis=(1, 2))
        err = np.where(info > 0, np.sqrt(spread) / info, np.inf)
        inner = dx * dx + dy * dy <= base.fwhm_px**2 / s  # within 1 local FWHM
        residual = (d - model) ** 2 / (total + (psf_error * model) ** 2)
        n = np.sum(inner, axis=(1, 2))
        chi2 = np.sum(np.where(inner, residual, 0.0), axis=(1, 2)) / np.maximum(n - 1, 1)
    return flux, err, sharp, chi2
