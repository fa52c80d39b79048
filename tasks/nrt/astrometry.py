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

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import SkyCoord, angular_separation
from astropy.wcs import WCS
from astropy.wcs.utils import fit_wcs_from_points
from scipy.ndimage import uniform_filter
from scipy.spatial import cKDTree

from infra.config_nrt import NrtSection
from infra.refcat import CatalogStars
from tasks.nrt.frame import NrtError

BIN_PX = 2.0
#: Matched stars given to the SIP fit (the brightest: the best centroids).
SIP_POINTS = 400
#: The offset peak is summed over this many bins square (the distortion spreads it a little).
PEAK_WINDOW = 3
#: The second vote's catalog list is this many times longer than the first's.
WIDER_CATALOG = 3

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]


@dataclass
class AstrometryParams:
    """Search and fit settings (from ``[nrt]``)."""

    max_offset_arcsec: float = 300.0
    max_rotation_deg: float = 0.5
    match_stars: int = 120
    min_matches: int = 12
    sip_degree: int = 3
    match_radius_arcsec: float = 1.5

    @classmethod
    def from_section(cls, nrt: NrtSection) -> AstrometryParams:
        """The settings of the ``[nrt]`` configuration section."""
        return cls(
            max_offset_arcsec=nrt.max_offset_arcsec,
            max_rotation_deg=nrt.max_rotation_deg,
            match_stars=nrt.match_stars,
            min_matches=nrt.min_matches,
            sip_degree=nrt.sip_degree,
            match_radius_arcsec=nrt.match_radius_arcsec,
        )


@dataclass(frozen=True)
class FrameGeometry:
    """The frame as its header describes it: the initial (mount) WCS, shape and pixel scale."""

    header_wcs: WCS
    shape: tuple[int, int]  # (height, width)
    pixel_scale_arcsec: float

    @property
    def centre(self) -> Floats:
        """The frame centre (x, y), 0-based pixels."""
        height, width = self.shape
        return np.array([(width - 1) / 2.0, (height - 1) / 2.0])


@dataclass
class Solution:
    """A fitted WCS and the detections it matched to catalog stars."""

    wcs: WCS
    det_index: Indices  # matched detections
    cat_index: Indices  # their catalog stars
    rms_arcsec: float  # residuals of the matched stars
    n_matches: int
    offset_arcsec: float  # the header WCS's error at the frame centre
    rotation_deg: float
    peak_votes: int
    background_votes: float
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _StarLists:
    """The two lists matched: detections (``good``: those that may be matched) and the catalog."""

    x: Floats
    y: Floats
    flux: Floats
    good: Indices
    stars: CatalogStars
    saturated_stars: int = 0


@dataclass(frozen=True)
class _Peak:
    """The (rotation, offset) most detection–star pairs agree on, its votes and the chance level."""

    theta: float
    offset: Floats
    votes: int
    background: float


