"""The banded, read-once, sigma-clipped combine."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std

from tasks.calibration.combine import (
    WORKING_COPIES,
    Correction,
    SortedStatistics,
    clipped_mean,
    combine_frames,
    reporting_progress,
    rows_per_band,
)
from tasks.calibration.frames import OpenFrames


def test_sorted_statistics_match_numpy_and_astropy_with_nans():
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, (40, 30, 9)).astype(np.float32)
    data[rng.random(data.shape) < 0.2] = np.nan
    data[0, 0, :] = np.nan  # a pixel with nothing left
    statistics = SortedStatistics()
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected_median = np.nanmedian(data, axis=-1)
    median = statistics.center(data, axis=(2,))
    np.testing.assert_allclose(median, expected_median, rtol=1e-6)
    deviation = statistics.deviation(data, axis=(2,))
    with pytest.warns(RuntimeWarning):
        expected = mad_std(data, axis=-1, ignore_nan=True)
    np.testing.assert_allclose(deviation[1:], expected[1:], rtol=1e-5)
    assert np.isnan(median[0, 0]) and np.isnan(deviation[0, 0])
    with pytest.raises(ValueError, match="last axis"):
        statistics.center(data, axis=0)


def test_clipped_mean_rejects_outliers_and_keeps_the_rest():
    rng = np.random.default_rng(4)
    stack = rng.normal(1000.0, 5.0, (50, 60, 11)).astype(np.float32)
    stack[:, :, 3] += 5000.0  # a star or a cosmic ray in one frame, everywhere
    stack[10, 10, :5] += 3000.0  # five of eleven values high: the median still holds
    mean, clipped = clipped_mean(stack.copy(), 3.0, 3.0, 1)
    assert mean.dtype == np.float32
    assert np.abs(mean - 1000.0).max() < 10.0
    assert clipped >= 50 * 60
    plain, none = clipped_mean(stack[..., :2].copy(), 3.0, 3.0, 1)  # too few to clip
    assert none == 0 and plain[0, 0] == pytest.approx(stack[0, 0, :2].mean(), rel=1e-6)


@pytest.fixture
def frame_files(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for k in range(7):
        data = np.rint(rng.normal(1000.0 + 10 * k, 5.0, (120, 90))).astype(np.uint16)
        if k == 2:
            data[40:44, 30:34] = 60000  # a cosmic ray
        header = fits.Header({"IMAGETYP": "bias", "INSTRUME": "cam"})
        path = tmp_path / f"f{k}.fits"
        fits.PrimaryHDU(data, header).writeto(path)
        paths.append(path)
    return paths


def test_banding_and_threads_do_not_change_the_result(frame_files):
    results = []
    for memory, threads in ((1e9, 1), (2e5, 1), (2e5, 2), (5e4, 3)):
        with OpenFrames(frame_files) as frames:
            data, stats = combine_frames(frames, memory_bytes=memory, threads=threads)
        results.append((data, stats))
    assert results[0][1].bands == 1 and results[1][1].bands > 4 and results[3][1].bands > 10
    for data, _ in results[1:]:
        assert np.array_equal(data, results[0][0])
    assert results[0][0][41, 31] < 1100  # the cosmic ray is clipped
    assert results[0][1].n_frames == 7


def told_to(told: list[tuple[int, int]]):
    return lambda done, total: told.append((done, total))


def test_progress_is_told_after_every_band(frame_files):
    for threads in (1, 3):
        told: list[tuple[int, int]] = []
        with OpenFrames(frame_files) as frames:
            _, stats = combine_frames(
                frames, memory_bytes=5e4, threads=threads, progress=told_to(told)
            )
        assert stats.bands > 10
        assert told == [(k, stats.bands) for k in range(1, stats.bands + 1)], threads


def test_a_command_asks_for_the_progress_of_the_combines_it_runs(frame_files):
    told: list[tuple[int, int]] = []
    with reporting_progress(told_to(told)), OpenFrames(frame_files) as frames:
        _, stats = combine_frames(frames, memory_bytes=5e4, threads=2)
    assert told[-1] == (stats.bands, stats.bands) and len(told) == stats.bands
    with OpenFrames(frame_files) as frames:  # outside the block: nobody told
        combine_frames(frames, memory_bytes=5e4, threads=2)
    assert len(told) == stats.bands


def test_the_correction_is_applied_as_frames_are_read(frame_files):
    bias = np.full((120, 90), 1000.0, dtype=np.float32)
    dark = np.ones((120, 90), dtype=np.float32)
    correction = Correction(bias=bias, dark=dark, dark_factors=[10.0] * 7, scales=[0.5] * 7)
    with OpenFrames(frame_files) as frames:
        data, _ = combine_frames(frames, correction, threads=1)
    # mean of 1000 + 10k (k = 0..6) = 1030; minus bias and 10 x dark, halved.
    assert float(np.median(data)) == pytest.approx((1030 - 1000 - 10) * 0.5, abs=0.5)


def test_working_memory_stays_within_the_bound(tmp_path):
    rng = np.random.default_rng(6)
    paths = []
    for k in range(12):
        path = tmp_path / f"m{k}.fits"
        header = fits.Header({"IMAGETYP": "bias", "INSTRUME": "cam"})
        fits.PrimaryHDU(rng.integers(900, 1100, (400, 300)).astype(np.uint16), header).writeto(path)
        paths.append(path)
    bound = 4e6
    with OpenFrames(paths) as frames:
        tracemalloc.start()
        data, stats = combine_frames(frames, memory_bytes=bound, threads=2)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    output = data.nbytes
    assert stats.bands > 1 and stats.working_bytes_bound <= bound
    assert peak - output < bound, f"peak {peak - output} B above the bound {bound} B"
    assert rows_per_band(12, 300, bound, 2) == int(bound // (12 * 300 * 4 * WORKING_COPIES * 2))
