"""A camera and its filter wheel (one device, one gateway, one lease).

:class:`Camera` checks exposures (time, image type, frame id, an absolute path) and
:class:`FilterWheel` refuses filters that are not in the instrument's wheel (``[[instruments]]``);
the gateway drivers make the calls. ``expose`` starts an exposure and waits for the frame: the
frame's path comes back in the camera's ``STATUS`` (``last_frame``) once it is written.
"""

from __future__ import annotations

import math
import uuid
from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.controllers.link import GatewayLink
from devices.errors import BAD_ARGUMENT, CommandRefused, DeviceError, ProtocolError
from infra.clock import Clock
from infra.config import InstrumentSection, SiteConfig

#: Most seconds of one exposure.
MAX_EXPOSURE_S = 86400.0


class CameraActivity(StrEnum):
    """What the camera is doing."""

    IDLE = "idle"
    EXPOSING = "exposing"
    READING_OUT = "reading_out"
    MOVING_FILTER = "moving_filter"
    FAULT = "fault"


BUSY = frozenset({CameraActivity.EXPOSING, CameraActivity.READING_OUT})


class ImageType(StrEnum):
    """Kinds of frames."""

    LIGHT = "light"
    BIAS = "bias"
    DARK = "dark"
    FLAT = "flat"


@dataclass(frozen=True)
class Frame:
    """A frame the camera wrote."""

    frame_id: str
    path: str
    exposure_s: float
    image_type: str
    filter: str | None
    started_at: str | None
    completed_at: str | None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Frame:
        return cls(
            frame_id=str(fields["frame_id"]),
            path=str(fields["path"]),
            exposure_s=float(fields.get("exposure_s") or 0.0),
            image_type=str(fields.get("image_type") or ""),
            filter=fields.get("filter"),
            started_at=fields.get("started_at"),
            completed_at=fields.get("completed_at"),
        )


