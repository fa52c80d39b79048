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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devices.controllers import Priority
from devices.controllers.camera import GatewayCamera, ImageType
from devices.controllers.mount import Mount, MountMotion
from devices.errors import DeviceError, DeviceProblem, DeviceTimeout, Preempted
from infra.clock import Clock
from infra.db import session_scope
from infra.db.models import Alert, ScientificProgram, Sequence, User
from infra.db.sequence_state import IllegalTransition, SequenceState, transition
from infra.journal import night_label
from tasks.night.images import FrameRecord, StoredImage, frame_path, store_frame
from tasks.night.vocabulary import ExecutionResult
from tasks.requests.lifecycle import cancellation_of

log = logging.getLogger(__name__)

#: How many times a timed-out exposure or move is tried again before the sequence is interrupted.
TRANSIENT_RETRIES = 2
#: A mount already going to a target this close (deg, about 0.4″) is not sent there again.
SAME_TARGET_DEG = 1e-4
#: How often (wall seconds) a sequence asks the mount's gateway whether its lease still holds.
MOUNT_WATCH_WALL_S = 0.05
#: The mount's state is read every this many watches (0.5 wall s: a fault seen within
#: 50 simulated s at 100x, one STATUS a half-second on the mount's gateway).
MOUNT_FAULT_EVERY = 10


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
    #: Wall seconds spent waiting on devices: the slew, then the slowest camera's filter
    #: changes, exposures and read-outs (the rest of the execution is orchestration).
    device_wall_s: float = 0.0


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


def frame_record(
    work: SequenceWork,
    instrument: str,
    plan: PlanWork,
    index: int,
    path: Path,
    acquired_at: datetime,
) -> FrameRecord:
    """What the row of frame ``index`` of ``plan`` (taken by ``instrument`` for ``work``'s
    sequence, written at ``path``) says."""
    return FrameRecord(
        sequence_id=work.sequence_id,
        plan_id=plan.plan_id,
        index=index,
        path=path,
        instrument=instrument,
        filter_name=plan.filter,
        exposure_s=plan.exposure_s,
        acquired_at=acquired_at,
        ra_deg=work.ra_deg,
        dec_deg=work.dec_deg,
        alert_ivorn=work.alert_ivorn,
    )


def _sequence(session: Session, sequence_id: int) -> Sequence:
    sequence = session.get(Sequence, sequence_id)
    if sequence is None:
        raise LookupError(f"sequence {sequence_id}: no such sequence")
    return sequence


