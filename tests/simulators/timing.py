"""Measuring how long a simulated operation takes, in simulated time, from outside the device.

The operation starts somewhere between sending the command and receiving its accepted reply; it
ends after the last status poll that still showed it under way was *sent*, and before the first
poll that shows it over was *answered*. Every instant is read from the clock, so the measured
interval ``[lo, hi]`` contains the true duration whatever the wall latencies — a stalled test
process widens the interval, it never shifts it. The checks then require the whole interval to
lie within 2 % of the configured duration: a device that takes the wrong time fails, a measurement
too blurred to tell is repeated (it is not a pass).

In these tests the client and the simulators share one process, hence one GIL: a frame render
starting right after the accepted reply would delay the client's reading of it by the interpreter's
5 ms thread switch interval per hand-over (up to a simulated second at 60×). The measurement lowers
the switch interval while it polls; in production the gateway is another process.
"""

from __future__ import annotations

import sys
import time
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
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        return _measure(client, clock, name, args, done, timeout_s)
    finally:
        sys.setswitchinterval(switch)


def _measure(client, clock, name, args, done, timeout_s) -> Measured:
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
    attempt: Callable[[], tuple[Measured, float]], *, tries: int = 5
) -> tuple[Measured, float]:
    """Measure until the interval decides, then require the duration within 2 %.

    ``attempt()`` makes one measurement and returns it with the duration the configuration
    gives for it. An interval inside the ±2 % band passes; one entirely outside fails at once (the
    device took the wrong time); one straddling an edge cannot tell (the test process stalled
    while polling) and is measured again.
    """
    for _ in range(tries):
        measured, expected = attempt()
        low, high = expected * (1 - TOLERANCE), expected * (1 + TOLERANCE)
        if measured.within(expected):
            return measured, expected
        assert measured.hi >= low and measured.lo <= high, (
            f"duration {measured.lo:.4f}..{measured.hi:.4f} s is not within 2 % of {expected:.4f} s"
        )
    raise AssertionError(
        f"{tries} measurements could not decide (last {measured.lo:.4f}..{measured.hi:.4f} s "
        f"for {expected:.4f} s): the test process is stalled too often"
    )