@dataclass(frozen=True)
class CameraState:
    """The camera's ``STATUS``."""

    activity: CameraActivity
    filter: str | None
    exposure: dict[str, Any] | None
    last_frame: Frame | None
    gateway: GatewayView | None = None

    @property
    def busy(self) -> bool:
        return self.activity in BUSY

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "camera") -> CameraState:
        try:
            activity = CameraActivity(fields["state"])
            last = fields.get("last_frame")
            last_frame = Frame.from_fields(last) if last else None
        except (KeyError, ValueError, TypeError):
            raise ProtocolError(
                f"{device}: malformed camera STATUS ({fields.get('state')!r})", device=device
            ) from None
        return cls(
            activity=activity,
            filter=fields.get("filter"),
            exposure=fields.get("exposure"),
            last_frame=last_frame,
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


def instrument_of(config: SiteConfig, device: str) -> InstrumentSection:
    """The instrument configured on camera ``device``.

    Raises
    ------
    ValueError
        When no ``[[instruments]]`` entry uses that device.
    """
    for instrument in config.instruments:
        if instrument.device == device:
            return instrument
    raise ValueError(f"no [[instruments]] entry uses device {device!r}")


class Camera(Controller):
    """A camera (safety checks here; the driver makes the calls)."""

    config: SiteConfig
    clock: Clock

    @property
    def instrument(self) -> InstrumentSection:
        """The instrument this camera is."""
        return instrument_of(self.config, self.device)

    def start_exposure(
        self,
        exposure_s: float,
        image_type: ImageType | str = ImageType.LIGHT,
        *,
        frame_id: str | None = None,
        path: str | PurePath | None = None,
    ) -> str:
        """Start an exposure; returns its frame id (the device writes the frame when done).

        Raises
        ------
        CommandRefused
            A negative, infinite or over-long time, an unknown image type, a relative path.
        """
        if not math.isfinite(exposure_s) or not 0 <= exposure_s <= MAX_EXPOSURE_S:
            raise self._refused(f"exposure time {exposure_s!r} s is not in [0, {MAX_EXPOSURE_S:g}]")
        try:
            kind = ImageType(str(image_type).lower())
        except ValueError:
            known = ", ".join(t.value for t in ImageType)
            raise self._refused(f"image type {image_type!r} is not one of {known}") from None
        frame_id = frame_id or f"{self.device}-{uuid.uuid4().hex[:12]}"
        if not frame_id.strip() or len(frame_id) > 128:
            raise self._refused("frame id must be 1 to 128 characters")
        args: dict[str, Any] = {
            "exposure_s": float(exposure_s),
            "image_type": kind.value,
            "frame_id": frame_id,
        }
        if path is not None:
            if not PurePath(path).is_absolute():
                raise self._refused(f"frame path {str(path)!r} must be absolute")
            args["path"] = str(path)
        self._require_lease("EXPOSE")
        self._expose(args)
        return frame_id

    def expose(
        self,
        exposure_s: float,
        image_type: ImageType | str = ImageType.LIGHT,
        *,
        frame_id: str | None = None,
        path: str | PurePath | None = None,
        timeout_s: float | None = None,
    ) -> Frame:
        """Take one frame and return it once written (see :meth:`start_exposure`)."""
        frame = self.start_exposure(exposure_s, image_type, frame_id=frame_id, path=path)
        return self.wait_for_frame(frame, exposure_s=exposure_s, timeout_s=timeout_s)

    def abort(self) -> CameraState:
        """Abort the exposure in progress (no frame is written)."""
        self._require_lease("ABORT")
        return self._abort()

    def default_timeout_s(self, exposure_s: float) -> float:
        """Simulated seconds an exposure may take at most: exposure, readout, filter move, 30 s."""
        instrument = self.instrument
        return exposure_s + instrument.readout_s + instrument.filter_move_s + 30.0

    def _refused(self, message: str) -> CommandRefused:
        return CommandRefused(f"{self.device}: {message}", device=self.device, code=BAD_ARGUMENT)

    @abstractmethod
    def status(self) -> CameraState:
        """The camera's state (no lease needed)."""

    @abstractmethod
    def wait_for_frame(
        self, frame_id: str, *, exposure_s: float = 0.0, timeout_s: float | None = None
    ) -> Frame:
        """Wait until frame ``frame_id`` is written; DeviceError if it ends without a frame."""

    @abstractmethod
    def _expose(self, args: dict[str, Any]) -> None: ...

    @abstractmethod
    def _abort(self) -> CameraState: ...


class FilterWheel(Controller):
    """A camera's filter wheel (refuses filters the instrument does not have)."""

    config: SiteConfig

    @property
    def filters(self) -> list[str]:
        """The wheel's filters, in slot order (from the configuration)."""
        return list(instrument_of(self.config, self.device).filters)

    def set_filter(
        self, name: str, *, wait: bool = True, timeout_s: float | None = None
    ) -> str | None:
        """Move to filter ``name``; returns the filter in place (None while the camera does not
        report one).

        Raises
        ------
        CommandRefused
            ``unknown_filter`` when the wheel has no such filter.
        """
        if name not in self.filters:
            raise CommandRefused(
                f"{self.device}: unknown filter {name!r}; the wheel holds "
                f"{', '.join(repr(f) for f in self.filters)}",
                device=self.device,
                code="unknown_filter",
            )
        self._require_lease("SET_FILTER")
        self._set_filter(name)
        return self.wait_until_idle(timeout_s) if wait else name

    @abstractmethod
    def current(self) -> str | None:
        """The filter in place (None while unknown)."""

    @abstractmethod
    def wait_until_idle(self, timeout_s: float | None = None) -> str | None:
        """Wait until the wheel stops; returns the filter in place."""

    @abstractmethod
    def _set_filter(self, name: str) -> None: ...


class GatewayCamera(GatewayController, Camera):
    """A camera driven through its gateway."""

    def __init__(self, link: GatewayLink, *, config: SiteConfig, clock: Clock) -> None:
        super().__init__(link, config=config, clock=clock)
        instrument_of(config, self.device)  # fail early on a camera nobody configured
        self._wheel: GatewayFilterWheel | None = None

    @property
    def filter_wheel(self) -> GatewayFilterWheel:
        """The camera's filter wheel (same gateway connection, same lease)."""
        if self._wheel is None:
            self._wheel = GatewayFilterWheel(self._link, config=self.config, clock=self.clock)
        return self._wheel

    def status(self) -> CameraState:
        return CameraState.from_fields(self._status_fields(), self.device)

    def wait_for_frame(
        self, frame_id: str, *, exposure_s: float = 0.0, timeout_s: float | None = None
    ) -> Frame:
        def finished(fields: dict[str, Any]) -> bool:
            state = CameraState.from_fields(fields, self.device)
            # Our exposure still running comes first: ``last_frame`` may hold an older frame of
            # the same id (a frame taken again after an interruption).
            ours = (state.exposure or {}).get("frame_id") == frame_id
            return not (ours and state.busy)

        timeout = self.default_timeout_s(exposure_s) if timeout_s is None else timeout_s
        state = CameraState.from_fields(
            self._wait_for(finished, f"exposure {frame_id}", timeout), self.device
        )
        if state.last_frame is not None and state.last_frame.frame_id == frame_id:
            return state.last_frame
        raise DeviceError(
            f"{self.device}: exposure {frame_id} ended without a frame (aborted or failed; "
            f"camera {state.activity.value})",
            device=self.device,
            code="no_frame",
        )

    def _expose(self, args: dict[str, Any]) -> None:
        self._control("EXPOSE", args)

    def _abort(self) -> CameraState:
        fields = self._control("ABORT")
        return CameraState.from_fields(fields, self.device) if "state" in fields else self.status()


class GatewayFilterWheel(GatewayController, FilterWheel):
    """A filter wheel driven through its camera's gateway."""

    def current(self) -> str | None:
        return CameraState.from_fields(self._status_fields(), self.device).filter

    def wait_until_idle(self, timeout_s: float | None = None) -> str | None:
        instrument = instrument_of(self.config, self.device)
        timeout = instrument.filter_move_s * len(instrument.filters) + 30.0
        fields = self._wait_for(
            lambda f: (
                CameraState.from_fields(f, self.device).activity is not CameraActivity.MOVING_FILTER
            ),
            "filter move",
            timeout if timeout_s is None else timeout_s,
        )
        return CameraState.from_fields(fields, self.device).filter

    def _set_filter(self, name: str) -> None:
        self._control("SET_FILTER", {"filter": name})
