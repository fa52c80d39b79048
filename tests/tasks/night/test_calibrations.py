"""The night's calibration sets are journaled with how long the devices took (a replay takes that
time again: tests/tasks/replay/test_recorded_timing.py)."""

from __future__ import annotations

from datetime import timedelta

from infra.config import get_config
from infra.db import session_scope
from infra.journal import night_label
from tasks.calibration.acquisition import AcquisitionRequest
from tasks.night.calibrations import take_night_calibrations
from tasks.night.timing_journal import calibration_durations
from tasks.night.vocabulary import CalibrationSet
from tests.conftest import EVENING


def test_a_calibration_set_is_journaled_with_its_start_and_end(engine, sim_clock):
    label = night_label(EVENING, get_config().site.longitude_deg)
    asked: list[AcquisitionRequest] = []

    def acquire(request: AcquisitionRequest):
        asked.append(request)
        sim_clock.sleep_until(sim_clock.now() + timedelta(seconds=60))  # the camera's time
        raise RuntimeError("the shutter is stuck")

    summary = take_night_calibrations(CalibrationSet.EVENING, label, acquire)
    assert summary == f"{CalibrationSet.EVENING}: 0 master(s) built, {len(asked)} failed"
    with session_scope(engine) as session:
        assert calibration_durations(session, label) == {
            CalibrationSet.EVENING: [60.0 * len(asked)]
        }
