"""One frame end to end: calibrate, extract, solve, calibrate photometrically, find candidates.

:func:`analyse_frame` is pure apart from reading the frame (and the calibrator's database look-up
of its masters, cached): it returns a :class:`FrameAnalysis` or raises
:class:`~tasks.nrt.frame.NrtError` with the reason. The consumer stores the result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import cKDTree

from infra.config import SiteConfig
from infra.config_nrt import NrtSection
from infra.refcat import CatalogStars
from tasks.nrt.alert_search import scene_candidates
from tasks.nrt.astrometry import AstrometryParams, FrameGeometry, Solution, solve
from tasks.nrt.candidates import (
    AlertRegion,
    Candidate,
    CandidateParams,
    DetectionTraits,
    MeasuredSources,
    clean_sources,
    find_candidates,
    near_saturated_blobs,
    unmatched_density,
)
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.engines import (
    FLAG_EDGE,
    FLAG_MASKED,
    FLAG_SATURATED,
    ExtractionEngine,
    make_engine,
)
from tasks.nrt.extract import Extraction, ExtractParams, extract
from tasks.nrt.frame import Calibrator, FramePixels, NrtError, ScienceFrame, load_frame
from tasks.nrt.lightcurve import ForcedMeasurement
from tasks.nrt.measured import MeasuredFrame, ProjectedCatalog
from tasks.nrt.photcal import ZeroPoint, limiting_flux_adu, zero_point

#: How far beyond the frame's half diagonal the catalog is queried (pointing error margin).
QUERY_MARGIN = 1.15

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]


@dataclass
class FrameAnalysis:
    """Everything measured on one frame."""

    frame: ScienceFrame
    extraction: Extraction
    solution: Solution
    zero_point: ZeroPoint
    ra: Floats
    dec: Floats
    mag: Floats
    mag_err: Floats
    catalog_match: npt.NDArray[np.int64]  # matched catalog index, -1 when none
    limiting_mag: float
    candidates: list[Candidate]
    engine: ExtractionEngine
    seconds: dict[str, float] = field(default_factory=dict)
    report_snr_min: float = 5.0

    @property
    def n_sources(self) -> int:
        """Sources measured at ``[nrt] report_snr_min`` or better."""
        return int(np.sum(self.extraction.snr >= self.report_snr_min))

    @property
    def fwhm_arcsec(self) -> float:
        """The frame's FWHM in arcseconds."""
        return self.extraction.fwhm_px * self.frame.pixel_scale_arcsec

    def forced(self, ra_deg: float, dec_deg: float) -> ForcedMeasurement | None:
        """Aperture photometry at a sky position (None when it is off the frame)."""
        x, y = self.solution.wcs.all_world2pix([ra_deg], [dec_deg], 0, quiet=True)
        height, width = self.frame.shape
        r = self.extraction.aperture_px
        if not (r <= x[0] <= width - 1 - r and r <= y[0] <= height - 1 - r):
            return None
        ex = self.extraction
        flux, err, _ = self.engine.sum_circle(
            self.frame.data, x, y, r, ex.background_rms_adu, self.frame.gain, self.frame.mask
        )
        snr = float(flux[0] / err[0]) if err[0] > 0 else 0.0
        total = float(flux[0]) * ex.aperture_correction
        mag = self.zero_point.magnitude(np.array([total]))[0]
        return {
            "mag": None if not np.isfinite(mag) or snr < 2 else round(float(mag), 4),
            "mag_err": None if snr < 2 else round(1.0857362 / snr, 4),
            "snr": round(snr, 2),
            "limit_mag": round(self.limiting_mag, 3),
        }

    def figures(self) -> dict[str, float]:
        """The NrtAnalysis columns."""
        return {
            "n_sources": int(self.n_sources),
            "fwhm_arcsec": round(float(self.fwhm_arcsec), 4),
            "limiting_mag": round(float(self.limiting_mag), 4),
            "zero_point": round(float(self.zero_point.zero_point_e_s), 4),
            "astrometry_rms_arcsec": round(float(self.solution.rms_arcsec), 4),
        }

    def results(self) -> dict[str, Any]:
        """The JSON details (``results`` column)."""
        ex, sol, zp, frame = self.extraction, self.solution, self.zero_point, self.frame
        cards = {
            k: v
            for k, v in sol.wcs.to_header(relax=True).items()
            if k not in ("DATE-OBS", "MJD-OBS", "DATEREF", "MJDREFI", "MJDREFF")
        }
        return {
            "engine": ex.engine,
            "filter": frame.filter,
            "exposure_s": frame.exposure_s,
            "date_obs": frame.date_obs.isoformat(),
            "mid_time": frame.mid_time.isoformat(),
            "alert_ivorn": frame.alert_ivorn,
            "calibration": frame.calibration,
            "background_adu": round(ex.background_adu, 3),
            "background_rms_adu": round(ex.background_rms_adu, 4),
            "fwhm_px": round(ex.fwhm_px, 4),
            "aperture_px": round(ex.aperture_px, 3),
            "aperture_correction": round(ex.aperture_correction, 5),
            "n_detections": len(ex),
            "zero_point": {
                "filter": frame.filter,
                "zero_point_adu": round(zp.zero_point, 5),
                "zero_point_e_s": round(zp.zero_point_e_s, 5),
                "error": round(zp.error, 5),
                "scatter": round(zp.scatter, 5),
                "n_stars": zp.n_stars,
            },
            "astrometry": {
                "n_matches": sol.n_matches,
                "rms_arcsec": round(sol.rms_arcsec, 4),
                "pointing_offset_arcsec": round(sol.offset_arcsec, 3),
                "rotation_deg": round(sol.rotation_deg, 4),
                "votes": sol.peak_votes,
                "chance_votes": round(sol.background_votes, 2),
                "wcs": cards,
            },
            "limiting_mag": round(self.limiting_mag, 4),
            "candidates": self.candidates,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "notes": frame.notes,
        }


