"""The difference search (issue 26) on frames stamped by the renderer's Moffat code (with noise),
not by the model that renders the reference: a transient found anywhere, on a star too, and the
vetting's rejections (cosmic ray, bad pixels, edge, dipole, catalog depth)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from astropy.wcs import WCS

from infra.refcat import CatalogStars
from simulators.sky.psf import stamp_moffat
from tasks.nrt.difference import DifferenceParams, FrameInputs, difference_search
from tasks.nrt.photcal import ZeroPoint
from tasks.nrt.psf import MoffatPsf
from tasks.nrt.reference import FieldPsf, render_reference

RMS, GAIN, FWHM, BETA, SIZE = 8.0, 1.0, 4.0, 3.0, 256
ZP = 27.0  # mag of 1 ADU


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 20.0]
    wcs.wcs.crpix = [SIZE / 2 + 0.5, SIZE / 2 + 0.5]
    wcs.wcs.cdelt = [-0.4 / 3600, 0.4 / 3600]
    return wcs


def _stars(seed: int = 5, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star positions (pixels) on a loose grid and magnitudes 15.5–20."""
    rng = np.random.default_rng(seed)
    grid = np.arange(20, SIZE - 20, 27.0)
    gx, gy = np.meshgrid(grid, grid)
    x = gx.ravel()[:n] + rng.uniform(-4, 4, min(n, gx.size))
    y = gy.ravel()[:n] + rng.uniform(-4, 4, min(n, gx.size))
    return x, y, rng.uniform(15.5, 20.0, len(x))


def _catalog(x, y, mag, limit: float = 21.5) -> CatalogStars:
    ra, dec = _wcs().all_pix2world(x, y, 0)
    n = len(x)
    return CatalogStars(
        source_id=np.arange(n, dtype=np.int64),
        ra=np.asarray(ra, float),
        dec=np.asarray(dec, float),
        pos_err_arcsec=np.full(n, 0.02),
        mag=np.asarray(mag, float),
        mag_err=np.full(n, 0.005),
        mag_limit=limit,
    )


def _frame(sources, seed: int = 3, mask=None) -> FrameInputs:
    """Background-subtracted frame (ADU = e-) of ``sources`` (x, y, mag) with noise."""
    rng = np.random.default_rng(seed)
    light = np.zeros((SIZE, SIZE), dtype=np.float32)
    x, y, mag = (np.array(c, dtype=float) for c in zip(*sources, strict=True))
    stamp_moffat(light, x, y, 10 ** (-0.4 * (mag - ZP)), np.full(len(x), FWHM), BETA)
    noisy = rng.poisson(np.maximum(light, 0)).astype(float) + rng.normal(0, RMS, light.shape)
    return FrameInputs(
        data=noisy.astype(np.float32),
        mask=mask,
        rms_adu=RMS,
        gain=GAIN,
        wcs=_wcs(),
        zero_point=ZeroPoint(ZP, 0.01, 0.01, 50, ZP),
    )


PSF = FieldPsf(MoffatPsf.circular(FWHM, BETA), 0.0, SIZE, SIZE)


def _search(extra, seed: int = 3, mask=None, params=None, limit: float = 21.5):
    x, y, mag = _stars()
    frame = _frame([*zip(x, y, mag, strict=True), *extra], seed, mask)
    return difference_search(frame, _catalog(x, y, mag, limit), PSF, params), (x, y, mag)


def _nearest(records, x: float, y: float) -> dict:
    return min(records, key=lambda c: math.hypot(c["x"] - x, c["y"] - y))


def test_the_rendered_reference_matches_the_renderers_stars():
    x, y, mag = _stars()
    flux = 10 ** (-0.4 * (mag - ZP))
    light = np.zeros((SIZE, SIZE), dtype=np.float32)
    stamp_moffat(light, x, y, flux, np.full(len(x), FWHM), BETA)
    reference = render_reference((SIZE, SIZE), x, y, flux, np.full(len(x), 0.01), PSF, rms_adu=RMS)
    assert reference.n_stars == len(x)
    # The wings are drawn until they fall to a tenth of the noise: ~1-2 % of the light.
    assert float(reference.model.sum()) == pytest.approx(float(light.sum()), rel=0.02)
    # Residual far below the noise on every pixel but the brightest cores (< 0.5 % of peak).
    assert float(np.max(np.abs(reference.model - light))) < 0.005 * float(light.max()) + RMS
    assert np.all(reference.error >= 0.0099 * reference.model)