def solve(
    x: Floats,
    y: Floats,
    flux: Floats,
    usable: npt.NDArray[np.bool_],
    geometry: FrameGeometry,
    stars: CatalogStars,
    params: AstrometryParams,
    saturated_stars: int = 0,
) -> Solution:
    """Refine the header WCS by matching detections (x, y) to catalog ``stars``.

    Parameters
    ----------
    x, y, flux : ndarray
        Detections (0-based pixels) and their fluxes (brightest are used for the search).
    usable : ndarray of bool
        Detections that may be matched (clean, not saturated, significant).
    geometry : FrameGeometry
        The initial WCS, the frame's shape and pixel scale.
    stars : CatalogStars
        Catalog stars around the field.
    params : AstrometryParams
    saturated_stars : int
        Stars the frame saturated (none of them is a usable detection): as many of the brightest
        catalog stars (per area) are left out of the voting.

    Raises
    ------
    NrtError
        Too few detections or catalog stars, or no significant match.
    """
    started = time.perf_counter()
    good = np.flatnonzero(usable & np.isfinite(x) & np.isfinite(y))
    if len(good) < params.min_matches:
        raise NrtError(
            f"astrometry: {len(good)} usable sources detected, {params.min_matches} needed "
            "(clouds, closed dome or an empty field?)"
        )
    if len(stars) < params.min_matches:
        raise NrtError(f"astrometry: {len(stars)} catalog stars around the field")
    lists = _StarLists(x, y, flux, good, stars, saturated_stars)
    cx, cy = geometry.header_wcs.wcs_world2pix(stars.ra, stars.dec, 0)
    max_offset_px = params.max_offset_arcsec / geometry.pixel_scale_arcsec
    # Saturated, masked and blended stars make the detections span more catalog magnitudes
    # than their number says: when the two lists do not agree, a catalog list WIDER_CATALOG
    # times longer (the chance level rises with it) holds the counterparts.
    # The saturated stars' share is left out first, then (the estimate may be wrong: blobs of
    # masked pixels that are not stars) kept.
    for skip, width in ((True, 1), (True, WIDER_CATALOG), (False, 1), (False, WIDER_CATALOG)):
        det_xy, cat_xy = _brightest(lists, cx, cy, geometry, params, width, skip)
        peak = _vote(det_xy, cat_xy, max_offset_px, params)
        if peak.votes >= _significant_votes(peak.background, params):
            break
    seconds = {"vote": time.perf_counter() - started}
    if peak.votes < _significant_votes(peak.background, params):
        raise NrtError(
            f"astrometry: no match between {len(det_xy)} detections and {len(cat_xy)} "
            f"catalog stars within {params.max_offset_arcsec:g}″ and {params.max_rotation_deg:g}° "
            f"(best peak {peak.votes} votes, {peak.background:.1f} expected by chance): the "
            "stars detected do not line up with the catalog around the pointing (another field, "
            "a pointing error beyond the search, or trailed or blended stars)"
        )
    # Affine transform detection -> header-WCS pixels, from the pairs at the peak.
    predicted = _rotate(det_xy, peak.theta) + peak.offset
    affine = _fit_affine(det_xy, cat_xy, predicted, tol=2.5 * BIN_PX)
    all_xy = np.column_stack([x, y]) - geometry.centre
    cat_all = np.column_stack([cx, cy]) - geometry.centre
    radius_px = params.match_radius_arcsec / geometry.pixel_scale_arcsec
    det_i, cat_i = mutual_nearest(_apply(affine, all_xy[good]), cat_all, 3 * radius_px)
    seconds["affine"] = time.perf_counter() - started
    wcs, det_i, cat_i = _fit_to_matches(lists, good[det_i], cat_i, radius_px, params)
    rms = residual_rms_arcsec(wcs, x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i])
    seconds["fit"] = time.perf_counter() - started
    return _solution(wcs, geometry, (det_i, cat_i), rms, peak, seconds)


def _significant_votes(background: float, params: AstrometryParams) -> float:
    """Votes a peak needs to stand out of the random ones (and to give enough matches)."""
    return max(params.min_matches, background + 6.0 * math.sqrt(max(background, 1.0)))


def _brightest(
    lists: _StarLists,
    cx: Floats,
    cy: Floats,
    geometry: FrameGeometry,
    params: AstrometryParams,
    width: int = 1,
    skip_saturated: bool = True,
) -> tuple[Floats, Floats]:
    """The brightest usable detections and the brightest catalog stars that may fall on the
    frame (``cx``, ``cy``: through the header WCS; ``width`` times as many as the detections per
    area, the saturated stars' share left out first), relative to the frame centre."""
    height, width = geometry.shape
    max_offset_px = params.max_offset_arcsec / geometry.pixel_scale_arcsec
    margin = max_offset_px + 0.5 * math.hypot(width, height) * math.radians(params.max_rotation_deg)
    near = np.flatnonzero(
        (cx > -margin) & (cx < width - 1 + margin) & (cy > -margin) & (cy < height - 1 + margin)
    )
    good = lists.good
    bright_det = good[np.argsort(-lists.flux[good])][: params.match_stars]
    area_ratio = ((width + 2 * margin) * (height + 2 * margin)) / float(width * height)
    n_cat = max(2 * params.match_stars, params.match_stars * area_ratio)
    n_cat = int(min(len(near), width * n_cat))
    # The brightest stars of the frame are saturated (or masked): no usable detection stands
    # for them (a saturated star's measured flux, its core masked, even ranks it among faint
    # ones), so as many of the brightest catalog stars (per area) are left out, or the two lists
    # would rank different stars first (a crowded field then finds no match).
    skipped = max(lists.saturated_stars, _unusable_brighter(lists, bright_det))
    skipped = skipped if skip_saturated else 0
    first = int(min(max(len(near) - n_cat, 0), round(skipped * area_ratio)))
    bright_cat = near[np.argsort(lists.stars.mag[near], kind="stable")][first : first + n_cat]
    det_xy = np.column_stack([lists.x[bright_det], lists.y[bright_det]]) - geometry.centre
    cat_xy = np.column_stack([cx[bright_cat], cy[bright_cat]]) - geometry.centre
    return det_xy, cat_xy


