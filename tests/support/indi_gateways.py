"""Gateways in front of INDI's simulators, and controllers on them (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devices.client import ConnectionHooks
from devices.controllers.base import GatewayController
from devices.controllers.link import GatewayLink, LinkSettings
from devices.errors import DeviceDisconnected
from devices.gateway import Gateway, GatewayTiming
from devices.gateway.gateway import DeviceLink
from devices.indi.upstream import IndiUpstream
from infra.clock import Clock, SystemClock
from infra.config import SiteConfig
from tests.support.controllers import CONTROLLERS
from tests.support.indi import IndiServer
from tests.support.waiting import wait_until

LINK = LinkSettings(
    timeout_s=10.0,
    claim_wait_s=0.5,
    heartbeat_s=0.2,
    poll_interval_s=0.05,
    min_wait_s=2.0,
    reconnect_initial_s=0.02,
    reconnect_max_s=0.2,
)


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


def assert_lost_when_the_server_stops(
    server: IndiServer, gateway: Gateway, read: Callable[[], object]
) -> None:
    """Stop the INDI ``server``: within 10 s ``gateway``'s health reads down with the link
    lost, and ``read()`` (a controller's ``status``) raises DeviceDisconnected."""
    health = gateway.health
    server.stop()
    wait_until(lambda: health.snapshot()["state"] == "down", 10, 0.05)
    snapshot = health.snapshot()
    assert snapshot["state"] == "down" and "lost" in snapshot["last_error"]
    with pytest.raises(DeviceDisconnected):
        read()
