"""Source extraction on frames with detector defects."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.nrt.engines import make_engine
from tasks.nrt.extract import extract, fill_thin_defects


def _star_field(dead_column: int | None, seed: int = 5):
    """A 256² frame: a bright star (FWHM 6 px) at (120.4, 131.0), faint stars, sky noise."""
    rng = np.random.default_rng(seed)
    size, sigma = 256, 6.0 / 2.3548
    yy, xx = np.mgrid[0:size, 0:size]
    data = rng.normal(100.0, 10.0, (size, size))
    stars = [(120.4, 131.0, 60000.0)] + [
        (float(rng.uniform(20, 236)), float(rng.uniform(20, 236)), 20000.0) for _ in range(12)
    ]
    for x, y, flux in stars:
        data += (
            flux
            / (2 * np.pi * sigma**2)
            * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
        )
    mask = np.zeros((size, size), dtype=bool)
    if dead_column is not None:
        mask[:, dead_column] = True
        data[:, dead_column] = 0.0  # a dead column reads nothing
    return np.ascontiguousarray(data, dtype=np.float32), mask


@pytest.mark.parametrize("engine", ["sep", "photutils"])
def test_a_dead_column_through_a_star_does_not_split_it(engine):
    data, mask = _star_field(dead_column=121)
    ex = extract(data, mask, gain=1.5, saturation_adu=None, engine=make_engine(engine))
    near = np.hypot(ex.x - 120.4, ex.y - 131.0) < 6.0
    assert near.sum() == 1  # one source, not two halves either side of the column
    i = np.flatnonzero(near)[0]
    assert np.hypot(ex.x[i] - 120.4, ex.y[i] - 131.0) < 0.3
    assert ex.flags[i] & 1  # its aperture still holds masked pixels


def test_only_one_pixel_wide_defects_are_filled_and_the_frame_is_restored():
    data = np.arange(36, dtype=np.float32).reshape(6, 6)
    mask = np.zeros((6, 6), dtype=bool)
    mask[:, 2] = True  # a dead column: filled from its left and right neighbours
    mask[4:6, 4:6] = True  # a 2 × 2 block (a saturated core): stays masked
    before = data.copy()
    filled, original, remaining = fill_thin_defects(data, mask)
    assert data[1, 2] == pytest.approx((before[1, 1] + before[1, 3]) / 2)
    assert not remaining[:, 2].any()
    assert remaining[4:6, 4:6].all()
    data[filled] = original
    assert np.array_equal(data, before)
