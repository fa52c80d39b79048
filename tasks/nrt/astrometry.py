"""Astrometric refinement: match detections to the reference catalog, then fit a TAN-SIP WCS.

The header WCS is the mount's: off by the pointing error (about an arcminute), slightly rotated,
without the optics' distortion. The refinement:

1. **Offset voting** (a cross-correlation of the two star lists): the brightest clean detections
   and the brightest catalog stars projected through the header WCS; every detection–star pair
   closer than ``max_offset_arcsec`` votes for its offset in a 2-D histogram; the true offset is
   the peak (one vote per real star, noise spread over the whole disc). Rotations up to
   ``max_rotation_deg`` are searched on a grid fine enough that the frame corners move by less
   than a bin. Pairs come from a scipy KD-tree; the voting is vectorised.
2. **Affine fit** on the pairs at the peak (3-sigma clipped), then every clean detection is
   matched to its nearest catalog star (mutual nearest, within ``match_radius_arcsec``).
3. **WCS fit**: astropy's ``fit_wcs_from_points`` (TAN, SIP of ``sip_degree``), residuals clipped
   at 3 sigma, matched again with the fitted WCS, fitted again.

Fails with :class:`~tasks.nrt.frame.NrtError` (too few detections, no significant peak: clouds,
another field, a pointing error beyond the search) — never a wrong solution silently: the peak
must stand out of the random votes.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from tasks.nrt.catalog import CatalogStars
from tasks.nrt.frame import NrtError

BIN_PX = 2.0
#: Matched stars given to the SIP fit (the brightest: the best centroids).
SIP_POINTS = 400
#: The offset peak is summed over this many bins square (the distortion spreads it a little).
PEAK_WINDOW = 3


@dataclass
class AstrometryParams:
    """Search and fit settings (from ``[nrt]``)."""

    max_offset_arcsec: float = 300.0
    max_rotation_deg: float = 0.5
    match_stars: int = 120
    min_matches: int = 12
    sip_degree: int = 3
    match_radius_arcsec: float = 1.5


@dataclass
class Solution:
    """A fitted WCS and the detections it matched to catalog stars."""

    wcs: object
    det_index: np.ndarray  # matched detections
    cat_index: np.ndarray  # their catalog stars
    rms_arcsec: float  # residuals of the matched stars
    n_matches: int
    offset_arcsec: float  # the header WCS's error at the frame centre
    rotation_deg: float
    peak_votes: int
    background_votes: float
    seconds: dict = field(default_factory=dict)


def solve(
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    usable: np.ndarray,
    header_wcs,
    stars: CatalogStars,
    shape: tuple[int, int],
    pixel_scale_arcsec: float,
    params: AstrometryParams,
) -> Solution:
    """Refine ``header_wcs`` by matching detections (x, y) to catalog ``stars``.

    Parameters
    ----------
    x, y, flux : ndarray
        Detections (0-based pixels) and their fluxes (brightest are used for the search).
    usable : ndarray of bool
        Detections that may be matched (clean, not saturated, significant).
    header_wcs : astropy WCS
        The initial WCS.
    stars : CatalogStars
        Catalog stars around the field.
    shape : (height, width)
    pixel_scale_arcsec : float
    params : AstrometryParams

    Raises
    ------
    NrtError
        Too few detections or catalog stars, or no significant match.
    """
    started = time.perf_counter()
    height, width = shape
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    max_offset_px = params.max_offset_arcsec / pixel_scale_arcsec
    good = np.flatnonzero(usable & np.isfinite(x) & np.isfinite(y))
    if len(good) < params.min_matches:
        raise NrtError(
            f"astrometry: {len(good)} usable sources detected, {params.min_matches} needed "
            "(clouds, closed dome or an empty field?)"
        )
    if len(stars) < params.min_matches:
        raise NrtError(f"astrometry: {len(stars)} catalog stars around the field")
    cx, cy = header_wcs.wcs_world2pix(stars.ra, stars.dec, 0)
    margin = max_offset_px + 0.5 * math.hypot(width, height) * math.radians(params.max_rotation_deg)
    near = np.flatnonzero(
        (cx > -margin) & (cx < width - 1 + margin) & (cy > -margin) & (cy < height - 1 + margin)
    )
    bright_det = good[np.argsort(-flux[good])][: params.match_stars]
    area_ratio = ((width + 2 * margin) * (height + 2 * margin)) / float(width * height)
    n_cat = int(min(len(near), max(2 * params.match_stars, params.match_stars * area_ratio)))
    bright_cat = near[np.argsort(stars.mag[near], kind="stable")][:n_cat]
    det_xy = np.column_stack([x[bright_det], y[bright_det]]) - centre
    cat_xy = np.column_stack([cx[bright_cat], cy[bright_cat]]) - centre
    theta, offset, votes, background = _vote(det_xy, cat_xy, max_offset_px, params)
    seconds = {"vote": time.perf_counter() - started}
    if votes < max(params.min_matches, background + 6.0 * math.sqrt(max(background, 1.0))):
        raise NrtError(
            f"astrometry: no match between {len(bright_det)} detections and {len(bright_cat)} "
            f"catalog stars within {params.max_offset_arcsec:g}″ and {params.max_rotation_deg:g}° "
            f"(best peak {votes} votes, {background:.1f} expected by chance)"
        )
    # Affine transform detection -> header-WCS pixels, from the pairs at the peak.
    predicted = _rotate(det_xy, theta) + offset
    affine = _fit_affine(det_xy, cat_xy, predicted, tol=2.5 * BIN_PX)
    all_xy = np.column_stack([x, y]) - centre
    cat_all = np.column_stack([cx, cy]) - centre
    radius_px = params.match_radius_arcsec / pixel_scale_arcsec
    det_i, cat_i = mutual_nearest(_apply(affine, all_xy[good]), cat_all, 3 * radius_px)
    det_i = good[det_i]
    seconds["affine"] = time.perf_counter() - started
    # A linear TAN fit on the affine matches (fast), matching again with it (within twice the
    # radius: the distortion is not fitted yet), then ONE TAN-SIP fit on the brightest matches
    # (astropy's SIP fit costs 0.1-0.2 s whatever the number of points), and the final matches.
    linear = AstrometryParams(**{**vars(params), "sip_degree": 0})
    wcs, _keep = _fit_wcs(x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i], linear, clip=True)
    det_i, cat_i = _match(wcs, x, y, good, stars, 2 * radius_px)
    strongest = det_i[np.argsort(-flux[det_i])][:SIP_POINTS]
    cat_of = dict(zip(det_i.tolist(), cat_i.tolist(), strict=True))
    cat_s = np.array([cat_of[d] for d in strongest.tolist()], dtype=np.int64)
    wcs, _ = _fit_wcs(x[strongest], y[strongest], stars.ra[cat_s], stars.dec[cat_s], params)
    det_i, cat_i = _match(wcs, x, y, good, stars, radius_px)
    resid = _residuals_arcsec(wcs, x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i])
    sigma = 1.4826 * float(np.median(resid)) if len(resid) else 0.0
    clean = resid < max(4.0 * sigma, 0.05)
    det_i, cat_i = det_i[clean], cat_i[clean]
    rms = residual_rms_arcsec(wcs, x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i])
    seconds["fit"] = time.perf_counter() - started
    ra0, dec0 = header_wcs.wcs_pix2world([centre[0]], [centre[1]], 0)
    ra1, dec1 = wcs.all_pix2world([centre[0]], [centre[1]], 0)
    error = _separation_arcsec(ra0, dec0, ra1, dec1)[0]
    rotation = _position_angle(wcs) - _position_angle(header_wcs)
    return Solution(
        wcs=wcs,
        det_index=det_i,
        cat_index=cat_i,
        rms_arcsec=rms,
        n_matches=len(det_i),
        offset_arcsec=float(error),
        rotation_deg=(rotation + 180.0) % 360.0 - 180.0,
        peak_votes=int(votes),
        background_votes=float(background),
        seconds=seconds,
    )


def _position_angle(wcs) -> float:
    """Angle (degrees) of the pixel y axis from north, from the WCS's linear part."""
    matrix = wcs.pixel_scale_matrix
    return math.degrees(math.atan2(matrix[0, 1], matrix[1, 1]))


