"""The devices a night run drives, connected once per run through the gateways."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from devices.controllers import Priority, connect_camera, connect_dome, connect_mount
from devices.controllers.base import Controller, GatewayView, LeaseInfo
from devices.controllers.camera import CameraActivity, CameraState, GatewayCamera
from devices.controllers.dome import DomeState, GatewayDome, ShutterState
from devices.controllers.mount import GatewayMount, MountMotion, MountState
from devices.errors import DeviceProblem
from infra.clock import Clock
from infra.config import SiteConfig
from tasks.night.device_health import DeviceHealth, DeviceRole, classify, night_blocker
from tasks.night.execute import Telescope
from tasks.night.state_reader import DeviceView

#: One ``STATUS`` read: the device reports a fault, the gateway's view, the state in words.
StatusRead = tuple[bool, GatewayView | None, str]


def mount_state_words(state: MountState) -> str:
    """``tracking at RA 83.633°, Dec +22.015°`` (the position when the mount reports one)."""
    words = state.motion.value.replace("_", " ")
    if state.ra_deg is not None and state.dec_deg is not None:
        words += f" at RA {state.ra_deg:.3f}°, Dec {state.dec_deg:+.3f}°"
    return words


def camera_state_words(state: CameraState) -> str:
    """``exposing, filter r`` (the filter when the camera reports one)."""
    words = state.activity.value.replace("_", " ")
    return f"{words}, filter {state.filter}" if state.filter else words


def dome_state_words(state: DomeState) -> str:
    """``open (100 %)`` (the opening when the dome reports it)."""
    words = state.shutter.value.replace("_", " ")
    return f"{words} ({state.open_percent:g} %)" if state.open_percent is not None else words


@dataclass
class NightDevices:
    """Mount, cameras (by instrument name) and the dome (read only: the monitor moves it)."""

    mount: GatewayMount
    cameras: dict[str, GatewayCamera]
    dome: GatewayDome
    #: The mount's lease as its last ``STATUS`` reported it (who holds the telescope).
    _mount_lease: LeaseInfo | None = field(default=None, init=False, repr=False)

    @property
    def telescope(self) -> Telescope:
        """What a sequence runs on."""
        return Telescope(self.mount, self.cameras)

    def view(self) -> DeviceView:
        """The dome's shutter and each device's health, as the night policy sees them: only a
        lost mount or dome (or every camera lost) is trouble for the whole night (#24)."""
        problems = []
        dome_open, dome_view, dome_words = False, None, ""
        try:
            dome = self.dome.status()
            dome_open, dome_view = dome.shutter == ShutterState.OPEN, dome.gateway
            dome_words = dome_state_words(dome)
        except DeviceProblem as problem:
            problems.append(f"dome: {problem}")
        health = (
            _health_of(self.mount, DeviceRole.MOUNT, self._mount_status),
            _health_of(self.dome, DeviceRole.DOME, lambda: (False, dome_view, dome_words)),
            *(
                _health_of(camera, DeviceRole.CAMERA, _camera_status(camera), instrument)
                for instrument, camera in self.cameras.items()
            ),
        )
        blocker = night_blocker(health)
        if blocker is not None:
            problems.append(blocker.describe())
        lease, holder = self._mount_lease, ""
        if lease is not None and lease.priority is Priority.ALERT:
            holder = lease.owner or ""  # the reflex or the follow-up flow (#18)
        return DeviceView(
            dome_open=dome_open,
            ok=not problems,
            problem="; ".join(problems),
            health=health,
            alert_holder=holder,
        )

    def _mount_status(self) -> StatusRead:
        self._mount_lease = None
        state = self.mount.status()
        self._mount_lease = state.gateway.lease if state.gateway is not None else None
        return state.motion == MountMotion.FAULT, state.gateway, mount_state_words(state)

    def close(self) -> None:
        """Release every lease and connection."""
        for controller in (self.mount, *self.cameras.values(), self.dome):
            controller.disconnect()


def _health_of(
    controller: Controller,
    role: DeviceRole,
    read: Callable[[], StatusRead],
    instrument: str | None = None,
) -> DeviceHealth:
    """One device's health from its gateway: ``read()`` gives (the device reports a fault, the
    gateway's view, the device's state in words) from one ``STATUS``; without it, ``HEALTH``
    alone (lost when the gateway does not answer either)."""
    faulted, report, holder, words = False, None, "", ""
    try:
        faulted, view, words = read()
        if view is not None:
            report, holder = view.health, _holder(view.lease)
    except DeviceProblem:
        pass  # the device does not answer through its gateway: its health says why
    if report is None:
        try:
            report = controller.health()
        except DeviceProblem as problem:
            return classify(
                controller.device, role, None, problem=str(problem), instrument=instrument
            )
    fault = f"{controller.device} reports a fault" if faulted else ""
    health = classify(controller.device, role, report, fault=fault, instrument=instrument)
    return replace(health, lease_holder=holder, state=words)


def _holder(lease: LeaseInfo) -> str:
    """``<owner> (<priority>)``, or ``""`` when nobody holds the lease."""
    if not lease.owner:
        return ""
    return f"{lease.owner} ({lease.priority.label})" if lease.priority is not None else lease.owner


def _camera_status(camera: GatewayCamera) -> Callable[[], StatusRead]:
    def read() -> StatusRead:
        state = camera.status()
        return state.activity == CameraActivity.FAULT, state.gateway, camera_state_words(state)

    return read


def connect_night_devices(config: SiteConfig, clock: Clock) -> NightDevices:
    """Connect to every gateway the night needs."""
    return NightDevices(
        mount=connect_mount(config, clock=clock),
        cameras={i.name: connect_camera(i.name, config, clock=clock) for i in config.instruments},
        dome=connect_dome(config, clock=clock),
    )
