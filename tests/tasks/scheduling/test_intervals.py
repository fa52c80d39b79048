"""Vectorised interval arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.scheduling.intervals import Intervals, nonnegative_runs


def test_runs_of_a_sampled_sine_end_where_it_crosses_zero():
    times = np.linspace(0.0, 4 * np.pi, 400)
    margin = np.vstack([np.sin(times), np.sin(times) - 2.0, np.full(times.size, 1.0)])
    runs = nonnegative_runs(times, margin)
    assert runs.row.tolist() == [0, 0, 2]
    assert runs.start[:2] == pytest.approx([0.0, 2 * np.pi], abs=1e-3)
    assert runs.end[:2] == pytest.approx([np.pi, 3 * np.pi], abs=1e-3)
    assert (runs.start[2], runs.end[2]) == (0.0, 4 * np.pi)


def test_clip_longest_and_offsets():
    runs = Intervals(np.array([0, 0, 2]), np.array([0.0, 50.0, 10.0]), np.array([20.0, 90.0, 30.0]))
    clipped = runs.clip(np.array([10.0, 0.0, 40.0]), np.array([60.0, 1.0, 50.0]))
    assert clipped.row.tolist() == [0, 0]
    assert clipped.start.tolist() == [10.0, 50.0] and clipped.end.tolist() == [20.0, 60.0]
    assert clipped.longest(3).tolist() == [10.0, 0.0, 0.0]
    assert runs.offsets(3).tolist() == [0, 2, 2, 3]
    assert runs.rows_present(3).tolist() == [True, False, True]
