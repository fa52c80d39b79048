"""The truth of a frame: every rendered source, and the parameters everything was made with.

One row per source (``kind``: ``star``, ``afterglow``, ``cosmic_ray``):

- ``source_id`` (the catalog id of a star, the same as the reference catalog's; −1 otherwise),
  ``name`` (afterglow name, ``cr-<n>``, or the star id);
- ``ra``, ``dec`` (degrees, ICRS, true) and ``x``, ``y`` (0-based pixel; pixel centres at
  integers, the astropy/photutils convention) through the true WCS;
- ``mag`` in the frame's filter above the atmosphere (afterglows: the exposure-mean magnitude);
- ``flux_e``: electrons the source delivers in the exposure before the flat field (extinction and
  transparency applied) — what a perfectly calibrated frame measures; ``flux_landed_e``: what the
  truncated stamp actually put on the frame's pixels; ``fwhm_px``; ``peak_e`` (brightest pixel
  of the source alone); ``saturated`` (the expected pixel value reaches digital saturation);
  ``in_frame`` (centre on the detector).

``meta`` holds the true and header WCS, pointing, conditions, detector parameters and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.table import Table

from simulators.sky.optics import pixel_to_world

_COLUMNS = (
    "source_id", "name", "kind", "ra", "dec", "x", "y", "mag", "flux_e", "flux_landed_e",
    "fwhm_px", "peak_e", "saturated", "in_frame",
)  # fmt: skip

Floats = npt.NDArray[np.float64]
#: One part of the truth table, column by column.
Columns = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class RenderedSources:
    """Stars and afterglows as stamped: one entry per source, arrays of equal length."""

    ids: npt.NDArray[np.object_]  # catalog ids (stars) or names (afterglows)
    kind: npt.NDArray[np.object_]  # "star" or "afterglow"
    ra: Floats
    dec: Floats
    x: Floats
    y: Floats
    mag: Floats
    flux_e: Floats  # delivered before the flat field
    landed_e: Floats  # what the truncated stamp put on the frame
    fwhm_px: Floats
    peak_e: Floats


class SourceRows:
    """Rows of the truth table, gathered while rendering."""

    def __init__(self) -> None:
        self._parts: list[Columns] = []
        self._width = self._height = 0

    def __len__(self) -> int:
        return sum(len(p["x"]) for p in self._parts)

    def add_sources(self, sources: RenderedSources, width: int, height: int) -> None:
        """Stars and afterglows stamped on a ``width`` × ``height`` frame."""
        self._width, self._height = width, height
        ids, x, y = sources.ids, sources.x, sources.y
        is_star = sources.kind == "star"
        source_id = np.where(is_star, ids, -1).astype(np.int64)
        in_frame = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
        self._parts.append(
            {
                "source_id": source_id,
                "name": np.array([str(i) for i in ids], dtype=object),
                "kind": np.asarray(sources.kind, dtype=object),
                "ra": np.asarray(sources.ra, dtype=float),
                "dec": np.asarray(sources.dec, dtype=float),
                "x": np.asarray(x, dtype=float),
                "y": np.asarray(y, dtype=float),
                "mag": np.asarray(sources.mag, dtype=float),
                "flux_e": np.asarray(sources.flux_e, dtype=float),
                "flux_landed_e": np.asarray(sources.landed_e, dtype=float),
                "fwhm_px": np.asarray(sources.fwhm_px, dtype=float),
                "peak_e": np.asarray(sources.peak_e, dtype=float),
                "saturated": np.zeros(len(x), dtype=bool),
                "in_frame": in_frame,
            }
        )

    def finish_saturation(
        self,
        light_e: npt.NDArray[np.float32],
        flat: npt.NDArray[np.float32] | None,
        saturation_e: float,
        dark_e: float,
    ) -> None:
        """Flag sources whose expected brightest pixel (everything included) saturates."""
        height, width = light_e.shape
        for part in self._parts:
            inside = part["in_frame"]
            xi = np.clip(np.rint(part["x"]).astype(np.int64), 0, width - 1)
            yi = np.clip(np.rint(part["y"]).astype(np.int64), 0, height - 1)
            expected = light_e[yi, xi] * (flat[yi, xi] if flat is not None else 1.0) + dark_e
            part["saturated"] = inside & (expected >= saturation_e)

    def add_cosmic_ray(self, ray: dict[str, float], wcs: Any) -> None:
        """One cosmic-ray track (its mean pixel position and deposited electrons)."""
        number = sum(int(np.sum(p["kind"] == "cosmic_ray")) for p in self._parts)
        if wcs is not None:
            ra, dec = pixel_to_world(wcs, np.array([ray["x"]]), np.array([ray["y"]]))
        else:
            ra = dec = np.array([np.nan])
        self._parts.append(
            {
                "source_id": np.array([-1], dtype=np.int64),
                "name": np.array([f"cr-{number}"], dtype=object),
                "kind": np.array(["cosmic_ray"], dtype=object),
                "ra": ra,
                "dec": dec,
                "x": np.array([ray["x"]]),
                "y": np.array([ray["y"]]),
                "mag": np.array([np.nan]),
                "flux_e": np.array([ray["flux_e"]]),
                "flux_landed_e": np.array([ray["flux_e"]]),
                "fwhm_px": np.array([np.nan]),
                "peak_e": np.array([np.nan]),
                "saturated": np.array([False]),
                "in_frame": np.array([True]),
            }
        )

    def columns(self) -> Columns:
        """Every row, column by column."""
        if not self._parts:
            empty: Columns = {k: np.empty(0) for k in _COLUMNS}
            empty["source_id"] = np.empty(0, dtype=np.int64)
            for k in ("name", "kind"):
                empty[k] = np.empty(0, dtype=str)
            for k in ("saturated", "in_frame"):
                empty[k] = np.empty(0, dtype=bool)
            return empty
        merged = {k: np.concatenate([p[k] for p in self._parts]) for k in _COLUMNS}
        for k in ("name", "kind"):
            merged[k] = merged[k].astype(str)
        return merged


def truth_table(rows: SourceRows, meta: dict[str, Any]) -> Table:
    """The truth as an astropy Table (``meta`` as given, made YAML-friendly)."""
    table = Table(rows.columns())
    table.meta.update(_plain(meta))
    return table


def _plain(value: object) -> object:
    """Plain Python types (YAML-serialisable) all the way down."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
