"""Back to the night (#18 item 4), on real gateways in front of fake devices, without Prefect:
the night loop (the same policy, state reader and handlers' work as ``execute-night``) runs a
routine sequence; an alert's reflex takes the telescope (the routine sequence ends
``interrupted``, its images kept); the night inserts the alert's sequence and the interrupted
one into its schedule incrementally and waits while the follow-up (the ``alert-follow-up``
flow's work) runs the alert's sequence; when the follow-up ends, the lease goes back and the
night resumes the routine sequence with exactly the images it lacked."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from devices.controllers import Priority
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import Album, Image, Plan, Schedule, Sequence
from infra.journal import night_label
from tasks.alerts.followup_run import FollowUpHooks, FollowUpRun
from tasks.environment.observatory_state import request_dome, verdict_write
from tasks.night.execute import SequenceRun
from tasks.night.loop import Handlers, NightLoop
from tasks.night.state_reader import NightAgenda, read_night_state
from tasks.night.windows import windows_of
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tasks.scheduling.schedule_rows import insert_all_and_save, plan_and_save
from tests.support.alert_reflex import alert_clock, deliver, reflex_listener, reflex_site
from tests.support.requests import plan_xml, request_xml, sequence_xml
from tests.support.waiting import eventually

NIGHT_OWNER = "execute-night-test"
VIS_IMAGES, NIR_IMAGES = 40, 20


@pytest.fixture
def site(fake_device, gateway_for, controller_for):
    # Exposures last 0.01 × their length (wall): at the clock's 100× a 30 s exposure is 30 s.
    return reflex_site(fake_device, gateway_for, controller_for, time_scale=0.01)


def _routine(engine, config, clock) -> int:
    """A routine test-target sequence: 40 × 10 s on the visible camera, 20 × 10 s in J."""
    albums = plan_xml("r", "10", str(VIS_IMAGES), "r")
    nir = plan_xml("J", "10", str(NIR_IMAGES), "j")
    sequence = sequence_xml("routine", jd2="20000", plans=albums).replace(
        "</album>", f'</album>\n    <album detector="Infrared camera" name="nir">{nir}</album>'
    )
    xml = request_xml([sequence], program="GRB", name="routine before the burst")
    result = ingest_request_bytes(xml.encode(), "routine.xml", engine=engine, clock=clock)
    return result.sequence_ids[0]


class Night:
    """The night loop with plain handlers that record what they did."""

    def __init__(self, engine, site, clock, config, frames) -> None:
        self.engine, self.clock, self.config, self.frames = engine, clock, config, frames
        self.devices = site.night_devices(clock)
        self.label = night_label(clock.now(), config.site.longitude_deg)
        self.windows = windows_of(night_for(self.label, config))
        self.replans: list[tuple[str, tuple[int, ...]]] = []
        self.executed: list[int] = []
        self.exposing = threading.Event()  # the routine sequence has frames stored
        handlers = Handlers(
            execute=self.execute,
            replan=self.replan,
            request_dome=lambda state, reason: state,
            calibrate=lambda name: name,
            insert=self.insert,
        )
        self.loop = NightLoop(clock, self.look, handlers, poll_s=10.0, min_poll_wall_s=0.02)

    def look(self, done: frozenset[str]):
        view = self.devices.view()
        with session_scope(self.engine) as session:
            return read_night_state(
                session, self.clock.now(), self.windows, view, self.label, NightAgenda()
            )

    def execute(self, sequence_id: int) -> str:
        self.executed.append(sequence_id)

        def on_image(image, plan, instrument) -> None:
            if image.image_id.endswith("I0003"):
                self.exposing.set()

        longitude = self.config.site.longitude_deg
        run = SequenceRun(self.engine, self.devices.telescope, NIGHT_OWNER, self.clock,
                          self.frames, longitude, on_image=on_image)  # fmt: skip
        return str(run.run(sequence_id).state)

    def replan(self, reason: str) -> str:
        self.replans.append((reason, ()))
        kwargs = {"engine": self.engine, "config": self.config, "clock": self.clock}
        return str(plan_and_save(reason=reason, **kwargs)["schedule_id"])

    def insert(self, ids: tuple[int, ...], reason: str) -> str:
        self.replans.append((reason, ids))
        kwargs = {"engine": self.engine, "config": self.config, "clock": self.clock}
        return str(insert_all_and_save(ids, cause=reason, **kwargs)["schedule_id"])


def _open_for_the_night(engine, site, clock) -> None:
    """What the environment monitor did: a safe verdict, the dome asked open and open."""
    with session_scope(engine) as session:
        verdict_write(True, "every element good", clock.now())(session)
        request_dome(session, "open", NIGHT_OWNER, clock.now(), "the night has started")
    dome = site.make(site.gateways["dome"], clock=clock)
    dome.claim("environment-monitor", Priority.SAFETY)
    dome.open()


def _images(engine, sequence_id: int) -> list[tuple[int, int]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Image.plan_id, Image.index).where(Image.sequence_id == sequence_id)
        )
        return sorted((plan_id, index) for plan_id, index in rows)


def _schedules(engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Schedule.reason).order_by(Schedule.id)))


def test_after_the_follow_up_the_interrupted_sequence_is_inserted_and_takes_what_it_lacked(
    engine, site, tmp_path
):
    config, clock = load_config(), alert_clock(speed=100.0)
    routine = _routine(engine, config, clock)
    _open_for_the_night(engine, site, clock)
    plan_and_save(engine=engine, config=config, clock=clock, reason="plan-night")
    night = Night(engine, site, clock, config, tmp_path / "frames")
    listener, reflex = reflex_listener(tmp_path / "spool", engine, site, clock)
    looping = threading.Thread(
        target=night.loop.run, args=(clock.now() + timedelta(hours=3),), daemon=True
    )
    looping.start()
    try:
        assert night.exposing.wait(30), "the routine sequence never took its third frame"
        deliver(listener)  # the reflex claims the mount and cameras: the routine is interrupted
        decision = listener.last_decision
        # Through its transitions: the night may insert it again (interrupted -> to-be-planned)
        # before a look at its state catches the brief "interrupted".
        eventually(lambda: "interrupted" in _states_through(engine, routine), within_s=10,
                   what="stopped")  # fmt: skip
        before = _images(engine, routine)
        time.sleep(0.5)  # the follow-up run starts a moment later (Prefect's start-up)
        follow_up = _follow_up(engine, site, tmp_path, clock, config, decision.burst_key)
        result = follow_up.run()
        assert result.reason == "follow-up done: no sequence left", result.record.steps
        eventually(lambda: reflex.tick() or reflex.holding() == [], within_s=5, what="handover")
        eventually(lambda: _state(engine, routine) == "executed", within_s=60, what="resumed")
    finally:
        night.loop.stop.set()
        looping.join(10)
    reasons = _schedules(engine)
    # The interruption was followed by insertions (the alert's first), not a full re-plan.
    after = reasons[1:]
    assert after and all("inserted" in reason for reason in after), reasons
    assert any(f"sequence {routine} inserted" in r and "to resume" in r for r in after), reasons
    with session_scope(engine) as session:
        alert = session.scalar(
            select(Sequence.id).where(Sequence.request_id == decision.request_id)
        )
    assert _state(engine, alert) == "executed"
    assert any(f"alert sequence {alert} inserted" in r for r in after), reasons
    assert night.replans[0] == ("1 interrupted sequence(s) to resume", (alert, routine))
    assert all(ids for _, ids in night.replans), night.replans
    # The night executed the routine sequence twice and never the alert's.
    assert night.executed == [routine, routine], night.executed
    # Exactly the images it lacked: every frame once, the first run's kept.
    total = _images(engine, routine)
    assert len(total) == VIS_IMAGES + NIR_IMAGES == len(set(total))
    assert 0 < len(before) < len(total) and set(before) <= set(total)
    with session_scope(engine) as session:
        plans = session.scalars(
            select(Plan).join(Album, Album.id == Plan.album_id).where(Album.sequence_id == routine)
        ).all()
        assert plans and all(p.images_done == p.nb_images for p in plans)
    # The night never claimed against the follow-up: its exposures do not interleave with it.
    owners = [r.owner for r in site.fakes["camera_vis"].received("EXPOSE")]
    runs = [o for i, o in enumerate(owners) if i == 0 or owners[i - 1] != o]
    assert runs == [NIGHT_OWNER, f"alert:{decision.burst_key}", NIGHT_OWNER], runs
    reflex.close()


def _state(engine, sequence_id: int) -> str:
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence is not None
        return sequence.state


def _states_through(engine, sequence_id: int) -> list[str]:
    """Every state the sequence has entered, in order."""
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence is not None
        return [t.to_state for t in sequence.transitions]


def _follow_up(engine, site, tmp_path, clock, config, burst_key) -> FollowUpRun:
    return FollowUpRun(burst_key, site.night_devices(clock), config, clock,
                       tmp_path / "frames", engine, hooks=FollowUpHooks())  # fmt: skip
