"""Calibration frames taken with the cameras: the acquisition the night and ``calibrate`` use.

Bias and dark frames need only the camera. Twilight flats also point the mount at the
flat-field spot (on the meridian, ``FLAT_ALTITUDE_DEG`` high, where the twilight sky is most
uniform) and move it by ``dither_arcsec`` between frames so that stars fall on different pixels
(the median combine then removes them). Dome flats switch the site's flat lamp on for the set and
off after it: the light panel when ``[devices.lamp]`` is configured, the PLC's
``calibration_lamp`` switch otherwise (:func:`devices.controllers.connect_flat_lamp` chooses;
the acquisition sees only a :class:`~devices.controllers.lamp.FlatLamp`). Every device is
claimed at routine priority: an alert or the safety reflex preempting it makes the set fail
(recorded by the calibration module), never the night.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from devices.controllers import Priority, connect_camera, connect_flat_lamp, connect_mount
from devices.controllers.base import GatewayController
from devices.controllers.camera import GatewayCamera
from devices.controllers.lamp import FlatLamp
from devices.controllers.mount import Mount
from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.journal import night_label
from infra.settings import load_settings
from tasks.calibration.acquisition import Acquire, AcquisitionRequest, adapted_flat_exposure
from tasks.calibration.frames import central_window
from tasks.sky import as_time

#: Altitude of the twilight flat-field spot on the meridian (degrees).
FLAT_ALTITUDE_DEG = 75.0


def flat_field_spot(clock: Clock, config: SiteConfig) -> tuple[float, float]:
    """RA and Dec (degrees) of the twilight flat-field spot now: on the meridian, at
    ``FLAT_ALTITUDE_DEG``, on the side of the pole away from the horizon."""
    now = as_time(clock.now())
    lst = now.sidereal_time("mean", longitude=config.site.longitude_deg * u.deg).deg
    latitude = config.site.latitude_deg
    zenith_distance = 90.0 - FLAT_ALTITUDE_DEG
    dec = latitude - zenith_distance if latitude >= 0 else latitude + zenith_distance
    return float(lst) % 360.0, float(dec)


def dither_offset(index: int, step_arcsec: float) -> tuple[float, float]:
    """Offset (degrees, RA and Dec) of flat ``index`` (0-based) on a 3×3 spiral of ``step``."""
    pattern = [(0, 0), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
    dx, dy = pattern[index % len(pattern)]
    scale = step_arcsec / 3600.0
    return dx * scale, dy * scale


class CameraAcquisition:
    """Takes the frames of an :class:`AcquisitionRequest` with the cameras.

    Parameters
    ----------
    cameras : mapping of str to GatewayCamera
        Camera controllers (each with its filter wheel) by instrument name.
    owner : str
        Lease owner (the flow run).
    clock : Clock
        The one clock.
    config : SiteConfig
        The site.
    frames_dir : Path
        Root of the frames; calibration frames go to ``<frames>/<night>/calibration/``.
    night : str
        Night label (the directory).
    mount : Mount, optional
        Needed for twilight flats.
    lamp : FlatLamp, optional
        Needed for dome flats: the PLC (its ``calibration_lamp`` switch) or a light panel.
    """

    def __init__(
        self,
        cameras: Mapping[str, GatewayCamera],
        owner: str,
        clock: Clock,
        config: SiteConfig,
        frames_dir: Path,
        night: str,
        *,
        mount: Mount | None = None,
        lamp: FlatLamp | None = None,
    ) -> None:
        self.cameras, self.owner, self.clock, self.config = cameras, owner, clock, config
        self.directory = Path(frames_dir) / night / "calibration"
        self.mount, self.lamp = mount, lamp

    def __call__(self, request: AcquisitionRequest) -> Sequence[Path]:
        """Take ``request.count`` frames; their paths, in order.

        Raises
        ------
        ValueError
            An unknown camera, or a flat set whose device (mount, lamp) is not available.
        DeviceProblem
            Any device trouble (the calibration module records it as a failed build).
        """
        camera = self.cameras.get(request.camera)
        if camera is None:
            raise ValueError(f"no camera controller for {request.camera!r}")
        twilight = request.kind == "flat" and request.flat_source == "twilight"
        dome = request.kind == "flat" and request.flat_source == "dome"
        mount = self.mount if twilight else None
        lamp = self.lamp if dome else None
        if twilight and mount is None:
            raise ValueError("twilight flats need the mount (to point at the flat-field spot)")
        if dome and lamp is None:
            raise ValueError("dome flats need the calibration lamp (the PLC's or a light panel)")
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            stack.enter_context(camera.claim(self.owner, Priority.ROUTINE))
            if request.kind == "flat":
                camera.filter_wheel.set_filter(request.filter)
            if mount is not None:
                stack.enter_context(mount.claim(self.owner, Priority.ROUTINE))
            if lamp is not None:
                stack.enter_context(lamp.claim(self.owner, Priority.ROUTINE))
                lamp.calibration_lamp(True)
                stack.callback(_lamp_off, lamp)
            return self._take(camera, request, mount)

    def _take(
        self, camera: GatewayCamera, request: AcquisitionRequest, mount: Mount | None
    ) -> list[Path]:
        """The frames of ``request``; with a mount (twilight flats), each one dithered on the
        flat-field spot."""
        spot = flat_field_spot(self.clock, self.config) if mount is not None else None
        instrument = self.config.instrument(request.camera)
        exposure = 0.0 if request.kind == "bias" else request.exposure_s
        paths = []
        for index in range(request.count):
            if mount is not None and spot is not None:
                dra, ddec = dither_offset(index, request.dither_arcsec)
                cos_dec = max(math.cos(math.radians(spot[1])), 1e-3)
                mount.goto(spot[0] + dra / cos_dec, spot[1] + ddec, wait=True)
            path = self._one(camera, request, index, exposure)
            paths.append(path)
            if request.kind == "flat" and instrument is not None:
                # Each flat sets the next one's exposure (the sky fades, the lamp is unknown).
                exposure = adapted_flat_exposure(
                    exposure, central_level(path), instrument, self.config
                )
        return paths

    def _one(
        self, camera: GatewayCamera, request: AcquisitionRequest, index: int, exposure: float
    ) -> Path:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S")
        label = f"{request.camera}-{request.kind}-{request.filter or 'none'}"
        name = f"{label}-{stamp}-{index + 1:03d}".replace(" ", "_").replace("/", "_")
        path = self.directory / f"{name}.fits"
        camera.expose(exposure, request.kind, frame_id=name, path=path)
        return path


def central_level(path: Path) -> tuple[float, float | None] | None:
    """Median ADU of the frame's central window (the level a flat is judged by) and its
    ``SATURATE`` card (None: absent); None when the frame cannot be read (the master's build
    then rejects it with the reason)."""
    try:
        with fits.open(path, memmap=False) as hdul:
            data, header = hdul[0].data, hdul[0].header
            if data is None or data.ndim != 2:
                return None
            rows, columns = central_window(data.shape)
            saturate = header.get("SATURATE")
            return float(np.median(data[rows, columns])), (
                float(saturate) if isinstance(saturate, int | float) else None
            )
    except (OSError, ValueError):
        return None


def _lamp_off(lamp: FlatLamp) -> None:
    with contextlib.suppress(Exception):  # the lease may be gone; its new holder switches it
        lamp.calibration_lamp(False)


def gateway_acquisition(
    owner: str,
    night: str | None = None,
    *,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
) -> Acquire:
    """The acquisition of this installation: each request connects, through the gateways, to
    its camera (and the mount for twilight flats, the flat lamp for dome flats: the light panel
    when configured, else the PLC), takes the frames and disconnects."""

    def acquire(request: AcquisitionRequest) -> Sequence[Path]:
        site, now_clock = config or get_config(), clock or get_clock()
        label = night or night_label(now_clock.now(), site.site.longitude_deg)
        if site.instrument(request.camera) is None:
            raise ValueError(f"camera {request.camera!r} is not an instrument")
        camera = connect_camera(request.camera, site, clock=now_clock)
        controllers: list[GatewayController | FlatLamp] = [camera]
        mount, lamp = None, None
        try:
            if request.kind == "flat" and request.flat_source == "twilight":
                mount = connect_mount(site, clock=now_clock)
                controllers.append(mount)
            if request.kind == "flat" and request.flat_source == "dome":
                lamp = connect_flat_lamp(site, clock=now_clock)
                controllers.append(lamp)
            take = CameraAcquisition(
                {request.camera: camera},
                owner,
                now_clock,
                site,
                load_settings().frames_dir,
                label,
                mount=mount,
                lamp=lamp,
            )
            return take(request)
        finally:
            for controller in controllers:
                controller.disconnect()

    return acquire


def default_acquisition(owner: str = "calibrate", night: str | None = None) -> Acquire:
    """The acquisition callable of this installation: the cameras through their gateways
    (:func:`gateway_acquisition`)."""
    return gateway_acquisition(owner, night)
