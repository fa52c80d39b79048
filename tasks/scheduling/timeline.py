"""The telescope's timeline: planned sequences one after another, never overlapping.

Blocks are kept sorted by start in parallel lists (a night holds tens of blocks, so list inserts
are cheap and scalar access is fast). Each block may slide between ``lo`` and ``hi``, its earliest
and latest start inside the observable stretch it sits in; the executing sequence is a fixed block
(``lo == hi == start``) that never moves.

Making room: to insert a block between blocks ``p - 1`` and ``p``, the blocks on the left may be
pushed left and those on the right pushed right, each within its own ``[lo, hi]`` and pushing its
neighbours in turn. How far that can go is summarised by two non-decreasing arrays — the earliest
possible end of block ``p - 1`` and the latest possible start of block ``p`` — recomputed in one
pass after each change, so that finding a place for a sequence is a bisection plus a scan of the
positions its window spans.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Tolerance on instants (seconds): floating-point noise, not a planning margin.
EPS = 1e-6
#: Above this many positions to scan, positions without any possible fit are skipped with one
#: vectorised test first (a crowded night has hundreds of blocks; most candidates fit nowhere).
SCAN_FILTER_FROM = 12


@dataclass(frozen=True)
class Slot:
    """Where a block can go: before block ``position``, starting at ``start``; ``shift`` is the
    total distance other blocks must slide to make room (0 when it fits in a gap)."""

    position: int
    start: float
    shift: float


class Timeline:
    """Non-overlapping blocks inside ``[begin, end]`` (fixed blocks may stick out)."""

    def __init__(self, begin: float, end: float) -> None:
        self.begin = begin
        self.end = end
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.items: list[int] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self._busy = 0.0
        self._rooms: tuple[list[float], list[float]] | None = None
        self._rooms_np: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[int, float, float]]:
        return iter(zip(self.items, self.starts, self.ends, strict=True))

    def __contains__(self, item: int) -> bool:
        return item in self.items

    def copy(self) -> Timeline:
        """An independent copy (for trying a change and undoing it)."""
        other = Timeline(self.begin, self.end)
        other.starts, other.ends = self.starts[:], self.ends[:]
        other.items, other.lo, other.hi = self.items[:], self.lo[:], self.hi[:]
        other._busy = self._busy
        return other

    @property
    def free_s(self) -> float:
        """Unoccupied time inside ``[begin, end]``."""
        return max(0.0, (self.end - self.begin) - self._busy)

    def _inside(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.end) - max(start, self.begin))

    def span(self, item: int) -> tuple[float, float]:
        """Current (start, end) of ``item``."""
        index = self.items.index(item)
        return self.starts[index], self.ends[index]

    def bounds(self, item: int) -> tuple[float, float]:
        """Current (lo, hi) sliding range of ``item``'s start."""
        index = self.items.index(item)
        return self.lo[index], self.hi[index]

    # -- changes --------------------------------------------------------------------------

    def _put(
        self, position: int, item: int, start: float, end: float, lo: float, hi: float
    ) -> None:
        self.starts.insert(position, start)
        self.ends.insert(position, end)
        self.items.insert(position, item)
        self.lo.insert(position, lo)
        self.hi.insert(position, hi)
        self._busy += self._inside(start, end)
        self._rooms = None
        self._rooms_np = None

    def add_fixed(self, item: int, start: float, end: float) -> None:
        """A block that never moves (the executing sequence); it must not overlap others."""
        position = bisect_left(self.starts, start)
        self._put(position, item, start, end, start, start)

    def insert(self, slot: Slot, item: int, duration: float, lo: float, hi: float) -> None:
        """Insert ``item`` at ``slot`` (from :meth:`find`), sliding neighbours as needed."""
        position, start = slot.position, slot.start
        limit = start
        index = position - 1
        while index >= 0 and self.ends[index] > limit + EPS:
            length = self.ends[index] - self.starts[index]
            self.ends[index] = limit
            self.starts[index] = limit - length
            limit = self.starts[index]
            index -= 1
        limit = start + duration
        index = position
        while index < len(self.items) and self.starts[index] < limit - EPS:
            length = self.ends[index] - self.starts[index]
            self.starts[index] = limit
            self.ends[index] = limit + length
            limit = self.ends[index]
            index += 1
        self._put(position, item, start, start + duration, lo, hi)

    def remove(self, item: int) -> tuple[float, float]:
        """Take ``item`` out; returns the (start, end) it had."""
        index = self.items.index(item)
        start, end = self.starts.pop(index), self.ends.pop(index)
        self.items.pop(index)
        self.lo.pop(index)
        self.hi.pop(index)
        self._busy -= self._inside(start, end)
        self._rooms = None
        self._rooms_np = None
        return start, end

    def set_bounds(self, item: int, lo: float, hi: float) -> None:
        """Change how far ``item`` may slide (its start must stay inside)."""
        index = self.items.index(item)
        self.lo[index], self.hi[index] = lo, hi
        self._rooms = None
        self._rooms_np = None

    def move(self, item: int, start: float) -> None:
        """Slide ``item`` to ``start`` (the caller checked its neighbours and bounds)."""
        index = self.items.index(item)
        length = self.ends[index] - self.starts[index]
        self.starts[index] = start
        self.ends[index] = start + length
        self._rooms = None
        self._rooms_np = None

    # -- queries --------------------------------------------------------------------------

    def _room_bounds(self) -> tuple[list[float], list[float]]:
        """(earliest end of block p - 1, latest start of block p) for p = 0..len."""
        if self._rooms is not None:
            return self._rooms
        count = len(self.items)
        earliest_end = [self.begin] * (count + 1)
        previous = float("-inf")
        for index in range(count):
            length = self.ends[index] - self.starts[index]
            previous = max(self.lo[index], previous) + length
            earliest_end[index + 1] = max(self.begin, previous)
        latest_start = [self.end] * (count + 1)
        following = float("inf")
        for index in range(count - 1, -1, -1):
            length = self.ends[index] - self.starts[index]
            following = min(self.hi[index], following - length)
            latest_start[index] = min(self.end, following)
        self._rooms = (earliest_end, latest_start)
        self._rooms_np = None
        return self._rooms

    def _possible_positions(
        self, low: int, high: int, first: float, last: float, duration: float
    ) -> range | list[int]:
        """Positions in ``[low, high]`` where the block could go, sliding allowed (a superset of
        those where it fits in a gap)."""
        if high - low < SCAN_FILTER_FROM:
            return range(low, high + 1)
        if self._rooms_np is None:
            earliest, latest = self._room_bounds()
            self._rooms_np = (np.asarray(earliest, dtype=float), np.asarray(latest, dtype=float))
        earliest_end, latest_start = self._rooms_np
        lo = np.maximum(first, earliest_end[low : high + 1])
        hi = np.minimum(last, latest_start[low : high + 1] - duration)
        return (low + np.flatnonzero(lo <= hi + EPS)).tolist()

    def find(
        self,
        feasible: list[tuple[float, float]],
        duration: float,
        preferred: float | None = None,
        *,
        shift: bool = True,
    ) -> Slot | None:
        """Where a block of ``duration`` starting inside one of ``feasible`` can go.

        A place in a gap always wins over one that needs sliding; among gaps, the start closest
        to ``preferred`` (the earliest when there is none); among slides, the smallest total
        slide, then the earliest. Deterministic.
        """
        if duration > self.free_s + EPS:
            return None
        earliest_end, latest_start = self._room_bounds()
        count = len(self.items)
        best: tuple[tuple[float, float], Slot] | None = None
        best_slide: tuple[tuple[float, float], Slot] | None = None
        for first, last in feasible:
            first = max(first, self.begin)
            last = min(last, self.end - duration)
            if first > last + EPS:
                continue
            low = bisect_left(latest_start, first + duration - EPS)
            high = bisect_right(earliest_end, last + EPS) - 1
            for position in self._possible_positions(low, high, first, last, duration):
                gap_start = self.ends[position - 1] if position else self.begin
                gap_start = max(gap_start, self.begin)
                gap_end = self.starts[position] if position < count else self.end
                gap_end = min(gap_end, self.end)
                lo, hi = max(first, gap_start), min(last, gap_end - duration)
                if lo <= hi + EPS:
                    if preferred is None:
                        return Slot(position, lo, 0.0)
                    start = min(max(preferred, lo), max(lo, hi))
                    key = (abs(start - preferred), start)
                    if best is None or key < best[0]:
                        best = (key, Slot(position, start, 0.0))
                    continue
                if not shift or best is not None:
                    continue
                lo = max(first, earliest_end[position])
                hi = min(last, latest_start[position] - duration)
                if lo > hi + EPS:
                    continue
                start = min(max(lo, gap_end - duration), max(lo, hi))
                slide = max(0.0, gap_start - start) + max(0.0, start + duration - gap_end)
                key = (slide, start)
                if best_slide is None or key < best_slide[0]:
                    best_slide = (key, Slot(position, start, slide))
        if best is not None:
            return best[1]
        return best_slide[1] if best_slide is not None else None

    def gaps(self, keep: Callable[[int], bool] | None = None) -> list[tuple[float, float]]:
        """Free stretches inside ``[begin, end]`` counting only the blocks ``keep`` accepts."""
        result = []
        cursor = self.begin
        for item, start, end in self:
            if keep is not None and not keep(item):
                continue
            if start > cursor + EPS:
                result.append((cursor, min(start, self.end)))
            cursor = max(cursor, end)
        if self.end > cursor + EPS:
            result.append((cursor, self.end))
        return [(a, b) for a, b in result if b > a + EPS]

    def overlapping(self, start: float, end: float) -> list[int]:
        """Items whose block overlaps ``(start, end)`` (touching ends do not count)."""
        index = max(0, bisect_right(self.starts, start) - 1)
        found = []
        while index < len(self.items) and self.starts[index] < end - EPS:
            if self.ends[index] > start + EPS:
                found.append(self.items[index])
            index += 1
        return found

    def position_for(self, start: float) -> int:
        """Index a block starting at ``start`` would take."""
        return bisect_left(self.starts, start)
