"""Manual actions on the telescope's devices: park, goto, a manual exposure, PLC switches, the
dome-flat lamp (the PLC's switch or the light panel of ``[devices.lamp]``).

Each takes its device's lease at operator priority for the action and releases it after
(:func:`~tasks.control.lease.run_manual`): a routine sequence in the way is preempted; safety or
an alert holding the device refuses the action, naming the holder. The dome is not here: it has
one authority, the environment monitor, which operators *ask* (:mod:`tasks.control.night`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.commands import SWITCH_NAMES
from devices.controllers.camera import GatewayCamera, ImageType
from devices.controllers.lamp import Lamp
from devices.controllers.mount import Mount, MountState
from devices.controllers.plc import Plc
from infra.journal import JournalTarget
from tasks.control.lease import ManualResult, Operator, run_manual
from tasks.night.images import sha256_of

#: Most frames one manual exposure run takes (a longer series is a request's job).
MAX_MANUAL_FRAMES = 100


def _position(state: MountState) -> dict[str, Any]:
    return {
        "mount_state": state.motion.value,
        "ra_deg": state.ra_deg,
        "dec_deg": state.dec_deg,
        "alt_deg": state.alt_deg,
        "tracking": state.tracking,
    }


def park(mount: Mount, who: Operator, *, into: JournalTarget | None = None) -> ManualResult:
    """Park the mount (tracking stops) and wait until it is parked.

    Parameters
    ----------
    mount : Mount
        The mount's controller.
    who : Operator
        Who asks and why.
    into : JournalTarget, optional
        Where the journal entry goes (default: the process database).

    Raises
    ------
    ManualRefused
        Safety or an alert holds the mount (the message names the holder).
    """

    def body() -> tuple[str, dict[str, Any]]:
        mount.park()
        state = mount.wait_until_idle()
        return f"mount parked ({state.motion.value})", _position(state)

    return run_manual("park", who, mount, body, into=into)


def goto(
    mount: Mount,
    who: Operator,
    ra_deg: float,
    dec_deg: float,
    *,
    into: JournalTarget | None = None,
) -> ManualResult:
    """Slew to an ICRS position (degrees), track it, and wait until the slew ends.

    Raises
    ------
    ManualRefused
        The mount controller's check (out of range, below the horizon limit now: its message),
        or safety or an alert holds the mount.
    """

    def body() -> tuple[str, dict[str, Any]]:
        mount.goto(ra_deg, dec_deg)
        state = mount.wait_until_idle()
        message = f"mount at RA {ra_deg % 360.0:.4f}° Dec {dec_deg:+.4f}°, tracking"
        return message, _position(state)

    target = {"target_ra_deg": ra_deg, "target_dec_deg": dec_deg}
    return run_manual("goto", who, mount, body, asked=target, into=into)


@dataclass(frozen=True)
class ExposureSpec:
    """A manual exposure: ``count`` frames of ``exposure_s`` seconds through ``filter_name``
    (empty: the filter in place) of type ``image_type``.

    Raises
    ------
    ValueError
        A count outside 1..MAX_MANUAL_FRAMES, a negative time or an unknown image type.
    """

    exposure_s: float
    count: int = 1
    filter_name: str = ""
    image_type: str = ImageType.LIGHT.value

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_MANUAL_FRAMES:
            raise ValueError(f"count {self.count} is not in 1..{MAX_MANUAL_FRAMES}")
        if not self.exposure_s >= 0:
            raise ValueError(f"exposure time {self.exposure_s!r} s must be >= 0")
        known = [t.value for t in ImageType]
        if self.image_type not in known:
            raise ValueError(f"image type {self.image_type!r} is not one of {', '.join(known)}")


def manual_frames_dir(frames_dir: Path, night: str) -> Path:
    """Where manual frames go: ``<frames>/<night>/manual/`` (beside ``calibration/``)."""
    return Path(frames_dir) / night / "manual"


def _frame_name(camera: str, spec: ExposureSpec, filter_name: str, at: datetime, n: int) -> str:
    label = f"{camera}-manual-{spec.image_type}-{filter_name or 'none'}"
    return f"{label}-{at:%Y%m%dT%H%M%S}-{n:03d}".replace(" ", "_").replace("/", "_")


def expose(
    camera: GatewayCamera,
    who: Operator,
    spec: ExposureSpec,
    directory: Path,
    *,
    into: JournalTarget | None = None,
) -> ManualResult:
    """Take ``spec.count`` frames with ``camera`` (its filter wheel first), written atomically
    by the camera into ``directory`` as calibration frames are; files only, no image row (a
    manual frame belongs to no request).

    Raises
    ------
    ManualRefused
        An unknown filter or a bad time (the controller's message), or safety or an alert holds
        the camera (an alert's reflex taking it mid-series ends the series; the frames already
        written stay on disk).
    """
    instrument = camera.instrument.name

    def body() -> tuple[str, dict[str, Any]]:
        in_place = camera.filter_wheel.current()
        if spec.filter_name and spec.filter_name != in_place:
            in_place = camera.filter_wheel.set_filter(spec.filter_name)
        directory.mkdir(parents=True, exist_ok=True)
        frames = []
        for n in range(1, spec.count + 1):
            name = _frame_name(instrument, spec, in_place or "", camera.clock.now(), n)
            path = directory / f"{name}.fits"
            camera.expose(spec.exposure_s, spec.image_type, frame_id=name, path=path)
            digest, size = sha256_of(path)
            frames.append({"path": str(path), "sha256": digest, "size_bytes": size})
        message = (
            f"{len(frames)} {spec.image_type} frame(s) of {spec.exposure_s:g} s with "
            f"{instrument} ({in_place or 'no filter'}) in {directory}"
        )
        return message, {"filter": in_place, "frames": frames}

    asked = {
        "camera": instrument,
        "exposure_s": spec.exposure_s,
        "count": spec.count,
        "filter_asked": spec.filter_name,
        "image_type": spec.image_type,
    }
    return run_manual("expose", who, camera, body, asked=asked, into=into)


def switch(
    plc: Plc, who: Operator, name: str, on: bool, *, into: JournalTarget | None = None
) -> ManualResult:
    """Turn PLC switch ``name`` (``lights``, ``calibration_lamp``, ``outlet_1`` ..
    ``outlet_8``) on or off; the switch keeps its state after the lease is released.

    Raises
    ------
    ValueError
        An unknown switch (before anything is claimed).
    ManualRefused
        Safety or an alert holds the PLC.
    """
    if name not in SWITCH_NAMES:
        raise ValueError(f"unknown switch {name!r} (known: {', '.join(SWITCH_NAMES)})")

    def body() -> tuple[str, dict[str, Any]]:
        states = plc.switch(name, on)
        return f"{name} {'on' if states.get(name) else 'off'}", {"switches": states}

    return run_manual("switch", who, plc, body, asked={"switch": name, "on": on}, into=into)


def calibration_lamp(
    lamp: Plc | Lamp, who: Operator, on: bool, *, into: JournalTarget | None = None
) -> ManualResult:
    """Turn the dome-flat lamp on or off: the PLC's ``calibration_lamp`` switch or the light
    panel, whichever :func:`devices.controllers.connect_flat_lamp` gave; it stays so after the
    lease is released.

    Raises
    ------
    ManualRefused
        Safety or an alert holds the lamp's device.
    """

    def body() -> tuple[str, dict[str, Any]]:
        lamp.calibration_lamp(on)
        return f"calibration lamp {'on' if on else 'off'} ({lamp.device})", {"lamp": lamp.device}

    asked = {"switch": "calibration_lamp", "on": on}
    return run_manual("switch", who, lamp, body, asked=asked, into=into)
