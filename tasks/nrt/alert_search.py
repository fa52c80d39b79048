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

import numpy as np
from scipy.spatial import cKDTree

from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.candidates import (
    MASKED_FRACTION_MAX,
    AlertRegion,
    CandidateParams,
    alert_fields,
    candidate_record,
    chance_probability,
    chance_radius_arcsec,
)
from tasks.nrt.extract import FLAG_EDGE, FLAG_MASKED, FLAG_SATURATED, Extraction
from tasks.nrt.psf import fit_psf
from tasks.nrt.scene import fit_scene, region_around

#: Stars the local PSF is fitted to: the nearest ones to the alert with this SNR range.
PSF_STARS = 8
PSF_SNR_RANGE = (30.0, 3000.0)
#: Margin of the fitted square around the error circle, in FWHM.
MARGIN_FWHM = 3.0
#: The largest circle searched (a wider one is searched within this radius of its centre).
MAX_RADIUS_ARCSEC = 60.0


def scene_candidates(
    ex: Extraction,
    frame,
    *,
    wcs,
    catalog_x: np.ndarray,
    catalog_y: np.ndarray,
    catalog_flux: np.ndarray,
    catalog_pos_err_arcsec: np.ndarray,
    detection_match: np.ndarray,
    zero_point,
    alert: AlertRegion,
    params: CandidateParams,
    density_per_arcsec2: float,
    existing: list[dict],
) -> list[dict]:
    """Scene-fit candidates inside the alert's circle that ``existing`` does not already hold.

    ``catalog_flux`` is each catalog star's expected flux (ADU) on this frame; stars predicted
    below one noise sigma are left out of the scene. The circle searched is the alert's, at
    most the chance radius (where the chance probability reaches its maximum: farther, nothing
    would pass) and ``MAX_RADIUS_ARCSEC``.

    Returns
    -------
    list of dict
        Candidates like :func:`~tasks.nrt.candidates.find_candidates`' with ``"method":
        "scene"``; empty when the alert lies off the frame or no PSF can be fitted near it.
    """
    scale = frame.pixel_scale_arcsec
    fwhm = ex.fwhm_px
    radius_arcsec = max(alert.error_arcsec, params.alert_radius_min_arcsec)
    # Beyond the chance radius no candidate would pass; and the fit's cost grows with the area.
    radius_arcsec = min(
        radius_arcsec,
        chance_radius_arcsec(density_per_arcsec2, params.chance_probability_max),
        MAX_RADIUS_ARCSEC,
    )
    (cx,), (cy,) = wcs.all_world2pix([alert.ra_deg], [alert.dec_deg], 0, quiet=True)
    height, width = frame.shape
    margin = params.edge_margin_fwhm * fwhm
    if not (np.isfinite(cx) and np.isfinite(cy)):
        return []
    if not (-radius_arcsec / scale <= cx <= width + radius_arcsec / scale):
        return []
    if not (-radius_arcsec / scale <= cy <= height + radius_arcsec / scale):
        return []
    psf = _local_psf(ex, frame, detection_match, catalog_x, catalog_y, cx, cy)
    if psf is None:
        return []
    region = region_around(cx, cy, radius_arcsec / scale, MARGIN_FWHM * fwhm, frame.shape)
    reach = 2.0 * fwhm
    noise = ex.background_rms_adu * math.sqrt(math.pi) * fwhm
    near_cat = np.flatnonzero(
        _within(catalog_x, catalog_y, region, reach) & (catalog_flux >= noise)
    )
    free = np.flatnonzero(
        _within(ex.x, ex.y, region, reach) & (detection_match < 0) & (ex.snr >= 3.0)
    )
    sigma_px = np.hypot(catalog_pos_err_arcsec[near_cat], 0.02) / scale
    sources = fit_scene(
        frame.data,
        frame.mask,
        region,
        psf,
        rms_adu=ex.background_rms_adu,
        gain=frame.gain,
        catalog_x=catalog_x[near_cat],
        catalog_y=catalog_y[near_cat],
        catalog_sigma_px=sigma_px,
        catalog_index=near_cat,
        free_x=ex.x[free],
        free_y=ex.y[free],
        snr_min=params.snr_min,
    )
    stars = [s for s in sources if s.catalog_index >= 0]
    star_tree = cKDTree([(s.x, s.y) for s in stars]) if stars else None
    taken = [(c["x"], c["y"]) for c in existing]
    found = []
    for s in sources:
        if s.catalog_index >= 0 or s.flux <= 0 or s.snr < params.snr_min:
            continue
        if not (margin <= s.x <= width - 1 - margin and margin <= s.y <= height - 1 - margin):
            continue
        if s.sharpness > params.sharpness_max or _masked(frame.mask, s.x, s.y, ex.aperture_px):
            continue
        if star_tree is not None and star_tree.query((s.x, s.y))[0] < 0.5 * fwhm:
            continue
        if any(math.hypot(s.x - x, s.y - y) < fwhm for x, y in taken):
            continue
        (ra,), (dec,) = wcs.all_pix2world([s.x], [s.y], 0)
        distance = float(separation_arcsec(ra, dec, alert.ra_deg, alert.dec_deg))
        chance = float(chance_probability(distance, density_per_arcsec2))
        if distance > radius_arcsec or chance > params.chance_probability_max:
            continue
        mag = float(zero_point.magnitude(np.array([s.flux]))[0])
        item = candidate_record("alert", ra, dec, s.x, s.y, mag, 1.0857362 / s.snr, s.snr)
        item["method"] = "scene"
        item.update(alert_fields(alert, distance, chance))
        found.append(item)
        taken.append((s.x, s.y))
    return found


def _within(x, y, region, reach: float) -> np.ndarray:
    return (
        (x >= region.x0 - reach)
        & (x <= region.x1 - 1 + reach)
        & (y >= region.y0 - reach)
        & (y <= region.y1 - 1 + reach)
    )


def _local_psf(ex: Extraction, frame, match, catalog_x, catalog_y, cx: float, cy: float):
    """The PSF fitted to the bright, clean, isolated catalog stars nearest the alert."""
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
    ok = np.isfinite(catalog_x) & np.isfinite(catalog_y)
    cat_tree = cKDTree(np.column_stack([catalog_x[ok], catalog_y[ok]]))
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
    return fit_psf(
        frame.data,
        ex.x[nearest],
        ex.y[nearest],
        fwhm_px=fwhm,
        rms_adu=ex.background_rms_adu,
        gain=frame.gain,
        mask=frame.mask,
    )


def _masked(mask, x: float, y: float, radius: float) -> bool:
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
