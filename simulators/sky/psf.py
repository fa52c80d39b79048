"""Moffat point sources stamped into small postage stamps (never evaluated over the frame).

``I(r) = F (beta - 1) / (pi alpha²) (1 + r²/alpha²)**-beta``, with
``alpha = FWHM / (2 sqrt(2**(1/beta) - 1))``; the profile is sampled at pixel centres (pixel
``(x, y)`` covers ``[x - 0.5, x + 0.5)``), averaged over 3×3 sub-pixels when the FWHM is below
3.5 pixels so the pixel integral stays right for sharp images.

A stamp reaches the radius where either the pixel value falls below ``VALUE_FLOOR_E`` electrons
or the flux left outside falls below ``clip(LOSS_NOISE / sqrt(F), LOSS_MIN, LOSS_MAX)`` of the
source's flux ``F`` (whichever radius is larger, up to ``MAX_HALF_SIZE``): bright sources lose at
most 0.3 % (3 mmag), faint ones a share well below their own photon noise, which keeps crowded
fields (10⁵ stars) fast. Stars are grouped by stamp size and stamped in vectorised batches; the flux
that actually landed on the frame is returned (the truth records it beside the nominal flux).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infra.astro import moffat_alpha

VALUE_FLOOR_E = 0.5
LOSS_NOISE = 0.3
LOSS_MIN = 0.003
LOSS_MAX = 0.05
MAX_HALF_SIZE = 200
_BATCH_PIXELS = 2_000_000
#: Above this many stamp pixels, two threads share the stamping.
_PARALLEL_PIXELS = 4_000_000
_OVERSAMPLE_BELOW_FWHM = 3.5

Floats = npt.NDArray[np.float64]
#: Sources stamped together (their indices), with their stamp half-size and oversampling.
_BatchPlan = tuple[npt.NDArray[np.intp], int, int]


def half_sizes(flux_e: Floats, alpha: Floats, beta: float) -> npt.NDArray[np.int64]:
    """Stamp half-size (pixels) per source (see the module docstring)."""
    peak = flux_e * (beta - 1.0) / (np.pi * alpha**2)
    q_value = np.power(np.maximum(peak / VALUE_FLOOR_E, 1.0), 1.0 / beta)
    loss = np.clip(LOSS_NOISE / np.sqrt(np.maximum(flux_e, 1.0)), LOSS_MIN, LOSS_MAX)
    q_loss = loss ** (1.0 / (1.0 - beta))
    radius = alpha * np.sqrt(np.maximum(q_value, q_loss) - 1.0)
    return np.clip(np.ceil(radius), 2, MAX_HALF_SIZE).astype(np.int64)


def peak_fraction(alpha: Floats, beta: float) -> Floats:
    """Fraction of the flux in the brightest pixel of a centred source (for saturation flags)."""
    fraction: Floats = (beta - 1.0) / (np.pi * alpha**2)
    return fraction


@dataclass(frozen=True)
class _Batch:
    """Sources stamped in one vectorised pass: one stamp size, one oversampling factor."""

    x: Floats
    y: Floats
    x0: npt.NDArray[np.int64]  # the stamp's central pixel
    y0: npt.NDArray[np.int64]
    flux: Floats
    alpha: Floats
    half: int  # stamp half-size (pixels)
    oversample: int  # sub-pixels per axis


def stamp_moffat(
    image: npt.NDArray[np.float32],
    x: Floats,
    y: Floats,
    flux_e: Floats,
    fwhm_px: Floats,
    beta: float,
) -> Floats:
    """Add Moffat sources to ``image`` (float32, modified in place).

    Parameters
    ----------
    image : ndarray
        2-D float32 frame, electrons.
    x, y : ndarray
        0-based positions (column, row) of the source centres.
    flux_e : ndarray
        Total flux of each source (electrons).
    fwhm_px : ndarray
        FWHM of each source (pixels).
    beta : float
        Moffat beta.

    Returns
    -------
    ndarray
        The flux of each source that landed on the frame (electrons).
    """
    n = len(x)
    landed = np.zeros(n)
    if n == 0:
        return landed
    shape = image.shape
    flat = image.reshape(-1)
    alpha = moffat_alpha(fwhm_px, beta)
    sizes = half_sizes(np.asarray(flux_e, dtype=float), alpha, beta)
    oversample = np.where(np.asarray(fwhm_px) < _OVERSAMPLE_BELOW_FWHM, 3, 1)
    x0 = np.rint(x).astype(np.int64)
    y0 = np.rint(y).astype(np.int64)
    batches, pixels = _plan_batches(sizes, oversample)

    def run(share: list[_BatchPlan], target: npt.NDArray[np.float32]) -> None:
        for idx, h, k in share:
            batch = _Batch(x[idx], y[idx], x0[idx], y0[idx], flux_e[idx], alpha[idx], h, k)
            landed[idx] = _stamp_batch(target, shape, batch, beta)

    if pixels < _PARALLEL_PIXELS or len(batches) < 2:
        run(batches, flat)
        return landed
    # Crowded fields: two workers, each with its own buffer and a fixed share of the batches (the
    # sums, and so the pixels, do not depend on scheduling). NumPy releases the GIL in the math.
    second = np.zeros_like(flat)
    shares = (batches[0::2], batches[1::2])
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stamps") as pool:
        list(pool.map(run, shares, (flat, second)))
    flat += second
    return landed


def _plan_batches(
    sizes: npt.NDArray[np.int64], oversample: npt.NDArray[np.int64]
) -> tuple[list[_BatchPlan], int]:
    """Sources grouped by stamp size and oversampling, in batches of about ``_BATCH_PIXELS``;
    and the stamp pixels of them all."""
    batches: list[_BatchPlan] = []
    pixels = 0
    for h in np.unique(sizes):
        for k in np.unique(oversample[sizes == h]):
            chosen = np.flatnonzero((sizes == h) & (oversample == k))
            side = 2 * int(h) + 1
            per_batch = max(1, _BATCH_PIXELS // (side * side * int(k) ** 2))
            for start in range(0, len(chosen), per_batch):
                batches.append((chosen[start : start + per_batch], int(h), int(k)))
                pixels += len(batches[-1][0]) * side * side * int(k) ** 2
    return batches, pixels


def _sub_pixel_terms(batch: _Batch, beta: float) -> Iterator[npt.NDArray[np.float32]]:
    """``(1 + r²/alpha²)**-beta`` over each stamp, once per sub-pixel offset."""
    h, k = batch.half, batch.oversample
    # float32 throughout, and the power as exp(-beta * log1p(u)): NumPy vectorises those.
    offsets = np.arange(-h, h + 1, dtype=np.float32)
    fx = (batch.x - batch.x0).astype(np.float32)[:, None]
    fy = (batch.y - batch.y0).astype(np.float32)[:, None]
    inv_a2 = (1.0 / batch.alpha**2).astype(np.float32)[:, None, None]
    minus_beta = np.float32(-beta)
    sub = (np.arange(k, dtype=np.float32) + 0.5) / k - 0.5
    for sy in sub:
        dy2 = np.square(offsets[None, :] + sy - fy) * inv_a2[:, :, 0] + np.float32(1.0)
        for sx in sub:
            dx2 = np.square(offsets[None, :] + sx - fx) * inv_a2[:, :, 0]
            term = dy2[:, :, None] + dx2[:, None, :]  # 1 + r²/alpha²
            np.log(term, out=term)
            term *= minus_beta
            np.exp(term, out=term)
            yield term


def _stamp_batch(
    flat: npt.NDArray[np.float32], shape: tuple[int, ...], batch: _Batch, beta: float
) -> Floats:
    """Add one batch's stamps to ``flat`` (the frame, raveled); returns the flux each landed."""
    height, width = shape
    h, k, x0, y0 = batch.half, batch.oversample, batch.x0, batch.y0
    terms = _sub_pixel_terms(batch, beta)
    values = next(terms)
    for term in terms:
        values += term
    norm = (batch.flux * (beta - 1.0) / (np.pi * batch.alpha**2)).astype(np.float32)
    values *= norm[:, None, None] / np.float32(k * k)
    cols = x0[:, None, None] + np.arange(-h, h + 1)[None, None, :]
    rows = y0[:, None, None] + np.arange(-h, h + 1)[None, :, None]
    if x0.min() >= h and y0.min() >= h and x0.max() < width - h and y0.max() < height - h:
        np.add.at(flat, (rows * width + cols).reshape(-1), values.reshape(-1))
    else:
        inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        values = np.where(inside, values, np.float32(0.0))
        keep = inside.reshape(-1)
        np.add.at(flat, (rows * width + cols).reshape(-1)[keep], values.reshape(-1)[keep])
    landed: Floats = values.sum(axis=(1, 2), dtype=np.float64)
    return landed
