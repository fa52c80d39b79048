"""Executing one sequence on the telescope (the heart of ``execute-night``).

The sequence's devices are claimed at routine priority (the lease is what preempts: an alert or
the safety reflex taking the mount or a camera ends this sequence as ``interrupted``, never as a
failure). The mount slews, then every album runs on its own camera in parallel, each plan taking
its remaining images (progress is per plan, so an interrupted sequence resumes with what is left).
A transient device timeout is retried; a device fault interrupts the sequence with its reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devices.controllers import Priority
from devices.controllers.camera import GatewayCamera, ImageType
from devices.controllers.mount import Mount
from devices.errors import DeviceError, DeviceProblem, DeviceTimeout, LeaseRefused, Preempted
from infra.clock import Clock
from infra.db import session_scope
from infra.db.models import Alert, ScientificProgram, Sequence, User
from infra.db.sequence_state import SequenceState, transition
from infra.journal import night_label
from tasks.night.images import FrameRecord, StoredImage, frame_path, store_frame
from tasks.night.vocabulary import ExecutionResult

log = logging.getLogger(__name__)

#: How many times a timed-out exposure or move is tried again before the sequence is interrupted.
TRANSIENT_RETRIES = 2


@dataclass(frozen=True)
class PlanWork:
    """What is left of one plan."""

    plan_id: int
    filter: str
    exposure_s: float
    nb_images: int
    images_done: int


@dataclass(frozen=True)
class SequenceWork:
    """What is left of one sequence, read once at the start."""

    sequence_id: int
    name: str
    ra_deg: float | None
    dec_deg: float | None
    albums: dict[str, list[PlanWork]]  # instrument -> plans in order
    alert_ivorn: str | None
    night: str


@dataclass
class SequenceOutcome:
    """How the execution of a sequence ended."""

    sequence_id: int
    state: ExecutionResult
    reason: str
    images: list[StoredImage] = field(default_factory=list)


@dataclass
class Telescope:
    """The controllers a sequence runs on."""

    mount: Mount
    cameras: dict[str, GatewayCamera]  # by instrument name (each with its filter wheel)


class _Stop(Exception):
    """Raised inside an album thread when the sequence must stop."""


def load_work(
    engine: Engine | None, sequence_id: int, longitude_deg: float, now: datetime
) -> SequenceWork:
    """Read what is left of ``sequence_id``."""
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        if sequence is None:
            raise LookupError(f"sequence {sequence_id}: no such sequence")
        albums = {
            album.instrument: [
                PlanWork(p.id, p.filter, p.exposure_s, p.nb_images, p.images_done)
                for p in album.plans
            ]
            for album in sequence.albums
        }
        ivorn = None
        if sequence.request.is_alert:
            ivorn = session.scalar(
                select(Alert.ivorn)
                .where(Alert.request_id == sequence.request_id)
                .order_by(Alert.id)
            )
        return SequenceWork(
            sequence.id,
            sequence.name,
            sequence.ra_deg,
            sequence.dec_deg,
            albums,
            ivorn,
            night_label(now, longitude_deg),
        )


def _sequence(session: Session, sequence_id: int) -> Sequence:
    sequence = session.get(Sequence, sequence_id)
    if sequence is None:
        raise LookupError(f"sequence {sequence_id}: no such sequence")
    return sequence


def _set_state(
    engine: Engine | None, sequence_id: int, state: SequenceState, reason: str, at: datetime
) -> None:
    with session_scope(engine) as session:
        transition(session, _sequence(session, sequence_id), state, reason, at)


def charge_quota(engine: Engine | None, sequence_id: int, hours: float) -> None:
    """Charge executed hours to the sequence, its user, program and the user's country."""
    with session_scope(engine) as session:
        sequence = _sequence(session, sequence_id)
        sequence.executed_hours += hours
        request = sequence.request
        user = session.get(User, request.user_id)
        program = session.get(ScientificProgram, request.program_id)
        for holder in (user, program, user.country if user else None):
            if holder is not None:
                holder.used_hours += hours


