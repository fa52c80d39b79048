"""Executing a sequence through real gateways in front of fake devices: frames stored with their
rows and progress, resumption without retaking, adoption after a crash, preemption and faults
ending the sequence as interrupted with the reason."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from devices.controllers import Priority
from infra.clock import SystemClock
from infra.config import get_config
from infra.db import session_scope
from infra.db.models import Image, Plan, ScientificProgram, Sequence, SequenceTransition
from infra.db.sequence_state import SequenceState, transition
from tasks.night.execute import SequenceRun, Telescope
from tasks.night.images import sha256_of
from tasks.requests.ingest import ingest_request_bytes
from tasks.requests.lifecycle import cancel_request, request_images
from tests.devices.conftest import TEST_LINK
from tests.support.requests import plan_xml, request_xml, sequence_xml

NIR = ["J", "H", "Dark"]


@pytest.fixture
def telescope(fake_device, gateway_for, controller_for):
    """Fake mount and cameras behind gateways; returns (telescope, fakes, factory of mounts)."""
    fakes = {
        "mount": fake_device("mount"),
        "camera_vis": fake_device("camera"),
        "camera_nir": fake_device("camera", filters=NIR),
    }
    gateways = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    clock = SystemClock()
    scope = Telescope(
        mount=controller_for(gateways["mount"], clock=clock),
        cameras={
            "Visible camera": controller_for(gateways["camera_vis"], clock=clock),
            "Infrared camera": controller_for(gateways["camera_nir"], clock=clock),
        },
    )
    return scope, fakes, lambda: controller_for(gateways["mount"], clock=clock)


def zenith_now() -> tuple[float, float]:
    """RA/Dec at the site's zenith now (the mount's horizon check uses the real clock here)."""
    from astropy.coordinates import AltAz, SkyCoord

    from infra.astro import site_location
    from tasks.sky import as_time

    frame = AltAz(obstime=as_time(SystemClock().now()), location=site_location(get_config().site))
    zenith = SkyCoord(alt=89.0, az=0.0, unit="deg", frame=frame).icrs
    return round(float(zenith.ra.deg), 4), round(float(zenith.dec.deg), 4)


def planned_sequence(
    engine, *, nb_images: int = 3, nir_images: int = 2, sidereal: bool = True
) -> int:
    albums = plan_xml("r", "10", str(nb_images), "r")
    ra, dec = zenith_now()
    xml = request_xml(
        [
            sequence_xml("s", coords=f"{ra} {dec}" if sidereal else "10", plans=albums).replace(
                "</album>",
                '</album>\n    <album detector="Infrared camera" name="nir">'
                + plan_xml("J", "10", str(nir_images), "j")
                + "</album>",
            )
        ],
        target_type="sidereal" if sidereal else "test",
    )
    result = ingest_request_bytes(xml.encode(), "night.xml", engine=engine)
    (sequence_id,) = result.sequence_ids
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        transition(session, sequence, SequenceState.PLANNED, "planned", SystemClock().now())
    return sequence_id


def run(engine, scope, sequence_id, tmp_path, **kwargs):
    clock = SystemClock()
    runner = SequenceRun(
        engine,
        scope,
        "flow-test",
        clock,
        tmp_path / "frames",
        get_config().site.longitude_deg,
        **kwargs,
    )
    return runner.run(sequence_id)


def exposures(fake) -> int:
    return len(fake.received("EXPOSE"))


def test_a_sequence_runs_both_albums_and_stores_every_frame(engine, telescope, tmp_path):
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine)
    announced = []
    outcome = run(
        engine,
        scope,
        sequence_id,
        tmp_path,
        on_image=lambda image, plan, camera: announced.append(image.image_id),
    )
    assert (outcome.state, len(outcome.images)) == ("executed", 5), outcome.reason
    # The slew and the slower camera's exposures, timed by the execution itself.
    assert outcome.device_wall_s > 0
    assert sorted(announced) == sorted(i.image_id for i in outcome.images)
    assert (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"])) == (3, 2)
    goto = fakes["mount"].received("GOTO")[0].line["command"][0]
    with session_scope(engine) as session:
        assert goto["ra_deg"] == pytest.approx(session.get(Sequence, sequence_id).ra_deg)
    with session_scope(engine) as session:
        images = session.scalars(select(Image).order_by(Image.id)).all()
        assert len(images) == 5
        for image in images:
            assert image.id == Path(image.path).stem
            assert sha256_of(Path(image.path)) == (image.sha256, image.size_bytes)
        assert [p.images_done for p in session.scalars(select(Plan).order_by(Plan.id))] == [3, 2]
        sequence = session.get(Sequence, sequence_id)
        assert sequence.state == "executed" and sequence.executed_hours > 0
        program = session.scalar(select(ScientificProgram).where(ScientificProgram.name == "GRB"))
        assert program.used_hours == pytest.approx(sequence.executed_hours)
        states = session.scalars(
            select(SequenceTransition.to_state)
            .where(SequenceTransition.sequence_id == sequence_id)
            .order_by(SequenceTransition.id)
        ).all()
        assert states == ["to-be-planned", "planned", "executing", "executed"]


def test_its_end_is_stored_while_the_run_still_holds_the_mount(engine, telescope, tmp_path):
    # A reconciliation (a block's start, the night's end) interrupts an executing sequence whose
    # run does not hold the mount: an end stored after the leases went back let one interrupt a
    # finished follow-up, which then failed on 'interrupted' -> 'executed' (bench, 2026-12-06).
    from sqlalchemy import event

    scope, _, mounts = telescope
    observer = mounts()
    sequence_id = planned_sequence(engine, nb_images=1, nir_images=1)
    holders = []

    def seen(mapper, connection, record):
        if record.to_state == SequenceState.EXECUTED:
            holders.append(observer.lease_info().owner)

    event.listen(SequenceTransition, "before_insert", seen)
    try:
        outcome = run(engine, scope, sequence_id, tmp_path)
    finally:
        event.remove(SequenceTransition, "before_insert", seen)
    assert outcome.state == "executed", outcome.reason
    assert holders == ["flow-test"]
    assert observer.lease_info().owner is None  # and released once stored


def test_a_resumed_sequence_takes_only_what_is_left_and_adopts_a_frame_left_by_a_crash(
    engine, telescope, tmp_path
):
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine)
    first = run(engine, scope, sequence_id, tmp_path)
    frames = {i.image_id: Path(i.path) for i in first.images}
    # Pretend the night crashed: the visible plan had frame 1 stored and frame 2 written but not
    # recorded; the infrared plan had nothing.
    with session_scope(engine) as session:
        visible, infrared = session.scalars(select(Plan).order_by(Plan.id)).all()
        keep = f"S{sequence_id:07d}-P{visible.id:07d}-I0001"
        orphan = f"S{sequence_id:07d}-P{visible.id:07d}-I0002"
        for image in session.scalars(select(Image)):
            if image.id != keep:
                session.delete(image)
        visible.images_done, infrared.images_done = 1, 0
        sequence = session.get(Sequence, sequence_id)
        sequence.state = "interrupted"
        transition(
            session, sequence, SequenceState.TO_BE_PLANNED, "re-planned", SystemClock().now()
        )
        transition(session, sequence, SequenceState.PLANNED, "planned", SystemClock().now())
    for image_id, path in frames.items():
        if image_id not in (keep, orphan):
            path.unlink()
    before = (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"]))
    second = run(engine, scope, sequence_id, tmp_path)
    assert second.state == "executed"
    assert sorted(i.adopted for i in second.images) == [False, False, False, True]
    assert (
        exposures(fakes["camera_vis"]) - before[0],
        exposures(fakes["camera_nir"]) - before[1],
    ) == (1, 2)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 5


def test_a_sequence_interrupted_with_every_image_taken_ends_executed_without_a_slew(
    engine, telescope, tmp_path
):
    # A kill during a sequence's last exposure: the frame is adopted (tasks/night/left_frames.py),
    # the sequence interrupted, then planned again with nothing left to take.
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine, nb_images=2, nir_images=1)
    with session_scope(engine) as session:
        for plan in session.scalars(select(Plan)):
            plan.images_done = plan.nb_images
    outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "executed", outcome.reason
    assert outcome.reason == "all plans done" and outcome.images == []
    assert fakes["mount"].received("GOTO") == []
    assert (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"])) == (0, 0)
    with session_scope(engine) as session:
        reason = session.get(Sequence, sequence_id).state_reason
    assert reason == "all plans done: 3 image(s), 0 taken in this run, the rest earlier"


def test_an_alert_claim_interrupts_the_sequence_which_never_fails(engine, telescope, tmp_path):
    scope, fakes, new_mount = telescope
    sequence_id = planned_sequence(engine, nb_images=50, nir_images=50)
    alert_mount = new_mount()
    claimed = threading.Event()

    def alert_after_two_frames(image, plan, camera) -> None:
        if camera == "Visible camera" and image.image_id.endswith("I0002") and not claimed.is_set():
            claimed.set()
            alert_mount.claim("alert-listener", Priority.ALERT)

    outcome = run(engine, scope, sequence_id, tmp_path, on_image=alert_after_two_frames)
    assert outcome.state == "interrupted"
    assert outcome.reason.startswith("preempted") and "alert-listener" in outcome.reason
    assert len(outcome.images) < 100
    # Both albums stopped and told their cameras to drop what they were exposing.
    assert fakes["camera_vis"].received("ABORT") and fakes["camera_nir"].received("ABORT")
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence.state == "interrupted" and "alert-listener" in sequence.state_reason
        done = sum(p.images_done for p in session.scalars(select(Plan)))
        assert (
            done == len(outcome.images) == session.scalar(select(func.count()).select_from(Image))
        )


def test_a_device_fault_interrupts_with_the_reason(engine, telescope, tmp_path):
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine)
    fakes["camera_nir"].misbehave("garbage", names=["EXPOSE"])
    outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "interrupted"
    assert outcome.reason.startswith("Infrared camera exposure") and "device fault" in (
        outcome.reason
    )


def test_a_camera_fault_stops_its_album_only_the_other_camera_finishes_and_nothing_is_retaken(
    engine, telescope, tmp_path
):
    """#24: the infrared camera fails; the visible album goes on to its end, the sequence is
    interrupted with the reason, its images kept; resumed, only the infrared frames are taken."""
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine)
    fakes["camera_nir"].misbehave("garbage", names=["EXPOSE"])
    outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "interrupted" and "Infrared camera exposure" in outcome.reason
    assert [i.path for i in outcome.images] and len(outcome.images) == 3
    assert (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"])) == (3, 1)
    with session_scope(engine) as session:
        assert [p.images_done for p in session.scalars(select(Plan).order_by(Plan.id))] == [3, 0]
        sequence = session.get(Sequence, sequence_id)
        assert (sequence.state, sequence.state_reason) == ("interrupted", outcome.reason)
        now = SystemClock().now()
        transition(session, sequence, SequenceState.TO_BE_PLANNED, "re-planned", now)
        transition(session, sequence, SequenceState.PLANNED, "planned", now)
    # The visible camera may be lost now: its album is done, so it is not even claimed.
    scope.cameras["Visible camera"].disconnect()
    resumed = run(engine, scope, sequence_id, tmp_path)
    assert (resumed.state, len(resumed.images)) == ("executed", 2), resumed.reason
    # The exposure whose reply was garbage may have gone on in the camera and written its frame:
    # the resumed sequence then adopts it instead of exposing it again (a race with the fake).
    adopted = sum(image.adopted for image in resumed.images)
    assert adopted <= 1
    assert (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"])) == (3, 3 - adopted)
    with session_scope(engine) as session:
        images = session.scalars(select(Image)).all()
        assert len(images) == len({i.id for i in images}) == 5
        for image in images:
            assert sha256_of(Path(image.path)) == (image.sha256, image.size_bytes)


def test_a_held_lease_leaves_the_sequence_planned(engine, telescope, tmp_path):
    scope, _, new_mount = telescope
    sequence_id = planned_sequence(engine)
    with new_mount().claim("alert-listener", Priority.ALERT):
        outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "not-started" and "lease refused" in outcome.reason
    with session_scope(engine) as session:
        assert session.get(Sequence, sequence_id).state == "planned"


def test_test_targets_do_not_slew(engine, telescope, tmp_path):
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine, sidereal=False)
    assert run(engine, scope, sequence_id, tmp_path).state == "executed"
    assert fakes["mount"].received("GOTO") == []


def test_a_late_frame_is_waited_for_again_never_exposed_twice(
    engine, fake_device, gateway_for, controller_for, tmp_path
):
    """A frame later than the wait (a slow render on a busy machine) is waited for again: one
    EXPOSE per image, the sequence executed."""
    import time as wall
    from dataclasses import replace

    from infra.clock import SimulatedClock
    from tests.devices.conftest import TEST_LINK

    settings = replace(TEST_LINK, min_wait_s=0.3)
    # Each 10 s exposure takes 0.5 s wall at the fake; the simulated timeout is far shorter in
    # wall time at this speed, so every first wait times out at the 0.3 s floor.
    clock = SimulatedClock(SystemClock().now(), 10000.0, wall_epoch=wall.time())
    fakes = {
        "mount": fake_device("mount"),
        "camera_vis": fake_device("camera", time_scale=0.05),
        "camera_nir": fake_device("camera", filters=NIR),
    }
    gateways = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    scope = Telescope(
        mount=controller_for(gateways["mount"], settings, clock=clock),
        cameras={
            "Visible camera": controller_for(gateways["camera_vis"], settings, clock=clock),
            "Infrared camera": controller_for(gateways["camera_nir"], settings, clock=clock),
        },
    )
    sequence_id = planned_sequence(engine, nb_images=2, nir_images=1, sidereal=False)
    outcome = SequenceRun(
        engine, scope, "flow-test", clock, tmp_path / "frames", get_config().site.longitude_deg
    ).run(sequence_id)
    assert (outcome.state, len(outcome.images)) == ("executed", 3), outcome.reason
    assert (exposures(fakes["camera_vis"]), exposures(fakes["camera_nir"])) == (2, 1)


def test_a_safety_claim_aborts_the_exposures_in_flight_and_stores_no_frame_of_them(
    engine, fake_device, gateway_for, controller_for, tmp_path
):
    """The reflex parks the mount while both cameras expose (issue 27: a frame finished in a
    closing dome was stored, then failed its analysis): both exposures are aborted, no frame is
    stored, and the sequence is interrupted with the reason."""
    clock = SystemClock()
    # 10 s exposures take 5 s at these fakes: long enough to be caught in flight.
    fakes = {
        "mount": fake_device("mount"),
        "camera_vis": fake_device("camera", time_scale=0.5),
        "camera_nir": fake_device("camera", filters=NIR, time_scale=0.5),
    }
    gateways = {name: gateway_for(name, fake, lease_ttl_s=600.0) for name, fake in fakes.items()}
    # The sequence's mount heartbeats every 5 minutes: the loss must be asked for, not waited
    # for (at a fast simulated clock the heartbeat learned it after more exposures had begun).
    slow = replace(TEST_LINK, heartbeat_s=300.0)
    scope = Telescope(
        mount=controller_for(gateways["mount"], settings=slow, clock=clock),
        cameras={
            "Visible camera": controller_for(gateways["camera_vis"], clock=clock),
            "Infrared camera": controller_for(gateways["camera_nir"], clock=clock),
        },
    )
    reflex_mount = controller_for(gateways["mount"], clock=clock)
    sequence_id = planned_sequence(engine, nb_images=2, nir_images=2, sidereal=False)

    def park_when_both_expose() -> None:
        while not (exposures(fakes["camera_vis"]) and exposures(fakes["camera_nir"])):
            threading.Event().wait(0.02)
        reflex_mount.claim("environment-monitor", Priority.SAFETY)

    threading.Thread(target=park_when_both_expose, daemon=True).start()
    outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "interrupted" and "environment-monitor" in outcome.reason
    assert outcome.images == []
    assert fakes["camera_vis"].received("ABORT") and fakes["camera_nir"].received("ABORT")
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 0


def test_a_cancelled_request_stops_after_the_exposures_in_progress_and_keeps_its_images(
    engine, telescope, tmp_path
):
    """Issue #23: cancel during execution: the current exposure completes, nothing more is
    taken, the sequence reads cancelled with the reason, its images stay listed."""
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine, nb_images=20, nir_images=20)
    with session_scope(engine) as session:
        request_id = session.get(Sequence, sequence_id).request_id
    answers = []

    def cancel_after_the_second_visible_frame(image, plan, camera) -> None:
        if camera == "Visible camera" and image.image_id.endswith("I0002") and not answers:
            with session_scope(engine) as session:
                answers.append(
                    cancel_request(session, request_id, "pyros", "seeing", SystemClock().now())
                )

    outcome = run(
        engine, scope, sequence_id, tmp_path, on_image=cancel_after_the_second_visible_frame
    )
    assert answers[0].executing == (sequence_id,) and answers[0].cancelled == ()
    assert outcome.state == "cancelled" and outcome.reason == "cancelled by pyros: seeing"
    exposed = exposures(fakes["camera_vis"]) + exposures(fakes["camera_nir"])
    # every exposure started was completed and stored; the visible camera took none after
    assert exposures(fakes["camera_vis"]) == 2
    assert exposed == len(outcome.images) < 40
    assert not fakes["camera_vis"].received("ABORT") and not fakes["camera_nir"].received("ABORT")
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        assert (sequence.state, sequence.state_reason) == (
            "cancelled",
            "cancelled by pyros: seeing",
        )
        assert [t.to_state for t in sequence.transitions][-2:] == ["executing", "cancelled"]
        assert sequence.executed_hours > 0  # the time used is charged
        listed = request_images(session, request_id)
    assert sorted(i["id"] for i in listed) == sorted(i.image_id for i in outcome.images)
    assert all(Path(i["file"]).exists() for i in listed)


def test_a_sequence_cancelled_before_it_starts_is_not_started(engine, telescope, tmp_path):
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine)
    with session_scope(engine) as session:
        request_id = session.get(Sequence, sequence_id).request_id
        cancel_request(session, request_id, "pyros", "", SystemClock().now())
    outcome = run(engine, scope, sequence_id, tmp_path)
    assert outcome.state == "not-started" and "'cancelled' -> 'executing'" in outcome.reason
    assert exposures(fakes["camera_vis"]) == 0


def test_a_mount_fault_mid_sequence_interrupts_it_with_the_reason(engine, telescope, tmp_path):
    # #24: a mount that faults while the cameras expose no longer tracks; the sequence must end
    # (not expose on for minutes) so that the night holds for the mount.
    scope, fakes, _ = telescope
    sequence_id = planned_sequence(engine, nb_images=30, nir_images=30)  # ~3 wall s per album

    def fault_after_the_first_frame(image, plan, instrument) -> None:
        with fakes["mount"]._lock:
            fakes["mount"].state["state"] = "fault"

    outcome = run(engine, scope, sequence_id, tmp_path, on_image=fault_after_the_first_frame)
    assert outcome.state == "interrupted"
    assert "mount reports a fault" in outcome.reason, outcome.reason
    assert 1 <= len(outcome.images) < 60
