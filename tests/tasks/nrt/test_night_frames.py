"""The night's frame figures: taken, analysed, failed with their reasons, and false candidates
against the renderer's truth, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.db import session_scope
from infra.db.models import Image, NrtAnalysis
from simulators.sky import read_truth
from tasks.nrt.night_frames import frame_figures, general_reason
from tests.support.nrt_sky import NIGHT, NIGHT_LABEL, FrameMaker, afterglow, sky_config

LONGITUDE = -115.4869
FIELD = (60.0, 10.0)
VISIBLE, INFRARED = "Visible camera", "Infrared camera"


def _image(session, image_id, instrument, path, when, image_type="light") -> None:
    session.add(
        Image(
            id=image_id,
            instrument=instrument,
            filter="r" if instrument == VISIBLE else "J",
            image_type=image_type,
            exposure_s=30.0,
            path=str(path),
            sha256="0" * 64,
            size_bytes=0,
            acquired_at=when,
            wall_acquired_at=datetime.now(UTC),
        )
    )


def _analysis(session, image_id, status, reason="", candidates=()) -> None:
    session.add(
        NrtAnalysis(
            image_id=image_id,
            status=status,
            reason=reason,
            results={"candidates": [dict(c) for c in candidates]},
        )
    )


def test_frames_taken_analysed_failed_and_false_candidates_per_camera(engine, tmp_path):
    maker = FrameMaker(sky_config(128, pointing_error_arcsec=0.0), tmp_path)
    glow = afterglow(FIELD[0] + 0.001, FIELD[1] - 0.001, NIGHT, 17.0)
    with_glow = maker.light("glow", *FIELD, afterglows=(glow,))
    truth = read_truth(with_glow)
    row = truth[truth["kind"] == "afterglow"][0]
    on_glow = {"ra": float(row["ra"]) + 0.3 / 3600, "dec": float(row["dec"]), "kind": "alert"}
    beside = {"ra": float(row["ra"]) + 20 / 3600, "dec": float(row["dec"]), "kind": "new"}
    plain = maker.light("plain", *FIELD, start=NIGHT + timedelta(minutes=2))
    no_truth = tmp_path / "real-sky.fits"  # a real frame: no truth beside it
    saturated = (
        "ir-3.fits: 100% of the pixels are saturated or bad: the sky fills them (exposure "
        "too long for this filter)"
    )
    with session_scope(engine) as session:
        _image(session, "v1", VISIBLE, with_glow, NIGHT)
        _image(session, "v2", VISIBLE, plain, NIGHT + timedelta(minutes=2))
        _image(session, "v3", VISIBLE, no_truth, NIGHT + timedelta(minutes=4))
        _image(session, "v4", VISIBLE, plain, NIGHT + timedelta(minutes=6))
        _image(session, "ir1", INFRARED, plain, NIGHT)
        _image(session, "ir2", INFRARED, plain, NIGHT + timedelta(minutes=1))
        _image(session, "ir3", INFRARED, plain, NIGHT + timedelta(minutes=2))
        # Not counted: a calibration frame, and a frame of the next night.
        _image(session, "flat", VISIBLE, plain, NIGHT, image_type="flat")
        _image(session, "later", VISIBLE, plain, NIGHT + timedelta(hours=20))
        session.flush()
        _analysis(session, "v1", "done", candidates=[on_glow, beside])
        _analysis(session, "v2", "failed", "v2.fits: astrometry: 3 usable sources detected")
        _analysis(session, "v2", "done", candidates=[beside, beside])  # analysed again
        _analysis(session, "v3", "done", candidates=[beside])
        _analysis(session, "v4", "running")
        _analysis(session, "ir1", "failed", "ir-1.fits: astrometry: 3 usable sources detected")
        _analysis(session, "ir2", "failed", "ir-2.fits: astrometry: 5 usable sources detected")
        _analysis(session, "ir3", "failed", saturated)
        _analysis(session, "later", "failed", "astrometry: 2 usable sources detected")

    with session_scope(engine) as session:
        figures = frame_figures(session, NIGHT_LABEL, LONGITUDE)

    visible, infrared = figures["cameras"][VISIBLE], figures["cameras"][INFRARED]
    assert figures["night"] == NIGHT_LABEL
    assert (visible["frames_taken"], visible["frames_analysed"]) == (4, 3)
    assert (visible["frames_failed"], visible["frames_pending"]) == (0, 1)
    assert visible["analysed_fraction"] == 0.75
    # v1: one candidate on the afterglow, one 20" away; v2 (latest analysis): two false; v3 has
    # no truth and is not scored.
    assert visible["candidates"] == 5
    assert visible["frames_scored"] == 2
    assert visible["false_candidates"] == 3
    assert visible["false_candidates_per_frame"] == 1.5
    assert (infrared["frames_taken"], infrared["frames_analysed"], infrared["frames_failed"]) == (
        3,
        0,
        3,
    )
    assert infrared["analysed_fraction"] == 0.0
    assert infrared["false_candidates_per_frame"] is None
    reasons = {r["reason"]: r["count"] for r in infrared["failure_reasons"]}
    assert reasons == {
        "astrometry: N usable sources detected": 2,
        general_reason(saturated): 1,
    }
    assert infrared["failure_reasons"][0]["example"].startswith("ir-1.fits: astrometry")
    total = figures["total"]
    assert (total["frames_taken"], total["frames_analysed"], total["frames_failed"]) == (7, 3, 3)
    maker.cleanup()


def test_general_reason_drops_file_names_and_numbers():
    assert general_reason("M31-J.fits: 100% of the pixels are saturated") == (
        "N% of the pixels are saturated"
    )
    assert general_reason("astrometry: no match between 120 detections and 381 stars") == (
        "astrometry: no match between N detections and N stars"
    )


def test_a_night_without_frames_has_empty_figures(engine):
    with session_scope(engine) as session:
        figures = frame_figures(session, NIGHT_LABEL, LONGITUDE)
    assert figures["cameras"] == {}
    assert figures["total"]["frames_taken"] == 0
    assert figures["total"]["analysed_fraction"] is None


def test_a_frame_the_sky_fills_says_so(engine, tmp_path):
    """A 30 s H frame of 4× coarser pixels read once (no ramp): the sky alone fills every
    pixel; the reason says so in an astronomer's words."""
    import pytest

    from infra.config import parse_config
    from simulators.sky import SimulatedReferenceCatalog
    from tasks.calibration.calibrator import ScienceCalibrator
    from tasks.nrt.catalog import CatalogCache
    from tasks.nrt.frame import NrtError
    from tasks.nrt.pipeline import analyse_frame

    data = sky_config(128).model_dump(mode="json")
    for instrument in data["instruments"]:
        if instrument["name"] == INFRARED:
            instrument["pixel_scale_arcsec"] *= 4.0
            instrument["ramp_read_s"] = None
    config = parse_config(data, "test-sky-fills")
    maker = FrameMaker(config, tmp_path)
    path = maker.light("h", *FIELD, instrument=INFRARED, filter="H", exposure_s=30.0)
    calibrator = ScienceCalibrator(engine=engine, config=config)
    catalog = CatalogCache(SimulatedReferenceCatalog(config.sky))
    with pytest.raises(NrtError, match=r"the sky alone fills the pixels .* too long for this"):
        analyse_frame(path, calibrator, catalog, config)
    maker.cleanup()