def configured_engine(config: SiteConfig) -> ExtractionEngine:
    """The extraction engine configured in ``[nrt] engine``."""
    return make_engine(config.nrt.engine)


class _Laps:
    """Wall seconds of the analysis's steps."""

    def __init__(self) -> None:
        self.started = self.mark = time.perf_counter()

    def restart(self) -> None:
        self.mark = time.perf_counter()

    def lap(self) -> float:
        """Seconds since the last lap (or restart)."""
        now = time.perf_counter()
        elapsed, self.mark = now - self.mark, now
        return elapsed

    def total(self) -> float:
        return time.perf_counter() - self.started


def analyse_frame(
    path: Path | str,
    calibrator: Calibrator,
    catalog: CatalogCache,
    config: SiteConfig,
    *,
    alert: AlertRegion | None = None,
    engine: ExtractionEngine | None = None,
) -> FrameAnalysis:
    """Analyse one raw frame.

    Parameters
    ----------
    path : path
        The raw frame (FITS).
    calibrator : Calibrator
        ``ScienceCalibrator`` of the consumer (masters cached).
    catalog : CatalogCache
        The reference catalog (cached queries).
    config : SiteConfig
        ``[nrt]``, instruments and filters.
    alert : AlertRegion, optional
        The alert of a follow-up frame (its position is searched for candidates).
    engine : ExtractionEngine, optional
        Extraction engine (default: ``[nrt] engine``), kept by a long-lived consumer.

    Raises
    ------
    NrtError
        The frame cannot be analysed; the message says why.
    """
    laps = _Laps()
    nrt = config.nrt
    engine = engine or configured_engine(config)
    frame = load_frame(path, calibrator, config)
    seconds = dict(frame.seconds)
    ex = _extract(frame, config, engine)
    seconds.update(ex.seconds)
    laps.restart()
    stars = _catalog_stars(frame, catalog, nrt.max_offset_arcsec)
    seconds["catalog"] = laps.lap()
    solution = _solve(ex, frame, stars, nrt)
    seconds["astrometry"] = laps.lap()
    zp = _zero_point(ex, solution, stars, frame)
    limit_flux = limiting_flux_adu(
        ex.growth_radii_px, ex.growth_ee, ex.background_rms_adu, frame.gain
    )
    limiting_mag = float(zp.zero_point - 2.5 * math.log10(limit_flux))
    seconds["photcal"] = laps.lap()
    measured = _measure(frame, ex, engine, solution, zp, stars, nrt.match_radius_arcsec)
    candidates = _candidates(measured, alert, CandidateParams.from_section(nrt))
    seconds["candidates"] = laps.lap()
    seconds["analysis"] = laps.total()
    seconds["total"] = seconds["analysis"]
    return FrameAnalysis(
        frame=frame,
        extraction=ex,
        solution=solution,
        zero_point=zp,
        ra=measured.ra,
        dec=measured.dec,
        mag=measured.mag,
        mag_err=measured.mag_err,
        catalog_match=measured.catalog_match,
        limiting_mag=limiting_mag,
        candidates=candidates,
        engine=engine,
        seconds=seconds,
        report_snr_min=nrt.report_snr_min,
    )


