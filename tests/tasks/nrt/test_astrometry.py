"""Matching detections to the catalog from a wrong pointing, and the WCS fit (synthetic lists)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from infra.refcat import CatalogStars
from tasks.nrt.astrometry import (
    AstrometryParams,
    FrameGeometry,
    mutual_nearest,
    separation_arcsec,
    solve,
)
from tasks.nrt.frame import NrtError

SCALE = 0.38  # arcsec per pixel
SHAPE = (2048, 2048)


def _wcs(ra: float, dec: float, rotation_deg: float = 0.0) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(SHAPE[1] + 1) / 2, (SHAPE[0] + 1) / 2]
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    scale = SCALE / 3600.0
    wcs.wcs.cd = np.array([[-scale * c, scale * s], [scale * s, scale * c]])
    return wcs


def _sky(rng, true: WCS, n: int = 600):
    """Catalog stars over a wider area than the frame, and the frame's detections of them."""
    x = rng.uniform(-400, SHAPE[1] + 400, n)
    y = rng.uniform(-400, SHAPE[0] + 400, n)
    ra, dec = true.wcs_pix2world(x, y, 0)
    mag = rng.uniform(14, 21, n)
    stars = CatalogStars(np.arange(n), ra, dec, np.full(n, 0.02), mag, np.full(n, 0.02), 21.0)
    inside = (x > 0) & (x < SHAPE[1] - 1) & (y > 0) & (y < SHAPE[0] - 1)
    inside &= rng.uniform(size=n) > 0.1  # the survey saw some stars this frame misses
    det_x = x[inside] + rng.normal(0, 0.05, inside.sum())
    det_y = y[inside] + rng.normal(0, 0.05, inside.sum())
    flux = 10 ** (-0.4 * (mag[inside] - 25))
    # Spurious detections (cosmic rays, faint galaxies) mixed in.
    extra = 40
    det_x = np.concatenate([det_x, rng.uniform(0, SHAPE[1] - 1, extra)])
    det_y = np.concatenate([det_y, rng.uniform(0, SHAPE[0] - 1, extra)])
    flux = np.concatenate([flux, rng.uniform(1e2, 1e4, extra)])
    return stars, det_x, det_y, flux


@pytest.mark.parametrize("offset_arcsec, rotation_deg", [(60.0, 0.05), (150.0, 0.3)])
def test_the_pointing_error_is_found_and_the_fit_follows_the_true_wcs(offset_arcsec, rotation_deg):
    rng = np.random.default_rng(5)
    true = _wcs(150.0, 30.0, rotation_deg)
    stars, x, y, flux = _sky(rng, true)
    # The mount's WCS: centred `offset` away, no rotation.
    header = _wcs(
        150.0 + offset_arcsec / 3600 / np.cos(np.radians(30.0)) * 0.6,
        30.0 + offset_arcsec / 3600 * 0.8,
    )
    solution = solve(
        x,
        y,
        flux,
        np.ones(len(x), dtype=bool),
        FrameGeometry(header, SHAPE, SCALE),
        stars,
        AstrometryParams(sip_degree=2),
    )
    assert solution.offset_arcsec == pytest.approx(offset_arcsec, abs=1.0)
    assert solution.rotation_deg == pytest.approx(rotation_deg, abs=0.05)
    assert solution.n_matches > 240 and solution.rms_arcsec < 0.05
    gx, gy = np.meshgrid(np.linspace(0, 2047, 16), np.linspace(0, 2047, 16))
    r1, d1 = solution.wcs.all_pix2world(gx.ravel(), gy.ravel(), 0)
    r2, d2 = true.wcs_pix2world(gx.ravel(), gy.ravel(), 0)
    assert float(np.sqrt(np.mean(separation_arcsec(r1, d1, r2, d2) ** 2))) < 0.03
    assert (stars.source_id[solution.cat_index] < len(stars)).all()


def test_unrelated_lists_are_refused_rather_than_matched():
    rng = np.random.default_rng(9)
    stars, x, y, flux = _sky(rng, _wcs(150.0, 30.0))
    elsewhere = _wcs(150.5, 30.4)  # another field: none of these stars are in the frame
    with pytest.raises(NrtError, match="astrometry: no match between"):
        solve(
            x,
            y,
            flux,
            np.ones(len(x), dtype=bool),
            FrameGeometry(elsewhere, SHAPE, SCALE),
            stars,
            AstrometryParams(),
        )


def test_too_few_detections_say_so():
    rng = np.random.default_rng(1)
    stars, x, y, flux = _sky(rng, _wcs(150.0, 30.0))
    with pytest.raises(NrtError, match="5 usable sources detected, 12 needed"):
        solve(
            x[:5],
            y[:5],
            flux[:5],
            np.ones(5, dtype=bool),
            FrameGeometry(_wcs(150.0, 30.0), SHAPE, SCALE),
            stars,
            AstrometryParams(),
        )


def test_mutual_nearest_keeps_only_reciprocal_pairs():
    a = np.array([[0.0, 0.0], [0.4, 0.0], [10.0, 10.0]])
    b = np.array([[0.1, 0.0], [10.0, 11.5]])
    i, j = mutual_nearest(a, b, radius=1.0)
    assert i.tolist() == [0] and j.tolist() == [0]


