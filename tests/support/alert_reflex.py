"""The alert reflex's rig: fake mount, cameras and dome behind real gateways, and an alert
listener (with its reflex) deciding on a real database under a clock at the synthetic Swift
notice's issue time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from devices.controllers import GatewayCamera, GatewayDome, GatewayMount
from infra.clock import Clock, parse_clock
from infra.config import load_config
from infra.db import session_scope
from infra.db.models import JournalEntry
from infra.writebehind import WriteBehindQueue
from tasks.alerts.parse import issued_at_hint
from tasks.night.devices import NightDevices
from tests.support.fake_device import FakeDevice
from tests.support.voevents import SYNTHETIC
from watchers.alerts.listener import AlertListener
from watchers.alerts.reflex import AlertReflex
from watchers.alerts.spool import Spool

NIR = ["J", "H", "Dark"]
INSTRUMENTS = {"Visible camera": "camera_vis", "Infrared camera": "camera_nir"}


def alert_clock(speed: float = 1.0) -> Clock:
    """A simulated clock at the synthetic notice's issue time (it is observable then)."""
    return parse_clock(f"sim:{issued_at_hint(SYNTHETIC):%Y-%m-%dT%H:%M:%S}Z@{speed:g}")


@dataclass
class ReflexSite:
    """Fake devices behind gateways, and a factory of controllers on their own links."""

    fakes: dict[str, FakeDevice]
    make: Callable[..., Any]  # controller_for
    gateways: dict[str, Any]

    def controllers(self, clock: Clock) -> tuple[GatewayMount, dict[str, GatewayCamera]]:
        mount = self.make(self.gateways["mount"], clock=clock)
        cameras = {name: self.make(self.gateways[dev], clock=clock)
                   for name, dev in INSTRUMENTS.items()}  # fmt: skip
        return mount, cameras

    def night_devices(self, clock: Clock) -> NightDevices:
        mount, cameras = self.controllers(clock)
        dome: GatewayDome = self.make(self.gateways["dome"], clock=clock)
        return NightDevices(mount, cameras, dome)


def reflex_site(fake_device, gateway_for, controller_for, time_scale: float = 1.0) -> ReflexSite:
    """Start the fake devices (camera exposures last ``time_scale`` × their length, wall)."""
    fakes = {
        "mount": fake_device("mount"),
        "camera_vis": fake_device("camera", time_scale=time_scale),
        "camera_nir": fake_device("camera", filters=NIR, time_scale=time_scale),
        "dome": fake_device("dome"),
    }
    gateways = {name: gateway_for(name, fake) for name, fake in fakes.items()}
    return ReflexSite(fakes, controller_for, gateways)


def reflex_listener(
    spool_dir: Path, engine: Engine, site: ReflexSite, clock: Clock | None = None
) -> tuple[AlertListener, AlertReflex]:
    """A listener with its reflex on its own controllers."""
    clock = clock or alert_clock()
    mount, cameras = site.controllers(clock)
    reflex = AlertReflex(mount, cameras)
    queue = WriteBehindQueue(lambda: engine, maxsize=100)
    listener = AlertListener(Spool(spool_dir), load_config(), clock, lambda: engine, queue,
                             reflex=reflex)  # fmt: skip
    return listener, reflex


def deliver(listener: AlertListener, raw: bytes = SYNTHETIC) -> None:
    """Spool and decide one packet now."""
    entry = listener.receive(raw, "comet")
    assert entry is not None and listener.decide(entry)


def journaled_events(engine: Engine, name: str) -> list[dict[str, Any]]:
    """The journaled events called ``name``, in order."""
    with session_scope(engine) as session:
        rows = session.scalars(select(JournalEntry).where(JournalEntry.kind == "event")).all()
        return [r.payload for r in rows if r.payload["event"] == name]
