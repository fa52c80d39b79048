"""Fixtures of the device tests: fake devices, gateways in front of them, and controllers.

Everything runs over real loopback sockets on free ports, with short (wall) timeouts so that
failure paths stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.controllers.base import GatewayController
from devices.controllers.link import GatewayLink, LinkSettings
from devices.gateway import Gateway, GatewayTiming
from infra.clock import SystemClock
from infra.config import get_config
from tests.support.controllers import CONTROLLERS
from tests.support.fake_device import FakeDevice

#: Timings of test links (wall seconds): short, so failure paths are quick.
TEST_LINK = LinkSettings(
    timeout_s=5.0,
    claim_wait_s=0.5,
    heartbeat_s=0.1,
    poll_interval_s=0.01,
    min_wait_s=2.0,
    reconnect_initial_s=0.02,
    reconnect_max_s=0.2,
)
#: Generous: two test workers and other jobs share two cores; a short device timeout is given
#: explicitly where a test needs one.
DEVICE_TIMEOUT_S = 3.0


@pytest.fixture
def fake_device(tmp_path) -> Iterator[Callable[..., FakeDevice]]:
    """Start fake devices (``fake_device("mount")``); all stopped at the end."""
    started: list[FakeDevice] = []

    def make(kind: str, **kwargs: Any) -> FakeDevice:
        kwargs.setdefault("frames_dir", tmp_path / "frames")
        device = FakeDevice(kind, **kwargs).start()
        started.append(device)
        return device

    yield make
    for device in started:
        device.stop()


@pytest.fixture
def gateway_for() -> Iterator[Callable[..., Gateway]]:
    """Start a gateway in front of a fake device (``gateway_for("mount", fake)``; ``port``: a
    given one, as a gateway restarted by its supervisor)."""
    started: list[Gateway] = []

    def make(
        device: str, fake: FakeDevice, queue: Any = None, port: int = 0, **timings: float
    ) -> Gateway:
        timing = GatewayTiming(
            **{
                "device_timeout_s": DEVICE_TIMEOUT_S,
                "lease_ttl_s": 5.0,
                "reconnect_initial_s": 0.02,
                "reconnect_max_s": 0.2,
                "health_poll_s": 0.0,
                **timings,
            }
        )
        gateway = Gateway(
            device,
            upstream=("127.0.0.1", fake.port),
            listen=("127.0.0.1", port),
            timing=timing,
            queue=queue,
        ).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def controller_for() -> Iterator[Callable[..., Any]]:
    """A controller on its own link to a gateway (``controller_for(gateway)``)."""
    made: list[GatewayController] = []

    def make(gateway: Gateway, settings: LinkSettings = TEST_LINK, clock=None) -> Any:
        link = GatewayLink(gateway.device, *gateway.address, settings)
        kind = CONTROLLERS[gateway.device]
        controller = kind(link, config=get_config(), clock=clock or SystemClock())
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.disconnect()


@pytest.fixture
def mount_setup(fake_device, gateway_for, controller_for):
    """A fake mount, its gateway, and a factory of mount controllers."""
    fake = fake_device("mount")
    gateway = gateway_for("mount", fake)
    return fake, gateway, lambda **kw: controller_for(gateway, **kw)
