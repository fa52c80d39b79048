"""Sigma-clipped combination of frames, reading each input once, within a memory bound.

The output is built in row bands. For each band, every input's rows are read once (through
:class:`~tasks.calibration.frames.OpenFrames`), corrected (``(raw - bias - k_i dark) * s_i``) into
a pixel-major stack ``(rows, width, frames)``, clipped across frames by astropy's
:class:`~astropy.stats.SigmaClip` (median centre, MAD standard deviation, per pixel) and averaged.
ccdproc's ``combine`` re-reads every input for every chunk, so its time grows as the square of
the number of inputs (astropy/ccdproc#1012); here each input's pixels are read once.

Why pixel-major and our own order statistics: astropy's built-in ``median``/``mad_std`` along an
axis took 1.0 s per 10⁶ pixels × 20 frames here; NumPy's (SIMD) sort of 20 contiguous values per
pixel takes 0.08 s, so :class:`SortedStatistics` gives astropy the median and the MAD from sorts
(NaN-aware, as astropy requires after the first iteration). The clipping itself is astropy's.

Memory: the bands in flight (one per worker thread) are sized so that their working arrays stay
below ``memory_bytes``: :data:`WORKING_COPIES` float32 copies of a band's stack (the stack, the
clipped copy, two sorts, the deviations, the masks), measured by ``tests/benchmarks``. The output
(4 bytes per pixel) and the bias/dark maps subtracted are on top.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.stats import SigmaClip

from tasks.calibration.frames import OpenFrames

#: Float32 copies of one band's stack alive at the peak of its clipping (stack, astropy's copy,
#: sorted values, absolute deviations and their sort, masks): measured, see docs/calibration.md.
WORKING_COPIES = 6.0
#: Rows of the frame-major block transposed into the pixel-major stack at a time.
TRANSPOSE_ROWS = 64
#: MAD to standard deviation for a normal distribution.
MAD_TO_SIGMA = 1.482602218505602

Float32Array = npt.NDArray[np.float32]
#: ``progress(bands_done, bands)``: told after each band is combined.
BandProgress = Callable[[int, int], None]
#: The progress a command asked for (:func:`reporting_progress`), for the combines it runs
#: through the layers of a master's build without a callback passed down each of them.
_COMMAND_PROGRESS: ContextVar[BandProgress | None] = ContextVar("combine_progress", default=None)


@contextmanager
def reporting_progress(progress: BandProgress) -> Iterator[None]:
    """Within the block, every :func:`combine_frames` of this thread tells ``progress``."""
    token = _COMMAND_PROGRESS.set(progress)
    try:
        yield
    finally:
        _COMMAND_PROGRESS.reset(token)


class SortedStatistics:
    """Median and MAD standard deviation along the last axis, from NumPy sorts (NaN-aware).

    ``center`` sorts and keeps the median; ``deviation`` called next on the same array (as
    astropy's :class:`~astropy.stats.SigmaClip` does) reuses it. The sorts run in a scratch
    buffer kept between calls: a fresh 100 MB array costs more in page faults than the sort
    itself. One instance per thread.
    """

    def __init__(self) -> None:
        self._data: Float32Array | None = None
        self._median: Float32Array | None = None
        self._scratch: Float32Array | None = None

    def _buffer(self, like: Float32Array) -> Float32Array:
        size = like.size
        if self._scratch is None or self._scratch.size < size:
            self._scratch = np.empty(size, dtype=np.float32)
        return self._scratch[:size].reshape(like.shape)

    @staticmethod
    def _median_of_sorted(ordered: Float32Array) -> Float32Array:
        n = ordered.shape[-1]
        if not np.isnan(ordered[..., -1]).any():
            middle: Float32Array = 0.5 * (ordered[..., (n - 1) // 2] + ordered[..., n // 2])
            return middle
        valid = n - np.count_nonzero(np.isnan(ordered), axis=-1)
        low = (np.maximum(valid, 1) - 1) // 2
        high = np.minimum(valid // 2, n - 1)
        median: Float32Array = 0.5 * (
            np.take_along_axis(ordered, low[..., None], -1)[..., 0]
            + np.take_along_axis(ordered, high[..., None], -1)[..., 0]
        )
        median[valid == 0] = np.nan
        return median

    def center(self, data: Float32Array, axis: int | tuple[int, ...] = -1) -> Float32Array:
        """Median along the last axis (NaN ignored), shape without that axis."""
        axes = axis if isinstance(axis, tuple) else (axis,)
        if tuple(a % data.ndim for a in axes) != (data.ndim - 1,):
            raise ValueError("SortedStatistics works along the last axis only")
        ordered = self._buffer(data)
        np.copyto(ordered, data)
        ordered.sort(axis=-1)
        median = self._median_of_sorted(ordered)
        self._data, self._median = data, median
        return median

    def deviation(self, data: Float32Array, axis: int | tuple[int, ...] = -1) -> Float32Array:
        """``1.4826 × median(|x − median|)`` along the last axis (NaN ignored)."""
        median = self._median
        if median is None or data is not self._data:
            median = self.center(data, axis)
        absolute = self._buffer(data)
        np.subtract(data, median[..., None], out=absolute)
        np.abs(absolute, out=absolute)
        absolute.sort(axis=-1)
        deviation = self._median_of_sorted(absolute)
        deviation *= np.float32(MAD_TO_SIGMA)
        self._data = self._median = None
        return deviation


def clipped_mean(
    stack: Float32Array,
    sigma_low: float,
    sigma_high: float,
    iterations: int,
    statistics: SortedStatistics | None = None,
) -> tuple[Float32Array, int]:
    """Sigma-clipped mean along the last axis of ``stack``.

    Returns the mean (float32; the median where every value was clipped) and the number of
    values clipped. Fewer than three values per pixel: the plain mean (nothing to clip against).
    ``statistics`` may be reused between calls of one thread (its scratch buffer).
    """
    if stack.shape[-1] < 3:
        return stack.mean(axis=-1, dtype=np.float32), 0
    statistics = statistics or SortedStatistics()
    clipper = SigmaClip(
        sigma_lower=sigma_low,
        sigma_upper=sigma_high,
        maxiters=iterations,
        cenfunc=statistics.center,
        stdfunc=statistics.deviation,
    )
    clipped = clipper(stack, axis=-1, masked=False, copy=False)
    rejected = np.isnan(clipped)
    n_clipped = int(np.count_nonzero(rejected))
    kept = stack.shape[-1] - np.count_nonzero(rejected, axis=-1)
    np.copyto(clipped, 0.0, where=rejected)
    total = clipped.sum(axis=-1, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / kept
    empty = kept == 0
    if empty.any():
        mean[empty] = np.median(stack[empty], axis=-1)
    return mean.astype(np.float32, copy=False), n_clipped


@dataclass
class Correction:
    """``(raw − bias − dark_factor[i] × dark) × scale[i]`` applied to frame ``i`` as it is read."""

    bias: Float32Array | None = None
    dark: Float32Array | None = None
    dark_factors: Sequence[float] = ()
    scales: Sequence[float] = ()

    def apply(self, index: int, raw: npt.NDArray[Any], r0: int, r1: int, out: Float32Array) -> None:
        """Write the corrected rows ``[r0, r1)`` of frame ``index`` into ``out`` (a view)."""
        if self.bias is not None:
            np.subtract(raw, self.bias[r0:r1], out=out, dtype=np.float32)
        else:
            np.copyto(out, raw, casting="unsafe")
        if self.dark is not None and self.dark_factors and self.dark_factors[index]:
            factor = np.float32(self.dark_factors[index])
            out -= self.dark[r0:r1] * factor
        if self.scales:
            out *= np.float32(self.scales[index])


@dataclass
class CombineStats:
    """How a combine went: sizes, clipping, time, memory."""

    n_frames: int
    rows_per_band: int
    bands: int
    clipped_fraction: float
    seconds: float
    band_stack_bytes: int
    working_bytes_bound: int
    threads: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain data (a master's quality record)."""
        return {
            "n_frames": self.n_frames,
            "rows_per_band": self.rows_per_band,
            "bands": self.bands,
            "clipped_fraction": round(self.clipped_fraction, 6),
            "seconds": round(self.seconds, 3),
            "band_stack_mb": round(self.band_stack_bytes / 1e6, 1),
            "working_mb_bound": round(self.working_bytes_bound / 1e6, 1),
            "threads": self.threads,
        }


def rows_per_band(n_frames: int, width: int, memory_bytes: float, threads: int) -> int:
    """Rows per band so that ``threads`` bands in flight stay within ``memory_bytes``."""
    per_row = n_frames * width * 4 * WORKING_COPIES * max(1, threads)
    return max(1, int(memory_bytes // per_row))


def combine_frames(
    frames: OpenFrames,
    correction: Correction | None = None,
    *,
    sigma_low: float = 3.0,
    sigma_high: float = 3.0,
    iterations: int = 1,
    memory_bytes: float = 512e6,
    threads: int = 2,
    progress: BandProgress | None = None,
) -> tuple[Float32Array, CombineStats]:
    """Combine the frames of ``frames`` (all of one shape) into one float32 image.

    Parameters
    ----------
    frames : OpenFrames
        Open, checked inputs; each one's pixels are read once.
    correction : Correction, optional
        Bias and dark subtracted and scale applied to each frame as it is read.
    sigma_low, sigma_high : float
        Clipping thresholds (in MAD standard deviations from the median, per pixel).
    iterations : int
        Clipping iterations.
    memory_bytes : float
        Bound of the working memory (see the module's docstring).
    threads : int
        Bands clipped in parallel (NumPy releases the GIL in its sorts); one thread reads.
    progress : callable, optional
        Called as ``progress(bands_done, bands)`` after each band (default: the one of
        :func:`reporting_progress`, if any).

    Returns
    -------
    tuple of (ndarray, CombineStats)
    """
    started = time.perf_counter()
    n = len(frames)
    if n == 0:
        raise ValueError("nothing to combine")
    height, width = frames.infos[0].shape
    rows = min(height, rows_per_band(n, width, memory_bytes, threads))
    bands = _Bands(
        frames, correction or Correction(), rows, threads, (sigma_low, sigma_high, iterations)
    )
    clipped = _clip_every_band(bands, threads, progress or _COMMAND_PROGRESS.get() or _no_progress)
    stats = CombineStats(
        n_frames=n,
        rows_per_band=rows,
        bands=len(bands.spans),
        clipped_fraction=clipped / float(n * height * width),
        seconds=time.perf_counter() - started,
        band_stack_bytes=rows * width * n * 4,
        working_bytes_bound=int(rows * width * n * 4 * WORKING_COPIES * max(1, threads)),
        threads=threads,
    )
    return bands.output, stats


class _Bands:
    """The output image built band by band: each band's rows of every frame read and corrected
    into a pixel-major stack, then clipped and averaged into :attr:`output`.

    Stack buffers and sort scratch are reused from band to band (page faults of fresh 100 MB
    arrays cost more than the sorts); at most ``threads`` stacks are alive.
    """

    def __init__(
        self,
        frames: OpenFrames,
        correction: Correction,
        rows: int,
        threads: int,
        clipping: tuple[float, float, int],
    ) -> None:
        n = len(frames)
        height, width = frames.infos[0].shape
        self.frames, self.correction, self.clipping = frames, correction, clipping
        self.output = np.empty((height, width), dtype=np.float32)
        self.spans = list(itertools.pairwise([*range(0, height, rows), height]))
        self._free_stacks: queue.SimpleQueue[Float32Array] = queue.SimpleQueue()
        for _ in range(max(1, threads)):
            self._free_stacks.put(np.empty((rows, width, n), dtype=np.float32))
        self._local = threading.local()
        # Frames are corrected into a small frame-major block (contiguous writes), then
        # transposed into the pixel-major stack: three times faster than writing each frame
        # with a stride.
        self._block_rows = min(rows, TRANSPOSE_ROWS)
        self._block = np.empty((n, self._block_rows, width), dtype=np.float32)

    def read(self, band: tuple[int, int]) -> Float32Array:
        """The corrected rows of ``band`` of every frame, pixel-major ``(rows, width, n)``."""
        r0, r1 = band
        stack = self._free_stacks.get()[: r1 - r0]
        for b0 in range(r0, r1, self._block_rows):
            b1 = min(r1, b0 + self._block_rows)
            part = self._block[:, : b1 - b0]
            for index in range(len(self.frames)):
                self.correction.apply(index, self.frames.band(index, b0, b1), b0, b1, part[index])
            np.copyto(stack[b0 - r0 : b1 - r0], part.transpose(1, 2, 0))
        return stack

    def clip(self, band: tuple[int, int], stack: Float32Array) -> int:
        """Clip and average ``stack`` into the output rows of ``band``; the values clipped."""
        r0, r1 = band
        if not hasattr(self._local, "statistics"):
            self._local.statistics = SortedStatistics()
        sigma_low, sigma_high, iterations = self.clipping
        try:
            self.output[r0:r1], n_clipped = clipped_mean(
                stack, sigma_low, sigma_high, iterations, self._local.statistics
            )
        finally:
            self._free_stacks.put(stack.base if stack.base is not None else stack)
        return n_clipped


def _no_progress(done: int, total: int) -> None:
    """No progress bar."""


def _clip_every_band(bands: _Bands, threads: int, progress: BandProgress) -> int:
    """Read and clip every band, telling ``progress`` after each; the number of values clipped
    in all."""
    clipped, done, total = 0, 0, len(bands.spans)
    if threads <= 1:
        for band in bands.spans:
            clipped += bands.clip(band, bands.read(band))
            done += 1
            progress(done, total)
        return clipped
    # One reader (file handles are not shared between threads), ``threads`` bands clipping.
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="combine") as pool:
        pending = []
        for band in bands.spans:
            stack = bands.read(band)
            pending.append(pool.submit(bands.clip, band, stack))
            del stack
            while len(pending) >= threads:
                clipped += pending.pop(0).result()
                done += 1
                progress(done, total)
        for future in pending:
            clipped += future.result()
            done += 1
            progress(done, total)
    return clipped