def _extract(frame: ScienceFrame, config: SiteConfig, engine: ExtractionEngine) -> Extraction:
    """Background, detection and photometry of the frame (its pixels made writable first)."""
    instrument = config.instrument(frame.instrument)
    if instrument is None:  # load_frame found it: only a configuration changed under us
        raise NrtError(f"INSTRUME {frame.instrument!r} is not a configured camera")
    saturation = float(frame.header.get("SATURATE", instrument.saturation_adu))
    # SEP writes nothing but needs writable buffers (the calibrator's mask may be read-only).
    data = np.require(frame.data, dtype=np.float32, requirements=["C", "W"])
    mask = None if frame.mask is None else np.require(frame.mask, bool, ["C", "W"])
    frame.data, frame.mask = data, mask
    ex = extract(
        data,
        mask,
        gain=frame.gain,
        saturation_adu=saturation - instrument.bias_adu,
        engine=engine,
        params=ExtractParams.from_section(config.nrt),
    )
    if len(ex) == 0:
        raise NrtError(f"{frame.path.name}: no source detected (clouds or closed dome?)")
    return ex


def _catalog_stars(
    frame: ScienceFrame, catalog: CatalogCache, max_offset_arcsec: float
) -> CatalogStars:
    """The catalog stars around the frame, as far as the pointing error may reach."""
    height, width = frame.shape
    centre_ra, centre_dec = frame.wcs.wcs_pix2world([(width - 1) / 2], [(height - 1) / 2], 0)
    radius = QUERY_MARGIN * math.hypot(width, height) / 2 * frame.pixel_scale_arcsec / 3600
    radius += max_offset_arcsec / 3600.0
    try:
        return catalog.stars(float(centre_ra[0]), float(centre_dec[0]), radius, frame.filter)
    except ValueError as exc:
        raise NrtError(f"reference catalog: {exc}") from None


def _solve(ex: Extraction, frame: ScienceFrame, stars: CatalogStars, nrt: NrtSection) -> Solution:
    """The astrometric solution from the clean, significant detections."""
    clean_flags = (ex.flags & (FLAG_MASKED | FLAG_EDGE | FLAG_SATURATED)) == 0
    geometry = FrameGeometry(frame.wcs, frame.shape, frame.pixel_scale_arcsec)
    params = AstrometryParams.from_section(nrt)
    # A sparse or shallow field (a small field of view at high latitude, a short J or H frame)
    # may hold fewer than min_matches stars at SNR 10: fainter ones are tried then. The vote
    # must still stand out of the chance level and give min_matches pairs.
    for snr_min in ASTROMETRY_SNR_MIN:
        usable = clean_flags & (ex.snr >= snr_min)
        if int(np.count_nonzero(usable)) >= params.min_matches:
            break
    else:
        # Still too few: a star-poor field (a short H frame at high latitude in a small field).
        # A linear TAN fit needs far fewer pairs than the SIP fit; the vote's significance rule
        # is unchanged (6 sigma above the chance level), only its floor is lowered.
        if int(np.count_nonzero(usable)) < SPARSE_MIN_MATCHES:
            raise NrtError(too_few_usable(ex, usable, SPARSE_MIN_MATCHES, snr_min))
        params = replace(params, min_matches=SPARSE_MIN_MATCHES)
    saturated = saturated_stars(frame.mask)
    return solve(ex.x, ex.y, ex.flux, usable, geometry, stars, params, saturated)


