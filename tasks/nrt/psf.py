"""A local point-spread function: an elliptical Moffat profile fitted to bright isolated stars.

``P(dx, dy) = (beta - 1) sqrt(ac - b²) / pi · (1 + a dx² + 2b dx dy + c dy²)**-beta`` integrates
to one over the plane; it is sampled at pixel centres. The shape (``a``, ``b``, ``c``, ``beta``)
is shared by the stars of the fit, each star keeping its own position, flux and background, so
a seeing that varies across the field is followed by fitting the stars near where the model is
needed (:mod:`tasks.nrt.scene` fits the alert region with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

Floats = npt.NDArray[np.float64]

#: Bounds of the fitted Moffat index (1 has infinite flux; beyond 10 it is nearly a Gaussian).
BETA_RANGE = (1.3, 10.0)


@dataclass(frozen=True)
class MoffatPsf:
    """Elliptical Moffat profile of unit total flux (pixel units)."""

    a: float
    b: float
    c: float
    beta: float

    @classmethod
    def circular(cls, fwhm_px: float, beta: float = 3.0) -> MoffatPsf:
        """A round profile of the given FWHM."""
        alpha = fwhm_px / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
        return cls(1.0 / alpha**2, 0.0, 1.0 / alpha**2, beta)

    @property
    def fwhm_px(self) -> float:
        """Geometric-mean FWHM."""
        alpha: float = (self.a * self.c - self.b**2) ** -0.25
        return 2.0 * alpha * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0)

    @property
    def peak_fraction(self) -> float:
        """Fraction of the flux in the pixel at the centre."""
        return (self.beta - 1.0) * math.sqrt(self.a * self.c - self.b**2) / math.pi

    def radius_px(self, fraction: float = 1e-3) -> float:
        """Radius (along the major axis) where the profile falls to ``fraction`` of its peak."""
        smallest = 0.5 * (self.a + self.c - math.hypot(self.a - self.c, 2.0 * self.b))
        return math.sqrt((fraction ** (-1.0 / self.beta) - 1.0) / smallest)

    def evaluate(self, dx: Floats, dy: Floats) -> Floats:
        """Flux fraction in the pixels at offsets ``(dx, dy)`` from the centre."""
        q = self.a * dx * dx + 2.0 * self.b * dx * dy + self.c * dy * dy
        fraction: Floats = self.peak_fraction * (1.0 + q) ** -self.beta
        return fraction

    def gradient(self, dx: Floats, dy: Floats) -> tuple[Floats, Floats]:
        """Derivatives of :meth:`evaluate` with respect to the centre's x and y."""
        q = self.a * dx * dx + 2.0 * self.b * dx * dy + self.c * dy * dy
        common = 2.0 * self.beta * self.peak_fraction * (1.0 + q) ** (-self.beta - 1.0)
        return common * (self.a * dx + self.b * dy), common * (self.b * dx + self.c * dy)


def _shape(p: Floats) -> MoffatPsf:
    a, c = math.exp(p[0]), math.exp(p[1])
    b = math.tanh(p[2]) * 0.95 * math.sqrt(a * c)
    beta = BETA_RANGE[0] + (BETA_RANGE[1] - BETA_RANGE[0]) / (1.0 + math.exp(-p[3]))
    return MoffatPsf(a, b, c, beta)


def _shape_params(psf: MoffatPsf) -> Floats:
    lo, hi = BETA_RANGE
    t = min(max((psf.beta - lo) / (hi - lo), 1e-3), 1.0 - 1e-3)
    r = psf.b / (0.95 * math.sqrt(psf.a * psf.c))
    return np.array([math.log(psf.a), math.log(psf.c), math.atanh(r), math.log(t / (1.0 - t))])


def fit_psf(
    data: npt.NDArray[np.float32],
    x: Floats,
    y: Floats,
    *,
    fwhm_px: float,
    rms_adu: float,
    gain: float,
    mask: npt.NDArray[np.bool_] | None = None,
) -> MoffatPsf | None:
    """Fit one Moffat shape to the stars at ``(x, y)`` (background-subtracted ``data``).

    Parameters
    ----------
    data : ndarray
        The frame, background subtracted (ADU).
    x, y : ndarray
        Approximate centres of bright, unsaturated, isolated stars (0-based pixels).
    fwhm_px : float
        The frame's FWHM (starting point and stamp size).
    rms_adu, gain : float
        Background noise (ADU) and gain (e-/ADU) for the pixel weights.
    mask : ndarray, optional
        Pixels to ignore (bad, saturated).

    Returns
    -------
    MoffatPsf or None
        None when fewer than three stars have a whole stamp on the frame, or the fit fails.
    """
    half = max(3, math.ceil(1.6 * fwhm_px))
    height, width = data.shape
    values: list[Floats] = []
    weights: list[Floats] = []
    centres: list[tuple[float, float]] = []
    for xc, yc in zip(x, y, strict=True):
        ix, iy = round(xc), round(yc)
        if not (half <= ix < width - half and half <= iy < height - half):
            continue
        window = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
        stamp = np.asarray(data[window], dtype=float).ravel()
        good = np.ones(stamp.shape, bool) if mask is None else ~mask[window].ravel()
        values.append(stamp)
        weights.append(good / (rms_adu**2 + np.maximum(stamp, 0.0) / gain))
        centres.append((xc - (ix - half), yc - (iy - half)))
    if len(values) < 3:
        return None
    d, w = np.array(values), np.array(weights)  # (stars, pixels)
    sw = np.sqrt(w)
    grid_y, grid_x = np.mgrid[0 : 2 * half + 1, 0 : 2 * half + 1]
    gx, gy = grid_x.ravel().astype(float), grid_y.ravel().astype(float)
    n = len(values)
    # Weighted sums independent of the profile, for each star's 2x2 flux/background solve.
    sum_w, sum_wd = w.sum(axis=1), (w * d).sum(axis=1)

    def residuals(p: Floats) -> Floats:
        centre_x, centre_y = p[4::2, None], p[5::2, None]
        profile = _shape(p[:4]).evaluate(gx[None, :] - centre_x, gy[None, :] - centre_y)
        # Flux and background are linear: solved exactly for each trial shape and centre.
        spp, sp = (w * profile * profile).sum(axis=1), (w * profile).sum(axis=1)
        spd = (w * profile * d).sum(axis=1)
        det = spp * sum_w - sp * sp
        det = np.where(np.abs(det) > 0, det, 1e-30)
        flux = (spd * sum_w - sp * sum_wd) / det
        background = (spp * sum_wd - sp * spd) / det
        weighted: Floats = ((d - flux[:, None] * profile - background[:, None]) * sw).ravel()
        return weighted

    start = np.concatenate([_shape_params(MoffatPsf.circular(fwhm_px)), np.ravel(centres)])
    try:
        fit = least_squares(residuals, start, method="lm", max_nfev=60 * (4 + 2 * n))
    except (ValueError, np.linalg.LinAlgError):
        return None
    psf = _shape(fit.x[:4])
    if not (0.5 * fwhm_px <= psf.fwhm_px <= 2.0 * fwhm_px):
        return None
    return psf
