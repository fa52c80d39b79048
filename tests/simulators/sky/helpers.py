"""What several sky tests share: rendering small frames and picking isolated bright stars."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from simulators.sky import FrameRequest, render_frame
from tests.simulators.sky.conftest import FIELD, NIGHT

VISIBLE = "Visible camera"
INFRARED = "Infrared camera"


def light_request(**changes) -> FrameRequest:
    """A 30 s r-band light frame of the test field at a dark instant (fields overridable)."""
    base = FrameRequest(
        instrument=VISIBLE,
        image_type="light",
        start=NIGHT,
        exposure_s=30.0,
        filter="r",
        ra_deg=FIELD[0],
        dec_deg=FIELD[1],
        object_name="test field",
    )
    return replace(base, **changes)


def render_light(config, **changes):
    """Render :func:`light_request` with ``config``."""
    return render_frame(light_request(**changes), config)


def later(minutes: float):
    """``NIGHT`` plus some minutes."""
    return NIGHT + timedelta(minutes=minutes)


def isolated_bright_stars(truth, width: int, height: int, min_snr: float = 150.0) -> np.ndarray:
    """Row indices of bright, unsaturated stars with nothing else nearby (nor near an edge).

    Bright means a signal-to-noise ratio above ``min_snr`` in an aperture of radius 2 FWHM on the
    frame's true sky level (the infrared sky is ~100× the visible one).
    """
    stars = (truth["kind"] == "star") & truth["in_frame"] & ~truth["saturated"]
    x, y, flux = (np.asarray(truth[c]) for c in ("x", "y", "flux_e"))
    sky = truth.meta["conditions"]["sky_e_per_pixel"]
    area = np.pi * (2.0 * np.asarray(truth["fwhm_px"])) ** 2
    snr = flux / np.sqrt(flux + area * sky)
    candidates = np.flatnonzero(stars & (snr > min_snr))
    meta = truth.meta["detector"]
    dead_columns = np.array(meta["dead_columns"] or [-1000])
    hot = np.array(meta["hot_pixels"] or [[-1000, -1000, 0]])[:, :2]
    keep = []
    for k in candidates:
        if not (15 < x[k] < width - 16 and 15 < y[k] < height - 16):
            continue
        distance = np.hypot(x - x[k], y - y[k])
        others = (distance > 0) & (distance < 15)
        # Nothing within 15 px brighter than 0.2 % of the star (cosmic rays included).
        if np.any(others & ~(flux < 0.002 * flux[k])):
            continue
        if np.min(np.abs(dead_columns - x[k])) < 8:
            continue
        if np.min(np.hypot(hot[:, 0] - x[k], hot[:, 1] - y[k])) < 8:
            continue
        keep.append(k)
    return np.array(keep, dtype=int)


def local_background_subtracted(data: np.ndarray, x: float, y: float, half: int = 12):
    """A cutout around (x, y) minus the median of its outer ring, and the cutout's origin."""
    xi, yi = round(x), round(y)
    cut = data[yi - half : yi + half + 1, xi - half : xi + half + 1].astype(float)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    ring = np.hypot(xx, yy) > half - 3
    return cut - np.median(cut[ring]), (xi - half, yi - half)


def measured_centroids(data: np.ndarray, x: np.ndarray, y: np.ndarray, box: int):
    """Centroids (photutils ``centroid_2dg``) of the sources near (x, y), background removed."""
    from photutils.centroids import centroid_2dg

    out = np.empty((len(x), 2))
    for k, (xk, yk) in enumerate(zip(x, y, strict=True)):
        cut, (x0, y0) = local_background_subtracted(data, xk, yk)
        c = cut.shape[0] // 2
        h = box // 2
        cx, cy = centroid_2dg(cut[c - h : c + h + 1, c - h : c + h + 1])
        out[k] = (x0 + c - h + cx, y0 + c - h + cy)
    return out