def test_nothing_but_catalog_stars_gives_no_candidate():
    for seed in (3, 4, 5):
        result, _ = _search([], seed=seed)
        assert result.candidates == [], result.candidates


def test_a_transient_anywhere_and_one_on_a_star_are_found_with_their_magnitude():
    x, y, mag = _stars()
    bright = int(np.argmin(mag))  # the brightest star hosts one, 0.8 FWHM away
    host = (x[bright] + 0.8 * FWHM * math.cos(0.7), y[bright] + 0.8 * FWHM * math.sin(0.7), 18.0)
    alone = (101.3, 141.7, 18.5)
    result, _ = _search([host, alone])
    found = {(round(c["x"]), round(c["y"])): c for c in result.candidates}
    assert len(result.candidates) == 2, result.candidates
    for tx, ty, tmag in (host, alone):
        c = min(result.candidates, key=lambda c: math.hypot(c["x"] - tx, c["y"] - ty))
        assert math.hypot(c["x"] - tx, c["y"] - ty) < 0.5
        assert abs(c["mag"] - tmag) < 3.0 * c["mag_err"]  # the forced photometry error
        assert c["vetting"] == "real" and c["method"] == "difference"
    kinds = sorted(c["kind"] for c in found.values())
    assert kinds == ["brightened", "new"]
    assert result.difference.shape == result.noise.shape == (SIZE, SIZE)


def test_a_cosmic_ray_is_rejected_as_sharper_than_the_psf():
    x, y, mag = _stars()
    frame = _frame(list(zip(x, y, mag, strict=True)))
    frame.data[130, 90] += 800.0  # one pixel, 100 sigma
    result = difference_search(frame, _catalog(x, y, mag), PSF)
    assert result.candidates == []
    assert [r["vetting"] for r in result.rejected if round(r["x"]) == 90] == ["cosmic ray"]


def test_masked_pixels_edges_and_depth_reject_peaks():
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[140, 100] = True  # a bad pixel under a transient
    on_mask = (100.4, 140.2, 18.5)
    at_edge = (3.0, 128.0, 18.0)
    # SNR ~ 10, but a shallow catalog (depth 19.5) would miss a star this bright (19.3 + 3
    # sigma > 19.5 - 0.3): an uncatalogued star, not a transient.
    faint = (190.2, 60.3, 19.3)
    result, _ = _search([on_mask, at_edge, faint], mask=mask, limit=19.5)
    assert result.candidates == []
    for (x, y, _mag), why in zip(
        (on_mask, at_edge, faint), ("bad pixels", "edge", "below catalog depth"), strict=True
    ):
        rejected = _nearest(result.rejected, x, y)
        assert math.hypot(rejected["x"] - x, rejected["y"] - y) < 1.5
        assert rejected["vetting"] == why


def test_a_misplaced_star_leaves_a_dipole_that_is_not_a_candidate():
    x, y, mag = _stars()
    moved = x.copy()
    bright = int(np.argmin(mag))
    moved[bright] += 1.2  # the frame's star is 1.2 px from where the reference draws it
    frame = _frame(list(zip(moved, y, mag, strict=True)))
    result = difference_search(frame, _catalog(x, y, mag), PSF)
    assert result.candidates == []
    assert "dipole" in {r["vetting"] for r in result.rejected}


