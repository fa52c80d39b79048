"""Real simulators on free loopback ports under a simulated clock, with real gateways in front
of them: the rig of the simulator and monitor tests, and of the safety benchmark.

Frames are small (the real renderer, small sizes); device timeouts are short (wall seconds) so
failure paths stay quick.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devices.client import NdjsonClient
from devices.controllers.link import GatewayLink, LinkSettings
from devices.gateway import Gateway, GatewayTiming
from infra.clock import SimulatedClock, set_clock
from infra.config import DEFAULT_CONFIG_PATH, SiteConfig, parse_config
from simulators.scenario import Scenario
from simulators.simulator_run import SimulatorRun

#: A dark, moonless instant at San Pedro Mártir (new moon 2026-12-09).
NIGHT = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
DEVICES = ("mount", "camera_vis", "camera_nir", "plc", "dome")
#: Device timeout of the test gateways (wall seconds): a silent device costs this much per call.
DEVICE_TIMEOUT_S = 1.0
LINK = LinkSettings(
    timeout_s=DEVICE_TIMEOUT_S + 2.0,
    claim_wait_s=0.5,
    heartbeat_s=0.1,
    poll_interval_s=0.005,
    min_wait_s=2.0,
    reconnect_initial_s=0.02,
    reconnect_max_s=0.2,
)


def site_config(
    *, frame_px: int = 64, sections: dict[str, dict[str, Any]] | None = None, **instrument: Any
) -> SiteConfig:
    """The default site with small frames, short device timeouts and overrides (validated).

    ``sections`` updates whole sections (``{"dome": {"open_s": 2.0}}``); ``instrument`` keys
    update every ``[[instruments]]`` entry (``readout_s=0.5``).
    """
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for entry in data["instruments"]:
        entry.update(width=frame_px, height=frame_px, **instrument)
    for name in DEVICES:
        data["devices"][name]["timeout_s"] = DEVICE_TIMEOUT_S
    for section, values in (sections or {}).items():
        data.setdefault(section, {}).update(values)
    return parse_config(data, "test-simulators")


@dataclass
class Rig:
    """Running simulators (and gateways) for one test."""

    run: SimulatorRun
    clock: SimulatedClock
    config: SiteConfig
    gateways: dict[str, Gateway] = field(default_factory=dict)
    _clients: list[NdjsonClient] = field(default_factory=list)
    _links: list[GatewayLink] = field(default_factory=list)

    @property
    def observatory(self):
        return self.run.observatory

    def device(self, name: str, timeout_s: float = 5.0) -> NdjsonClient:
        """A client straight to the simulator (no gateway)."""
        host, port = self.observatory.devices[name].address
        client = NdjsonClient(host, port, name=name, timeout_s=timeout_s).start()
        self._clients.append(client)
        return client

    def gateway(self, name: str, timeout_s: float = DEVICE_TIMEOUT_S + 2.0) -> NdjsonClient:
        """A client of the device's gateway."""
        host, port = self.gateways[name].address
        client = NdjsonClient(host, port, name=f"gateway-{name}", timeout_s=timeout_s).start()
        self._clients.append(client)
        return client

    def link(self, name: str) -> GatewayLink:
        """A controller link to the device's gateway."""
        link = GatewayLink(name, *self.gateways[name].address, LINK)
        self._links.append(link)
        return link

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for link in self._links:
            link.close()
        for gateway in self.gateways.values():
            gateway.stop()
        self.run.stop()


def start_rig(
    directory: Path,
    *,
    speed: float = 60.0,
    config: SiteConfig | None = None,
    scenario: Scenario | None = None,
    gateways: tuple[str, ...] = (),
    start: datetime = NIGHT,
    journal: bool = False,
) -> Rig:
    """Simulators on free ports under a simulated clock (injected as the process clock), with
    gateways for the devices named in ``gateways``; frames and run files under ``directory``."""
    config = config or site_config()
    clock = SimulatedClock(start, speed, wall_epoch=time.time())
    set_clock(clock)
    run = SimulatorRun(
        scenario,
        config=config,
        clock=clock,
        run_dir=Path(directory) / "home" / "run",
        frames_dir=Path(directory) / "frames",
        ports=dict.fromkeys(DEVICES, 0),
        journal=journal,
    )
    rig = Rig(run, clock, config)
    run.start()
    for name in gateways:
        rig.gateways[name] = Gateway(
            name,
            upstream=run.observatory.devices[name].address,
            listen=("127.0.0.1", 0),
            timing=GatewayTiming(
                device_timeout_s=DEVICE_TIMEOUT_S,
                lease_ttl_s=5.0,
                reconnect_initial_s=0.02,
                reconnect_max_s=0.2,
                health_poll_s=0.0,
            ),
            clock=clock,
        ).start()
    return rig
