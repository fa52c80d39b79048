"""The one SNR definition and the limiting flux derived from it."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.nrt.snr import flux_at_snr, moffat_ee, optimal_snr, snr_curve


def test_moffat_encircled_energy_is_half_at_the_half_light_radius_and_tends_to_one():
    fwhm, beta = 4.0, 3.5
    radii = np.linspace(0.1, 60, 400)
    ee = moffat_ee(radii, fwhm, beta)
    assert np.all(np.diff(ee) > 0) and ee[-1] > 0.999
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    half = alpha * np.sqrt(2 ** (1 / (beta - 1)) - 1)
    assert moffat_ee(half, fwhm, beta) == pytest.approx(0.5)


def test_without_background_the_snr_is_photon_limited():
    flux = np.array([100.0, 10_000.0])
    snr = optimal_snr(flux, 3.0, 3.5, background_e=0.0, read_noise_e=0.0)
    assert snr == pytest.approx(np.sqrt(flux), rel=0.01)


def test_the_optimal_aperture_beats_any_fixed_one_and_the_limiting_flux_inverts_it():
    fwhm, beta, variance = 4.0, 3.5, 400.0 + 64.0
    radii = np.linspace(0.3, 3.0, 55) * fwhm
    ee = moffat_ee(radii, fwhm, beta)
    flux = 5_000.0
    best = optimal_snr(np.array([flux]), fwhm, beta, 400.0, 8.0)[0]
    assert best == pytest.approx(snr_curve(flux, radii, ee, variance).max())
    assert best > snr_curve(flux, [3 * fwhm], [moffat_ee(3 * fwhm, fwhm, beta)], variance)[0]
    limit = flux_at_snr(5.0, radii, ee, variance)
    assert optimal_snr(np.array([limit]), fwhm, beta, 400.0, 8.0)[0] == pytest.approx(5.0, rel=1e-3)