def _rotate(xy: np.ndarray, theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.column_stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]])


def _vote(det_xy, cat_xy, max_offset_px: float, params: AstrometryParams):
    """The (rotation, offset) most detection–star pairs agree on, its votes and the chance level."""
    from scipy.ndimage import uniform_filter

    half_diagonal = float(np.max(np.hypot(det_xy[:, 0], det_xy[:, 1]))) or 1.0
    max_theta = math.radians(params.max_rotation_deg)
    step = BIN_PX / half_diagonal
    count = max(1, math.ceil(max_theta / step))
    thetas = np.linspace(-max_theta, max_theta, 2 * count + 1) if max_theta > 0 else np.zeros(1)
    reach = max_offset_px + half_diagonal * max_theta
    tree = cKDTree(cat_xy)
    pairs = tree.query_ball_point(det_xy, reach)
    det_k = np.repeat(np.arange(len(det_xy)), [len(p) for p in pairs])
    cat_k = np.fromiter((j for p in pairs for j in p), dtype=np.int64, count=len(det_k))
    if len(det_k) == 0:
        return 0.0, np.zeros(2), 0, 0.0
    n_bins = math.ceil(2 * max_offset_px / BIN_PX)
    disc_bins = math.pi * max_offset_px**2 / BIN_PX**2
    background = len(det_k) * PEAK_WINDOW**2 / disc_bins
    threshold = max(params.min_matches, background + 6.0 * math.sqrt(max(background, 1.0)))
    best = (-1.0, 0.0, np.zeros(2))
    # No rotation first (the usual case); the grid only when that finds nothing significant.
    for theta in sorted(thetas, key=abs):
        rotated = _rotate(det_xy[det_k], theta)
        d = cat_xy[cat_k] - rotated
        ij = np.floor((d + max_offset_px) / BIN_PX).astype(np.int64)
        inside = (ij >= 0).all(axis=1) & (ij < n_bins).all(axis=1)
        flat = ij[inside, 0] * n_bins + ij[inside, 1]
        hist = np.bincount(flat, minlength=n_bins * n_bins).reshape(n_bins, n_bins)
        summed = uniform_filter(hist.astype(np.float32), size=PEAK_WINDOW, mode="constant")
        k = int(np.argmax(summed))
        value = round(float(summed.flat[k]) * PEAK_WINDOW**2)
        if value > best[0]:
            i, j = np.unravel_index(k, summed.shape)
            centre = (np.array([i, j]) + 0.5) * BIN_PX - max_offset_px
            near = np.hypot(d[:, 0] - centre[0], d[:, 1] - centre[1]) < 2 * BIN_PX
            refined = np.median(d[near], axis=0) if near.any() else centre
            best = (value, theta, refined)
        if theta == 0 and best[0] >= 2 * threshold:
            break
    votes, theta, offset = best
    return float(theta), offset, int(votes), float(background)


