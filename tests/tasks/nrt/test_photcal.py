"""The curve of growth on stamped stars, with a star whose core is masked among them."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.sky.psf import stamp_moffat
from tasks.nrt.engines import make_engine
from tasks.nrt.frame import FramePixels
from tasks.nrt.photcal import growth_curve

FWHM, BETA, RMS = 4.0, 3.0, 5.0


def test_a_star_with_a_masked_core_does_not_spoil_the_curve_of_growth():
    rng = np.random.default_rng(11)
    size = 400
    light = np.zeros((size, size), dtype=np.float32)
    x = np.array([60.0 + 70 * (k % 5) for k in range(15)]) + 0.3
    y = np.array([60.0 + 120 * (k // 5) for k in range(15)]) - 0.2
    flux = np.full(len(x), 2.0e5)
    flux[0] = 1.5e5  # not among the brightest two, which the curve of growth skips
    stamp_moffat(light, x, y, flux, np.full(len(x), FWHM), BETA)
    data = (light + rng.normal(0.0, RMS, light.shape)).astype(np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    # The first star's core is masked (saturated pixels the detection did not flag).
    core = (slice(57, 64), slice(57, 64))
    mask[core], data[core] = True, 0.0
    peak = flux * (BETA - 1) / (np.pi * (FWHM / (2 * np.sqrt(2 ** (1 / BETA) - 1))) ** 2)
    pixels = FramePixels(data, mask, rms_adu=RMS, gain=1.0)
    _, ee, fwhm, n_stars = growth_curve(
        make_engine("sep"), pixels, x, y, peak, np.zeros(len(x), np.int32), 4.5
    )
    assert np.all(np.isfinite(ee)) and n_stars == len(x) - 3
    assert fwhm == pytest.approx(FWHM, rel=0.05)
