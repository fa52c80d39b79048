"""Alert candidates that aperture photometry cannot separate from a star: the scene fit.

For a follow-up frame, :func:`scene_candidates` fits the alert's error circle (plus a margin) as
a scene (:mod:`tasks.nrt.scene`) with a PSF fitted to bright isolated stars near it
(:mod:`tasks.nrt.psf`), and reports the non-catalog sources of that scene inside the circle
that the aperture candidates do not already hold: ``alert`` candidates with ``"method":
"scene"``. They pass the same tests as the others where those apply to a fitted source: SNR at
least ``snr_min``, away from the frame's edge, not sharper than a star (``sharpness_max`` times
the PSF's peak), not on a catalog star (within half a FWHM: that is the ``brightened`` test's
case), chance probability at most ``chance_probability_max``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.candidates import (
    MASKED_FRACTION_MAX,
    AlertRegion,
    Candidate,
    CandidateKind,
    CandidateParams,
    alert_fields,
    candidate_record,
    chance_probability,
    chance_radius_arcsec,
)
from tasks.nrt.engines import FLAG_EDGE, FLAG_MASKED, FLAG_SATURATED
from tasks.nrt.frame import Mask
from tasks.nrt.measured import MeasuredFrame
from tasks.nrt.psf import MoffatPsf, fit_psf
from tasks.nrt.scene import Region, SceneSource, SceneStart, fit_scene, region_around

#: Stars the local PSF is fitted to: the nearest ones to the alert with this SNR range.
PSF_STARS = 8
PSF_SNR_RANGE = (30.0, 3000.0)
#: Margin of the fitted square around the error circle, in FWHM.
MARGIN_FWHM = 3.0
#: The largest circle searched (a wider one is searched within this radius of its centre).
MAX_RADIUS_ARCSEC = 60.0

Floats = npt.NDArray[np.float64]


def scene_candidates(
    measured: MeasuredFrame,
    alert: AlertRegion,
    params: CandidateParams,
    *,
    density_per_arcsec2: float,
    existing: list[Candidate],
) -> list[Candidate]:
    """Scene-fit candidates inside the alert's circle that ``existing`` does not already hold.

    The scene holds the catalog stars predicted above one noise sigma on this frame
    (``measured.catalog.flux``) and the unmatched detections near the circle. The circle searched
    is the alert's, at most the chance radius (where the chance probability at
    ``density_per_arcsec2`` reaches its maximum: farther, nothing would pass) and
    ``MAX_RADIUS_ARCSEC``.

    Returns
    -------
    list of dict
        Candidates like :func:`~tasks.nrt.candidates.find_candidates`' with ``"method":
        "scene"``; empty when the alert lies off the frame or no PSF can be fitted near it.
    """
    frame, fwhm = measured.frame, measured.extraction.fwhm_px
    scale = frame.pixel_scale_arcsec
    radius_arcsec = max(alert.error_arcsec, params.alert_radius_min_arcsec)
    # Beyond the chance radius no candidate would pass; and the fit's cost grows with the area.
    radius_arcsec = min(
        radius_arcsec,
        chance_radius_arcsec(density_per_arcsec2, params.chance_probability_max),
        MAX_RADIUS_ARCSEC,
    )
    centre = _alert_pixel(measured, alert, radius_arcsec / scale)
    if centre is None:
        return []
    cx, cy = centre
    psf = _local_psf(measured, cx, cy)
    if psf is None:
        return []
    region = region_around(cx, cy, radius_arcsec / scale, MARGIN_FWHM * fwhm, frame.shape)
    start = _scene_start(measured, region)
    sources = fit_scene(measured.pixels, region, psf, start, snr_min=params.snr_min)
    circle = _Circle(alert, radius_arcsec, density_per_arcsec2)
    return _new_sources(measured, sources, circle, params, existing)


def _alert_pixel(
    measured: MeasuredFrame, alert: AlertRegion, radius_px: float
) -> tuple[float, float] | None:
    """The alert's position on the frame (pixels), None when its circle misses the frame."""
    (cx,), (cy,) = measured.wcs.all_world2pix([alert.ra_deg], [alert.dec_deg], 0, quiet=True)
    height, width = measured.frame.shape
    if not (np.isfinite(cx) and np.isfinite(cy)):
        return None
    if not (-radius_px <= cx <= width + radius_px):
        return None
    if not (-radius_px <= cy <= height + radius_px):
        return None
    return cx, cy


def _scene_start(measured: MeasuredFrame, region: Region) -> SceneStart:
    """The catalog stars predicted above one noise sigma and the unmatched detections near
    the region (within two FWHM of it)."""
    ex, catalog = measured.extraction, measured.catalog
    fwhm = ex.fwhm_px
    reach = 2.0 * fwhm
    noise = ex.background_rms_adu * math.sqrt(math.pi) * fwhm
    near_cat = np.flatnonzero(
        _within(catalog.x, catalog.y, region, reach) & (catalog.flux >= noise)
    )
    free = np.flatnonzero(
        _within(ex.x, ex.y, region, reach) & (measured.catalog_match < 0) & (ex.snr >= 3.0)
    )
    sigma_px = np.hypot(catalog.pos_err_arcsec[near_cat], 0.02) / measured.frame.pixel_scale_arcsec
    return SceneStart(
        catalog_x=catalog.x[near_cat],
        catalog_y=catalog.y[near_cat],
        catalog_sigma_px=sigma_px,
        catalog_index=near_cat,
        free_x=ex.x[free],
        free_y=ex.y[free],
    )