def _set_state(
    engine: Engine | None, sequence_id: int, state: SequenceState, reason: str, at: datetime
) -> None:
    try:
        with session_scope(engine) as session:
            transition(session, _sequence(session, sequence_id), state, reason, at)
    except IllegalTransition as refused:
        if refused.current != SequenceState.CANCELLED or state == SequenceState.EXECUTING:
            raise  # (one cancelled before it started is refused: it never starts)
        # Cancelled while it ran (an alert withdrawn or re-pointed), read before this change or
        # stored during it (the transition's compare-and-set): that is its end.
        log.info("sequence %s was cancelled while executing: stays cancelled", sequence_id)


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
        self._cancelled: str | None = None  # the request's cancellation, seen between frames
        self._lock = threading.Lock()
        self._images: list[StoredImage] = []
        self._device_wall: dict[str, float] = {}

    @contextmanager
    def _device_time(self, device: str) -> Iterator[None]:
        """Count the wall time of the block as ``device``'s work (the overhead figure's
        complement)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self._device_wall[device] = (
                    self._device_wall.get(device, 0.0) + time.perf_counter() - began
                )

    def _device_wall_s(self) -> float:
        cameras = [v for k, v in self._device_wall.items() if k != "mount"]
        return round(self._device_wall.get("mount", 0.0) + max(cameras, default=0.0), 4)

    def stop(self, reason: str) -> None:
        """Stop the sequence from another thread (the exposures in flight are aborted); it
        ends ``interrupted`` with ``reason`` (or stays ``cancelled`` if it was cancelled)."""
        self._fail(reason)
        for camera in self.telescope.cameras.values():
            self._abort(camera)

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._problem is None:
                self._problem = reason
        self._stop.set()

    def _fail_album(self, reason: str) -> None:
        """One camera's album ends on ``reason``; the others go on."""
        with self._lock:
            if self._problem is None:
                self._problem = reason

    def run(self, sequence_id: int) -> SequenceOutcome:
        """Execute ``sequence_id`` (which must be ``planned``); never raises for device trouble."""
        start = self.clock.now()
        work = load_work(self.engine, sequence_id, self.longitude_deg, start)
        # Only the cameras with images left: a finished album's camera may be lost (#24).
        cameras = {
            name: self.telescope.cameras[name]
            for name, plans in work.albums.items()
            if any(plan.images_done < plan.nb_images for plan in plans)
        }
        controllers = [self.telescope.mount, *cameras.values()]
        leases = []
        try:
            for controller in controllers:
                leases.append(controller.claim(self.owner, self.priority))
        except DeviceProblem as refused:  # refused, preempted, or the device lost (#24)
            for lease in leases:
                lease.release()
            return SequenceOutcome(
                sequence_id, ExecutionResult.NOT_STARTED, f"lease refused: {refused}"
            )
        try:
            _set_state(
                self.engine,
                sequence_id,
                SequenceState.EXECUTING,
                f"started by {self.owner}",
                self.clock.now(),
            )
        except IllegalTransition as moved:  # cancelled (#23) between the plan and the start
            for lease in leases:
                lease.release()
            return SequenceOutcome(sequence_id, ExecutionResult.NOT_STARTED, str(moved))
        try:
            # Nothing left to take (its last frame adopted after its run died): done, no slew.
            # The mount is still claimed above: its end is stored under the lease (below).
            if cameras:
                self._slew(work)
                if not self._stop.is_set():
                    self._expose_albums(work, cameras)
            # Its end is stored while the run still holds the mount: a reconciliation (a block's
            # start, the night's end) interrupts an executing sequence whose run holds it no
            # more, and this run would then fail on storing it.
            return self._conclude(sequence_id, work, start)
        finally:
            for lease in leases:
                lease.release()

    def _conclude(self, sequence_id: int, work: SequenceWork, start: datetime) -> SequenceOutcome:
        """Store how the execution of ``sequence_id`` (begun at ``start``) ended, charge its
        time, and say so."""
        end = self.clock.now()
        if self._cancelled is not None:  # cancelled: the frames in progress completed, kept
            state, result = SequenceState.CANCELLED, ExecutionResult.CANCELLED
            stored = said = self._cancelled
        elif self._problem is None:
            state, result = SequenceState.EXECUTED, ExecutionResult.EXECUTED
            stored, said = _done_reason(work, self._images), "all plans done"
        else:
            state, result = SequenceState.INTERRUPTED, ExecutionResult.INTERRUPTED
            stored = said = self._problem
        _set_state(self.engine, sequence_id, state, stored, end)
        charge_quota(self.engine, sequence_id, (end - start).total_seconds() / 3600.0)
        return SequenceOutcome(sequence_id, result, said, list(self._images), self._device_wall_s())

    def _attempt(
        self, what: str, operation: Callable[[], object], *, album: bool = False
    ) -> object:
        """Run ``operation``, retrying timeouts. A device fault stops the sequence; in an
        ``album`` (a camera's) it stops only that album: the other cameras finish theirs and the
        sequence ends interrupted with the reason (#24)."""
        fail = self._fail_album if album else self._fail
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
                    fail(f"{what}: device timeout after {attempt + 1} tries: {timeout}")
                    raise _Stop from None
                log.warning("%s: %s; trying again", what, timeout)
            except (DeviceError, DeviceProblem) as problem:
                fail(f"{what}: device fault: {problem}")
                raise _Stop from None
        raise _Stop  # pragma: no cover - the loop always returns or raises

    def _slew(self, work: SequenceWork) -> None:
        ra, dec = work.ra_deg, work.dec_deg
        if ra is None or dec is None:
            return  # test targets need no pointing
        mount = self.telescope.mount
        try:
            with self._device_time("mount"):
                if not self._pointed_at(ra, dec):
                    self._attempt("mount goto", lambda: mount.goto(ra, dec))
                self._attempt("mount slew", mount.wait_until_idle)
        except _Stop:
            return

    def _pointed_at(self, ra: float, dec: float) -> bool:
        """Whether the mount already goes to (or is at) this target (an alert follow-up after
        the reflex's slew): then no second slew is sent."""
        try:
            state = self.telescope.mount.status()
        except DeviceProblem:
            return False
        moving_there = state.motion in (MountMotion.SLEWING, MountMotion.TRACKING)
        if not moving_there or state.target_ra_deg is None or state.target_dec_deg is None:
            return False
        same = abs((state.target_ra_deg - ra + 180.0) % 360.0 - 180.0) < SAME_TARGET_DEG
        return same and abs(state.target_dec_deg - dec) < SAME_TARGET_DEG

    def _watch_mount(self, done: threading.Event, cameras: dict[str, GatewayCamera]) -> None:
        """Stop the albums as soon as the mount's lease is lost (an alert or the reflex) or the
        mount reports a fault, and abort the exposures in flight: a frame finished after the
        mount was taken (the dome closing, the mount slewing away) or while it no longer tracks
        is not the sequence's frame. The sequence ends interrupted with the reason, and the
        night's next look at the devices holds for the faulted mount (#24)."""
        lease = self.telescope.mount.lease
        looks = 0
        # Asked, not waited for: the heartbeat learns of a loss up to ``heartbeat_s`` (2 wall s)
        # late, minutes of simulated time at a fast clock, with exposures started meanwhile.
        while not done.wait(MOUNT_WATCH_WALL_S):
            looks += 1
            reason = None
            if lease is not None and not lease.confirm():
                reason = f"preempted: {lease.problem}"
            elif looks % MOUNT_FAULT_EVERY == 0 and self._mount_faulted():
                reason = f"{self.telescope.mount.device}: device fault: the mount reports a fault"
            if reason is not None:
                self._fail(reason)
                for camera in cameras.values():
                    self._abort(camera)
                return

    def _mount_faulted(self) -> bool:
        """Whether the mount reports a fault now (a gateway that does not answer is the
        heartbeat's and the night's concern, not this one's)."""
        try:
            return self.telescope.mount.status().motion == MountMotion.FAULT
        except DeviceProblem:
            return False

    def _expose_albums(self, work: SequenceWork, cameras: dict[str, GatewayCamera]) -> None:
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_mount, args=(done, cameras), daemon=True)
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
                    if self._stop.is_set() or self._cancel_seen(work.sequence_id):
                        raise _Stop
                    self._one_frame(work, instrument, camera, plan, index)
        except _Stop:
            if self._cancelled is None or self._problem is not None:
                self._abort(camera)
        except Exception as exc:  # a bug: record it on the sequence, never leave it executing
            log.exception("album %s of sequence %s", instrument, work.sequence_id)
            self._fail(f"{instrument}: internal error: {type(exc).__name__}: {exc}")
            self._abort(camera)

    def _cancel_seen(self, sequence_id: int) -> bool:
        """Whether the request was cancelled (#23): checked before each frame, never during."""
        reason = cancellation_of(self.engine, sequence_id)
        if reason is None:
            return False
        with self._lock:
            self._cancelled = self._cancelled or reason
        self._stop.set()
        return True

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
                with self._device_time(instrument):
                    self._attempt(
                        f"{instrument} filter {plan.filter}",
                        lambda: camera.filter_wheel.set_filter(plan.filter),
                        album=True,
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

            with self._device_time(instrument):
                self._attempt(f"{instrument} exposure {frame_id}", expose, album=True)
        frame = frame_record(work, instrument, plan, index, path, self.clock.now())
        stored = store_frame(self.engine, frame, adopted=adopted)
        with self._lock:
            self._images.append(stored)
        self.on_image(stored, plan, instrument)