def _done_reason(work: SequenceWork, taken: list[StoredImage]) -> str:
    """Why an executed sequence is done, counting all its images (a resumed sequence took some
    of them in an earlier run)."""
    total = sum(plan.nb_images for plans in work.albums.values() for plan in plans)
    if len(taken) == total:
        return f"all plans done: {total} image(s) taken"
    return f"all plans done: {total} image(s), {len(taken)} taken in this run, the rest earlier"


class SequenceRun:
    """One execution of one sequence.

    Parameters
    ----------
    engine : Engine or None
        Database (None: the process database).
    telescope : Telescope
        Mount and cameras (through their gateways).
    owner : str
        Lease owner (the flow run).
    clock : Clock
        The one clock.
    frames_dir : Path
        Root of the frames.
    longitude_deg : float
        Site longitude (night labels).
    on_image : callable, optional
        Called with each stored image (the flow announces it).
    priority : Priority
        Lease priority (routine for the night, alert for follow-ups).
    """

    def __init__(
        self,
        engine: Engine | None,
        telescope: Telescope,
        owner: str,
        clock: Clock,
        frames_dir: Path,
        longitude_deg: float,
        on_image: Callable[[StoredImage, PlanWork, str], None] | None = None,
        priority: Priority = Priority.ROUTINE,
    ) -> None:
        self.engine, self.telescope, self.owner, self.clock = engine, telescope, owner, clock
        self.frames_dir, self.longitude_deg = Path(frames_dir), longitude_deg
        self.on_image = on_image or (lambda *_: None)
        self.priority = priority
        self._stop = threading.Event()
        self._problem: str | None = None
        self._lock = threading.Lock()
        self._images: list[StoredImage] = []

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._problem is None:
                self._problem = reason
        self._stop.set()

    def run(self, sequence_id: int) -> SequenceOutcome:
        """Execute ``sequence_id`` (which must be ``planned``); never raises for device trouble."""
        start = self.clock.now()
        work = load_work(self.engine, sequence_id, self.longitude_deg, start)
        cameras = {name: self.telescope.cameras[name] for name in work.albums}
        controllers = [self.telescope.mount, *cameras.values()]
        leases = []
        try:
            for controller in controllers:
                leases.append(controller.claim(self.owner, self.priority))
        except (LeaseRefused, Preempted) as refused:
            for lease in leases:
                lease.release()
            return SequenceOutcome(
                sequence_id, ExecutionResult.NOT_STARTED, f"lease refused: {refused}"
            )
        _set_state(
            self.engine,
            sequence_id,
            SequenceState.EXECUTING,
            f"started by {self.owner}",
            self.clock.now(),
        )
        try:
            self._slew(work)
            if not self._stop.is_set():
                self._expose_albums(work, cameras)
        finally:
            for lease in leases:
                lease.release()
        end = self.clock.now()
        if self._problem is None:
            _set_state(
                self.engine,
                sequence_id,
                SequenceState.EXECUTED,
                _done_reason(work, self._images),
                end,
            )
            charge_quota(self.engine, sequence_id, (end - start).total_seconds() / 3600.0)
            return SequenceOutcome(
                sequence_id, ExecutionResult.EXECUTED, "all plans done", list(self._images)
            )
        _set_state(self.engine, sequence_id, SequenceState.INTERRUPTED, self._problem, end)
        charge_quota(self.engine, sequence_id, (end - start).total_seconds() / 3600.0)
        return SequenceOutcome(
            sequence_id, ExecutionResult.INTERRUPTED, self._problem, list(self._images)
        )

    def _attempt(self, what: str, operation: Callable[[], object]) -> object:
        for attempt in range(TRANSIENT_RETRIES + 1):
            if self._stop.is_set():
                raise _Stop
            try:
                return operation()
            except Preempted as preempted:
                self._fail(f"preempted: {preempted}")
                raise _Stop from None
            except DeviceTimeout as timeout:
                if attempt == TRANSIENT_RETRIES:
                    self._fail(f"{what}: device timeout after {attempt + 1} tries: {timeout}")
                    raise _Stop from None
                log.warning("%s: %s; trying again", what, timeout)
            except (DeviceError, DeviceProblem) as problem:
                self._fail(f"{what}: device fault: {problem}")
                raise _Stop from None
        raise _Stop  # pragma: no cover - the loop always returns or raises

    def _slew(self, work: SequenceWork) -> None:
        ra, dec = work.ra_deg, work.dec_deg
        if ra is None or dec is None:
            return  # test targets need no pointing
        mount = self.telescope.mount
        try:
            self._attempt("mount goto", lambda: mount.goto(ra, dec))
            self._attempt("mount slew", mount.wait_until_idle)
        except _Stop:
            return

    def _watch_mount(self, done: threading.Event) -> None:
        """Stop the albums as soon as the mount's lease is lost (an alert or the reflex)."""
        lease = self.telescope.mount.lease
        while not done.wait(0.05):
            if lease is not None and lease.lost:
                self._fail(f"preempted: {lease.problem}")
                return

    def _expose_albums(self, work: SequenceWork, cameras: dict[str, GatewayCamera]) -> None:
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_mount, args=(done,), daemon=True)
        watcher.start()
        threads = [
            threading.Thread(
                target=self._album,
                args=(work, name, camera, work.albums[name]),
                name=f"album-{name}",
                daemon=True,
            )
            for name, camera in cameras.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        watcher.join()

    def _album(
        self, work: SequenceWork, instrument: str, camera: GatewayCamera, plans: list[PlanWork]
    ) -> None:
        try:
            for plan in plans:
                for index in range(plan.images_done + 1, plan.nb_images + 1):
                    if self._stop.is_set():
                        raise _Stop
                    self._one_frame(work, instrument, camera, plan, index)
        except _Stop:
            self._abort(camera)
        except Exception as exc:  # a bug: record it on the sequence, never leave it executing
            log.exception("album %s of sequence %s", instrument, work.sequence_id)
            self._fail(f"{instrument}: internal error: {type(exc).__name__}: {exc}")
            self._abort(camera)

    def _abort(self, camera: GatewayCamera) -> None:
        lease = camera.lease
        if lease is not None and not lease.lost:
            try:
                camera.abort()
            except DeviceProblem as problem:
                log.warning("abort %s: %s", camera.device, problem)

    def _one_frame(
        self,
        work: SequenceWork,
        instrument: str,
        camera: GatewayCamera,
        plan: PlanWork,
        index: int,
    ) -> None:
        path = frame_path(self.frames_dir, work.night, work.sequence_id, plan.plan_id, index)
        adopted = path.exists()  # written before a crash, its row never inserted
        if not adopted:
            if camera.filter_wheel.current() != plan.filter:
                self._attempt(
                    f"{instrument} filter {plan.filter}",
                    lambda: camera.filter_wheel.set_filter(plan.filter),
                )
            frame_id = path.stem
            started: list[str] = []

            def expose() -> object:
                # A timeout waits again for the same exposure (the frame may only be late: a
                # slow render, a busy machine); exposing again would be refused while it reads
                # out, and would take the image twice.
                if not started:
                    camera.start_exposure(
                        plan.exposure_s, ImageType.LIGHT, frame_id=frame_id, path=path
                    )
                    started.append(frame_id)
                return camera.wait_for_frame(frame_id, exposure_s=plan.exposure_s)

            self._attempt(f"{instrument} exposure {frame_id}", expose)
        frame = FrameRecord(
            sequence_id=work.sequence_id,
            plan_id=plan.plan_id,
            index=index,
            path=path,
            instrument=instrument,
            filter_name=plan.filter,
            exposure_s=plan.exposure_s,
            acquired_at=self.clock.now(),
            ra_deg=work.ra_deg,
            dec_deg=work.dec_deg,
            alert_ivorn=work.alert_ivorn,
        )
        stored = store_frame(self.engine, frame, adopted=adopted)
        with self._lock:
            self._images.append(stored)
        self.on_image(stored, plan, instrument)