def test_a_frame_that_is_not_an_image_or_has_a_wrong_mask_is_refused():
    x, y, mag = _stars()
    frame = _frame(list(zip(x, y, mag, strict=True)))
    cube = FrameInputs(
        data=np.zeros((2, 4, 4), dtype=np.float32),
        mask=None,
        rms_adu=RMS,
        gain=GAIN,
        wcs=frame.wcs,
        zero_point=frame.zero_point,
    )
    with pytest.raises(ValueError, match="2-D frame"):
        difference_search(cube, _catalog(x, y, mag), PSF, DifferenceParams())
    wrong_mask = replace(frame, mask=np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="mask's shape"):
        difference_search(wrong_mask, _catalog(x, y, mag), PSF)
    with pytest.raises(ValueError, match="must be positive"):
        difference_search(replace(frame, gain=0.0), _catalog(x, y, mag), PSF)


def _with_bright_star(extra, beta: float, flux_scale: float, seed: int = 3, mag: float = 13.5):
    """The field plus a star of ``mag`` at the centre drawn with ``beta`` and ``flux_scale``
    times its catalog flux (the model draws it with BETA and its catalog flux), plus ``extra``."""
    x, y, mags = _stars()
    frame = _frame([*zip(x, y, mags, strict=True), *extra], seed)
    star = (128.3, 127.6, mag)
    flux = flux_scale * 10 ** (-0.4 * (star[2] - ZP))
    stamp_moffat(frame.data, np.array([star[0]]), np.array([star[1]]), np.array([flux]),
                 np.array([FWHM]), beta)  # fmt: skip
    catalog = _catalog(np.append(x, star[0]), np.append(y, star[1]), np.append(mags, star[2]))
    return frame, catalog, star


@pytest.mark.parametrize("seed", [3, 4])
def test_the_wings_of_a_star_the_model_draws_too_thin_leave_no_candidate(seed):
    frame, catalog, (sx, sy, _) = _with_bright_star([], beta=2.8, flux_scale=1.03, seed=seed)

    def near(records):
        return [r for r in records if math.hypot(r["x"] - sx, r["y"] - sy) < 4 * FWHM]

    result = difference_search(frame, catalog, PSF)
    assert near(result.candidates) == []
    assert "PSF residual" in {r["vetting"] for r in near(result.rejected)}
    # The mirror test is what rejects it: without it the residual is a candidate.
    without = difference_search(frame, catalog, PSF, DifferenceParams(mirror_ratio_max=math.inf))
    assert len(near(without.candidates)) == 1


@pytest.mark.parametrize("offset_fwhm", [0.4, 0.8, 1.5])
def test_a_transient_beside_a_bright_star_has_an_empty_mirror_and_is_kept(offset_fwhm):
    angle = 2.2
    transient = (128.3 + offset_fwhm * FWHM * math.cos(angle),
                 127.6 + offset_fwhm * FWHM * math.sin(angle), 18.0)  # fmt: skip
    frame, catalog, _ = _with_bright_star([transient], beta=BETA, flux_scale=1.0, mag=15.0)
    result = difference_search(frame, catalog, PSF)
    found = _nearest(result.candidates, transient[0], transient[1])
    # Within half a pixel: the SNR map's peak lies up to 0.9 px away, pushed off the star by its
    # photon noise; the centroid climbs back to the flux's peak.
    assert math.hypot(found["x"] - transient[0], found["y"] - transient[1]) < 0.5
    assert found["vetting"] == "real"
    assert not [r for r in result.rejected if r["vetting"] == "PSF residual"]


def test_a_cosmic_ray_track_no_sharper_than_the_psf_is_rejected_by_its_fit():
    x, y, mag = _stars()
    frame = _frame(list(zip(x, y, mag, strict=True)))
    for k in range(16):  # a long faint track: its brightest pixel is no sharper than a star's
        frame.data[130 + k // 2, 88 + k] += 200.0
    catalog = _catalog(x, y, mag)

    def on_track(records):
        return [r for r in records if 125 < r["y"] < 140 and 85 < r["x"] < 106]

    result = difference_search(frame, catalog, PSF)
    assert result.candidates == []
    track = on_track(result.rejected)
    assert [r["vetting"] for r in track] == ["cosmic ray"]
    assert track[0]["fit_chi2"] > 10
    # The fit is what rejects it: the sharpness test alone lets it through.
    alone = difference_search(frame, catalog, PSF, DifferenceParams(fit_chi2_max=math.inf))
    assert len(on_track(alone.candidates)) == 1
