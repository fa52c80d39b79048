"""What a killed run leaves: its exposure in flight ends, its sequence is interrupted, and the
frame the camera wrote after the run died gets its row and its analysis (the night's end, issue
27: a night cut short left two frames on disk without rows, then one frame unanalysed)."""

from __future__ import annotations

from sqlalchemy import select

from devices.controllers.camera import ImageType
from infra.clock import SystemClock
from infra.db import session_scope
from infra.db.models import Image, NrtAnalysis, Plan, Sequence
from infra.db.sequence_state import SequenceState, transition
from tasks.night.images import frame_path
from tasks.night.left_frames import close_left_sequences, finish_exposures_left
from tests.tasks.night.test_execute import planned_sequence

NIGHT = "2026-12-04"


def executing_sequence(engine, owner: str, nb_images: int) -> tuple[int, int]:
    """A sequence executing under ``owner``'s run; returns it and its visible plan."""
    sequence_id = planned_sequence(engine, nb_images=nb_images, nir_images=1, sidereal=False)
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        transition(
            session, sequence, SequenceState.EXECUTING, f"started by {owner}", SystemClock().now()
        )
        return sequence_id, session.scalars(select(Plan).order_by(Plan.id)).first().id


def test_a_dead_runs_exposure_ends_and_its_frame_is_adopted(
    engine, fake_device, gateway_for, controller_for, tmp_path
):
    fake = fake_device("camera", time_scale=0.1)
    gateway = gateway_for("camera_vis", fake)
    dead_run, night_end = controller_for(gateway), controller_for(gateway)
    sequence_id, visible = executing_sequence(engine, "flow-dead", nb_images=2)
    # The run started frame 1 of the visible plan, then its process was killed.
    path = frame_path(tmp_path / "frames", NIGHT, sequence_id, visible, 1)
    dead_run.claim("flow-dead", "routine")
    dead_run.start_exposure(10.0, ImageType.LIGHT, frame_id=path.stem, path=path)

    assert finish_exposures_left({"Visible camera": night_end}) == [path.stem]
    assert path.exists()
    interrupted, adopted = close_left_sequences(
        engine, tmp_path / "frames", NIGHT, SystemClock().now(), live_owner=None
    )
    assert interrupted == [sequence_id]
    assert [(image.image_id, image.adopted) for image in adopted] == [(path.stem, True)]
    with session_scope(engine) as session:
        image = session.get(Image, path.stem)
        assert (image.instrument, image.plan_id, image.index) == ("Visible camera", visible, 1)
        assert session.get(Plan, visible).images_done == 1
        assert session.get(Sequence, sequence_id).state == SequenceState.INTERRUPTED
        # ... and analysed: the last block's analysis run had ended (issue 27: every frame).
        analysis = session.scalars(
            select(NrtAnalysis).where(NrtAnalysis.image_id == path.stem)
        ).one()
        assert analysis.status == "done" or (analysis.status == "failed" and analysis.reason)
    # Done once: a second pass finds nothing left.
    assert close_left_sequences(
        engine, tmp_path / "frames", NIGHT, SystemClock().now(), live_owner=None
    ) == ([], [])


def test_a_live_runs_sequence_and_frames_are_left_alone(engine, tmp_path):
    sequence_id, visible = executing_sequence(engine, "flow-live", nb_images=1)
    path = frame_path(tmp_path / "frames", NIGHT, sequence_id, visible, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"being stored by its live run")
    assert close_left_sequences(
        engine, tmp_path / "frames", NIGHT, SystemClock().now(), live_owner="flow-live"
    ) == ([], [])
    with session_scope(engine) as session:
        assert session.get(Image, path.stem) is None


def test_an_idle_camera_has_nothing_left(fake_device, gateway_for, controller_for):
    camera = controller_for(gateway_for("camera_vis", fake_device("camera")))
    assert finish_exposures_left({"Visible camera": camera}) == []


def test_a_frame_left_by_a_sequence_interrupted_earlier_tonight_is_adopted_at_the_end(
    engine, tmp_path
):
    # CI, 2026-12-04: a block start interrupted the killed run's sequence while its exposure was
    # in flight, the sequence was planned again past the night, and its frame stayed rowless.
    sequence_id, visible = executing_sequence(engine, "flow-dead", nb_images=2)
    now = SystemClock().now()
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        transition(session, sequence, SequenceState.INTERRUPTED, "its run ended", now)
        transition(session, sequence, SequenceState.TO_BE_PLANNED, "resumes", now)
        transition(session, sequence, SequenceState.PLANNED, "planned again", now)
    path = frame_path(tmp_path / "frames", NIGHT, sequence_id, visible, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"written by the camera after its run died")

    interrupted, adopted = close_left_sequences(
        engine, tmp_path / "frames", NIGHT, now, live_owner=None
    )
    assert interrupted == []  # nothing executing any more
    assert [(image.image_id, image.adopted) for image in adopted] == [(path.stem, True)]
    with session_scope(engine) as session:
        assert session.get(Plan, visible).images_done == 1
        assert session.get(Sequence, sequence_id).state == SequenceState.PLANNED
