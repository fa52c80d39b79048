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
