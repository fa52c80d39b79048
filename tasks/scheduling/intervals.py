"""Interval arithmetic on NumPy arrays, for thousands of targets at once.

Intervals are closed ``[start, end]`` in seconds (Unix time), grouped by *row* (one row per
target or sequence) and kept sorted by row, then start. Nothing here loops over grid cells in
Python: a night sampled every few minutes for 10,000 targets is a handful of array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Intervals:
    """Closed intervals ``[start, end]`` of many rows, sorted by row then start."""

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return int(self.row.size)

    @classmethod
    def empty(cls) -> Intervals:
        """No interval at all."""
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))

    @classmethod
    def one_per_row(cls, rows: np.ndarray, start: np.ndarray, end: np.ndarray) -> Intervals:
        """One interval per listed row (rows ascending)."""
        return cls(
            np.asarray(rows, np.int64), np.asarray(start, float), np.asarray(end, float)
        ).nonempty()

    def select(self, keep: np.ndarray) -> Intervals:
        """The intervals where ``keep`` is true."""
        return Intervals(self.row[keep], self.start[keep], self.end[keep])

    def nonempty(self, min_length: float = 0.0) -> Intervals:
        """Drop intervals shorter than ``min_length`` (and reversed ones)."""
        return self.select(self.end - self.start >= min_length)

    def clip(self, low: np.ndarray, high: np.ndarray) -> Intervals:
        """Intersect each interval with its row's ``[low[row], high[row]]``; drop what is empty."""
        start = np.maximum(self.start, low[self.row])
        end = np.minimum(self.end, high[self.row])
        keep = end >= start
        return Intervals(self.row[keep], start[keep], end[keep])

    def rows_present(self, rows: int) -> np.ndarray:
        """Boolean mask over ``rows``: which rows have at least one interval."""
        present = np.zeros(rows, bool)
        present[self.row] = True
        return present

    def longest(self, rows: int) -> np.ndarray:
        """Length of each row's longest interval (0 for a row without any)."""
        out = np.zeros(rows)
        np.maximum.at(out, self.row, self.end - self.start)
        return out

    def offsets(self, rows: int) -> np.ndarray:
        """CSR offsets: the intervals of row ``r`` are ``[offsets[r], offsets[r + 1])``."""
        return np.concatenate(([0], np.cumsum(np.bincount(self.row, minlength=rows))))

    def concat(self, other: Intervals) -> Intervals:
        """Both sets of intervals, re-sorted by row then start."""
        row = np.concatenate((self.row, other.row))
        start = np.concatenate((self.start, other.start))
        end = np.concatenate((self.end, other.end))
        order = np.lexsort((start, row))
        return Intervals(row[order], start[order], end[order])


def nonnegative_runs(times: np.ndarray, margin: np.ndarray) -> Intervals:
    """Where each row of a sampled function is non-negative, as intervals.

    Parameters
    ----------
    times : ndarray, shape (T,)
        Increasing sample instants (seconds).
    margin : ndarray, shape (rows, T)
        The function sampled at ``times`` (e.g. altitude minus the altitude limit).

    Returns
    -------
    Intervals
        Maximal runs of non-negative samples; an end inside the grid is placed where the linear
        interpolation between the two samples around it crosses zero (a smooth function sampled
        every few minutes is then located to seconds).
    """
    margin = np.atleast_2d(margin)
    rows, count = margin.shape
    if rows == 0 or count == 0:
        return Intervals.empty()
    ok = margin >= 0.0
    padded = np.zeros((rows, count + 2), np.int8)
    padded[:, 1:-1] = ok
    step = np.diff(padded, axis=1)
    # np.nonzero walks row-major, so rises and falls come out sorted by row, then time, and
    # alternate within a row: the k-th rise of a row pairs with its k-th fall.
    rise_row, first = np.nonzero(step == 1)
    fall_row, after = np.nonzero(step == -1)
    last = after - 1
    start = times[first].astype(float)
    inside = first > 0
    if inside.any():
        start[inside] = _zero_crossing(times, margin, rise_row[inside], first[inside] - 1)
    end = times[last].astype(float)
    inside = last < count - 1
    if inside.any():
        end[inside] = _zero_crossing(times, margin, fall_row[inside], last[inside])
    return Intervals(rise_row.astype(np.int64), start, end)


def _zero_crossing(
    times: npt.NDArray[np.float64],
    margin: npt.NDArray[np.float64],
    row: npt.NDArray[np.intp],
    left: npt.NDArray[np.intp],
) -> npt.NDArray[np.float64]:
    """Instant where the line through samples ``left`` and ``left + 1`` of ``row`` crosses 0."""
    m0 = margin[row, left]
    m1 = margin[row, left + 1]
    t0 = times[left]
    t1 = times[left + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(m0 != m1, m0 / (m0 - m1), 0.5)
    crossing: npt.NDArray[np.float64] = t0 + np.clip(fraction, 0.0, 1.0) * (t1 - t0)
    return crossing
