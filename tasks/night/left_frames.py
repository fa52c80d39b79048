"""What a dead run leaves behind: exposures still in flight, then frames on disk without rows.

A night block whose process is killed mid-sequence (a crash, a cancelled run, a night cut short)
cannot abort its exposures: the cameras finish them and write the frames. The resumed sequence
adopts such a frame (:mod:`tasks.night.execute`), but a sequence that is not resumed tonight (the
night ends) would leave it on disk with no row: lost to the analysis and to the report. So the end
of the night lets those exposures end, interrupts what was left executing, and adopts the frames
(DESIGN §2: no image lost, none taken twice).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from astropy.io import fits
from astropy.time import Time
from sqlalchemy import Engine, select

from devices.controllers import GatewayCamera
from devices.errors import DeviceProblem
from infra.db import session_scope
from infra.db.models import Image, SequenceTransition
from infra.db.sequence_state import SequenceState
from tasks.night.execute import frame_record, load_work
from tasks.night.images import FrameRecord, StoredImage, frame_path, store_frame
from tasks.night.reconcile import reconcile
from tasks.nrt.consumer_run import make_consumer

log = logging.getLogger(__name__)


def finish_exposures_left(cameras: dict[str, GatewayCamera]) -> list[str]:
    """Wait for each exposure in flight to end (no lease needed: only the status is read).

    Parameters
    ----------
    cameras : dict
        The night's cameras by instrument name.

    Returns
    -------
    list of str
        The frame ids that ended with a frame written.
    """
    finished = []
    for instrument, camera in cameras.items():
        try:
            state = camera.status()
            exposure = state.exposure or {}
            if not state.busy or "frame_id" not in exposure:
                continue
            frame = camera.wait_for_frame(
                str(exposure["frame_id"]), exposure_s=float(exposure.get("exposure_s") or 0.0)
            )
        except DeviceProblem as problem:  # aborted, lost: nothing written, nothing to adopt
            log.warning(
                "%s: the exposure left in flight ended without a frame: %s", instrument, problem
            )
            continue
        finished.append(frame.frame_id)
    return finished


def adopt_left_frames(
    engine: Engine | None, frames_dir: Path, night: str, sequence_ids: list[int], now: datetime
) -> list[StoredImage]:
    """Give its row to each frame of ``sequence_ids`` that is on disk without one.

    Only the frames that follow each plan's progress are looked for (a run stores its frames in
    order, so what it left is the next one of a plan, per camera).

    Parameters
    ----------
    engine : Engine or None
        Database (None: the process database).
    frames_dir : Path
        Root of the frames (``<frames>/<night>/<image id>.fits``).
    night : str
        The night label the frames were taken under.
    sequence_ids : list of int
        The sequences whose run died.
    now : datetime
        When a frame's header does not say when its exposure ended.

    Returns
    -------
    list of StoredImage
        The frames adopted.
    """
    wanted: list[FrameRecord] = []
    for sequence_id in sequence_ids:
        try:
            # Longitude 0: the night label load_work derives is not used (``night`` is given).
            work = load_work(engine, sequence_id, 0.0, now)
        except LookupError:
            continue
        for instrument, plans in work.albums.items():
            for plan in plans:
                index = plan.images_done + 1
                path = frame_path(frames_dir, night, sequence_id, plan.plan_id, index)
                if index > plan.nb_images or not path.exists() or _has_row(engine, path.stem):
                    continue
                wanted.append(
                    frame_record(work, instrument, plan, index, path, _exposure_end(path, now))
                )
    adopted = [store_frame(engine, frame, adopted=True) for frame in wanted]
    for image in adopted:
        log.warning("frame %s left by a dead run: adopted", image.image_id)
    return adopted


def close_left_sequences(
    engine: Engine | None, frames_dir: Path, night: str, now: datetime, live_owner: str | None
) -> tuple[list[int], list[StoredImage]]:
    """Interrupt the sequences whose run died (:func:`~tasks.night.reconcile.reconcile`), adopt
    the frames left by them and by every sequence interrupted earlier tonight, and analyse those
    (:func:`analyse_sequences_left`); returns the sequences interrupted now and the frames.

    A sequence a block start interrupted may not have been resumed since (planned past the
    night, or no block ran after): its frame in flight at the kill is only on disk (CI,
    2026-12-04: a frame without a row), so the night's end looks at those too.
    """
    interrupted = reconcile(engine, now, live_owner)
    left = sorted(set(interrupted) | set(interrupted_since(engine, now - timedelta(hours=24))))
    adopted = adopt_left_frames(engine, frames_dir, night, left, now)
    if adopted:
        try:
            analyse_sequences_left(engine, left)
        except Exception as problem:  # the night's end goes on: the report counts them pending
            log.warning("the %d adopted frame(s) could not be analysed: %s", len(adopted), problem)
    return interrupted, adopted


def interrupted_since(engine: Engine | None, since: datetime) -> list[int]:
    """The sequences interrupted at or after ``since`` (simulated time), whatever their state."""
    with session_scope(engine) as session:
        query = (
            select(SequenceTransition.sequence_id)
            .where(
                SequenceTransition.to_state == SequenceState.INTERRUPTED,
                SequenceTransition.at >= since,
            )
            .distinct()
        )
        return sorted(session.scalars(query))


def analyse_sequences_left(engine: Engine | None, sequence_ids: list[int]) -> int:
    """Analyse, here and now, the frames of ``sequence_ids`` still without an analysis.

    A frame adopted at the night's end comes after the last block's analysis run has ended (it
    stops at the block's end): without this it would stay unanalysed, missing from the report's
    figures (issue 27: every frame of the night analysed).

    Returns
    -------
    int
        The frames analysed (done or failed with their reason).
    """
    consumer = make_consumer(engine=engine)  # one catalog load for every sequence
    analysed = 0
    for sequence_id in sequence_ids:
        # The sequence is over (interrupted): the run ends once its frames are analysed.
        summary = consumer.run(sequence_id=sequence_id, idle_timeout_s=0.0)
        analysed += summary.done + summary.failed
    return analysed


def _has_row(engine: Engine | None, image_id: str) -> bool:
    with session_scope(engine) as session:
        return session.get(Image, image_id) is not None


def _exposure_end(path: Path, default: datetime) -> datetime:
    """The end of the frame's exposure from its header (DATE-OBS + EXPTIME), else ``default``."""
    try:
        header = fits.getheader(path)
        start: datetime = Time(header["DATE-OBS"], scale="utc").to_datetime(timezone=default.tzinfo)
        return start + timedelta(seconds=float(header.get("EXPTIME", 0.0)))
    except (OSError, KeyError, ValueError):
        return default
