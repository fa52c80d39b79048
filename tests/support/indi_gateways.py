"""Gateways in front of INDI's simulators, and controllers on them (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devices.client import ConnectionHooks
from devices.controllers import (
    GatewayCamera,
    GatewayDome,
    GatewayLamp,
    GatewayMount,
    GatewayPlc,
    GatewayWeatherStation,
)
from devices.controllers.base import GatewayController
from devices.controllers.link import GatewayLink, LinkSettings
from devices.gateway import Gateway, GatewayTiming
from devices.gateway.gateway import DeviceLink
from devices.indi.upstream import IndiUpstream
from infra.clock import Clock, SystemClock
from infra.config import SiteConfig

LINK = LinkSettings(
    timeout_s=10.0,
    claim_wait_s=0.5,
    heartbeat_s=0.2,
    poll_interval_s=0.05,
    min_wait_s=2.0,
    reconnect_initial_s=0.02,
    reconnect_max_s=0.2,
)
CONTROLLERS: dict[str, type[GatewayController]] = {
    "mount": GatewayMount,
    "dome": GatewayDome,
    "camera_vis": GatewayCamera,
    "plc": GatewayPlc,
    "lamp": GatewayLamp,
    "weather": GatewayWeatherStation,
}


def indi_gateway(
    device: str,
    config: SiteConfig,
    frames_dir: Path,
    timeout_s: float = 5.0,
    clock: Clock | None = None,
) -> Gateway:
    """A started gateway for ``device`` on a free port, speaking INDI to its device (its
    timestamps from ``clock``: the system clock by default)."""
    endpoint = config.devices.configured()[device]
    clock = clock or SystemClock()

    def link(hooks: ConnectionHooks) -> DeviceLink:
        return IndiUpstream(
            device,
            endpoint,
            config=config,
            clock=clock,
            timeout_s=timeout_s,
            hooks=hooks,
            frames_dir=frames_dir,
        )

    timing = GatewayTiming(device_timeout_s=timeout_s, lease_ttl_s=5.0, health_poll_s=0.0)
    return Gateway(
        device,
        upstream=(endpoint.host, endpoint.port),
        listen=("127.0.0.1", 0),
        timing=timing,
        clock=clock,
        link=link,
    ).start()


@contextmanager
def indi_devices(
    config: SiteConfig,
    frames_dir: Path,
    names: tuple[str, ...] = ("mount", "dome", "camera_vis", "plc"),
) -> Iterator[tuple[dict[str, Gateway], Any]]:
    """Gateways for ``names`` and a factory of controllers on them; all stopped at the end."""
    gateways = {name: indi_gateway(name, config, frames_dir) for name in names}
    made: list[GatewayController] = []

    def controller(name: str) -> Any:
        gateway = gateways[name]
        link = GatewayLink(name, *gateway.address, LINK)
        made.append(CONTROLLERS[name](link, config=config, clock=SystemClock()))
        return made[-1]

    try:
        yield gateways, controller
    finally:
        for made_controller in made:
            made_controller.disconnect()
        for gateway in gateways.values():
            gateway.stop()
