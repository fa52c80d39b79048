"""One frame end to end against the renderer's truth, on a configuration it was not tuned on.

See ``conftest.py`` for the configuration (640² frames; the benchmark measures 2048² and 4096²).
"""

from __future__ import annotations

import numpy as np
import pytest

from simulators.sky import SimulatedReferenceCatalog, read_truth
from tasks.calibration.calibrator import ScienceCalibrator
from tasks.nrt.candidates import AlertRegion
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.frame import NrtError
from tasks.nrt.pipeline import analyse_frame
from tests.support.nrt_sky import score
from tests.tasks.nrt.conftest import IVORN


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
