"""The planner's objective (written out in docs/scheduler.md).

Lexicographic by priority — a higher number is more important (DESIGN §5): first maximise the
time scheduled at the highest priority, then at the next, and so on; between schedules equal on
all of those, prefer the one whose sequences start closer to their preferred time. Equivalently,
maximise ``sum(duration * B ** priority)`` with ``B`` larger than any night in seconds (one more
second at priority p outweighs a whole night at every lower priority), then minimise
``sum(|start - t_prefered|)``. Priorities reach 100 (alerts), far beyond floating point for
``B ** priority``, so the objective is compared as a vector, and the scalar is only reported
relative to the highest priority present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: B: one more second than a day, so one second at priority p outweighs any night of lower ones.
PRIORITY_BASE = 86_401.0
#: Differences in scheduled seconds below this are equal (floating-point noise).
TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class Objective:
    """Scheduled seconds per priority, and the total distance to preferred start times."""

    seconds_by_priority: dict[int, float]
    preference_s: float = 0.0

    @property
    def top_priority(self) -> int | None:
        """Highest priority with scheduled time."""
        levels = [p for p, s in self.seconds_by_priority.items() if s > 0]
        return max(levels) if levels else None

    def weighted(self, relative_to: int | None = None, base: float = PRIORITY_BASE) -> float:
        """``sum(seconds * B ** (priority - relative_to))`` (default: the top priority present),
        in "seconds at the top priority"; lower priorities beyond float range count 0."""
        top = self.top_priority if relative_to is None else relative_to
        if top is None:
            return 0.0
        total = 0.0
        for priority, seconds in self.seconds_by_priority.items():
            exponent = priority - top
            if exponent > -60:
                total += seconds * base**exponent
        return total

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (schedule details)."""
        return {
            "seconds_by_priority": {
                str(p): round(s, 3) for p, s in sorted(self.seconds_by_priority.items())
            },
            "preference_s": round(self.preference_s, 3),
            "base": PRIORITY_BASE,
        }


def evaluate(
    priorities: Iterable[int],
    durations: Iterable[float],
    starts: Iterable[float] | None = None,
    preferred: Iterable[float | None] | None = None,
) -> Objective:
    """The objective of a set of scheduled sequences (one entry per scheduled sequence)."""
    seconds: dict[int, float] = {}
    for priority, duration in zip(priorities, durations, strict=True):
        seconds[int(priority)] = seconds.get(int(priority), 0.0) + float(duration)
    distance = 0.0
    if starts is not None and preferred is not None:
        for start, wanted in zip(starts, preferred, strict=True):
            if wanted is not None:
                distance += abs(start - wanted)
    return Objective(seconds, distance)


def compare(a: Objective, b: Objective) -> int:
    """1 if ``a`` is better than ``b``, -1 if worse, 0 if equal (lexicographic)."""
    levels = sorted(set(a.seconds_by_priority) | set(b.seconds_by_priority), reverse=True)
    for level in levels:
        diff = a.seconds_by_priority.get(level, 0.0) - b.seconds_by_priority.get(level, 0.0)
        if diff > TOLERANCE_S:
            return 1
        if diff < -TOLERANCE_S:
            return -1
    if a.preference_s < b.preference_s - TOLERANCE_S:
        return 1
    if a.preference_s > b.preference_s + TOLERANCE_S:
        return -1
    return 0


def weighted_time(
    priorities: Iterable[int], durations: Iterable[float], base: float = PRIORITY_BASE
) -> float:
    """``sum(duration * B ** priority)`` for small priority ranges (benchmarks: priorities 1-5)."""
    return sum(float(d) * base ** int(p) for p, d in zip(priorities, durations, strict=True))
