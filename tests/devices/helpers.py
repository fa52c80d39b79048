"""Helpers of the device tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from devices.astrometry import radec_deg
from infra.clock import get_clock
from infra.config import get_config

T = TypeVar("T")


def sky_position(alt_deg: float = 60.0, az_deg: float = 180.0) -> tuple[float, float]:
    """ICRS (RA, Dec) at the given altitude and azimuth now, at the configured site."""
    return radec_deg(alt_deg, az_deg, get_clock().now(), get_config().site)


def eventually(check: Callable[[], T], *, within_s: float, what: str, every_s: float = 0.01) -> T:
    """Call ``check`` until it returns a truthy value or raises nothing; fail after ``within_s``.

    The bound is a deadline for a condition (a requirement such as "within 5 s"), not a speed
    measurement: the figures themselves come from the benchmarks.
    """
    deadline = time.monotonic() + within_s
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the condition is not met yet
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within_s} s (last: {last!r})")
        time.sleep(every_s)


def free_port() -> int:
    """A port nobody listens on right now (bind 0, then release it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
