"""The devices a night run drives, connected once per run through the gateways."""

from __future__ import annotations

from dataclasses import dataclass

from devices.controllers import connect_camera, connect_dome, connect_mount
from devices.controllers.camera import GatewayCamera
from devices.controllers.dome import GatewayDome, ShutterState
from devices.controllers.mount import GatewayMount
from devices.errors import DeviceProblem
from infra.clock import Clock
from infra.config import SiteConfig
from tasks.night.execute import Telescope
from tasks.night.state_reader import DeviceView


@dataclass
class NightDevices:
    """Mount, cameras (by instrument name) and the dome (read only: the monitor moves it)."""

    mount: GatewayMount
    cameras: dict[str, GatewayCamera]
    dome: GatewayDome

    @property
    def telescope(self) -> Telescope:
        """What a sequence runs on."""
        return Telescope(self.mount, self.cameras)

    def view(self) -> DeviceView:
        """The dome's shutter and any device trouble, as the night policy sees them."""
        problems = []
        dome_open = False
        try:
            dome_open = self.dome.status().shutter == ShutterState.OPEN
        except DeviceProblem as problem:
            problems.append(f"dome: {problem}")
        for controller in (self.mount, *self.cameras.values()):
            try:
                health = controller.health()
                if not health.connected:
                    problems.append(f"{controller.device} not connected ({health.last_error})")
            except DeviceProblem as problem:
                problems.append(f"{controller.device}: {problem}")
        return DeviceView(dome_open=dome_open, ok=not problems, problem="; ".join(problems))

    def close(self) -> None:
        """Release every lease and connection."""
        for controller in (self.mount, *self.cameras.values(), self.dome):
            controller.disconnect()


def connect_night_devices(config: SiteConfig, clock: Clock) -> NightDevices:
    """Connect to every gateway the night needs."""
    return NightDevices(
        mount=connect_mount(config, clock=clock),
        cameras={i.name: connect_camera(i.name, config, clock=clock) for i in config.instruments},
        dome=connect_dome(config, clock=clock),
    )
