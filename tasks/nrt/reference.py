"""A reference image for difference imaging, rendered from the reference catalog (issue 26).

When the telescope has no earlier frame of a field, its reference is the catalog itself: every
catalog star drawn at its position projected through the frame's fitted WCS, with its catalog
flux scaled by the frame's zero point, through the PSF measured on the frame. The reference is
then on the frame's own pixel grid (no resampling) and has the frame's PSF (the PSF-matching
kernel is the identity), and it is noiseless: the difference's noise is the frame's, plus the
reference's own error — the catalog's photometric error of each star and a fraction of the
model for the PSF's imperfection — kept as a map (:attr:`Reference.error`).

The PSF is an elliptical Moffat (:mod:`tasks.nrt.psf`) fitted to bright isolated stars near the
centre and, separately, near the corners: the FWHM is modelled as varying linearly with the
squared distance from the centre (the usual radial growth of the seeing disc across a field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from tasks.nrt.engines import FLAG_EDGE, FLAG_MASKED, FLAG_SATURATED
from tasks.nrt.extract import Extraction
from tasks.nrt.psf import MoffatPsf, fit_psf

Floats = npt.NDArray[np.float64]
Floats32 = npt.NDArray[np.float32]

#: Stars fitted per PSF zone (the brightest clean, isolated ones).
PSF_STARS = 16
#: The profile is drawn out to where it falls to this fraction of the background noise.
STAMP_FLOOR_RMS = 0.1


@dataclass(frozen=True)
class FieldPsf:
    """A Moffat shape whose FWHM grows with the squared distance from the frame's centre.

    ``fwhm(rho2) = fwhm_centre * (1 + slope * rho2)``, with ``rho2`` the squared distance from
    the centre over the squared half diagonal (0 at the centre, 1 in the corners).
    """

    shape: MoffatPsf
    slope: float
    height: int
    width: int

    def rho2(self, x: Floats, y: Floats) -> Floats:
        """Squared distance from the centre over the squared half diagonal."""
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        rho2: Floats = ((x - cx) ** 2 + (y - cy) ** 2) / (cx**2 + cy**2)
        return rho2

    def scale(self, x: Floats, y: Floats) -> Floats:
        """``(fwhm_centre / fwhm(x, y))²``: multiplies the shape's quadratic form."""
        ratio: Floats = (1.0 + self.slope * self.rho2(x, y)) ** -2
        return ratio

    def at(self, x: float, y: float) -> MoffatPsf:
        """The local profile at pixel ``(x, y)``."""
        s = float(self.scale(np.array([x]), np.array([y]))[0])
        p = self.shape
        return MoffatPsf(p.a * s, p.b * s, p.c * s, p.beta)


@dataclass(frozen=True)
class Reference:
    """A reference on the frame's grid: the model (ADU, background 0) and its 1-sigma error."""

    model: npt.NDArray[np.float32]
    error: npt.NDArray[np.float32]
    psf: FieldPsf
    n_stars: int
    origin: str = "catalog"


def measure_field_psf(
    data: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_] | None,
    ex: Extraction,
    gain: float,
) -> FieldPsf:
    """Fit the frame's PSF: one Moffat shape near the centre, its FWHM again near the corners.

    Parameters
    ----------
    data : ndarray
        The frame, background subtracted (ADU).
    mask : ndarray, optional
        Bad and saturated pixels.
    ex : Extraction
        The frame's detections (clean, significant, isolated ones are fitted).
    gain : float
        e-/ADU.

    Returns
    -------
    FieldPsf
        A round Moffat of the extraction's FWHM (beta 3) when too few stars can be fitted.
    """
    height, width = data.shape
    clean = (ex.flags & (FLAG_MASKED | FLAG_EDGE | FLAG_SATURATED)) == 0
    clean &= (ex.snr >= 30) & (ex.peak < 0.5 * float(np.max(ex.peak, initial=1.0)))
    if len(ex) > 1:
        tree = cKDTree(np.column_stack([ex.x, ex.y]))
        dist, _ = tree.query(np.column_stack([ex.x, ex.y]), k=2)
        clean &= dist[:, 1] > 4.0 * ex.fwhm_px
    probe = FieldPsf(MoffatPsf.circular(ex.fwhm_px), 0.0, height, width)
    rho2 = probe.rho2(ex.x, ex.y)

    def fit(zone: npt.NDArray[np.bool_]) -> tuple[MoffatPsf | None, float]:
        pick = np.flatnonzero(clean & zone)
        pick = pick[np.argsort(-ex.snr[pick])][:PSF_STARS]
        psf = fit_psf(
            data,
            ex.x[pick],
            ex.y[pick],
            fwhm_px=ex.fwhm_px,
            rms_adu=ex.background_rms_adu,
            gain=gain,
            mask=mask,
        )
        return psf, float(np.mean(rho2[pick])) if len(pick) else 0.0

    centre, rho_c = fit(rho2 < 0.3)
    if centre is None:
        centre, rho_c = fit(np.ones(len(ex), dtype=bool))
    if centre is None:
        return probe
    outer, rho_o = fit(rho2 > 0.55)
    slope = 0.0
    if outer is not None and rho_o - rho_c > 0.2:
        # fwhm = f0 (1 + slope rho2) through both zones' fits, then referred to the centre.
        f_c, f_o = centre.fwhm_px, outer.fwhm_px
        gradient = (f_o - f_c) / (rho_o - rho_c)
        f0 = f_c - gradient * rho_c
        slope = float(np.clip(gradient / f0, -0.3, 0.3))
        s = (f_c / f0) ** 2  # the shape fitted around rho_c, moved to the centre
        centre = MoffatPsf(centre.a * s, centre.b * s, centre.c * s, centre.beta)
    return FieldPsf(centre, slope, height, width)


