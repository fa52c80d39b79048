"""A site file whose stack (Prefect server, simulators, gateways) listens on free ports, so a test
or benchmark stack never meets a running one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import DEFAULT_CONFIG_PATH
from tests.support.ports import free_port

DEVICES = ("mount", "camera_vis", "camera_nir", "plc", "dome")


@dataclass(frozen=True)
class StackPorts:
    """The ports a stack of this site file uses."""

    prefect: int
    devices: dict[str, int]
    gateways: dict[str, int]
    #: The alert intake: Comet receive and broadcast, the local Kafka broker.
    alerts: dict[str, int] = field(default_factory=dict)
    #: The image previews server ([controlroom] previews_port).
    previews: int = 0


def write_site_with_free_ports(path: Path, frame_px: int | None = 64) -> StackPorts:
    """Write the bundled site file to ``path`` with free ports (and ``frame_px`` frames, unless
    None); returns the ports."""
    ports = StackPorts(
        free_port(),
        {name: free_port() for name in DEVICES},
        {name: free_port() for name in DEVICES},
        {name: free_port() for name in ("receive", "broadcast", "kafka")},
        free_port(),
    )
    site = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        "prefect_port = 4200", f"prefect_port = {ports.prefect}"
    )
    for name, default in zip(DEVICES, range(5000, 5005), strict=True):
        section = f'[devices.{name}]\nhost = "127.0.0.1"\nport = '
        site = site.replace(f"{section}{default}", f"{section}{ports.devices[name]}")
        site = site.replace(f"{name} = {default + 100}\n", f"{name} = {ports.gateways[name]}\n")
    site = with_alert_ports(site, ports.alerts)
    site = re.sub(r"(?m)^previews_port = \d+", f"previews_port = {ports.previews}", site)
    if frame_px is not None:
        site = re.sub(r"(?m)^(width|height) = \d+", rf"\g<1> = {frame_px}", site)
    path.write_text(site, encoding="utf-8")
    return ports


def with_alert_ports(site: str, ports: dict[str, int]) -> str:
    """The site file's text with the alert intake on ``ports`` (``receive``, ``broadcast``,
    ``kafka``): the Comet broker (the scenario's alerts go to it: no ``alert_broker_port``)
    and the local Kafka broker."""
    receive, broadcast, kafka = ports["receive"], ports["broadcast"], ports["kafka"]
    site = re.sub(r"(?m)^receive_port = \d+", f"receive_port = {receive}", site)
    site = re.sub(r"(?m)^broadcast_port = \d+", f"broadcast_port = {broadcast}", site)
    return re.sub(r"(?m)^local_broker_port = \d+", f"local_broker_port = {kafka}", site)
