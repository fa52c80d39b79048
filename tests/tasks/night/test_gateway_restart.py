"""A gateway restarted mid-sequence (#24): the camera's gateway process dies while the night
exposes and its supervisor starts it again on the same port, with a fresh lease table. The
sequence is interrupted with the reason, re-planned and resumed: every image taken once, none
lost, the frames on disk those the rows name."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Image, Sequence
from tasks.night.images import sha256_of
from tasks.scheduling.schedule_rows import plan_and_save
from tests.support.alert_reflex import alert_clock, reflex_site
from tests.support.waiting import eventually
from tests.tasks.night.test_back_to_the_night import (
    NIR_IMAGES,
    VIS_IMAGES,
    Night,
    _images,
    _open_for_the_night,
    _routine,
    _state,
)


@pytest.fixture
def site(fake_device, gateway_for, controller_for):
    return reflex_site(fake_device, gateway_for, controller_for, time_scale=0.01)


def test_a_camera_gateway_restarted_mid_sequence_loses_and_doubles_nothing(
    engine, site, gateway_for, tmp_path
):
    config, clock = load_config(), alert_clock(speed=100.0)
    routine = _routine(engine, config, clock)
    _open_for_the_night(engine, site, clock)
    plan_and_save(engine=engine, config=config, clock=clock, reason="plan-night")
    night = Night(engine, site, clock, config, tmp_path / "frames")
    looping = threading.Thread(
        target=night.loop.run, args=(clock.now() + timedelta(hours=3),), daemon=True
    )
    looping.start()
    try:
        assert night.exposing.wait(30), "the routine sequence never took its third frame"
        old = site.gateways["camera_vis"]
        old.stop()  # the process dies: its clients' connections close, its leases are gone
        site.gateways["camera_vis"] = gateway_for(
            "camera_vis", site.fakes["camera_vis"], port=old.address[1]
        )
        eventually(lambda: _state(engine, routine) == "executed", within_s=90, what="resumed")
    finally:
        night.loop.stop.set()
        looping.join(10)
    with session_scope(engine) as session:
        transitions = session.get(Sequence, routine).transitions
        images = session.scalars(select(Image).where(Image.sequence_id == routine)).all()
        interrupted = [t.reason for t in transitions if t.to_state == "interrupted"]
        # The restart interrupted the sequence, with the reason; the night resumed it.
        assert len(interrupted) == 1 and "camera_vis" in interrupted[0], interrupted
        assert night.executed == [routine, routine], night.executed
        # Every image once, each file whole and named by its row; no frame without a row.
        for image in images:
            assert sha256_of(image.path) == (image.sha256, image.size_bytes), image.id
        on_disk = {p.name for p in (tmp_path / "frames").rglob("*.fits")}
        assert on_disk == {p.rsplit("/", 1)[-1] for p in (i.path for i in images)}
    keys = _images(engine, routine)
    assert len(keys) == VIS_IMAGES + NIR_IMAGES == len(set(keys))
    print("interrupted by the restart:", interrupted[0])
