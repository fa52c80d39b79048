"""One frame end to end against the renderer's truth, on a configuration it was not tuned on.

See ``conftest.py`` for the configuration (640² frames; the benchmark measures 2048² and 4096²).
"""

from __future__ import annotations

import numpy as np
import pytest

from simulators.sky import SimulatedReferenceCatalog, read_truth
from tasks.calibration.calibrator import ScienceCalibrator
from tasks.nrt.alert_search import MAX_RADIUS_ARCSEC
from tasks.nrt.candidates import AlertRegion
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.frame import NrtError
from tasks.nrt.pipeline import analyse_frame
from tests.support.nrt_sky import NIGHT, afterglow, score
from tests.tasks.nrt.conftest import FIELD, IVORN


@pytest.fixture
def analyser(nrt_bank, engine, masters):
    config = nrt_bank.config
    calibrator = ScienceCalibrator(engine=engine, config=config)
    catalog = CatalogCache(SimulatedReferenceCatalog(config.sky))

    def analyse(path, alert=None):
        return analyse_frame(path, calibrator, catalog, config, alert=alert)

    return analyse


def test_a_follow_up_frame_is_measured_solved_and_its_afterglow_found(nrt_bank, analyser):
    path = nrt_bank.sequence[0]
    truth = read_truth(path)
    # The alert position is 2″ off the afterglow, inside a 5″ error circle.
    alert = AlertRegion(IVORN, nrt_bank.glow_ra, nrt_bank.glow_dec + 2.0 / 3600, 5.0)
    analysis = analyser(path, alert)
    result = score(analysis, path, nrt_bank.config)

    # Calibration applied with the night's masters, provenance kept.
    assert analysis.frame.calibration["missing"] == {}
    assert set(analysis.frame.calibration["used"]) == {"bias", "dark", "flat"}
    # Astrometry from an 80″ pointing error: the fitted WCS follows the true one.
    assert truth.meta["pointing"]["error_arcsec"] > 70
    assert analysis.solution.offset_arcsec == pytest.approx(
        truth.meta["pointing"]["error_arcsec"], abs=2.0
    )
    assert result.astrom_grid_rms_arcsec <= 0.2
    assert analysis.solution.rms_arcsec <= 0.2
    # Detection, photometry, image quality.
    assert result.completeness_total >= 20
    assert result.completeness_found / result.completeness_total >= 0.95
    assert len(result.phot_residuals) >= 5
    assert float(np.sqrt(np.mean(np.square(result.phot_residuals)))) <= 0.03
    assert 0.9 <= result.fwhm_ratio <= 1.12
    assert abs(result.zero_point_error) <= 0.08
    assert 19.0 < analysis.limiting_mag < 24.0
    # The afterglow is the one candidate, at the alert's position, within 0.5″ of the truth.
    assert [a["found"] for a in result.afterglows] == [True]
    assert result.afterglows[0]["offset_arcsec"] <= 0.5
    assert result.false_candidates == 0
    (candidate,) = analysis.candidates
    assert candidate["kind"] == "alert" and candidate["alert_ivorn"] == IVORN
    assert candidate["snr"] > 10 and candidate["chance_probability"] < 0.05


def test_an_afterglow_merged_with_a_catalog_star_is_found_by_the_scene_fit(nrt_bank, analyser):
    # An afterglow one FWHM (1.8″) from an isolated catalog star, 1.8 mag fainter: one detection,
    # matched to the star, not bright enough to be 'brightened'. The alert circle holds both.
    ra, dec = FIELD
    stars = SimulatedReferenceCatalog(nrt_bank.config.sky).query(ra, dec, 0.02, "r")
    ras, decs, mags = (np.asarray(stars[c]) for c in ("ra", "dec", "mag"))
    cos = np.cos(np.radians(dec))
    spacing = np.hypot((ras[:, None] - ras[None, :]) * cos, decs[:, None] - decs[None, :])
    np.fill_diagonal(spacing, np.inf)
    isolated = (spacing.min(axis=1) > 12 / 3600) & (mags > 17.0) & (mags < 18.0)
    star = int(np.flatnonzero(isolated)[0])
    glow_ra = float(ras[star] + 1.8 / 3600 / cos)
    glow_dec = float(decs[star])
    glow = afterglow(glow_ra, glow_dec, NIGHT, mag_at_start=float(mags[star]) + 1.8)
    path = nrt_bank.maker.light("merged", ra, dec, NIGHT, afterglows=(glow,), alert_ivorn=IVORN)
    try:
        alert = AlertRegion(IVORN, glow_ra - 1.0 / 3600 / cos, glow_dec, 5.0)
        analysis = analyser(path, alert)
        result = score(analysis, path, nrt_bank.config)
    finally:
        path.unlink()
        path.with_name("merged.truth.ecsv").unlink(missing_ok=True)
    (glow_result,) = result.afterglows
    assert glow_result["snr"] > 10 and glow_result["found"]
    assert glow_result["offset_arcsec"] <= 0.5
    (candidate,) = analysis.candidates
    # Its fitted SNR is lower than its SNR alone: the star's photons and the star's own flux and
    # position share the pixels.
    assert candidate["method"] == "scene" and candidate["kind"] == "alert"
    assert (
        candidate["snr"] >= 5
        and abs(candidate["mag"] - glow_result["mag"]) < 3 * candidate["mag_err"]
    )


def test_a_degree_wide_alert_circle_is_searched_only_where_a_candidate_could_pass(
    nrt_bank, analyser
):
    # A GBM-like 4° circle centred on the afterglow: the chance rule keeps only what is close to
    # the centre, and the scene fit searches no farther (it would fit the whole frame).
    alert = AlertRegion(IVORN, nrt_bank.glow_ra, nrt_bank.glow_dec, 4 * 3600.0)
    analysis = analyser(nrt_bank.sequence[0], alert)
    glow, *others = analysis.candidates
    assert glow["kind"] == "alert" and glow["alert_distance_arcsec"] < 0.5
    limit = nrt_bank.config.nrt.chance_probability_max
    assert all(c["chance_probability"] <= limit for c in analysis.candidates)
    # Faint sources near the chance radius (~20″ on this sparse 640² frame), nothing farther.
    assert all(c["alert_distance_arcsec"] <= MAX_RADIUS_ARCSEC for c in others)


def test_without_an_alert_an_afterglow_above_the_catalog_depth_is_new(nrt_bank, analyser):
    # Frame 3's afterglow (~19.5 mag) is brighter than the catalog's depth (21, margin 0.5 and
    # three sigma): absent from the catalog, it is 'new' even without an alert.
    analysis = analyser(nrt_bank.sequence[2])
    kinds = [c["kind"] for c in analysis.candidates]
    assert kinds == ["new"]
    assert analysis.candidates[0]["mag"] < 20.5


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated", "calibration: "),
        ("no-filter", "FILTER is missing"),
        ("no-wcs", "no initial WCS (CTYPE1, CRVAL1 missing)"),
        ("no-exptime", "calibration: "),
        ("unknown-filter", "unknown filter 'V'"),
        ("all-nan", "are NaN"),
        ("saturated", "saturated or bad"),
        ("clouds", "usable sources detected"),
    ],
)
def test_a_frame_that_cannot_be_analysed_says_why(nrt_bank, analyser, name, reason):
    with pytest.raises(NrtError) as raised:
        analyser(nrt_bank.bad[name])
    assert reason in str(raised.value)