#: Detections used by the astrometric matching are at least this significant (the second
#: value when the first leaves too few).
ASTROMETRY_SNR_MIN = (10.0, 6.0)
#: Fewest matched stars of a star-poor field's solution (then linear: no SIP terms).
SPARSE_MIN_MATCHES = 6


def too_few_usable(
    ex: Extraction, usable: npt.NDArray[np.bool_], needed: int, snr_min: float
) -> str:
    """Why too few detections can be matched, in an observer's words: how many were saturated,
    on bad pixels or the frame's edge, or too faint (below ``snr_min``), and what that usually
    means."""
    is_saturated = (ex.flags & FLAG_SATURATED) != 0
    saturated = int(np.count_nonzero(is_saturated))
    flawed = int(np.count_nonzero(((ex.flags & (FLAG_MASKED | FLAG_EDGE)) != 0) & ~is_saturated))
    clean = (ex.flags & (FLAG_MASKED | FLAG_EDGE | FLAG_SATURATED)) == 0
    faint = int(np.count_nonzero(clean & (ex.snr < snr_min)))
    if saturated and saturated >= faint:
        why = "the stars saturate: exposure too long for this filter's sky and pixel scale"
    elif faint:
        why = "the stars are too faint: clouds, a closed dome, an empty field or a short exposure"
    else:
        why = "clouds, closed dome or an empty field?"
    return (
        f"astrometry: {int(np.count_nonzero(usable))} usable sources detected, {needed} needed "
        f"(of {len(ex)} detections: {saturated} saturated, {flawed} on bad pixels or the edge, "
        f"{faint} below SNR {snr_min:g}): {why}"
    )


def saturated_stars(mask: npt.NDArray[np.bool_] | None) -> int:
    """How many stars the frame saturated: the masked blobs of two pixels or more (a hot or dead
    pixel is one; a dead column or row, longer than half the frame, is not a star)."""
    if mask is None or not mask.any():
        return 0
    labels, count = ndimage.label(mask)
    if not count:
        return 0
    height, width = mask.shape
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    stars = 0
    for size, box in zip(sizes, ndimage.find_objects(labels), strict=True):
        if box is None or size < 2:
            continue
        rows, columns = box[0].stop - box[0].start, box[1].stop - box[1].start
        if rows <= height // 2 and columns <= width // 2:
            stars += 1
    return stars


def _zero_point(
    ex: Extraction, solution: Solution, stars: CatalogStars, frame: ScienceFrame
) -> ZeroPoint:
    det, cat = solution.det_index, solution.cat_index
    clean = (ex.flags[det] & (FLAG_MASKED | FLAG_EDGE | FLAG_SATURATED)) == 0
    det, cat = det[clean], cat[clean]
    for snr_min in (20.0, 5.0):
        zp = zero_point(
            ex.flux[det],
            ex.flux_err[det],
            stars.mag[cat],
            stars.mag_err[cat],
            gain=frame.gain,
            exposure_s=frame.exposure_s,
            snr_min=snr_min,
        )
        if zp is not None:
            return zp
    raise NrtError(
        f"photometry: fewer than 3 matched stars usable for the zero point "
        f"({len(det)} matched, {frame.filter!r})"
    )


