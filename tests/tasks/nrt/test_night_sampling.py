"""Frames as ``pyros night --simulate`` takes them (its derived site file, 512² frames): the
grown pixels still sample the seeing, and an infrared H-band frame of the night is analysed.

With the pixels grown 4× (2.52″ for the infrared camera) the stars spanned half a pixel and the
H-band sky filled a pixel within one ramp read: every star saturated and the frame failed
("astrometry: 0 usable sources detected"), as a third of the night's infrared frames did.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from app.cli.nightsim import MAX_PIXEL_ARCSEC, MAX_PIXEL_GROWTH, derived_site_file
from infra.config import load_config
from simulators.sky import SimulatedReferenceCatalog, read_truth
from tasks.calibration.calibrator import ScienceCalibrator
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.engines import FLAG_SATURATED
from tasks.nrt.pipeline import analyse_frame, too_few_usable
from tests.support.night_sky import night_config
from tests.support.nrt_sky import FrameMaker

INFRARED = "Infrared camera"
#: M1 (the Crab), observed in H by the default scenario (night_request_04.xml: 4 × 30 s).
CRAB = (83.6292, 22.0144)
#: An instant of a night when the Crab is high above the site (2027-01-15, 07:00 UTC).
WHEN = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)


def test_the_night_pixels_grow_but_still_sample_the_seeing(tmp_path):
    config = night_config(tmp_path, 512)
    for instrument in config.instruments:
        assert instrument.width == instrument.height == 512
        assert instrument.pixel_scale_arcsec <= MAX_PIXEL_ARCSEC + 1e-9
    default = {i.name: i for i in night_config(tmp_path, 0).instruments}
    for instrument in config.instruments:
        growth = instrument.pixel_scale_arcsec / default[instrument.name].pixel_scale_arcsec
        assert 1.0 <= growth <= MAX_PIXEL_GROWTH


def test_an_infrared_h_frame_of_the_night_is_analysed(engine, tmp_path):
    config = night_config(tmp_path, 512)
    maker = FrameMaker(config, tmp_path)
    try:
        maker.masters(engine, filters=("H",), camera=INFRARED)
        path = maker.light(
            "crab-H", *CRAB, start=WHEN, instrument=INFRARED, filter="H", exposure_s=30.0
        )
        truth = read_truth(path)
        analysis = analyse_frame(
            path,
            ScienceCalibrator(engine=engine, config=config),
            CatalogCache(SimulatedReferenceCatalog(config.sky)),
            config,
        )
        assert analysis.solution.n_matches >= 12
        # The fitted WCS puts the unsaturated stars where they are (within half a pixel).
        stars = truth[(truth["kind"] == "star") & ~truth["saturated"] & truth["in_frame"]]
        x, y = analysis.solution.wcs.all_world2pix(stars["ra"], stars["dec"], 0)
        error_px = np.hypot(x - np.asarray(stars["x"]), y - np.asarray(stars["y"]))
        assert float(np.median(error_px)) < 0.5
    finally:
        maker.cleanup()


class _Detections:
    """What :func:`too_few_usable` reads of an extraction."""

    def __init__(self, flags, snr):
        self.flags = np.asarray(flags, dtype=np.int32)
        self.snr = np.asarray(snr, dtype=float)

    def __len__(self) -> int:
        return len(self.flags)


def test_a_frame_whose_stars_saturate_says_so():
    saturated = _Detections([FLAG_SATURATED] * 40 + [0] * 5, [200.0] * 40 + [6.0] * 5)
    reason = too_few_usable(saturated, np.zeros(45, dtype=bool), 12, 6.0)  # type: ignore[arg-type]
    assert reason.startswith("astrometry: 0 usable sources detected, 12 needed")
    assert "40 saturated" in reason and "the stars saturate" in reason
    faint = _Detections([0] * 30, [4.0] * 27 + [30.0] * 3)
    reason = too_few_usable(faint, np.arange(30) >= 27, 12, 6.0)  # type: ignore[arg-type]
    assert "3 usable sources detected" in reason and "too faint: clouds" in reason
    assert "27 below SNR 6)" in reason


def test_a_frame_larger_than_the_sensor_is_refused_by_name(tmp_path):
    small = load_config(derived_site_file(load_config(), tmp_path / "a", 64))
    # A 64-pixel site grown to 512 would have shrunk its pixels 8x: a star-less field of 24".
    with pytest.raises(ValueError, match=r"--frame-px 512 is larger than instrument .* 64 x 64"):
        derived_site_file(small, tmp_path / "b", 512)
