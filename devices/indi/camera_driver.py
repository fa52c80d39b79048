"""An INDI CCD and its filter wheel as a PyROS camera (the commands as INDI round trips; see
:mod:`devices.indi.drivers`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from devices.errors import BAD_ARGUMENT, BUSY, DeviceError, DeviceProblem
from devices.indi import translate
from devices.indi.drivers import IndiDriver
from devices.indi.frames import FrameCards, store_frame
from devices.indi.link import Blob
from infra.clock import format_instant
from infra.config import SiteConfig
from infra.files import default_frame_path

log = logging.getLogger(__name__)


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


def _instrument(config: SiteConfig, device: str) -> Any:
    for instrument in config.instruments:
        if instrument.device == device:
            return instrument
    raise ValueError(f"no [[instruments]] entry uses device {device!r}")