def _measure(
    frame: ScienceFrame,
    ex: Extraction,
    engine: ExtractionEngine,
    solution: Solution,
    zp: ZeroPoint,
    stars: CatalogStars,
    match_radius_arcsec: float,
) -> MeasuredFrame:
    """Sky positions and magnitudes of the detections, the catalog projected on the frame
    through the fitted WCS, and each detection's nearest catalog star."""
    wcs = solution.wcs
    ra, dec = wcs.all_pix2world(ex.x, ex.y, 0)
    snr = ex.snr
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_err = np.where(snr > 0, 1.0857362 / snr, np.nan)
    cat_x, cat_y = wcs.all_world2pix(stars.ra, stars.dec, 0, quiet=True)
    radius_px = max(match_radius_arcsec / frame.pixel_scale_arcsec, MIN_MATCH_RADIUS_PX)
    match = _nearest_catalog(ex, cat_x, cat_y, radius_px)
    catalog = ProjectedCatalog(
        x=cat_x,
        y=cat_y,
        flux=10.0 ** (-0.4 * (stars.mag - zp.zero_point)),
        pos_err_arcsec=stars.pos_err_arcsec,
    )
    return MeasuredFrame(
        frame=frame,
        pixels=FramePixels(frame.data, frame.mask, ex.background_rms_adu, frame.gain),
        extraction=ex,
        engine=engine,
        wcs=wcs,
        zero_point=zp,
        stars=stars,
        catalog=catalog,
        catalog_match=match,
        ra=ra,
        dec=dec,
        mag=zp.magnitude(ex.flux),
        mag_err=mag_err,
    )


#: A detection this close (pixels) to a catalog star is that star, whatever the match radius in
#: arcseconds: on a frame whose stars span about a pixel (coarse pixels), a centroid is uncertain
#: by a good part of a pixel and a blend's by more — a star 1.6″ from its detection on 1.5″
#: pixels was otherwise a false ``new`` candidate.
MIN_MATCH_RADIUS_PX = 1.5
#: A candidate whose aperture comes within this many pixels of a saturated star or its bleed
#: trail is not clean (the charge spilled at a trail's end makes a sharp bump on no star).
SATURATION_MARGIN_PX = 1.0


def _nearest_catalog(
    ex: Extraction, cat_x: Floats, cat_y: Floats, radius_px: float
) -> npt.NDArray[np.int64]:
    """Index of the nearest catalog star within ``radius_px`` of each detection (-1: none)."""
    ok = np.isfinite(cat_x) & np.isfinite(cat_y)
    index = np.flatnonzero(ok)
    match = np.full(len(ex), -1, dtype=np.int64)
    if len(index) == 0:
        return match
    dist, j = cKDTree(np.column_stack([cat_x[ok], cat_y[ok]])).query(
        np.column_stack([ex.x, ex.y]), distance_upper_bound=radius_px
    )
    found = np.isfinite(dist)
    match[found] = index[j[found]]
    return match


def _candidates(
    measured: MeasuredFrame, alert: AlertRegion | None, params: CandidateParams
) -> list[Candidate]:
    """The aperture candidates and, for a follow-up frame, the alert region's scene fit."""
    ex, frame, stars = measured.extraction, measured.frame, measured.stars
    snr = ex.snr
    match = measured.catalog_match
    matched_mag = np.where(match >= 0, stars.mag[np.maximum(match, 0)], np.nan)
    # Only the sources that could become candidates are checked (the wings test is per source).
    look = snr >= params.snr_min
    if alert is None:
        look &= ~np.isfinite(matched_mag)
    subset = np.flatnonzero(look)
    clean = np.zeros(len(ex), dtype=bool)
    clean[subset] = _clean(measured, subset, matched_mag, params)
    height, width = frame.shape
    area = height * width * frame.pixel_scale_arcsec**2
    limit = stars.mag_limit
    if limit is None and len(stars):
        limit = float(np.percentile(stars.mag, 99))
    sources = MeasuredSources(
        ra=measured.ra,
        dec=measured.dec,
        x=ex.x,
        y=ex.y,
        mag=measured.mag,
        mag_err=measured.mag_err,
        snr=snr,
        matched_mag=matched_mag,
        clean=clean,
    )
    found = find_candidates(
        sources, catalog_limit=limit, frame_area_arcsec2=area, alert=alert, params=params
    )
    if alert is None:
        return found
    # Transients merged with a star in the aperture measurements: the alert region's scene fit.
    density = unmatched_density(clean, matched_mag, snr, params.snr_min, area)
    found += scene_candidates(measured, alert, params, density_per_arcsec2=density, existing=found)
    return sorted(found, key=lambda c: -c["snr"])


