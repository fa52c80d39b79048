"""The local PSF fit and the alert region's scene fit, on frames stamped by the renderer's Moffat
code (with noise), not by the model that fits them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.sky.psf import stamp_moffat
from tasks.nrt.frame import FramePixels
from tasks.nrt.psf import MoffatPsf, fit_psf
from tasks.nrt.scene import MAX_NEW_SOURCES, SceneStart, fit_scene, region_around

RMS, GAIN, FWHM, BETA = 10.0, 1.0, 4.5, 2.8


def _frame(sources, seed: int = 3, size: int = 200) -> np.ndarray:
    """Background-subtracted frame (ADU = e-): ``sources`` (x, y, flux), sky noise, photon noise."""
    rng = np.random.default_rng(seed)
    light = np.zeros((size, size), dtype=np.float32)
    if sources:
        x, y, flux = (np.array(c, dtype=float) for c in zip(*sources, strict=True))
        stamp_moffat(light, x, y, flux, np.full(len(x), FWHM), BETA)
    noisy = rng.poisson(np.maximum(light, 0)).astype(float) + rng.normal(0, RMS, light.shape)
    return noisy.astype(np.float32)


def _psf_stars():
    return [(30.3 + 35 * (k % 5), 25.6 + 40 * (k // 5), 60000.0) for k in range(10)]


def test_the_psf_fit_recovers_the_rendered_fwhm_and_index():
    data = _frame(_psf_stars())
    x = np.array([s[0] for s in _psf_stars()]) + 0.3  # centroids a little off
    y = np.array([s[1] for s in _psf_stars()]) - 0.2
    psf = fit_psf(data, x, y, fwhm_px=4.0, rms_adu=RMS, gain=GAIN)
    assert psf is not None
    assert psf.fwhm_px == pytest.approx(FWHM, rel=0.03)
    assert psf.beta == pytest.approx(BETA, abs=0.4)
    assert abs(psf.b) < 0.05 * psf.a and psf.a == pytest.approx(psf.c, rel=0.05)


def test_the_psf_fit_needs_three_stars_on_the_frame():
    data = _frame(_psf_stars())
    assert fit_psf(data, np.array([1.0, 30.3]), np.array([1.0, 25.6]), fwhm_px=4.0,
                   rms_adu=RMS, gain=GAIN) is None  # fmt: skip


def test_an_elliptical_profile_keeps_unit_flux_and_its_fwhm():
    psf = MoffatPsf(a=0.2, b=0.05, c=0.1, beta=3.0)
    gy, gx = np.mgrid[-200:201, -200:201].astype(float)
    assert float(psf.evaluate(gx, gy).sum()) == pytest.approx(1.0, abs=2e-3)
    round_psf = MoffatPsf.circular(5.0, 2.5)
    assert round_psf.fwhm_px == pytest.approx(5.0)
    assert float(round_psf.evaluate(np.array([2.5]), np.array([0.0]))[0]) == pytest.approx(
        0.5 * round_psf.peak_fraction
    )


STAR = (100.0, 100.0, 40000.0)
HIDDEN = (100.0 + FWHM, 101.0, 5000.0)  # one FWHM from the star, 2.3 mag fainter


def _fit(data, catalog, mask=None):
    """The scene of an 8-pixel circle around (100, 100), the catalog at its true positions."""
    region = region_around(100.0, 100.0, 8.0, 3 * FWHM, data.shape)
    return fit_scene(
        FramePixels(data, mask, rms_adu=RMS, gain=GAIN),
        region,
        MoffatPsf.circular(FWHM, BETA),
        SceneStart(
            catalog_x=np.array([c[0] for c in catalog]),
            catalog_y=np.array([c[1] for c in catalog]),
            catalog_sigma_px=np.full(len(catalog), 0.05),
            catalog_index=np.arange(len(catalog)),
            free_x=np.empty(0),
            free_y=np.empty(0),
        ),
    )


def test_a_source_hidden_in_a_star_s_light_comes_out_of_the_residual():
    star, *others = _fit(_frame([STAR, HIDDEN]), [STAR])
    assert star.origin == "catalog" and star.flux == pytest.approx(STAR[2], rel=0.02)
    assert [s.origin for s in others] == ["residual"]
    found = others[0]
    assert math.hypot(found.x - HIDDEN[0], found.y - HIDDEN[1]) < 0.3
    assert found.flux == pytest.approx(HIDDEN[2], abs=3 * found.flux_err)
    assert found.snr > 10 and found.sharpness < 1.2


def test_a_lone_star_leaves_nothing_in_the_residual():
    for seed in range(5):
        assert [s.origin for s in _fit(_frame([STAR], seed=seed), [STAR])] == ["catalog"], seed


def test_a_hot_pixel_is_fitted_but_sharper_than_a_star():
    data = _frame([STAR])
    data[95, 108] += 3000.0  # a hot pixel (or cosmic ray) inside the circle
    residual = [s for s in _fit(data, [STAR]) if s.origin == "residual"]
    assert len(residual) == 1 and residual[0].sharpness > 3.0


def test_a_masked_column_through_the_star_does_not_create_a_source():
    data = _frame([STAR])
    mask = np.zeros(data.shape, dtype=bool)
    mask[:, 103] = True  # a dead column through the star's wing
    data[:, 103] = 0.0
    assert [s.origin for s in _fit(data, [STAR], mask)] == ["catalog"]


def test_residual_peaks_stop_after_the_most_a_scene_takes():
    hidden = [(100.0 + dx, 100.0 + dy, 20000.0) for dx, dy in ((-6, 0), (6, 0), (0, -6), (0, 6))]
    fitted = _fit(_frame([STAR, *hidden]), [STAR])
    assert [s.origin for s in fitted] == ["catalog"] + ["residual"] * MAX_NEW_SOURCES
    assert all(s.snr > 10 for s in fitted)
