"""Measuring how long a simulated operation takes, in simulated time, from outside the device.

The operation starts somewhere between sending the command and receiving its accepted reply; it
ends after the last status poll that still showed it under way was *sent*, and before the first
poll that shows it over was *answered*. Every instant is read from the clock, so the measured
interval ``[lo, hi]`` contains the true duration whatever the wall latencies — a stalled test
process widens the interval, it never shifts it. The checks then require the whole interval to
lie within 2 % of the configured duration: a device that takes the wrong time fails, a measurement
too blurred to tell is repeated (it is not a pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.client import NdjsonClient
from infra.clock import Clock

TOLERANCE = 0.02


@dataclass(frozen=True)
class Measured:
    """A duration known to lie in ``[lo, hi]`` (simulated seconds)."""

    lo: float
    hi: float

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def within(self, expected: float, tolerance: float = TOLERANCE) -> bool:
        return expected * (1 - tolerance) <= self.lo and self.hi <= expected * (1 + tolerance)


def measure(
    client: NdjsonClient,
    clock: Clock,
    name: str,
    args: dict[str, Any] | None,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 60.0,
) -> Measured:
    """Start command ``name`` and poll ``STATUS`` (no pause) until ``done(status)``."""
    import time

    sent = clock.now()
    reply = client.call(name, args)
    answered = clock.now()
    assert not done(reply), f"{name} was over at once: {reply}"
    last_sent = sent
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        poll_sent = clock.now()
        status = client.call("STATUS")
        poll_answered = clock.now()
        if done(status):
            return Measured(
                (last_sent - answered).total_seconds(), (poll_answered - sent).total_seconds()
            )
        last_sent = poll_sent
    raise AssertionError(f"{name} not over within {timeout_s} s (wall)")


def assert_duration(
    attempt: Callable[[], tuple[Measured, float]], *, tries: int = 4
) -> tuple[Measured, float]:
    """Measure until the interval is sharp enough to decide, then require it within 2 %.

    ``attempt()`` makes one measurement and returns it with the duration the configuration
    gives for it. A measurement whose interval is wider than the tolerance band cannot tell (a
    stall of the test process); it is repeated. One whose interval is sharp decides: inside the
    band passes, outside fails at once.
    """
    measured, expected = attempt()
    for _ in range(tries - 1):
        if measured.width <= 2 * TOLERANCE * expected:
            break
        measured, expected = attempt()
    band = 2 * TOLERANCE * expected
    assert measured.width <= band, f"measurement too blurred to decide: {measured} ({expected} s)"
    assert measured.within(expected), (
        f"duration {measured.lo:.4f}..{measured.hi:.4f} s is not within 2 % of {expected:.4f} s"
    )
    return measured, expected