def _clean(
    measured: MeasuredFrame, subset: Indices, matched_mag: Floats, params: CandidateParams
) -> npt.NDArray[np.bool_]:
    """Which sources of ``subset`` nothing but the sky explains (``clean_sources``)."""
    ex = measured.extraction
    snr = ex.snr
    # Peak over flux, the peak lowered by three pixel sigmas first: a faint star's brightest
    # pixel is mostly noise, a cosmic ray's is not.
    with np.errstate(divide="ignore", invalid="ignore"):
        sharp = np.where(
            ex.flux_aperture > 0, (ex.peak - 3.0 * ex.background_rms_adu) / ex.flux_aperture, np.inf
        )
    stellar = np.isfinite(matched_mag) & (snr > 20) & (ex.flags == 0)
    star_sharp = float(np.median(ex.sharpness[stellar])) if stellar.sum() >= 5 else math.nan
    traits = DetectionTraits(
        x=ex.x[subset],
        y=ex.y[subset],
        flux=ex.flux[subset],
        flags=ex.flags[subset],
        sharpness=sharp[subset],
        point_like=_point_like(measured, subset),
        masked_fraction=_masked_fraction(measured, subset),
        near_saturation=near_saturated_blobs(
            ex.x[subset],
            ex.y[subset],
            measured.pixels.mask,
            ex.aperture_px + SATURATION_MARGIN_PX,
        ),
    )
    return clean_sources(
        traits,
        measured.catalog,
        shape=measured.frame.shape,
        fwhm=ex.fwhm_px,
        stars_sharpness=star_sharp,
        params=params,
    )


def _masked_fraction(measured: MeasuredFrame, subset: Indices) -> Floats:
    """Fraction of masked pixels in the aperture of each source of ``subset``."""
    ex, mask = measured.extraction, measured.pixels.mask
    fraction = np.zeros(len(subset))
    flagged = (ex.flags[subset] & FLAG_MASKED) != 0
    if mask is None or not flagged.any():
        return fraction
    picked = subset[flagged]
    ones = np.ascontiguousarray(mask, dtype=np.float32)
    masked, _, _ = measured.engine.sum_circle(
        ones, ex.x[picked], ex.y[picked], ex.aperture_px, 1.0, 1.0, None
    )
    fraction[flagged] = masked / (np.pi * ex.aperture_px**2)
    return fraction


def _point_like(measured: MeasuredFrame, subset: Indices) -> npt.NDArray[np.bool_]:
    """Whether each source of ``subset`` is as concentrated as a point source.

    Concentration = flux within 0.75 FWHM / flux within the aperture; a point source has the
    curve of growth's ratio. Blends of several stars and halo fragments are flatter. The
    allowance is 30 % or three times the ratio's noise (~1.5/SNR), whichever is larger.
    """
    if len(subset) == 0:
        return np.zeros(0, dtype=bool)
    ex, pixels = measured.extraction, measured.pixels
    inner_r = 0.75 * ex.fwhm_px
    inner, _, _ = measured.engine.sum_circle(
        pixels.data,
        ex.x[subset],
        ex.y[subset],
        inner_r,
        pixels.rms_adu,
        pixels.gain,
        pixels.mask,
    )
    expected = float(np.interp(inner_r, ex.growth_radii_px, ex.growth_ee)) / float(
        np.interp(ex.aperture_px, ex.growth_radii_px, ex.growth_ee)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = inner / ex.flux_aperture[subset]
    allowance = np.maximum(0.3, 1.5 * 3.0 / np.maximum(ex.snr[subset], 1e-3)) * expected
    ratio_ok: npt.NDArray[np.bool_] = ratio >= expected - allowance
    return ratio_ok