def render_reference(
    shape: tuple[int, int],
    x: Floats,
    y: Floats,
    flux_adu: Floats,
    flux_error: Floats,
    psf: FieldPsf,
    *,
    rms_adu: float,
    psf_error: float = 0.03,
) -> Reference:
    """Draw catalog stars on the frame's grid through the field PSF.

    Parameters
    ----------
    shape : (int, int)
        Frame height and width.
    x, y : ndarray
        Star positions (0-based pixels, through the frame's WCS).
    flux_adu : ndarray
        Total fluxes (ADU: catalog magnitudes through the frame's zero point).
    flux_error : ndarray
        Fractional 1-sigma error of each flux (``0.921 * mag_err`` of the catalog).
    psf : FieldPsf
        The frame's PSF.
    rms_adu : float
        Background noise: a profile is drawn until it falls to ``STAMP_FLOOR_RMS`` of it.
    psf_error : float
        Fraction of the model counted as its error for the PSF's imperfection.

    Returns
    -------
    Reference
        The model and its error map (float32).
    """
    height, width = shape
    inside = np.isfinite(x) & np.isfinite(y) & (flux_adu > 0)
    x, y, flux, ferr = x[inside], y[inside], flux_adu[inside], flux_error[inside]
    base = psf.shape
    scale = psf.scale(x, y)
    peak = flux * base.peak_fraction * scale
    smallest = 0.5 * (base.a + base.c - math.hypot(base.a - base.c, 2.0 * base.b)) * scale
    ratio = np.maximum(peak / (STAMP_FLOOR_RMS * rms_adu), 1.0)
    reach = np.sqrt((ratio ** (1.0 / base.beta) - 1.0) / smallest)
    reach = np.clip(reach, 1.0 * base.fwhm_px, 0.25 * min(height, width))
    # Stars are drawn in batches of equal stamp size (every half size up to 16 pixels).
    sizes = np.array([*range(2, 17), 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384, 512])
    half = sizes[np.minimum(np.searchsorted(sizes, np.ceil(reach)), len(sizes) - 1)]
    # The catalog's error is drawn only where it reaches a twentieth of the noise.
    erring = peak * ferr > 0.05 * rms_adu
    # Stamps are added straight onto the frames (float32 ufunc.at, fast since NumPy 2): keeping
    # every stamp's pixels for one bincount held 0.8 GB in a crowded 4096² field (32.6 M stamp
    # pixels, twice that while concatenated), and faulting in that fresh memory was most of the
    # reference's time (3.4 s against 0.9 s drawn in place).
    model = np.zeros(height * width, dtype=np.float32)
    catalog_error = np.zeros(height * width, dtype=np.float32)
    for h in np.unique(half):
        group = np.flatnonzero(half == h)
        # Bounded memory: at most ~4 M stamp pixels at a time.
        step = max(1, 4_000_000 // (2 * int(h) + 1) ** 2)
        for start in range(0, len(group), step):
            g = group[start : start + step]
            idx, val = _stamps(x[g], y[g], flux[g], scale[g], base, int(h), width, height)
            np.add.at(model, idx.ravel(), val.ravel())
            if erring[g].any():
                e = erring[g]
                np.add.at(
                    catalog_error,
                    idx[e].ravel(),
                    (val[e] * ferr[g][e, None].astype(np.float32)).ravel(),
                )
    model = model.reshape(shape)
    catalog_error = catalog_error.reshape(shape)
    error = np.hypot(catalog_error, np.float32(psf_error) * model)
    return Reference(model=model, error=error, psf=psf, n_stars=len(x))


def _stamps(
    x: Floats,
    y: Floats,
    flux: Floats,
    scale: Floats,
    base: MoffatPsf,
    half: int,
    width: int,
    height: int,
) -> tuple[npt.NDArray[np.int64], Floats32]:
    """Flat pixel indices and values (float32) of square stamps (pixels off the frame count
    nothing)."""
    offsets = np.arange(-half, half + 1, dtype=np.float32)
    ix, iy = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    n = len(x)
    # float32 and exp(-beta log1p(q)): NumPy vectorises those (a power of floats64 is 5x slower).
    dx = (ix - x).astype(np.float32)[:, None, None] + offsets[None, None, :]
    dy = (iy - y).astype(np.float32)[:, None, None] + offsets[None, :, None]
    s = scale.astype(np.float32)[:, None, None]
    q = (np.float32(base.a) * dx * dx + np.float32(2.0 * base.b) * dx * dy) * s
    q += np.float32(base.c) * dy * dy * s
    values = np.exp(np.float32(-base.beta) * np.log1p(q))
    values *= (flux * base.peak_fraction * scale).astype(np.float32)[:, None, None]
    px = ix[:, None, None] + np.arange(-half, half + 1)[None, None, :]
    py = iy[:, None, None] + np.arange(-half, half + 1)[None, :, None]
    on = (px >= 0) & (px < width) & (py >= 0) & (py < height)
    flat = (np.clip(py, 0, height - 1) * width + np.clip(px, 0, width - 1)).reshape(n, -1)
    values *= on
    return flat, values.reshape(n, -1)