def test_a_crowded_frame_whose_brightest_stars_saturated_is_solved():
    """The frame saturated its brightest stars (masked cores: unusable, their measured flux
    small), so its 120 brightest usable detections are the catalog's 300th-500th brightest."""
    rng = np.random.default_rng(21)
    true = _wcs(150.0, 30.0)
    n = 40000
    x = rng.uniform(-800, SHAPE[1] + 800, n)
    y = rng.uniform(-800, SHAPE[0] + 800, n)
    ra, dec = true.wcs_pix2world(x, y, 0)
    mag = 21.0 - rng.exponential(1.0 / (0.4 * np.log(10)), n)  # dN/dm ∝ 10^(0.4 m)
    stars = CatalogStars(np.arange(n), ra, dec, np.full(n, 0.02), mag, np.full(n, 0.02), 21.0)
    inside = (x > 0) & (x < SHAPE[1] - 1) & (y > 0) & (y < SHAPE[0] - 1)
    saturated = inside & (mag < np.sort(mag[inside])[300])
    flux = np.where(saturated, 1e3, 10 ** (-0.4 * (mag - 25)))  # cores masked: flux lost
    keep = inside & (mag < 19.5)
    header = _wcs(150.0 + 80 / 3600, 30.0 - 50 / 3600)
    solution = solve(
        x[keep] + rng.normal(0, 0.1, keep.sum()),
        y[keep] + rng.normal(0, 0.1, keep.sum()),
        flux[keep],
        ~saturated[keep],
        FrameGeometry(header, SHAPE, SCALE),
        stars,
        AstrometryParams(sip_degree=2),
        saturated_stars=int(saturated.sum()),
    )
    expected = float(separation_arcsec(150.0, 30.0, 150.0 + 80 / 3600, 30.0 - 50 / 3600))
    assert solution.offset_arcsec == pytest.approx(expected, abs=1.0)
    assert solution.n_matches > 500


def test_saturated_stars_are_the_masked_blobs_not_single_pixels_or_columns():
    from tasks.nrt.pipeline import saturated_stars

    mask = np.zeros((200, 200), dtype=bool)
    mask[10:13, 10:13] = True  # a saturated core
    mask[50:70, 80] = True  # a core and its bleed trail
    mask[150, 150] = True  # a hot pixel
    mask[:, 120] = True  # a dead column
    assert saturated_stars(mask) == 2
    assert saturated_stars(None) == 0


def _sparse_sky(rng, true: WCS, detected: int = 10):
    """A star-poor frame (a short H frame at high latitude): only its ``detected`` brightest
    stars are detected, with two spurious detections; the catalog goes deeper."""
    stars, x, y, flux = _sky(rng, true, n=300)
    real = np.arange(len(x) - 40)
    brightest = real[np.argsort(-flux[real])][:detected]
    chosen = np.concatenate([brightest, len(x) - 40 + np.arange(2)])
    return stars, x[chosen], y[chosen], flux[chosen]


@pytest.mark.parametrize("seed", range(5))
def test_a_star_poor_field_is_solved_with_a_linear_fit_from_few_stars(seed):
    """The pipeline lowers ``min_matches`` to its sparse floor (6) when fewer than 12 clean
    stars are detected: 10 stars from a 100″ pointing error are still matched."""
    rng = np.random.default_rng(100 + seed)
    true = _wcs(150.0, 30.0, 0.1)
    stars, x, y, flux = _sparse_sky(rng, true)
    header = _wcs(150.0 + 60 / 3600 / np.cos(np.radians(30.0)), 30.0 + 80 / 3600)
    solution = solve(
        x,
        y,
        flux,
        np.ones(len(x), dtype=bool),
        FrameGeometry(header, SHAPE, SCALE),
        stars,
        AstrometryParams(min_matches=6),
    )
    assert solution.offset_arcsec == pytest.approx(100.0, abs=1.0)
    assert 6 <= solution.n_matches <= 10
    centre_true = true.wcs_pix2world([[1023.5, 1023.5]], 0)[0]
    centre_fit = solution.wcs.all_pix2world([[1023.5, 1023.5]], 0)[0]
    assert separation_arcsec(*centre_true, *centre_fit) < 0.1


@pytest.mark.parametrize("seed", range(8))
def test_a_star_poor_field_of_another_sky_is_refused_not_matched_by_chance(seed):
    rng = np.random.default_rng(200 + seed)
    stars, _, _, flux = _sparse_sky(rng, _wcs(150.0, 30.0))
    _, other_x, other_y, _ = _sparse_sky(rng, _wcs(150.0, 30.0))  # detections of other stars
    with pytest.raises(NrtError, match="astrometry: no match between"):
        solve(
            other_x,
            other_y,
            flux,
            np.ones(len(other_x), dtype=bool),
            FrameGeometry(_wcs(150.0, 30.0), SHAPE, SCALE),
            stars,
            AstrometryParams(min_matches=6),
        )