def _unusable_brighter(lists: _StarLists, bright_det: Indices) -> int:
    """Detections at least as bright as the faintest of ``bright_det`` that may not be matched
    (saturated, masked, on an edge): stars the detection list lacks at its bright end."""
    if not len(bright_det):
        return 0
    faintest = float(np.min(lists.flux[bright_det]))
    usable = np.zeros(len(lists.flux), dtype=bool)
    usable[lists.good] = True
    brighter = np.isfinite(lists.flux) & (lists.flux >= faintest) & ~usable
    return int(np.count_nonzero(brighter))


def _fit_to_matches(
    lists: _StarLists,
    det_i: Indices,
    cat_i: Indices,
    radius_px: float,
    params: AstrometryParams,
) -> tuple[WCS, Indices, Indices]:
    """The TAN-SIP WCS from the affine matches, and the final (clipped) matches."""
    x, y, flux, stars = lists.x, lists.y, lists.flux, lists.stars
    # A linear TAN fit on the affine matches (fast), matching again with it (within twice the
    # radius: the distortion is not fitted yet), then ONE TAN-SIP fit on the brightest matches
    # (astropy's SIP fit costs 0.1-0.2 s whatever the number of points), and the final matches.
    linear = AstrometryParams(**{**vars(params), "sip_degree": 0})
    wcs, _keep = _fit_wcs(x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i], linear, clip=True)
    det_i, cat_i = _match(wcs, lists, 2 * radius_px)
    strongest = det_i[np.argsort(-flux[det_i])][:SIP_POINTS]
    cat_of = dict(zip(det_i.tolist(), cat_i.tolist(), strict=True))
    cat_s = np.array([cat_of[d] for d in strongest.tolist()], dtype=np.int64)
    wcs, _ = _fit_wcs(x[strongest], y[strongest], stars.ra[cat_s], stars.dec[cat_s], params)
    det_i, cat_i = _match(wcs, lists, radius_px)
    resid = _residuals_arcsec(wcs, x[det_i], y[det_i], stars.ra[cat_i], stars.dec[cat_i])
    sigma = 1.4826 * float(np.median(resid)) if len(resid) else 0.0
    clean = resid < max(4.0 * sigma, 0.05)
    return wcs, det_i[clean], cat_i[clean]


def _solution(
    wcs: WCS,
    geometry: FrameGeometry,
    matches: tuple[Indices, Indices],
    rms: float,
    peak: _Peak,
    seconds: dict[str, float],
) -> Solution:
    """The solution, with the header WCS's error at the frame centre and its rotation."""
    det_i, cat_i = matches
    centre = geometry.centre
    ra0, dec0 = geometry.header_wcs.wcs_pix2world([centre[0]], [centre[1]], 0)
    ra1, dec1 = wcs.all_pix2world([centre[0]], [centre[1]], 0)
    error = _separation_arcsec(ra0, dec0, ra1, dec1)[0]
    rotation = _position_angle(wcs) - _position_angle(geometry.header_wcs)
    return Solution(
        wcs=wcs,
        det_index=det_i,
        cat_index=cat_i,
        rms_arcsec=rms,
        n_matches=len(det_i),
        offset_arcsec=float(error),
        rotation_deg=(rotation + 180.0) % 360.0 - 180.0,
        peak_votes=int(peak.votes),
        background_votes=float(peak.background),
        seconds=seconds,
    )


