"""From expected electrons to digitised pixels: photon and read noise, cosmic rays, bleeding.

The frame is processed in row bands on a small thread pool (NumPy releases the GIL in its random
fills and ufuncs); each band draws from its own stream spawned from the frame's seed, so the
pixels do not depend on the number of threads.

- **Photon noise**: exact Poisson where a pixel expects fewer than ``POISSON_BELOW_E`` electrons;
  above, one normal draw with the Poisson variance — merged with the read noise into a single
  draw of variance ``S + read_noise²`` (float32). A dark or bias frame (a uniform expectation)
  draws its sparse Poisson events directly: ``K ~ Poisson(λ N)`` events at uniform random pixels is
  exactly independent ``Poisson(λ)`` per pixel.
- **Cosmic rays**: ``Poisson(rate × Mpix × exposure)`` straight tracks (length 1 + Exp(3) px,
  random angle), 300-3000 e- per pixel crossed (lognormal).
- **Bleeding**: charge above the full well (``(saturation - bias) × gain``) spills up and down its
  column, filling neighbouring pixels to the full well (read noise included: a 10⁻⁴ effect).
- **Up-the-ramp sampling** (infrared arrays, ``ramp_read_s``): the frame is the slope fitted to
  the reads before a pixel fills; only a pixel filling within one read is saturated.
- **Digitisation**: ``ADU = bias map + e / gain``, clipped to ``[0, saturation_adu]``, rounded,
  unsigned 16 bits (32-bit integers for a ramp's slope image beyond 16 bits).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from simulators.sky.seeds import generators

POISSON_BELOW_E = 25.0
BANDS = 8
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="sky"
        )
    return _pool


def _bands(height: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, height, BANDS + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def expose(
    light_e: npt.NDArray[np.float32] | None,
    flat: npt.NDArray[np.float32] | None,
    uniform_e: float,
    sparse_index: npt.NDArray[np.int64],
    sparse_e: npt.NDArray[np.float64],
    shape: tuple[int, int],
    read_noise_e: float,
    stream: tuple[object, ...],
) -> npt.NDArray[np.float32]:
    """Electrons collected, with photon and read noise (float32 frame).

    Parameters
    ----------
    light_e : ndarray or None
        Expected electrons per pixel from light before the flat field, or None (closed shutter).
    flat : ndarray or None
        Flat-field response multiplying ``light_e`` (None: 1).
    uniform_e : float
        Expected electrons everywhere on top (dark current).
    sparse_index, sparse_e : ndarray
        Extra expected electrons at a few flat pixel indices (hot pixels).
    shape : tuple
        Frame shape (height, width).
    read_noise_e : float
        Read noise (electrons rms).
    stream : tuple
        Name of the frame's random stream.
    """
    bands = _bands(shape[0])
    rngs = generators(len(bands) + 1, *stream, "noise")
    out = np.empty(shape, dtype=np.float32)
    rn2 = np.float32(read_noise_e**2)

    def one_band(number: int) -> None:
        r0, r1 = bands[number]
        rng = rngs[number]
        block = out[r0:r1]
        if light_e is None:
            # Uniform expectation: read noise everywhere, Poisson events where they fall.
            if uniform_e >= POISSON_BELOW_E:
                rng.standard_normal(block.shape, dtype=np.float32, out=block)
                block *= np.float32(np.sqrt(uniform_e + read_noise_e**2))
                block += np.float32(uniform_e)
                return
            rng.standard_normal(block.shape, dtype=np.float32, out=block)
            block *= np.float32(read_noise_e)
            n_events = int(rng.poisson(uniform_e * block.size)) if uniform_e > 0 else 0
            if n_events:
                hits = rng.integers(0, block.size, n_events)
                np.add.at(block.reshape(-1), hits, np.float32(1.0))
            return
        signal = light_e[r0:r1] * flat[r0:r1] if flat is not None else light_e[r0:r1].copy()
        if uniform_e:
            signal += np.float32(uniform_e)
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        low = signal < POISSON_BELOW_E
        if low.any():
            sigma = np.sqrt(np.maximum(signal, 0) + rn2)
            np.multiply(block, sigma, out=block)
            block += signal
            counts = rng.poisson(np.maximum(signal[low], 0)).astype(np.float32)
            block[low] = counts + (block[low] - signal[low]) * (
                np.float32(read_noise_e) / sigma[low]
            )
        else:
            sigma = np.sqrt(signal + rn2)
            np.multiply(block, sigma, out=block)
            block += signal

    list(_executor().map(one_band, range(len(bands))))
    if len(sparse_index):
        # Hot pixels: exact Poisson on their own expectation, added to what the band drew.
        rng = rngs[-1]
        out.reshape(-1)[sparse_index] += rng.poisson(sparse_e).astype(np.float32)
    return out


def cosmic_rays(
    frame_e: npt.NDArray[np.float32],
    exposure_s: float,
    rate_per_mpix_s: float,
    stream: tuple[object, ...],
) -> list[dict[str, float]]:
    """Add cosmic-ray tracks to ``frame_e`` (in place); returns one record per track."""
    height, width = frame_e.shape
    rng = generators(1, *stream, "cosmic-rays")[0]
    n = int(rng.poisson(rate_per_mpix_s * height * width / 1e6 * exposure_s))
    records = []
    flat = frame_e.reshape(-1)
    for _ in range(n):
        x0, y0 = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
        length = 1.0 + rng.exponential(3.0)
        angle = rng.uniform(0, np.pi)
        steps = max(1, int(np.ceil(length * 2)))
        t = np.linspace(-0.5, 0.5, steps) * length
        xs = np.clip(np.rint(x0 + t * np.cos(angle)), 0, width - 1).astype(np.int64)
        ys = np.clip(np.rint(y0 + t * np.sin(angle)), 0, height - 1).astype(np.int64)
        pixels = np.unique(ys * width + xs)
        deposit = rng.lognormal(np.log(900.0), 0.5, len(pixels)).astype(np.float32)
        np.add.at(flat, pixels, deposit)
        records.append(
            {
                "x": float(np.mean(pixels % width)),
                "y": float(np.mean(pixels // width)),
                "flux_e": float(deposit.sum()),
                "pixels": len(pixels),
            }
        )
    return records


def bleed(frame_e: npt.NDArray[np.float32], full_well_e: float) -> int:
    """Spill charge above ``full_well_e`` along columns (in place); returns columns touched."""
    fw = np.float32(full_well_e)
    column_max = frame_e.max(axis=0)
    columns = np.flatnonzero(column_max > fw)
    for c in columns:
        column = frame_e[:, c].copy()
        _bleed_column(column, fw)
        frame_e[:, c] = column
    return len(columns)


def _bleed_column(column: npt.NDArray[np.float32], fw: np.float32) -> None:
    over = column > fw
    # Runs of pixels above the full well, each spilling its excess half up, half down.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], over.view(np.int8), [0]))))
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        excess = float(np.sum(column[start:stop] - fw))
        column[start:stop] = fw
        _spill(column[stop:], fw, excess / 2.0)
        _spill(column[:start][::-1], fw, excess / 2.0)


def _spill(segment: npt.NDArray[np.float32], fw: np.float32, amount: float) -> None:
    """Fill ``segment`` (a view, walking away from the source) up to ``fw`` with ``amount``."""
    if amount <= 0 or not len(segment):
        return
    room = np.maximum(fw - segment, 0).astype(np.float64)
    filled = np.cumsum(room)
    full = int(np.searchsorted(filled, amount, side="right"))
    segment[:full] = np.maximum(segment[:full], fw)
    if full < len(segment):
        segment[full] += np.float32(amount - (filled[full - 1] if full else 0.0))


def ramp_fit(
    frame_e: npt.NDArray[np.float32],
    expected_e: npt.NDArray[np.float32],
    read_saturation_e: float,
    reads: float,
) -> dict[str, float]:
    """The slope of an up-the-ramp exposure times the exposure (in place on ``frame_e``).

    The array is read ``reads`` times; a pixel expecting ``S`` electrons fills after
    ``k = floor(read_saturation_e · reads / S)`` reads. With ``k`` ≥ ``reads`` nothing changes;
    with 1 ≤ ``k`` < ``reads`` the slope comes from the first ``k`` reads only (its noise grows by
    ``sqrt(reads / k)``); with ``k`` = 0 the pixel saturated within one read and reads the
    ceiling ``read_saturation_e · reads`` (SATURATE once digitised). Returns what was done (for
    the truth's ``meta``).
    """
    per_read = np.maximum(expected_e, np.float32(1e-3)) / np.float32(reads)
    filled_after = np.floor(np.float32(read_saturation_e) / per_read)
    partial = filled_after < np.float32(reads)
    if partial.any():
        kept = filled_after[partial]
        scale = np.sqrt(np.float32(reads) / np.maximum(kept, np.float32(1.0)))
        mean = expected_e[partial]
        frame_e[partial] = mean + (frame_e[partial] - mean) * scale
    saturated = filled_after < 1.0
    # Above the ceiling whatever the bias pattern: digitisation clips them to SATURATE exactly.
    frame_e[saturated] = np.float32(read_saturation_e * reads * 1.05)
    return {
        "reads": float(reads),
        "pixels_ramp_cut": int(np.count_nonzero(partial)),
        "pixels_saturated": int(np.count_nonzero(saturated)),
    }


def digitise(
    frame_e: npt.NDArray[np.float32],
    bias_map_adu: npt.NDArray[np.float32],
    gain: float,
    saturation_adu: float,
) -> npt.NDArray[np.uint16] | npt.NDArray[np.int32]:
    """``bias + e / gain`` clipped to ``[0, saturation]``, rounded to unsigned 16-bit ADU (32-bit
    integers when the saturation level is beyond 16 bits: an up-the-ramp slope image)."""
    wide = saturation_adu > 65535.0
    out = np.empty(frame_e.shape, dtype=np.int32 if wide else np.uint16)
    inv_gain = np.float32(1.0 / gain)
    top = np.float32(saturation_adu if wide else min(saturation_adu, 65535.0))

    def one_band(band: tuple[int, int]) -> None:
        r0, r1 = band
        block = frame_e[r0:r1] * inv_gain
        block += bias_map_adu[r0:r1]
        np.clip(block, 0.0, top, out=block)
        block += np.float32(0.5)
        out[r0:r1] = block.astype(out.dtype)  # truncation after +0.5: rounds half up

    list(_executor().map(one_band, _bands(frame_e.shape[0])))
    return out
