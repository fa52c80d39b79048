"""The ``calibrate`` deployment's flow on the Prefect test harness."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from infra.config import _cached
from infra.db import session_scope
from infra.db.models import CalibrationMaster
from tests.support.ports import free_port
from tests.tasks.calibration.fixtures import bank  # noqa: F401 (fixture)
from tests.tasks.calibration.helpers import NIGHT_LABEL, write_config

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def test_calibrate_builds_masters_from_a_directory_and_records_an_unreachable_camera(
    bank,  # noqa: F811 (the fixture imported above)
    engine,
    sim_clock,
    prefect_harness,
    tmp_path,
    monkeypatch,
):
    from flows.calibration import calibrate

    monkeypatch.setenv("PYROS_SITE_CONFIG", str(write_config(tmp_path / "site.toml", 256)))
    frames = tmp_path / "frames"
    frames.mkdir()
    for path in [*bank.vis_biases, *bank.vis_darks, *bank.dome_r, *bank.ir_biases]:
        shutil.copy(path, frames / path.name)
    results = calibrate(camera="Visible camera", directory=str(frames), night=NIGHT_LABEL)
    assert [(r["type"], r["filter"], r["status"]) for r in results] == [
        ("bias", "", "good"), ("dark", "", "good"), ("flat", "r", "good")
    ]  # fmt: skip

    # No gateway listens on the camera's port here (a free one, never a running stack's): the
    # acquisition through it fails, and says where it tried.
    site = tmp_path / "site.toml"
    port = free_port()
    site.write_text(site.read_text().replace("camera_vis = 5101", f"camera_vis = {port}"))
    _cached.cache_clear()
    state = calibrate(camera="Visible camera", types=["bias"], acquire=True,
                      night=NIGHT_LABEL, return_state=True)  # fmt: skip
    assert state.is_failed()
    with pytest.raises(Exception, match=rf"camera_vis: not connected to 127\.0\.0\.1:{port}"):
        state.result()
    with session_scope(engine) as session:
        failed = session.scalars(
            select(CalibrationMaster).where(CalibrationMaster.status == "failed")
        ).all()
        assert len(failed) == 1 and "acquisition failed" in failed[0].reason
