"""Waiting for a condition in tests, by polling, up to a deadline.

The bound is a deadline for a condition (a requirement such as "within 5 s"), not a speed
measurement: the figures themselves come from the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], object], timeout_s: float = 10.0, step_s: float = 0.05
) -> bool:
    """Call ``predicate`` every ``step_s`` until it is truthy; after ``timeout_s``, whether it is
    truthy at a last call. Exceptions propagate; the caller asserts the result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())


def eventually(
    check: Callable[[], T],
    *,
    within_s: float,
    what: str,
    every_s: float = 0.01,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> T:
    """Call ``check`` until it returns a truthy value, which is returned; fail (AssertionError
    naming ``what`` and the last value or exception) after ``within_s``.

    An exception of ``retry_on`` means "not yet" (``()``: every exception propagates).
    """
    deadline = time.monotonic() + within_s
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except retry_on as exc:  # the condition is not met yet
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within_s} s (last: {last!r})")
        time.sleep(every_s)
