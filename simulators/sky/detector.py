"""The detector's fixed patterns: bias, dark current, flat field and bad pixels (cached).

Everything here is fixed for a camera (and a filter for the flat): drawn from the streams
``(seed, <pattern>, instrument[, filter])``, the same in every frame, so calibration can be judged
against it. :func:`detector_model` returns the cached model; its :meth:`DetectorModel.truth`
lists the exact parameters written beside each frame, and its arrays regenerate them exactly.

- **bias** (ADU): ``bias_adu`` + a column pattern ``N(0, bias_column_sigma_adu)`` per column;
- **dark current** (e-/s): ``dark_current_e_s`` everywhere, plus hot pixels
  (``hot_pixel_fraction`` of the pixels, lognormal around ``hot_pixel_dark_e_s``);
- **flat field** (response, 1 at the centre): vignetting ``1 - vignetting * (r / r_corner)²``,
  dust donuts (``dust_donuts`` per filter: annuli of depth ``dust_donut_depth`` with radii around
  ``dust_donut_radius_px``), pixel response non-uniformity ``N(1, prnu_sigma)``, dead pixels
  (``dead_pixel_fraction``, response 0.02) and dead columns (``bad_columns``, response 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from infra.config import InstrumentSection
from infra.config_sky import SkySection
from simulators.sky.seeds import generator

DEAD_PIXEL_RESPONSE = 0.02
DEAD_COLUMN_RESPONSE = 0.05

Image = npt.NDArray[np.float32]
#: One dust donut of a flat: x, y, inner and outer radius (px), depth.
Donut = dict[str, float]


@dataclass(frozen=True)
class DetectorKey:
    """Everything that decides a camera's fixed patterns (hashable cache key)."""

    seed: int
    instrument: str
    width: int
    height: int
    bias_adu: float
    dark_current_e_s: float
    bias_column_sigma_adu: float
    prnu_sigma: float
    vignetting: float
    dust_donuts: int
    dust_donut_depth: float
    dust_donut_radius_px: float
    hot_pixel_fraction: float
    hot_pixel_dark_e_s: float
    dead_pixel_fraction: float
    bad_columns: int

    @classmethod
    def of(cls, sky: SkySection, instrument: InstrumentSection, seed: int) -> DetectorKey:
        return cls(
            seed, instrument.name, instrument.width, instrument.height, instrument.bias_adu,
            instrument.dark_current_e_s, sky.bias_column_sigma_adu, sky.prnu_sigma,
            sky.vignetting, sky.dust_donuts, sky.dust_donut_depth, sky.dust_donut_radius_px,
            sky.hot_pixel_fraction, sky.hot_pixel_dark_e_s, sky.dead_pixel_fraction,
            sky.bad_columns,
        )  # fmt: skip


