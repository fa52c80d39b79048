"""The camera simulator: exposures and readouts that take time, a filter wheel, abort, and real
frames rendered by the synthetic sky (``simulators.sky``).

Timing (simulated seconds, from the instrument's ``[[instruments]]`` entry): ``SET_FILTER`` moves
for ``filter_move_s`` (nothing when the filter is already in place); ``EXPOSE`` is ``exposing``
for ``exposure_s`` then ``reading_out`` for ``readout_s``, then ``idle`` with the frame in
``last_frame``. The state is computed from the clock when asked.

The frame is rendered in a worker thread as soon as the exposure starts (rendering is CPU-bound
and releases the GIL; it never holds the model's lock), written with
:func:`simulators.sky.write_frame` to a hidden staging name beside its final path, and renamed
into place (truth first, then the FITS: both renames are atomic) the moment the readout ends — by
the worker, or by the first ``STATUS`` after that instant, whichever comes first. So the frame
appears exactly on time in simulated time, whatever the render cost; only a render slower than
exposure + readout (4096² at a high clock speed) keeps the camera ``reading_out`` a little
longer. An aborted exposure leaves no file.

What the frame shows comes from the rest of the observatory: the mount's pointing at the start,
the dome (closed: no sky light), the PLC's calibration lamp (on: a flat is a dome flat, else a
twilight flat), the PLC's sky temperature (clouds: transparency) and the afterglows of the
scenario.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any, Protocol

from devices.commands import DeviceKind
from devices.controllers.camera import CameraActivity, ImageType, instrument_of
from devices.errors import BAD_ARGUMENT, BUSY, DeviceError
from infra.clock import MIN_WALL_SLEEP_S, Clock, format_instant
from infra.config import SiteConfig
from infra.files import default_frame_path
from simulators.device import SimulatedDevice
from simulators.sky import (
    Afterglow,
    FrameFiles,
    FrameRequest,
    FrameRequestError,
    render_frame,
    truth_path_for,
    write_frame,
)

log = logging.getLogger(__name__)

#: The longest wall wait of the frame worker between two looks at the clock (a simulated clock
#: whose epoch is not written yet stands still; a stop must be noticed).
_WAIT_STEP_S = 0.25


class SkyView(Protocol):
    """What a camera needs from the rest of the observatory."""

    def pointing(self) -> tuple[float, float]: ...

    def dome_open(self) -> bool: ...

    def lamp_on(self) -> bool: ...

    def transparency(self) -> float: ...

    def afterglows(self) -> tuple[Afterglow, ...]: ...


@dataclass
class Exposure:
    """An exposure in progress."""

    frame_id: str
    path: Path
    exposure_s: float
    image_type: str
    filter: str
    started_at: datetime
    exposure_ends: datetime
    readout_ends: datetime
    request: FrameRequest
    cancelled: bool = False
    staged: FrameFiles | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def staging_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.staging.fits")

    def describe(self) -> dict[str, Any]:
        return {
            "frame_id": self.frame_id,
            "exposure_s": self.exposure_s,
            "image_type": self.image_type,
            "started_at": format_instant(self.started_at),
            "path": str(self.path),
        }


def _remove(files: FrameFiles | None) -> None:
    if files is None:
        return
    for path in (files.fits_path, files.truth_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class CameraSimulator(SimulatedDevice):
    """A camera with its filter wheel.

    Parameters
    ----------
    name, host, port, clock, lock :
        As :class:`~simulators.device.SimulatedDevice`.
    config : SiteConfig
        The site (rendering) configuration; the ``[[instruments]]`` entry on device ``name``
        gives the camera's size, timings and filters.
    sky : SkyView
        Pointing, dome, lamp, clouds, afterglows.
    frames_dir : Path
        Where frames go when ``EXPOSE`` names no path (``<frames_dir>/<device>/<UTC date>/``).
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        clock: Clock,
        config: SiteConfig,
        sky: SkyView,
        frames_dir: Path,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(name, DeviceKind.CAMERA, host, port, clock, lock)
        self.config = config
        self.instrument = instrument_of(config, name)
        self.sky = sky
        self.frames_dir = Path(frames_dir)
        self._state = CameraActivity.IDLE
        self._filter = self.instrument.filters[0]
        self._filter_move: tuple[str, datetime] | None = None
        self._exposure: Exposure | None = None
        self._last_frame: dict[str, Any] | None = None
        self._counter = 0
        self._stopping = threading.Event()
        self._workers = ThreadPoolExecutor(2, thread_name_prefix=f"sim-{name}-render")
        self.frames_written = 0
        self.render_failures = 0
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            exposure, self._exposure = self._exposure, None
            if exposure is not None:
                exposure.cancelled = True
                _remove(exposure.staged)
        super().stop()
        self._workers.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ the model
    def _advance(self, now: datetime) -> None:
        move = self._filter_move
        if move is not None and now >= move[1]:
            self._filter, self._filter_move = move[0], None
            self._state = CameraActivity.IDLE
        exposure = self._exposure
        if exposure is None:
            return
        if now < exposure.exposure_ends:
            self._state = CameraActivity.EXPOSING
        elif now < exposure.readout_ends or not self._publish(exposure, now):
            self._state = CameraActivity.READING_OUT

    def _publish(self, exposure: Exposure, now: datetime) -> bool:
        """Put the frame in place (under the lock); False while it is still being rendered."""
        if exposure is not self._exposure or exposure.cancelled:
            return True
        if exposure.error is not None:
            self.last_error = exposure.error
            self._exposure, self._state = None, CameraActivity.IDLE
            exposure.done.set()
            return True
        staged = exposure.staged
        if staged is None:
            return False
        truth = truth_path_for(exposure.path)
        os.replace(staged.truth_path, truth)
        os.replace(staged.fits_path, exposure.path)
        self._last_frame = {
            **exposure.describe(),
            "filter": exposure.filter,
            "completed_at": format_instant(max(now, exposure.readout_ends)),
            "truth_path": str(truth),
            "sha256": staged.sha256,
            "size_bytes": staged.size_bytes,
        }
        self.frames_written += 1
        self._exposure, self._state = None, CameraActivity.IDLE
        exposure.done.set()
        return True

    def _discard(self) -> None:
        exposure, self._exposure = self._exposure, None
        if exposure is not None:
            exposure.cancelled = True
            _remove(exposure.staged)
            exposure.done.set()

    def _produce(self, exposure: Exposure) -> None:
        """Worker: render, stage, then put the frame in place when the readout ends."""
        try:
            rendered = render_frame(exposure.request, self.config)
            if exposure.cancelled:
                return
            staged = write_frame(rendered, exposure.staging_path)
        except Exception as exc:
            log.exception("%s: frame %s failed", self.name, exposure.frame_id)
            self.render_failures += 1
            with self._lock:
                exposure.error = f"{self.name}: frame {exposure.frame_id} failed: {exc}"
            self._wait_until(exposure.readout_ends)
            with self._lock:
                self._advance(self.clock.now())
            return
        with self._lock:
            exposure.staged = staged
            if exposure.cancelled:
                _remove(staged)
                return
        self._wait_until(exposure.readout_ends)
        with self._lock:
            if exposure.cancelled:
                _remove(staged)
            else:
                self._advance(self.clock.now())

    def _wait_until(self, instant: datetime) -> None:
        while not self._stopping.is_set():
            remaining = (instant - self.clock.now()).total_seconds()
            if remaining <= 0:
                return
            wall = min(_WAIT_STEP_S, max(MIN_WALL_SLEEP_S, self.clock.wall_seconds(remaining)))
            self._stopping.wait(wall)

    def _default_path(self, frame_id: str, now: datetime) -> Path:
        return default_frame_path(self.frames_dir, self.name, frame_id, now)

    def _frame_request(
        self, image_type: str, exposure_s: float, frame_id: str, now: datetime
    ) -> FrameRequest:
        flat = image_type == ImageType.FLAT
        flat_source = "dome" if flat and self.sky.lamp_on() else "twilight"
        needs_sky = image_type == ImageType.LIGHT or (flat and flat_source == "twilight")
        ra_dec = self.sky.pointing() if needs_sky else (None, None)
        try:
            return FrameRequest(
                instrument=self.instrument.name,
                image_type=image_type,
                start=now,
                exposure_s=exposure_s,
                filter=self._filter,
                ra_deg=ra_dec[0],
                dec_deg=ra_dec[1],
                flat_source=flat_source,
                dome_open=self.sky.dome_open(),
                transparency=self.sky.transparency(),
                afterglows=self.sky.afterglows() if image_type == ImageType.LIGHT else (),
                image_id=frame_id,
            )
        except FrameRequestError as exc:
            raise DeviceError(f"{self.name}: EXPOSE refused: {exc}", code=BAD_ARGUMENT) from None

    # ------------------------------------------------------------------ faults
    def hardware_failed(self) -> None:
        self._discard()
        self._filter_move = None
        self._state = CameraActivity.IDLE

    # ------------------------------------------------------------------ commands
    def cmd_status(self) -> dict[str, Any]:
        self._advance(self.clock.now())
        exposure = self._exposure
        return {
            "state": CameraActivity.FAULT if self.in_hardware_fault() else self._state,
            "filter": self._filter,
            "filters": list(self.instrument.filters),
            "exposure": exposure.describe() if exposure is not None else None,
            "last_frame": dict(self._last_frame) if self._last_frame else None,
        }

    def cmd_set_filter(self, filter: str) -> dict[str, Any]:
        now = self.clock.now()
        self._advance(now)
        if filter not in self.instrument.filters:
            wheel = ", ".join(repr(f) for f in self.instrument.filters)
            raise DeviceError(
                f"{self.name}: no filter {filter!r} in the wheel ({wheel})", code=BAD_ARGUMENT
            )
        if self._state != CameraActivity.IDLE:
            raise DeviceError(f"{self.name}: SET_FILTER refused while {self._state}", code=BUSY)
        if filter != self._filter:
            ends = now + timedelta(seconds=self.instrument.filter_move_s)
            self._filter_move = (filter, ends)
            self._state = CameraActivity.MOVING_FILTER
            self._advance(now)
        return self.cmd_status()

    def cmd_expose(
        self,
        exposure_s: float,
        image_type: str,
        frame_id: str | None = None,
        path: str | None = None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        self._advance(now)
        if self._state != CameraActivity.IDLE:
            raise DeviceError(f"{self.name}: EXPOSE refused while {self._state}", code=BUSY)
        if image_type == ImageType.BIAS and exposure_s != 0:
            raise DeviceError(
                f"{self.name}: EXPOSE refused: a bias has no exposure time (got {exposure_s:g} s)",
                code=BAD_ARGUMENT,
            )
        if path is not None and not PurePath(path).is_absolute():
            raise DeviceError(
                f"{self.name}: EXPOSE refused: path {path!r} must be absolute", code=BAD_ARGUMENT
            )
        self._counter += 1
        frame_id = frame_id or f"{self.name}-{now:%Y%m%dT%H%M%S}-{self._counter:04d}"
        target = Path(path) if path is not None else self._default_path(frame_id, now)
        request = self._frame_request(image_type, exposure_s, frame_id, now)
        exposure_ends = now + timedelta(seconds=exposure_s)
        exposure = Exposure(
            frame_id=frame_id,
            path=target,
            exposure_s=exposure_s,
            image_type=image_type,
            filter=self._filter,
            started_at=now,
            exposure_ends=exposure_ends,
            readout_ends=exposure_ends + timedelta(seconds=self.instrument.readout_s),
            request=request,
        )
        self._exposure = exposure
        self._state = CameraActivity.EXPOSING
        self.last_error = None
        self.after_reply(lambda: self._workers.submit(self._produce, exposure))
        self._advance(now)
        return {**self.cmd_status(), "frame_id": frame_id, "path": str(target)}

    def cmd_abort(self) -> dict[str, Any]:
        self._advance(self.clock.now())
        self._discard()
        self._filter_move = None
        self._state = CameraActivity.IDLE
        return self.cmd_status()