@dataclass(frozen=True)
class _Circle:
    """The alert circle searched, and the density of unrelated sources the chance rule uses."""

    alert: AlertRegion
    radius_arcsec: float
    density: float  # per arcsec²

    def distance_and_chance(self, ra: float, dec: float) -> tuple[float, float]:
        """Distance (arcsec) of a sky position from the alert, and its chance probability."""
        alert = self.alert
        distance = float(separation_arcsec(ra, dec, alert.ra_deg, alert.dec_deg))
        return distance, float(chance_probability(distance, self.density))


def _new_sources(
    measured: MeasuredFrame,
    sources: list[SceneSource],
    circle: _Circle,
    params: CandidateParams,
    existing: list[Candidate],
) -> list[Candidate]:
    """The scene's non-catalog sources that pass the candidate tests, as candidates."""
    fwhm = measured.extraction.fwhm_px
    stars = [s for s in sources if s.catalog_index >= 0]
    star_tree = cKDTree([(s.x, s.y) for s in stars]) if stars else None
    taken = [(c["x"], c["y"]) for c in existing]
    found = []
    for s in sources:
        if s.catalog_index >= 0 or not _looks_like_a_source(measured, s, params):
            continue
        if star_tree is not None and star_tree.query((s.x, s.y))[0] < 0.5 * fwhm:
            continue
        if any(math.hypot(s.x - x, s.y - y) < fwhm for x, y in taken):
            continue
        (ra,), (dec,) = measured.wcs.all_pix2world([s.x], [s.y], 0)
        distance, chance = circle.distance_and_chance(ra, dec)
        if distance > circle.radius_arcsec or chance > params.chance_probability_max:
            continue
        mag = float(measured.zero_point.magnitude(np.array([s.flux]))[0])
        item = candidate_record(
            CandidateKind.ALERT, ra, dec, s.x, s.y, mag, 1.0857362 / s.snr, s.snr
        )
        item["method"] = "scene"
        item.update(alert_fields(circle.alert, distance, chance))
        found.append(item)
        taken.append((s.x, s.y))
    return found


def _looks_like_a_source(
    measured: MeasuredFrame, source: SceneSource, params: CandidateParams
) -> bool:
    """Bright enough, away from the edge, not sharper than a star, not on masked pixels."""
    s = source
    if s.flux <= 0 or s.snr < params.snr_min:
        return False
    height, width = measured.frame.shape
    margin = params.edge_margin_fwhm * measured.extraction.fwhm_px
    if not (margin <= s.x <= width - 1 - margin and margin <= s.y <= height - 1 - margin):
        return False
    aperture = measured.extraction.aperture_px
    return not (
        s.sharpness > params.sharpness_max or _masked(measured.frame.mask, s.x, s.y, aperture)
    )


def _within(x: Floats, y: Floats, region: Region, reach: float) -> npt.NDArray[np.bool_]:
    return (
        (x >= region.x0 - reach)
        & (x <= region.x1 - 1 + reach)
        & (y >= region.y0 - reach)
        & (y <= region.y1 - 1 + reach)
    )


def _local_psf(measured: MeasuredFrame, cx: float, cy: float) -> MoffatPsf | None:
    """The PSF fitted to the bright, clean, isolated catalog stars nearest the alert."""
    ex, match, catalog = measured.extraction, measured.catalog_match, measured.catalog
    fwhm = ex.fwhm_px
    snr = ex.snr
    clean = (ex.flags & (FLAG_MASKED | FLAG_EDGE | FLAG_SATURATED)) == 0
    usable = np.flatnonzero(
        clean & (match >= 0) & (snr >= PSF_SNR_RANGE[0]) & (snr <= PSF_SNR_RANGE[1])
    )
    if len(usable) < 3:
        return None
    # Isolated: no other detection or catalog star within 3 FWHM.
    positions = np.column_stack([ex.x, ex.y])
    det_tree = cKDTree(positions)
    ok = np.isfinite(catalog.x) & np.isfinite(catalog.y)
    cat_tree = cKDTree(np.column_stack([catalog.x[ok], catalog.y[ok]]))
    alone = np.array(
        [
            len(det_tree.query_ball_point(positions[i], 3 * fwhm)) == 1
            and len(cat_tree.query_ball_point(positions[i], 3 * fwhm)) <= 1
            for i in usable
        ],
        dtype=bool,
    )
    usable = usable[alone]
    if len(usable) < 3:
        return None
    nearest = usable[np.argsort(np.hypot(ex.x[usable] - cx, ex.y[usable] - cy))[:PSF_STARS]]
    pixels = measured.pixels
    return fit_psf(
        pixels.data,
        ex.x[nearest],
        ex.y[nearest],
        fwhm_px=fwhm,
        rms_adu=pixels.rms_adu,
        gain=pixels.gain,
        mask=pixels.mask,
    )


def _masked(mask: Mask | None, x: float, y: float, radius: float) -> bool:
    """Whether too many of the aperture's pixels are masked (as for the aperture candidates)."""
    if mask is None:
        return False
    r, ix, iy = math.ceil(radius), round(x), round(y)
    height, width = mask.shape
    ys = slice(max(iy - r, 0), min(iy + r + 1, height))
    xs = slice(max(ix - r, 0), min(ix + r + 1, width))
    gy, gx = np.mgrid[ys, xs]
    inside = np.hypot(gx - x, gy - y) <= radius
    return bool(inside.any() and mask[ys, xs][inside].mean() > MASKED_FRACTION_MAX)
