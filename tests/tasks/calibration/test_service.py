"""Masters in the database and science calibration with provenance (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from datetime import timedelta

import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import CalibrationMaster
from tasks.calibration.acquisition import AcquisitionRequest, plan_acquisitions
from tasks.calibration.calibrator import ScienceCalibrator
from tasks.calibration.master_registry import choose_master
from tasks.calibration.science import CalibrationError, calibrated_path
from tasks.calibration.service import build_and_record, take_and_build
from tests.tasks.calibration.helpers import NIGHT, NIGHT_LABEL, VISIBLE, edit_header, truncate


def _masters(bank, engine, night=None):
    built = {}
    for kind, paths, extra in (
        ("bias", bank.vis_biases, {}),
        ("dark", bank.vis_darks, {}),
        ("flat", bank.dome_r, {"filter_name": "r"}),
    ):
        built[kind] = build_and_record(kind, paths, camera=VISIBLE, engine=engine,
                                       config=bank.config, night=night, **extra)  # fmt: skip
        assert built[kind]["status"] == "good", built[kind]["reason"]
    return built


def test_masters_are_recorded_and_science_frames_carry_their_provenance(
    bank, engine, sim_clock, tmp_path
):
    built = _masters(bank, engine)
    assert {b["night"] for b in built.values()} == {NIGHT_LABEL}  # from the frames' DATE-OBS
    with session_scope(engine) as session:
        rows = session.scalars(select(CalibrationMaster).order_by(CalibrationMaster.id)).all()
        assert [(r.type, r.status, r.n_frames) for r in rows] == [
            ("bias", "good", 10), ("dark", "good", 5), ("flat", "good", 7)
        ]  # fmt: skip
        flat = rows[2]
        assert flat.filter == "r" and flat.flat_source == "dome" and flat.sha256
        assert flat.frames[0]["path"].endswith("dome-r-0.fits")
        assert flat.quality["combine"]["n_frames"] == 7
    with fits.open(built["flat"]["path"]) as hdul:
        assert hdul[0].header["MBIASID"] == built["bias"]["id"]
        assert hdul[0].header["MDARKID"] == built["dark"]["id"]
        assert "BPM" in hdul

    raw = shutil.copy(bank.frame("science", image_type="light", filter="r", ra_deg=60.0,
                                 dec_deg=10.0, start=NIGHT + timedelta(hours=2),
                                 exposure_s=60.0), tmp_path / "science.fits")  # fmt: skip
    calibrator = ScienceCalibrator(engine=engine, config=bank.config)
    result = calibrator.calibrate(raw)
    assert result.output_path == calibrated_path(tmp_path / "science.fits")
    assert not result.missing
    with fits.open(result.output_path) as hdul:
        header = hdul[0].header
        assert hdul[0].data.dtype.kind == "f" and hdul[0].data.dtype.itemsize == 4
        assert hdul["MASK"].data.dtype.itemsize == 1
        calibrated = hdul[0].data.astype(np.float32)
        assert header["CALSTEPS"] == "bias,dark,flat"
        assert header["CALBID"] == built["bias"]["id"] and header["CALBAGE"] == 0
        assert header["CALDID"] == built["dark"]["id"]
        assert header["CALDSCAL"] == pytest.approx(60.0 / 300.0)
        assert header["CALFID"] == built["flat"]["id"] and header["CALFTYPE"] == "dome"
        assert header["CALFNGT"] == NIGHT_LABEL and header["IMAGETYP"] == "light"
        assert any("bias: " in str(h) for h in header["HISTORY"])
    # Bias, dark and flat applied: the sky is at its true level (flat normalised at the centre).
    from simulators.sky import read_truth

    sky_adu = read_truth(bank.made[-1]).meta["conditions"]["sky_e_per_pixel"] / 1.5
    assert float(np.median(calibrated)) == pytest.approx(sky_adu, rel=0.03)
    assert not list(tmp_path.glob(".*.tmp"))
    # Masters are read once by the long-lived calibrator.
    loads = calibrator.cache.loads
    calibrator.calibrate(raw, output=False)
    assert calibrator.cache.loads == loads == 3


def test_last_nights_masters_are_used_with_their_age_when_tonights_are_missing(
    bank, engine, sim_clock, tmp_path
):
    _masters(bank, engine, night="2026-12-05")
    with session_scope(engine) as session:
        choice = choose_master(session, VISIBLE, "bias", NIGHT_LABEL, shape=(256, 256))
        assert choice.night == "2026-12-05" and choice.age_nights == 3
        assert choose_master(session, VISIBLE, "bias", "2026-12-04") is None  # not from the future
        assert choose_master(session, VISIBLE, "bias", "2027-02-01", max_age_nights=30) is None
        assert choose_master(session, VISIBLE, "flat", NIGHT_LABEL, filter_name="g") is None
    raw = shutil.copy(bank.frame("late", image_type="light", filter="g", ra_deg=60.0,
                                 dec_deg=10.0, start=NIGHT, exposure_s=30.0),
                      tmp_path / "late.fits")  # fmt: skip
    result = ScienceCalibrator(engine=engine, config=bank.config).calibrate(raw)
    assert result.used["bias"]["age_nights"] == 3
    assert "no good master flat for 'Visible camera' in 'g'" in result.missing["flat"]
    header = fits.getheader(result.output_path)
    assert header["CALBAGE"] == 3 and header["CALFFILE"] == "none"
    assert header["CALSTEPS"] == "bias,dark" and header["CALMISS"] == "flat"
    with pytest.raises(CalibrationError, match="required calibration missing: no good master flat"):
        ScienceCalibrator(engine=engine, config=bank.config).calibrate(raw, require=("flat",))


def test_a_failed_build_is_recorded_and_the_previous_master_stays_in_use(bank, engine, sim_clock):
    good = build_and_record("bias", bank.vis_biases, camera=VISIBLE, engine=engine,
                            config=bank.config, night="2026-12-07")  # fmt: skip
    failed = build_and_record("bias", bank.vis_biases[:2], camera=VISIBLE, engine=engine,
                              config=bank.config, night=NIGHT_LABEL)  # fmt: skip
    assert failed["status"] == "failed" and "at least 5 needed" in failed["reason"]
    assert failed["path"] == ""
    with session_scope(engine) as session:
        row = session.get(CalibrationMaster, failed["id"])
        assert row.status == "failed" and row.reason == failed["reason"]
        choice = choose_master(session, VISIBLE, "bias", NIGHT_LABEL)
        assert choice.id == good["id"] and choice.age_nights == 1
    with pytest.raises(ValueError, match="camera 'Nope' is not an instrument"):
        build_and_record("bias", bank.vis_biases, camera="Nope", engine=engine, config=bank.config)


def test_bad_science_frames_raise_a_clear_error(bank, engine, sim_clock, tmp_path):
    _masters(bank, engine)
    calibrator = ScienceCalibrator(engine=engine, config=bank.config)
    light = bank.frame("bad-source", image_type="light", filter="r", ra_deg=60.0, dec_deg=10.0,
                       start=NIGHT, exposure_s=30.0)  # fmt: skip
    with pytest.raises(CalibrationError, match="truncated"):
        calibrator.calibrate(truncate(light, tmp_path / "half.fits"))
    with pytest.raises(CalibrationError, match="missing keyword DATE-OBS"):
        calibrator.calibrate(edit_header(light, tmp_path / "nodate.fits", remove=("DATE-OBS",)))
    with pytest.raises(CalibrationError, match="missing keyword EXPTIME"):
        calibrator.calibrate(edit_header(light, tmp_path / "noexp.fits", remove=("EXPTIME",)))
    with pytest.raises(CalibrationError, match="INSTRUME 'Other' is not a configured camera"):
        calibrator.calibrate(edit_header(light, tmp_path / "other.fits", INSTRUME="Other"))
    from tests.tasks.calibration.helpers import Renderer, small_config

    small = Renderer(small_config(128), tmp_path).light("small")
    with pytest.raises(CalibrationError):  # no 128x128 master: nothing applies, then sizes
        calibrator.calibrate(small, require=("bias",))


def test_take_and_build_records_what_could_not_be_acquired(bank, engine, sim_clock):
    plan = plan_acquisitions(bank.config, VISIBLE, ["flat", "bias"], ["r", "g"], -5.0)
    assert [(r.kind, r.filter, r.flat_source) for r in plan] == [
        ("bias", "", ""), ("flat", "r", "twilight"), ("flat", "g", "twilight")
    ]  # fmt: skip
    assert plan[1].dither_arcsec > 0
    assert plan_acquisitions(bank.config, VISIBLE, ["flat"], ["r"], -20.0)[0].flat_source == "dome"
    with pytest.raises(ValueError, match="not in the wheel"):
        plan_acquisitions(bank.config, VISIBLE, ["flat"], ["J"], -5.0)

    served = []

    def acquire(request: AcquisitionRequest):
        served.append(request)
        if request.kind == "bias":
            return bank.vis_biases[: request.count]
        raise RuntimeError("the lamp did not switch on")

    results = take_and_build(plan[:2], acquire, engine=engine, config=bank.config,
                             night=NIGHT_LABEL)  # fmt: skip
    assert [r["status"] for r in results] == ["good", "failed"]
    assert results[1]["reason"] == "acquisition failed: the lamp did not switch on"
    assert served[0].count == bank.config.calibration.bias_count


def test_the_nights_frames_are_found_through_their_image_rows(bank, engine, sim_clock):
    from astropy.io import fits as pyfits

    from infra.db.models import Image
    from tasks.calibration.service import frames_from_database, night_window

    start, end = night_window(NIGHT_LABEL, bank.config)
    assert start < NIGHT < end and (end - start).total_seconds() == 86400
    with session_scope(engine) as session:
        for index, path in enumerate([*bank.vis_biases[:3], *bank.dome_r[:2], *bank.dome_g]):
            header = pyfits.getheader(path)
            session.add(Image(
                id=f"CAL-{index:04d}", instrument=VISIBLE, filter=header.get("FILTER", ""),
                image_type=header["IMAGETYP"], exposure_s=header["EXPTIME"], path=str(path),
                sha256="0" * 64, acquired_at=NIGHT, wall_acquired_at=NIGHT,
            ))  # fmt: skip
        session.add(Image(id="CAL-LATE", instrument=VISIBLE, image_type="bias", path="late.fits",
                          sha256="0" * 64, acquired_at=end + timedelta(hours=1),
                          wall_acquired_at=end))  # fmt: skip
    biases = frames_from_database(VISIBLE, "bias", NIGHT_LABEL, engine=engine, config=bank.config)
    assert biases == bank.vis_biases[:3]
    flats = frames_from_database(VISIBLE, "flat", NIGHT_LABEL, filter_name="r", engine=engine,
                                 config=bank.config)  # fmt: skip
    assert flats == bank.dome_r[:2]
    assert frames_from_database("Infrared camera", "bias", NIGHT_LABEL, engine=engine,
                                config=bank.config) == []  # fmt: skip
