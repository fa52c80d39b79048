"""A site file whose stack (Prefect server, simulators, gateways) listens on free ports, so a test
or benchmark stack never meets a running one."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


def write_site_with_free_ports(path: Path, frame_px: int | None = 64) -> StackPorts:
    """Write the bundled site file to ``path`` with free ports (and ``frame_px`` frames, unless
    None); returns the ports."""
    ports = StackPorts(
        free_port(),
        {name: free_port() for name in DEVICES},
        {name: free_port() for name in DEVICES},
    )
    site = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        "prefect_port = 4200", f"prefect_port = {ports.prefect}"
    )
    for name, default in zip(DEVICES, range(5000, 5005), strict=True):
        section = f'[devices.{name}]\nhost = "127.0.0.1"\nport = '
        site = site.replace(f"{section}{default}", f"{section}{ports.devices[name]}")
        site = site.replace(f"{name} = {default + 100}\n", f"{name} = {ports.gateways[name]}\n")
    if frame_px is not None:
        site = re.sub(r"(?m)^(width|height) = \d+", rf"\g<1> = {frame_px}", site)
    path.write_text(site, encoding="utf-8")
    return ports
