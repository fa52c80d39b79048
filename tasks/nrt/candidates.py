"""Transient candidates: sources the reference catalog should contain but does not, and, in
follow-up frames, new or brightened sources at the alert's position.

A detection is **clean** when nothing explains it but the sky: not saturated, at most 15 % of
masked (bad, saturated) pixels and none off the frame in its aperture, away from the frame edge
(``edge_margin_fwhm``), not sharper than a star (cosmic rays and hot pixels: peak/flux above
``sharpness_max`` times the stars' median, its peak first lowered by three pixel sigmas), as
concentrated as a star (flux within 0.75 FWHM over flux within the aperture; blends and halo
fragments are flatter), not on the rim of a saturated star or its bleed trail (its aperture
within a pixel of a blob of masked pixels: the spilled charge at a trail's end is a sharp,
isolated bump no catalog has), not in the wings of a brighter catalog star (within
``1 + log10(flux ratio)`` FWHM of a star brighter than itself — deblended halo pieces), and not
explained by the catalog stars around it (their PSF-weighted flux reaches 30 % of its own: two
known stars merged into one detection).

- ``new``: clean, unmatched, SNR >= ``candidate_snr_min`` and brighter than the catalog's limit
  by ``catalog_margin_mag`` plus three standard deviations of its magnitude (fainter sources are
  simply beyond the catalog's depth, or blends and upward fluctuations of stars just below it);
- ``alert`` (follow-up frames): clean, unmatched, SNR >= ``candidate_snr_min``, within the alert's
  error radius (at least ``alert_radius_min_arcsec``), whatever its magnitude, provided its chance
  probability ``P = 1 - exp(-rho pi d²)`` is at most ``chance_probability_max`` (``rho``: surface
  density of clean unmatched sources on this frame, ``d``: distance to the alert position) — so
  false alert candidates stay below that rate per frame, even in crowded fields or large boxes;
- ``brightened`` (follow-up frames): a catalog star within the alert circle measured brighter than
  its catalog magnitude by ``brightening_mag`` and five standard deviations.

Significance: the measured SNR (and, for alert candidates, the chance probability).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import cKDTree

from infra.config_nrt import NrtSection
from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.engines import FLAG_EDGE, FLAG_MASKED, FLAG_SATURATED
from tasks.nrt.measured import ProjectedCatalog

#: Largest fraction of masked (bad, saturated) pixels in a candidate's aperture (a dead column
#: crossing a wide aperture is ~7 %; a saturated core nearby is caught by the wings test).
MASKED_FRACTION_MAX = 0.15

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
#: One candidate as stored and sent (JSON-able): see :func:`candidate_record`.
Candidate = dict[str, Any]


class CandidateKind(StrEnum):
    """Why a source is a candidate (see the module docstring)."""

    NEW = "new"
    ALERT = "alert"
    BRIGHTENED = "brightened"


@dataclass(frozen=True)
class AlertRegion:
    """Where a follow-up frame's alert is: position and error radius."""

    ivorn: str
    ra_deg: float
    dec_deg: float
    error_arcsec: float = 0.0
    trigger_time: datetime | None = None  # the burst, when known


@dataclass(frozen=True)
class CandidateParams:
    """Thresholds (from ``[nrt]``)."""

    snr_min: float = 5.0
    catalog_margin_mag: float = 0.5
    alert_radius_min_arcsec: float = 2.0
    chance_probability_max: float = 0.05
    brightening_mag: float = 0.5
    edge_margin_fwhm: float = 2.0
    sharpness_max: float = 1.8

    @classmethod
    def from_section(cls, nrt: NrtSection) -> CandidateParams:
        """The thresholds of the ``[nrt]`` configuration section."""
        return cls(
            snr_min=nrt.candidate_snr_min,
            catalog_margin_mag=nrt.catalog_margin_mag,
            alert_radius_min_arcsec=nrt.alert_radius_min_arcsec,
            chance_probability_max=nrt.chance_probability_max,
            brightening_mag=nrt.brightening_mag,
            edge_margin_fwhm=nrt.edge_margin_fwhm,
            sharpness_max=nrt.sharpness_max,
        )