@dataclass
class DetectorModel:
    """A camera's fixed patterns (arrays are read-only; share them, never modify them)."""

    key: DetectorKey
    bias_map_adu: Image  # (height, width)
    column_pattern_adu: Image  # (width,)
    hot_index: npt.NDArray[np.int64]  # flat indices of hot pixels
    hot_dark_e_s: npt.NDArray[np.float64]  # their dark current (e-/s)
    dead_index: npt.NDArray[np.int64]  # flat indices of dead pixels
    dead_columns: npt.NDArray[np.int64]
    _flats: dict[str, tuple[Image, list[Donut]]] = field(default_factory=dict)

    def flat(self, filter_name: str) -> Image:
        """The flat field (response) in ``filter_name``: float32, read-only, cached."""
        return self._flat_and_donuts(filter_name)[0]

    def donuts(self, filter_name: str) -> list[Donut]:
        """The dust donuts of ``filter_name``: x, y, inner and outer radius (px), depth."""
        return self._flat_and_donuts(filter_name)[1]

    def _flat_and_donuts(self, filter_name: str) -> tuple[Image, list[Donut]]:
        if filter_name not in self._flats:
            if len(self._flats) >= 3:  # 64 MB each at 4096²: keep the last few filters
                self._flats.pop(next(iter(self._flats)))
            self._flats[filter_name] = _make_flat(self, filter_name)
        return self._flats[filter_name]

    def truth(self, filter_name: str | None) -> dict[str, Any]:
        """The exact parameters of the patterns (written beside every frame)."""
        k = self.key
        width = k.width
        flat: dict[str, Any] = {
            "vignetting": k.vignetting,
            "vignetting_model": "1 - vignetting * (r / r_corner)**2 about the frame centre",
            "prnu_sigma": k.prnu_sigma,
            "prnu_stream": ["prnu", k.instrument],
        }
        if filter_name is not None:
            flat["filter"] = filter_name
            flat["donuts"] = self.donuts(filter_name)
        return {
            "seed": k.seed,
            "bias_level_adu": k.bias_adu,
            "bias_column_sigma_adu": k.bias_column_sigma_adu,
            "bias_column_pattern_stream": ["bias-columns", k.instrument],
            "dark_current_e_s": k.dark_current_e_s,
            "hot_pixels": [
                [int(i % width), int(i // width), round(float(r), 4)]
                for i, r in zip(self.hot_index, self.hot_dark_e_s, strict=True)
            ],
            "dead_pixels": [[int(i % width), int(i // width)] for i in self.dead_index],
            "dead_columns": [int(c) for c in self.dead_columns],
            "dead_pixel_response": DEAD_PIXEL_RESPONSE,
            "dead_column_response": DEAD_COLUMN_RESPONSE,
            "flat": flat,
        }


def detector_model(sky: SkySection, instrument: InstrumentSection, seed: int) -> DetectorModel:
    """The (cached) fixed patterns of ``instrument`` under ``sky`` and ``seed``."""
    return _cached_model(DetectorKey.of(sky, instrument, seed))


@lru_cache(maxsize=2)
def _cached_model(key: DetectorKey) -> DetectorModel:
    npix = key.width * key.height
    rng = generator(key.seed, "bias-columns", key.instrument)
    columns = (rng.standard_normal(key.width) * key.bias_column_sigma_adu).astype(np.float32)
    bias = np.empty((key.height, key.width), dtype=np.float32)
    bias[:] = np.float32(key.bias_adu) + columns[None, :]
    rng = generator(key.seed, "bad-pixels", key.instrument)
    n_hot = int(rng.poisson(key.hot_pixel_fraction * npix))
    hot = np.unique(rng.integers(0, npix, n_hot))
    hot_rate = key.hot_pixel_dark_e_s * rng.lognormal(0.0, 0.7, len(hot))
    n_dead = int(rng.poisson(key.dead_pixel_fraction * npix))
    dead = np.setdiff1d(np.unique(rng.integers(0, npix, n_dead)), hot)
    dead_columns = np.unique(rng.integers(0, key.width, key.bad_columns))
    for array in (bias, columns, hot, hot_rate, dead, dead_columns):
        array.flags.writeable = False
    return DetectorModel(key, bias, columns, hot, hot_rate, dead, dead_columns)


def _make_flat(model: DetectorModel, filter_name: str) -> tuple[Image, list[Donut]]:
    k = model.key
    yy = (np.arange(k.height, dtype=np.float32) - (k.height - 1) / 2.0)[:, None]
    xx = (np.arange(k.width, dtype=np.float32) - (k.width - 1) / 2.0)[None, :]
    r2_corner = ((k.width - 1) / 2.0) ** 2 + ((k.height - 1) / 2.0) ** 2
    flat = 1.0 - np.float32(k.vignetting / r2_corner) * (xx * xx + yy * yy)
    rng = generator(k.seed, "dust", k.instrument, filter_name)
    donuts: list[Donut] = []
    for _ in range(k.dust_donuts):
        outer = k.dust_donut_radius_px * rng.uniform(0.6, 1.4)
        inner = outer * rng.uniform(0.35, 0.6)
        cx = rng.uniform(0, k.width - 1)
        cy = rng.uniform(0, k.height - 1)
        depth = k.dust_donut_depth * rng.uniform(0.5, 1.5)
        donuts.append(
            {"x": round(cx, 3), "y": round(cy, 3), "r_inner": round(inner, 3),
             "r_outer": round(outer, 3), "depth": round(depth, 5)}
        )  # fmt: skip
        _apply_donut(flat, cx, cy, inner, outer, depth)
    prnu = generator(k.seed, "prnu", k.instrument)
    flat *= 1.0 + np.float32(k.prnu_sigma) * prnu.standard_normal(flat.shape, dtype=np.float32)
    flat.reshape(-1)[model.dead_index] = DEAD_PIXEL_RESPONSE
    flat[:, model.dead_columns] = DEAD_COLUMN_RESPONSE
    flat.flags.writeable = False
    return flat, donuts


def _apply_donut(
    flat: Image, cx: float, cy: float, inner: float, outer: float, depth: float
) -> None:
    """Multiply an annulus (soft edges one pixel wide) of fractional depth into ``flat``."""
    height, width = flat.shape
    x_lo, x_hi = max(0, math.floor(cx - outer - 2)), min(width, math.ceil(cx + outer + 3))
    y_lo, y_hi = max(0, math.floor(cy - outer - 2)), min(height, math.ceil(cy + outer + 3))
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    xs = np.arange(x_lo, x_hi) - cx
    ys = np.arange(y_lo, y_hi) - cy
    r = np.hypot(ys[:, None], xs[None, :])
    ring = np.clip(outer + 0.5 - r, 0.0, 1.0) * np.clip(r - inner + 0.5, 0.0, 1.0)
    flat[y_lo:y_hi, x_lo:x_hi] *= (1.0 - depth * ring).astype(np.float32)
