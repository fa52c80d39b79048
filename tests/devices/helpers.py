"""Helpers of the device tests."""

from __future__ import annotations

from devices.astrometry import radec_deg
from infra.clock import get_clock
from infra.config import get_config


def sky_position(alt_deg: float = 60.0, az_deg: float = 180.0) -> tuple[float, float]:
    """ICRS (RA, Dec) at the given altitude and azimuth now, at the configured site."""
    return radec_deg(alt_deg, az_deg, get_clock().now(), get_config().site)


def site_toml(device_ports: dict[str, int], gateway_ports: dict[str, int]) -> str:
    """The bundled site file with other device endpoints and gateway ports (free ones in tests)."""
    import re

    from infra.config import DEFAULT_CONFIG_PATH

    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for name, port in device_ports.items():
        text = re.sub(
            rf"(\[devices\.{name}\]\nhost = \"[^\"]*\"\nport = )\d+", rf"\g<1>{port}", text
        )
    for name, port in gateway_ports.items():
        text = re.sub(rf"(\[gateways\.ports\][^\[]*?\n{name} = )\d+", rf"\g<1>{port}", text)
    return text