@dataclass(frozen=True)
class DetectionTraits:
    """What the clean tests read of each detection (arrays of equal length).

    ``sharpness`` is the peak (lowered by three pixel sigmas) over the aperture flux;
    ``point_like`` whether the source is as concentrated as a star; ``masked_fraction`` the
    fraction of masked pixels in its aperture (None: the masked flag decides);
    ``near_saturation`` whether it touches a saturated star or its bleed trail
    (:func:`near_saturated_blobs`; None: not tested).
    """

    x: Floats
    y: Floats
    flux: Floats
    flags: npt.NDArray[np.int32]
    sharpness: Floats
    point_like: Bools | None = None
    masked_fraction: Floats | None = None
    near_saturation: Bools | None = None


@dataclass(frozen=True)
class MeasuredSources:
    """A frame's measured detections as the candidate rules read them (arrays of equal length).

    ``matched_mag`` is the catalog magnitude of each detection's matched star (NaN: unmatched);
    ``clean`` whether nothing but the sky explains it (:func:`clean_sources`).
    """

    ra: Floats
    dec: Floats
    x: Floats
    y: Floats
    mag: Floats
    mag_err: Floats
    snr: Floats
    matched_mag: Floats
    clean: Bools


def clean_sources(
    sources: DetectionTraits,
    catalog: ProjectedCatalog,
    *,
    shape: tuple[int, int],
    fwhm: float,
    stars_sharpness: float,
    params: CandidateParams,
) -> Bools:
    """Detections that nothing but the sky explains (see the module docstring).

    ``stars_sharpness`` is the median sharpness of the frame's stars (NaN: unknown, no
    sharpness test); ``params`` gives the edge margin and the sharpness limit.
    """
    x, y, flux, flags = sources.x, sources.y, sources.flux, sources.flags
    height, width = shape
    margin = params.edge_margin_fwhm * fwhm
    clean: Bools = (flags & (FLAG_EDGE | FLAG_SATURATED)) == 0
    if sources.masked_fraction is not None:
        # A hot pixel or a dead column in a wide aperture costs little; a saturated core a lot.
        clean &= sources.masked_fraction <= MASKED_FRACTION_MAX
    else:
        clean &= (flags & FLAG_MASKED) == 0
    clean &= (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)
    if np.isfinite(stars_sharpness) and stars_sharpness > 0:
        clean &= sources.sharpness <= params.sharpness_max * stars_sharpness
    if sources.point_like is not None:
        clean &= sources.point_like
    if sources.near_saturation is not None:
        clean &= ~sources.near_saturation
    clean &= ~in_bright_wings(x, y, flux, catalog.x, catalog.y, catalog.flux, fwhm)
    clean &= ~explained_by_catalog(x, y, flux, catalog.x, catalog.y, catalog.flux, fwhm)
    return clean


def near_saturated_blobs(
    x: Floats, y: Floats, mask: npt.NDArray[np.bool_] | None, margin_px: float
) -> Bools:
    """Detections within ``margin_px`` (pixels, box distance) of a saturated star or its bleed
    trail: a blob of two masked pixels or more. A hot or dead pixel (one pixel) and a dead column
    or row (masked over more than half the frame) are not such blobs. Only the pixels around
    each detection are read (the frame's mask is not labelled as a whole: 0.2 s at 4096²)."""
    result = np.zeros(len(x), dtype=bool)
    if mask is None or len(x) == 0:
        return result
    height, width = mask.shape
    reach = math.ceil(margin_px)
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        if not (np.isfinite(xi) and np.isfinite(yi)):
            continue
        cx, cy = round(float(xi)), round(float(yi))
        x0, x1 = max(cx - reach, 0), min(cx + reach + 1, width)
        y0, y1 = max(cy - reach, 0), min(cy + reach + 1, height)
        if x0 < x1 and y0 < y1 and mask[y0:y1, x0:x1].any():
            result[i] = _touches_blob(mask, (y0, y1, x0, x1))
    return result


