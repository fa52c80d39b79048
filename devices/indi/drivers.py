"""PyROS device commands carried out on INDI devices, one class per kind of device.

Each command is a sequence of INDI round trips on :class:`~devices.indi.link.IndiLink`: send new
property values, wait for the driver to take them (its next update of that property, ``Busy`` or
``Ok``), fail with the driver's message when it answers ``Alert``. Replies are the same fields the
simulators give (:mod:`devices.indi.translate`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from devices.errors import BAD_ARGUMENT, BUSY, DeviceError, DeviceProblem, DeviceTimeout
from devices.indi import translate
from devices.indi.frames import FrameCards, store_frame
from devices.indi.link import Blob, IndiLink, Vector
from infra.clock import Clock, format_instant
from infra.config import Endpoint, SiteConfig
from infra.files import default_frame_path

log = logging.getLogger(__name__)

#: Property states that show a driver took new values.
TAKEN = ("Busy", "Ok", "Alert")


class IndiDriver:
    """The common part: one INDI device, connected on demand, and its round trips.

    ``main`` is the property a connected device defines that the driver cannot do without.

    Parameters
    ----------
    device : str
        PyROS device name.
    endpoint : Endpoint
        ``[devices.<device>]`` (``indi_device`` and the camera options).
    link : IndiLink
        The INDI connection.
    config : SiteConfig
        The site.
    clock : Clock
        For timestamps.
    timeout_s : float
        Wall seconds a driver has to answer one round trip.
    """

    def __init__(
        self,
        device: str,
        endpoint: Endpoint,
        link: IndiLink,
        config: SiteConfig,
        clock: Clock,
        timeout_s: float,
    ) -> None:
        self.device = device
        self.indi = str(endpoint.indi_device)
        self.endpoint = endpoint
        self.link = link
        self.config = config
        self.clock = clock
        self.timeout_s = timeout_s
        self._ready_generation = -1  # the server connection the device was set up on

    main = "CONNECTION"

    def indi_devices(self) -> list[str]:
        """The INDI devices this driver uses."""
        return [self.indi]

    # ------------------------------------------------------------------ round trips
    def round_trip(
        self, name: str, members: dict[str, Any], *, device: str | None = None
    ) -> Vector:
        """Send ``members`` of property ``name`` and return the driver's answer.

        Raises
        ------
        DeviceError
            The driver answered Alert (its message says why).
        DeviceTimeout, DeviceDisconnected
            No answer in time, or no server.
        """
        target = device or self.indi
        before = self.link.send(target, name, members)
        answer = self.link.wait_update(
            target, name, before, self.timeout_s, lambda v: v.state in TAKEN
        )
        if answer.state == "Alert":
            why = answer.message or "no message"
            raise DeviceError(f"{self.device}: INDI {target!r} refused {name}: {why}")
        return answer

    def wait_rest(self, name: str, timeout: float, *, device: str | None = None) -> Vector:
        """Wait until property ``name`` is no longer Busy."""
        target = device or self.indi
        current = self.link.require(target, name)
        if current.state != "Busy":
            return current
        return self.link.wait_update(
            target, name, current.seq, timeout, lambda v: v.state != "Busy"
        )

    def ping(self) -> None:
        """One round trip to the driver (``CONNECTION``: CONNECT again, a no-op that it answers)."""
        self.ready()
        self.round_trip("CONNECTION", {"CONNECT": "On"})

    def ready(self) -> None:
        """Connect the INDI device(s) when they are not (after each server connection, or after
        a driver restart), then :meth:`configure` them."""
        generation = self.link.generation
        connected = True
        for device in self.indi_devices():
            connection = self._defined(device)
            if connection.on("CONNECT") and connection.state != "Alert":
                continue
            connected = False
            self.round_trip("CONNECTION", {"CONNECT": "On"}, device=device)
            self.link.wait_update(
                device, "CONNECTION", 0, self.timeout_s,
                lambda v: v.on("CONNECT") and v.state != "Busy",
            )  # fmt: skip
        if connected and self._ready_generation == generation:
            return
        for device, name in self.needs():
            if self.link.vector(device, name) is None:  # defined once the device is connected
                self.link.wait_update(device, name, 0, self.timeout_s)
        self.configure()
        self._ready_generation = generation

    def needs(self) -> list[tuple[str, str]]:
        """The (device, property) pairs PyROS uses, that a connected device defines."""
        return [(self.indi, self.main)]

    def _defined(self, device: str) -> Vector:
        """The device's ``CONNECTION``, waiting for the server to define it (just connected)."""
        connection = self.link.vector(device, "CONNECTION")
        if connection is not None:
            return connection
        self.link.require_server()
        try:
            return self.link.wait_update(device, "CONNECTION", 0, self.timeout_s)
        except DeviceTimeout:
            raise DeviceError(
                f"{self.device}: the INDI server {self.link.host}:{self.link.port} has no device "
                f"{device!r} (not defined within {self.timeout_s:g} s)",
                device=self.device,
            ) from None

    def configure(self) -> None:
        """Set what PyROS needs on the device once connected (nothing by default)."""

    def vectors(self) -> dict[str, Vector]:
        return self.link.vectors(self.indi)

    # ------------------------------------------------------------------ commands
    def execute(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Carry out PyROS command ``name``; returns the reply fields."""
        self.ready()
        if name == "STATUS":
            self.round_trip("CONNECTION", {"CONNECT": "On"})
            return self.status()
        handler = getattr(self, f"cmd_{name.lower()}", None)
        if handler is None:
            raise DeviceError(f"{self.device}: {name} is not available on an INDI device")
        result: dict[str, Any] = handler(**args)
        return result

    def status(self) -> dict[str, Any]:
        raise NotImplementedError


class MountDriver(IndiDriver):
    """An INDI telescope: unpark, goto (track), abort, park, tracking."""

    main = "EQUATORIAL_EOD_COORD"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._target: tuple[float, float] | None = None
        self._stopped = False  # aborted: not tracking until told to move again

    def status(self) -> dict[str, Any]:
        return translate.mount_status(
            self.vectors(), self.clock.now(), self.config.site, self._target, self._stopped
        )

    def _unpark(self) -> None:
        park = self.link.vector(self.indi, "TELESCOPE_PARK")
        if park is not None and park.on("PARK"):
            self.wait_rest("TELESCOPE_PARK", self.timeout_s * 10)
            self.round_trip("TELESCOPE_PARK", {"UNPARK": "On"})
            self.wait_rest("TELESCOPE_PARK", self.timeout_s)

    def cmd_goto(self, ra_deg: float, dec_deg: float) -> dict[str, Any]:
        self._stopped = False
        self._unpark()
        mode = self.link.vector(self.indi, "ON_COORD_SET")
        if mode is not None and not mode.on("TRACK"):
            self.round_trip("ON_COORD_SET", {"TRACK": "On"})
        members = translate.goto_members(ra_deg, dec_deg, self.clock.now())
        self._target = (ra_deg % 360.0, dec_deg)
        self.round_trip("EQUATORIAL_EOD_COORD", members)
        return self.status()

    def cmd_park(self) -> dict[str, Any]:
        self._stopped = False
        self._target = None
        self.round_trip("TELESCOPE_PARK", {"PARK": "On"})
        return self.status()

    def cmd_abort(self) -> dict[str, Any]:
        # PyROS's abort stops tracking too, as INDI's does (INDI's telescope simulator updates
        # TELESCOPE_TRACK_STATE a moment later, or not at all): a still-tracking state is told to
        # stop, without waiting for an answer it may never send, and shown idle meanwhile.
        self.round_trip("TELESCOPE_ABORT_MOTION", {"ABORT": "On"})
        track = self.link.vector(self.indi, "TELESCOPE_TRACK_STATE")
        if track is not None and track.on("TRACK_ON"):
            self.link.send(self.indi, "TELESCOPE_TRACK_STATE", {"TRACK_OFF": "On"})
        self._stopped = True
        self._target = None
        return self.status()

    def cmd_tracking(self, on: bool) -> dict[str, Any]:
        self._stopped = False
        self._unpark()
        self.round_trip("TELESCOPE_TRACK_STATE", {"TRACK_ON" if on else "TRACK_OFF": "On"})
        return self.status()


class DomeDriver(IndiDriver):
    """An INDI dome: the shutter opens (unparking first), closes (then parks), aborts."""

    main = "DOME_SHUTTER"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopped = False

    def status(self) -> dict[str, Any]:
        return translate.dome_status(self.vectors(), self._stopped)

    def cmd_open(self) -> dict[str, Any]:
        park = self.link.vector(self.indi, "DOME_PARK")
        if park is not None and park.on("PARK"):
            self.wait_rest("DOME_PARK", self.timeout_s * 10)
            self.round_trip("DOME_PARK", {"UNPARK": "On"})
        self._stopped = False
        self.round_trip("DOME_SHUTTER", {"SHUTTER_OPEN": "On"})
        return self.status()

    def cmd_close(self) -> dict[str, Any]:
        self._stopped = False
        self.round_trip("DOME_SHUTTER", {"SHUTTER_CLOSE": "On"})
        park = self.link.vector(self.indi, "DOME_PARK")
        if park is not None and not park.on("PARK"):
            self.round_trip("DOME_PARK", {"PARK": "On"})
        return self.status()

    def cmd_abort(self) -> dict[str, Any]:
        shutter = self.link.vector(self.indi, "DOME_SHUTTER")
        moving = shutter is not None and shutter.state == "Busy"
        self.round_trip("DOME_ABORT_MOTION", {"ABORT": "On"})
        self._stopped = self._stopped or moving
        return self.status()


@dataclass
class _Exposure:
    frame_id: str
    path: Path
    exposure_s: float
    image_type: str
    filter: str | None
    started_at: datetime
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "frame_id": self.frame_id,
            "exposure_s": self.exposure_s,
            "image_type": self.image_type,
            "started_at": format_instant(self.started_at),
            "path": str(self.path),
        }


class CameraDriver(IndiDriver):
    """An INDI CCD and its filter wheel (the CCD's own ``FILTER_SLOT`` or ``indi_wheel``).

    The frame comes as a FITS BLOB; it is written (PyROS's headers merged, atomically) by a worker
    thread, never on the INDI client's thread, where the exposure said (or under
    ``frames_dir/<device>/<UTC date>/``). An aborted exposure leaves no file.
    """

    def __init__(self, *args: Any, frames_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters = list(_instrument(self.config, self.device).filters)
        self.wheel = self.endpoint.indi_wheel or self.indi
        self.frames_dir = frames_dir
        self._lock = threading.Lock()
        self._exposure: _Exposure | None = None
        self._last_frame: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.link.on_blob(self._blob)

    main = "CCD_EXPOSURE"

    def indi_devices(self) -> list[str]:
        return list(dict.fromkeys([self.indi, self.wheel]))

    def needs(self) -> list[tuple[str, str]]:
        return [(self.indi, self.main), (self.wheel, "FILTER_SLOT")]

    def configure(self) -> None:
        binning = float(self.endpoint.indi_binning)
        current = self.link.vector(self.indi, "CCD_BINNING")
        if current is not None and current.number("HOR_BIN") != binning:
            self.round_trip("CCD_BINNING", {"HOR_BIN": binning, "VER_BIN": binning})
        info = self.link.vector(self.indi, "CCD_INFO")
        if info is not None and self.link.vector(self.indi, "CCD_FRAME") is not None:
            width, height = info.number("CCD_MAX_X"), info.number("CCD_MAX_Y")
            if width and height:
                full = {"X": 0.0, "Y": 0.0, "WIDTH": width, "HEIGHT": height}
                self.round_trip("CCD_FRAME", full)
        if self.endpoint.indi_temperature_c is not None:
            target = {"CCD_TEMPERATURE_VALUE": self.endpoint.indi_temperature_c}
            self.round_trip("CCD_TEMPERATURE", target)

    def status(self) -> dict[str, Any]:
        vectors = self.vectors()
        wheel = self.link.vector(self.wheel, "FILTER_SLOT")
        with self._lock:
            exposure, last = self._exposure, self._last_frame
        activity = translate.camera_activity(
            vectors.get("CCD_EXPOSURE"), wheel, exposure is not None
        )
        temperature = vectors.get("CCD_TEMPERATURE")
        binning = vectors.get("CCD_BINNING")
        return {
            "state": activity,
            "filter": translate.filter_name(
                self.filters, wheel.number("FILTER_SLOT_VALUE") if wheel else None
            ),
            "filters": list(self.filters),
            "exposure": exposure.describe() if exposure is not None else None,
            "last_frame": dict(last) if last else None,
            "temperature_c": temperature.number("CCD_TEMPERATURE_VALUE") if temperature else None,
            "binning": binning.number("HOR_BIN") if binning else None,
            "last_error": self.last_error,
        }

    def cmd_set_filter(self, filter: str) -> dict[str, Any]:
        try:
            slot = translate.filter_slot(self.filters, filter)
        except ValueError as exc:
            raise DeviceError(f"{self.device}: {exc}", code=BAD_ARGUMENT) from None
        with self._lock:
            if self._exposure is not None:
                raise DeviceError(f"{self.device}: SET_FILTER refused while exposing", code=BUSY)
        wheel = self.link.require(self.wheel, "FILTER_SLOT")
        if wheel.number("FILTER_SLOT_VALUE") != slot or wheel.state == "Busy":
            self.round_trip("FILTER_SLOT", {"FILTER_SLOT_VALUE": float(slot)}, device=self.wheel)
        return self.status()

    def cmd_expose(
        self,
        exposure_s: float,
        image_type: str,
        frame_id: str | None = None,
        path: str | None = None,
    ) -> dict[str, Any]:
        if path is not None and not PurePath(path).is_absolute():
            raise DeviceError(
                f"{self.device}: EXPOSE refused: path {path!r} must be absolute", code=BAD_ARGUMENT
            )
        now = self.clock.now()
        frame_id = frame_id or f"{self.device}-{now:%Y%m%dT%H%M%S%f}"
        target = (
            Path(path)
            if path is not None
            else default_frame_path(self.frames_dir, self.device, frame_id, now)
        )
        current = self.link.require(self.indi, "CCD_EXPOSURE")
        kind = translate.FRAME_TYPES[image_type]
        frame_type = self.link.vector(self.indi, "CCD_FRAME_TYPE")
        wheel = self.link.vector(self.wheel, "FILTER_SLOT")
        slot = wheel.number("FILTER_SLOT_VALUE") if wheel else None
        in_beam = translate.filter_name(self.filters, slot)
        exposure = _Exposure(frame_id, target, exposure_s, image_type, in_beam, now)
        with self._lock:
            if self._exposure is not None or current.state == "Busy":
                raise DeviceError(f"{self.device}: EXPOSE refused while exposing", code=BUSY)
            self._exposure = exposure
            self.last_error = None
        try:
            if frame_type is not None and not frame_type.on(kind):
                self.round_trip("CCD_FRAME_TYPE", {kind: "On"})
            seconds = max(exposure_s, translate.MIN_EXPOSURE_S)
            self.round_trip("CCD_EXPOSURE", {"CCD_EXPOSURE_VALUE": seconds})
        except DeviceProblem:
            with self._lock:
                if self._exposure is exposure:
                    self._exposure = None
            raise
        return {**self.status(), "frame_id": frame_id, "path": str(target)}

    def cmd_abort(self) -> dict[str, Any]:
        with self._lock:
            self._exposure = None
        current = self.link.vector(self.indi, "CCD_EXPOSURE")
        if current is not None and current.state == "Busy":
            self.round_trip("CCD_ABORT_EXPOSURE", {"ABORT": "On"})
        return self.status()

    # ------------------------------------------------------------------ frames
    def _blob(self, blob: Blob) -> None:
        if blob.device != self.indi:
            return
        with self._lock:
            exposure = self._exposure
        if exposure is None:
            log.info(
                "%s: a frame came with no exposure waiting for it (aborted): dropped", self.device
            )
            return
        threading.Thread(
            target=self._store, args=(exposure, blob.data), name=f"indi-{self.device}-frame",
            daemon=True,
        ).start()  # fmt: skip

    def _store(self, exposure: _Exposure, data: bytes) -> None:
        cards = FrameCards(
            frame_id=exposure.frame_id,
            image_type=exposure.image_type,
            exposure_s=exposure.exposure_s,
            filter=exposure.filter,
            instrument=_instrument(self.config, self.device).name,
            telescope=self.config.site.name.upper(),
            started_at=exposure.started_at,
        )
        try:
            stored = store_frame(exposure.path, data, cards)
        except (DeviceProblem, OSError) as exc:
            message = f"{self.device}: frame {exposure.frame_id} not stored: {exc}"
            log.error("%s", message)
            with self._lock:
                self.last_error = message
                if self._exposure is exposure:
                    self._exposure = None
            return
        with self._lock:
            if self._exposure is not exposure:  # aborted meanwhile: no file
                with contextlib.suppress(FileNotFoundError):
                    exposure.path.unlink()
                return
            self._last_frame = {
                **exposure.describe(),
                "filter": exposure.filter,
                "completed_at": format_instant(self.clock.now()),
                **stored,
            }
            self._exposure = None


class WeatherDriver(IndiDriver):
    """An INDI weather station answering as the PLC: ``STATUS`` in the seed's format."""

    main = "WEATHER_PARAMETERS"

    def status(self) -> dict[str, Any]:
        return translate.weather_status(
            self.vectors(),
            self.endpoint.indi_station,
            self.config.site.name,
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%S"),
        )


def _instrument(config: SiteConfig, device: str) -> Any:
    for instrument in config.instruments:
        if instrument.device == device:
            return instrument
    raise ValueError(f"no [[instruments]] entry uses device {device!r}")