def _position_angle(wcs: WCS) -> float:
    """Angle (degrees) of the pixel y axis from north, from the WCS's linear part."""
    matrix = wcs.pixel_scale_matrix
    return math.degrees(math.atan2(matrix[0, 1], matrix[1, 1]))


def _rotate(xy: Floats, theta: float) -> Floats:
    c, s = math.cos(theta), math.sin(theta)
    return np.column_stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]])


def _vote(det_xy: Floats, cat_xy: Floats, max_offset_px: float, params: AstrometryParams) -> _Peak:
    """The (rotation, offset) most detection–star pairs agree on, its votes and the chance level."""
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
        return _Peak(0.0, np.zeros(2), 0, 0.0)
    n_bins = math.ceil(2 * max_offset_px / BIN_PX)
    disc_bins = math.pi * max_offset_px**2 / BIN_PX**2
    background = len(det_k) * PEAK_WINDOW**2 / disc_bins
    threshold = _significant_votes(background, params)
    best: tuple[float, float, Floats] = (-1.0, 0.0, np.zeros(2))
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
    return _Peak(float(theta), offset, int(votes), float(background))


def _fit_affine(det_xy: Floats, cat_xy: Floats, predicted: Floats, tol: float) -> Floats:
    """Least-squares affine map (3x2) from detection to catalog pixels, 3-sigma clipped."""
    tree = cKDTree(cat_xy)
    dist, j = tree.query(predicted, distance_upper_bound=tol)
    ok = np.isfinite(dist)
    src, dst = det_xy[ok], cat_xy[j[ok]]
    design = np.column_stack([src, np.ones(len(src))])
    affine: Floats = np.linalg.lstsq(design, dst, rcond=None)[0]
    for _ in range(2):
        resid = np.hypot(*(design @ affine - dst).T)
        keep = resid < max(3.0 * np.median(resid) * 1.4826, 0.5)
        if keep.sum() < 6:
            break
        affine = np.linalg.lstsq(design[keep], dst[keep], rcond=None)[0]
    return affine


def _apply(affine: Floats, xy: Floats) -> Floats:
    return np.column_stack([xy, np.ones(len(xy))]) @ affine


def mutual_nearest(a: Floats, b: Floats, radius: float) -> tuple[Indices, Indices]:
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


def _match(wcs: WCS, lists: _StarLists, radius_px: float) -> tuple[Indices, Indices]:
    """Mutual nearest pairs (detection, catalog star) through ``wcs``."""
    good, stars = lists.good, lists.stars
    px, py = wcs.all_world2pix(stars.ra, stars.dec, 0, quiet=True)
    detected = np.column_stack([lists.x[good], lists.y[good]])
    d, c = mutual_nearest(detected, np.column_stack([px, py]), radius_px)
    return good[d], c


def _fit_wcs(
    x: Floats,
    y: Floats,
    ra: Floats,
    dec: Floats,
    params: AstrometryParams,
    clip: bool = False,
) -> tuple[WCS, npt.NDArray[np.bool_]]:
    """``fit_wcs_from_points`` (TAN, SIP of ``sip_degree``); with ``clip``, refit without the
    residuals beyond 3 sigma. Returns the WCS and the points kept."""
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


def _residuals_arcsec(wcs: WCS, x: Floats, y: Floats, ra: Floats, dec: Floats) -> Floats:
    fra, fdec = wcs.all_pix2world(x, y, 0)
    return _separation_arcsec(fra, fdec, ra, dec)


def residual_rms_arcsec(wcs: WCS, x: Floats, y: Floats, ra: Floats, dec: Floats) -> float:
    """RMS distance (arcsec) between fitted positions of detections and their catalog stars."""
    resid = _residuals_arcsec(wcs, x, y, ra, dec)
    return float(np.sqrt(np.mean(resid**2))) if len(resid) else math.nan


def _separation_arcsec(
    ra1: float | Floats, dec1: float | Floats, ra2: float | Floats, dec2: float | Floats
) -> Floats:
    """Angular separation (arcsec), Vincenty's formula in NumPy (vectorised, exact)."""
    separation: Floats = (
        np.degrees(
            angular_separation(np.radians(ra1), np.radians(dec1), np.radians(ra2), np.radians(dec2))
        )
        * 3600.0
    )
    return separation


separation_arcsec = _separation_arcsec