def _fit_affine(det_xy, cat_xy, predicted, tol: float) -> np.ndarray:
    """Least-squares affine map (3x2) from detection to catalog pixels, 3-sigma clipped."""
    tree = cKDTree(cat_xy)
    dist, j = tree.query(predicted, distance_upper_bound=tol)
    ok = np.isfinite(dist)
    src, dst = det_xy[ok], cat_xy[j[ok]]
    design = np.column_stack([src, np.ones(len(src))])
    affine = np.linalg.lstsq(design, dst, rcond=None)[0]
    for _ in range(2):
        resid = np.hypot(*(design @ affine - dst).T)
        keep = resid < max(3.0 * np.median(resid) * 1.4826, 0.5)
        if keep.sum() < 6:
            break
        affine = np.linalg.lstsq(design[keep], dst[keep], rcond=None)[0]
    return affine


def _apply(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return np.column_stack([xy, np.ones(len(xy))]) @ affine


def mutual_nearest(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i in a, j in b) that are each other's nearest neighbour within ``radius``."""
    if len(a) == 0 or len(b) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    dist_ab, j = cKDTree(b).query(a, distance_upper_bound=radius)
    ok = np.isfinite(dist_ab)
    i = np.flatnonzero(ok)
    j = j[ok]
    _, back = cKDTree(a).query(b[j])
    mutual = back == i
    return i[mutual], j[mutual]


def _match(wcs, x, y, good, stars: CatalogStars, radius_px: float):
    """Mutual nearest pairs (detection, catalog star) through ``wcs``."""
    px, py = wcs.all_world2pix(stars.ra, stars.dec, 0, quiet=True)
    d, c = mutual_nearest(np.column_stack([x[good], y[good]]), np.column_stack([px, py]), radius_px)
    return good[d], c


def _fit_wcs(x, y, ra, dec, params: AstrometryParams, clip: bool = False):
    """``fit_wcs_from_points`` (TAN, SIP of ``sip_degree``); with ``clip``, refit without the
    residuals beyond 3 sigma. Returns the WCS and the points kept."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import fit_wcs_from_points

    if len(x) < params.min_matches:
        raise NrtError(f"astrometry: {len(x)} matched stars, {params.min_matches} needed")
    degree = params.sip_degree if len(x) >= 6 * (params.sip_degree + 1) ** 2 else 0
    keep = np.ones(len(x), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        world = SkyCoord(ra * u.deg, dec * u.deg)
        wcs = fit_wcs_from_points((x, y), world, projection="TAN", sip_degree=degree or None)
        if clip:
            resid = _residuals_arcsec(wcs, x, y, ra, dec)
            keep = resid < max(3.0 * 1.4826 * float(np.median(resid)), 0.05)
            if keep.sum() >= params.min_matches and not keep.all():
                world = SkyCoord(ra[keep] * u.deg, dec[keep] * u.deg)
                wcs = fit_wcs_from_points(
                    (x[keep], y[keep]), world, projection="TAN", sip_degree=degree or None
                )
            else:
                keep[:] = True
    return wcs, keep


def _residuals_arcsec(wcs, x, y, ra, dec) -> np.ndarray:
    fra, fdec = wcs.all_pix2world(x, y, 0)
    return _separation_arcsec(fra, fdec, ra, dec)


def residual_rms_arcsec(wcs, x, y, ra, dec) -> float:
    """RMS distance (arcsec) between fitted positions of detections and their catalog stars."""
    resid = _residuals_arcsec(wcs, x, y, ra, dec)
    return float(np.sqrt(np.mean(resid**2))) if len(resid) else math.nan


def _separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular separation (arcsec), Vincenty's formula in NumPy (vectorised, exact)."""
    from astropy.coordinates import angular_separation

    return (
        np.degrees(
            angular_separation(np.radians(ra1), np.radians(dec1), np.radians(ra2), np.radians(dec2))
        )
        * 3600.0
    )


separation_arcsec = _separation_arcsec