def _touches_blob(mask: npt.NDArray[np.bool_], box: tuple[int, int, int, int]) -> bool:
    """Whether a masked blob of two pixels or more, not a dead column or row, reaches ``box``
    (y0, y1, x0, x1): the masked pixels around it are labelled (one pixel beyond the box)."""
    height, width = mask.shape
    y0, y1, x0, x1 = box
    wy0, wy1, wx0, wx1 = max(y0 - 1, 0), min(y1 + 1, height), max(x0 - 1, 0), min(x1 + 1, width)
    labels, _ = ndimage.label(mask[wy0:wy1, wx0:wx1], structure=np.ones((3, 3)))
    inner = labels[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
    for label in np.unique(inner[inner > 0]):
        rows, columns = np.nonzero(labels == label)
        if len(rows) < 2:
            continue
        if np.ptp(columns) == 0 and mask[:, wx0 + columns[0]].mean() > 0.5:
            continue  # a dead column
        if np.ptp(rows) == 0 and mask[wy0 + rows[0], :].mean() > 0.5:
            continue  # a dead row
        return True
    return False


def in_bright_wings(
    x: Floats,
    y: Floats,
    flux: Floats,
    cat_x: Floats,
    cat_y: Floats,
    cat_flux: Floats,
    fwhm: float,
) -> Bools:
    """Detections within ``(1 + log10(F_star / F)) FWHM`` of a brighter catalog star."""
    result = np.zeros(len(x), dtype=bool)
    if len(x) == 0 or len(cat_x) == 0:
        return result
    reach = fwhm * (
        1.0 + math.log10(max(float(np.max(cat_flux)) / max(float(np.min(flux)), 1e-9), 10.0))
    )
    tree = cKDTree(np.column_stack([cat_x, cat_y]))
    neighbours = tree.query_ball_point(np.column_stack([x, y]), min(reach, 200.0 * fwhm))
    for i, found in enumerate(neighbours):
        if not found:
            continue
        near = np.asarray(found)
        ratio = cat_flux[near] / max(flux[i], 1e-9)
        brighter = ratio > 1.0
        if not brighter.any():
            continue
        d = np.hypot(cat_x[near][brighter] - x[i], cat_y[near][brighter] - y[i])
        limit = fwhm * (1.0 + np.log10(ratio[brighter]))
        # A detection sitting on the star is that star (or a transient on it): not its wings.
        result[i] = bool(np.any((d < limit) & (d > 0.5 * fwhm)))
    return result


def explained_by_catalog(
    x: Floats,
    y: Floats,
    flux: Floats,
    cat_x: Floats,
    cat_y: Floats,
    cat_flux: Floats,
    fwhm: float,
    fraction: float = 0.3,
) -> Bools:
    """Detections whose flux the catalog stars around them explain (blends of known stars).

    The catalog flux is weighted by ``exp(-d² / (2 s²))``, ``s = sqrt(2) FWHM / 2.355`` (the
    overlap of a star's PSF with the detection's); explained when it reaches ``fraction`` of the
    detection's flux.
    """
    result = np.zeros(len(x), dtype=bool)
    if len(x) == 0 or len(cat_x) == 0:
        return result
    s2 = 2.0 * (fwhm / 2.3548) ** 2
    tree = cKDTree(np.column_stack([cat_x, cat_y]))
    for i, found in enumerate(tree.query_ball_point(np.column_stack([x, y]), 3.0 * fwhm)):
        if found:
            near = np.asarray(found)
            d2 = (cat_x[near] - x[i]) ** 2 + (cat_y[near] - y[i]) ** 2
            result[i] = float(np.sum(cat_flux[near] * np.exp(-d2 / (2 * s2)))) >= fraction * flux[i]
    return result


def unmatched_density(
    clean: Bools, matched_mag: Floats, snr: Floats, snr_min: float, frame_area_arcsec2: float
) -> float:
    """Surface density (per arcsec²) of clean unmatched sources at ``snr_min`` or better.

    At least one source is counted, so that an empty frame still gives a chance probability.
    """
    pool = clean & ~np.isfinite(matched_mag) & (snr >= snr_min)
    return max(int(pool.sum()), 1) / frame_area_arcsec2


def chance_probability(distance_arcsec: float | Floats, density_per_arcsec2: float) -> Floats:
    """Probability ``1 - exp(-rho pi d²)`` of an unrelated source within ``d`` of a position."""
    return 1.0 - np.exp(-density_per_arcsec2 * np.pi * np.asarray(distance_arcsec) ** 2)


def chance_radius_arcsec(density_per_arcsec2: float, probability: float) -> float:
    """Distance within which an unrelated source's chance probability stays ``probability``."""
    return math.sqrt(-math.log1p(-min(probability, 0.999999)) / (math.pi * density_per_arcsec2))


def find_candidates(
    sources: MeasuredSources,
    *,
    catalog_limit: float | None,
    frame_area_arcsec2: float,
    alert: AlertRegion | None,
    params: CandidateParams,
) -> list[Candidate]:
    """Candidates of one frame (dicts, JSON-able), most significant first."""
    s = sources
    unmatched = ~np.isfinite(s.matched_mag)
    significant = s.snr >= params.snr_min
    density = unmatched_density(s.clean, s.matched_mag, s.snr, params.snr_min, frame_area_arcsec2)
    pool = s.clean & unmatched & significant
    found: dict[int, Candidate] = {}
    if catalog_limit is not None:
        # Significantly brighter than the catalog's depth: blends and upward noise of stars just
        # below the limit must not pass (3 standard deviations of the measured magnitude).
        bright = (
            s.mag + 3.0 * np.nan_to_num(s.mag_err, nan=1.0)
            <= catalog_limit - params.catalog_margin_mag
        )
        for i in np.flatnonzero(pool & bright):
            found[int(i)] = _candidate(s, i, CandidateKind.NEW)
            found[int(i)]["catalog_limit"] = round(catalog_limit, 3)
    if alert is not None:
        radius = max(alert.error_arcsec, params.alert_radius_min_arcsec)
        distance = separation_arcsec(s.ra, s.dec, alert.ra_deg, alert.dec_deg)
        inside = s.clean & significant & (distance <= radius)
        chance = chance_probability(distance, density)
        for i in np.flatnonzero(inside & unmatched & (chance <= params.chance_probability_max)):
            item = found.get(int(i)) or _candidate(s, i, CandidateKind.ALERT)
            item["kind"] = CandidateKind.ALERT.value
            found[int(i)] = item
        diff = s.matched_mag - s.mag
        error = np.hypot(s.mag_err, 0.02)
        brighter = inside & ~unmatched & (diff >= params.brightening_mag) & (diff > 5 * error)
        for i in np.flatnonzero(brighter & (chance <= params.chance_probability_max)):
            item = _candidate(s, i, CandidateKind.BRIGHTENED)
            item["catalog_mag"] = round(float(s.matched_mag[i]), 4)
            found[int(i)] = item
        # Only what lies in the circle is the alert's: a new source elsewhere on the frame is
        # not its afterglow (a follow-up once reported a position 290″ from a 3′ circle).
        for k, item in found.items():
            if inside[k]:
                item.update(alert_fields(alert, distance[k], chance[k]))
    return sorted(found.values(), key=lambda c: -c["snr"])


def candidate_record(
    kind: CandidateKind,
    ra: float,
    dec: float,
    x: float,
    y: float,
    mag: float,
    mag_err: float,
    snr: float,
) -> Candidate:
    """One candidate as stored and sent (JSON-able, rounded; a non-finite magnitude is None)."""
    return candidate_records(
        [kind.value], *([value] for value in (ra, dec, x, y, mag, mag_err, snr))
    )[0]


def candidate_records(
    kinds: Sequence[str],
    ra: npt.ArrayLike,
    dec: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    mag: npt.ArrayLike,
    mag_err: npt.ArrayLike,
    snr: npt.ArrayLike,
) -> list[Candidate]:
    """Many candidates at once, as :func:`candidate_record` makes one (rounded as arrays: the
    difference search records tens of thousands of rejected peaks in a crowded field)."""

    def rounded(values: npt.ArrayLike, digits: int) -> list[float]:
        listed: list[float] = np.round(np.asarray(values, dtype=float), digits).tolist()
        return listed

    def optional(values: npt.ArrayLike) -> list[float | None]:
        return [v if math.isfinite(v) else None for v in rounded(values, 4)]

    columns = zip(
        kinds, rounded(ra, 7), rounded(dec, 7), rounded(x, 2), rounded(y, 2),
        optional(mag), optional(mag_err), rounded(snr, 2), strict=True,
    )  # fmt: skip
    return [
        {"kind": k, "ra": a, "dec": d, "x": px, "y": py, "mag": m, "mag_err": e, "snr": q}
        for k, a, d, px, py, m, e, q in columns
    ]


def alert_fields(alert: AlertRegion, distance_arcsec: float, chance: float) -> Candidate:
    """What an alert-region candidate adds: the alert, its distance, the chance probability."""
    return {
        "alert_ivorn": alert.ivorn,
        "alert_distance_arcsec": round(float(distance_arcsec), 3),
        "chance_probability": float(f"{chance:.3g}"),
    }


def _candidate(sources: MeasuredSources, i: np.intp, kind: CandidateKind) -> Candidate:
    s = sources
    return candidate_record(
        kind, s.ra[i], s.dec[i], s.x[i], s.y[i], s.mag[i], s.mag_err[i], s.snr[i]
    )
