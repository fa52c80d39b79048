"""Forced PSF photometry: the fitted source's photon noise in its error and chi-square, and the
chi-square at the best position (a bright source on an undersampled frame, 1.5 px FWHM)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.nrt.forced import best_fit_chi2, forced_psf
from tasks.nrt.psf import MoffatPsf
from tasks.nrt.reference import FieldPsf

SIZE, GAIN, RMS = 41, 1.5, 5.0
PSF = FieldPsf(MoffatPsf.circular(1.5, beta=4.0), 0.0, SIZE, SIZE)
X0, Y0 = 20.3, 19.8
FLUX = 60_000.0  # ADU: SNR ~200, the source's photon noise well above the sky's


def frames(count: int, seed: int) -> np.ndarray:
    """``count`` noisy frames of one point source drawn with the PSF model itself."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    model = FLUX * PSF.shape.evaluate(xx - X0, yy - Y0)
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(np.maximum(model, 0.0) * GAIN, size=(count, SIZE, SIZE)) / GAIN
    sky = rng.normal(0.0, RMS, size=(count, SIZE, SIZE))
    return (electrons + sky).astype(np.float32)


def test_the_flux_error_counts_the_source_s_own_photon_noise():
    images = frames(300, seed=7)
    var = np.full((SIZE, SIZE), RMS**2, dtype=np.float32)  # no source in the variance map
    fits = [
        forced_psf(im, var, PSF, np.array([X0]), np.array([Y0]), 0.0, gain=GAIN) for im in images
    ]
    flux = np.array([f[0][0] for f in fits])
    error = np.median([f[1][0] for f in fits])
    assert flux.mean() == pytest.approx(FLUX, rel=0.01)
    # The error reported is the scatter observed (it was 3x smaller without the source's noise).
    assert error == pytest.approx(flux.std(), rel=0.15)
    assert np.median([f[3][0] for f in fits]) < 1.5  # and the chi-square is near 1


def test_a_centroid_a_tenth_of_a_pixel_off_is_no_cosmic_ray_at_the_best_position():
    image = frames(1, seed=11)[0]
    var = np.full((SIZE, SIZE), RMS**2, dtype=np.float32)
    x, y = np.array([X0 + 0.1]), np.array([Y0 - 0.1])
    off = forced_psf(image, var, PSF, x, y, 0.03, gain=GAIN)[3][0]
    best = best_fit_chi2(image, var, PSF, x, y, (0.03, GAIN))[0]
    assert off > 10.0  # the fixed position alone would fail the cosmic-ray test ...
    assert best < 2.0  # ... which the fit at its best position passes
    # Beyond the reach (0.25 px), the best position is not searched for.
    far = best_fit_chi2(image, var, PSF, x + 0.5, y, (0.03, GAIN))[0]
    assert far > 10.0
