"""Difference imaging: a blind search for transients anywhere in a frame (issue 26).

:func:`difference_search` takes a frame already analysed by :func:`tasks.nrt.pipeline.
analyse_frame` (calibrated, background subtracted, WCS and zero point fitted) and:

1. builds the reference (:mod:`tasks.nrt.reference`): the catalog rendered on the frame's grid
   through the frame's fitted WCS (alignment) and measured PSF (PSF matching by construction);
2. subtracts it; the difference's variance is the background's, the sources' photon noise and
   the reference's error (catalog photometry, PSF imperfection);
3. detects on the difference with a Gaussian matched filter of the frame's FWHM, normalised by
   the filtered variance (an SNR map), keeping local maxima at ``snr_min`` or more;
4. measures forced PSF photometry at each peak (the local Moffat, optimal weights);
5. vets each peak: frame edge, masked (bad or saturated) pixels and saturated stars' blobs,
   dipoles (a negative lobe beside it: misalignment), cosmic rays (sharper than the PSF, or not
   shaped like it: the PSF fit's chi-square), PSF residuals (a peak beside a much brighter star
   with a comparable flux, of either sign, at its mirror image through the star: an error of
   the model's profile is centrally symmetric, an error of its position antisymmetric, and a
   transient beside a star is neither), and
   the catalog's depth: the flux the difference adds must be significantly brighter than the
   catalog's limit (a star just below it is in the frame, not in the reference — in a crowded
   field such stars lie within a FWHM of a catalog star everywhere).

It is not wired into the night's flow: a separate function the pipeline can call later. The
candidates are :func:`tasks.nrt.candidates.candidate_record` dicts of kind ``new`` (away from
catalog stars) or ``brightened`` (on a star: a transient merged with it), with ``vetting`` (the
rule-based real/bogus verdict: ``real`` or the first failed test) and ``fit_chi2``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS
from scipy import ndimage
from scipy.spatial import cKDTree

from infra.refcat import CatalogStars
from tasks.nrt.candidates import Candidate, CandidateKind, candidate_records, near_saturated_blobs
from tasks.nrt.catalog import CatalogCache
from tasks.nrt.forced import best_fit_chi2, forced_psf
from tasks.nrt.photcal import ZeroPoint
from tasks.nrt.pipeline import FrameAnalysis, _catalog_stars
from tasks.nrt.reference import FieldPsf, Reference, measure_field_psf, render_reference

Floats = npt.NDArray[np.float64]
#: A peak's centroid climbs at most this many pixels from the SNR map's peak to the flux's.
CLIMB_STEPS = 3
#: The verdict of a peak whose PSF fit fails only at its centroid: refitted at its best
#: position, then a cosmic ray or real (never a final verdict).
_MISFIT = "misfit at the centroid"


@dataclass(frozen=True)
class DifferenceParams:
    """Thresholds of the difference search."""

    snr_min: float = 5.0
    edge_margin_fwhm: float = 2.0
    #: A negative lobe this strong (fraction of the peak's SNR) within 2 FWHM: a dipole.
    dipole_ratio: float = 0.5
    #: Brightest pixel over forced flux, over the PSF's peak fraction, at most (cosmic rays).
    sharpness_max: float = 2.0
    #: The PSF fit's reduced chi-square within 1 FWHM, at most: a cosmic ray's track is no PSF
    #: (its chi-square runs to hundreds where a transient's, the PSF's own error counted, stays
    #: near 1), however wide the track makes it for the sharpness test under good seeing.
    fit_chi2_max: float = 10.0
    #: A peak this close to a catalog star (FWHM) is on it (``brightened``).
    star_radius_fwhm: float = 1.0
    #: SNR a peak on a catalog star needs (the star's PSF residual adds to the noise there).
    star_snr_min: float = 7.0
    #: Away from stars, mag + 3 sigma must be this much brighter than the catalog's depth (a
    #: star just below the depth, missed by the catalog's own noise, is not new).
    catalog_margin_mag: float = 0.3
    #: Fraction of the model counted as the reference's error (PSF imperfection).
    psf_error: float = 0.03
    #: Masked pixels within this many FWHM of a peak reject it.
    mask_radius_fwhm: float = 1.5
    #: A peak within this many FWHM of a brighter catalog star is fitted jointly with its mirror
    #: image through the star ...
    mirror_radius_fwhm: float = 3.0
    #: ... at least this much brighter (mag): a residual of the model is a few per cent of the
    #: star's flux (a transient that bright beside a star keeps its chance) ...
    mirror_min_contrast_mag: float = 2.5
    #: ... and is a PSF residual when the mirror's flux, of either sign, is at least this
    #: fraction of its own and significant (a transient beside a star leaves the mirror empty:
    #: at 3 sigma, 0.3 % of them are lost to noise).
    mirror_ratio_max: float = 0.3
    mirror_snr_min: float = 3.0
    #: Closer to the star than this (FWHM) the peak and its mirror cannot be told apart.
    mirror_min_offset_fwhm: float = 0.25


@dataclass
class DifferenceResult:
    """The difference image, its noise, the candidates kept and the peaks rejected."""

    difference: npt.NDArray[np.float32]
    noise: npt.NDArray[np.float32]
    reference: Reference
    candidates: list[Candidate]
    rejected: list[Candidate]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameInputs:
    """What the search reads of an analysed frame (see :func:`inputs_of`)."""

    data: npt.NDArray[np.float32]  # background subtracted, ADU
    mask: npt.NDArray[np.bool_] | None
    rms_adu: float
    gain: float
    wcs: WCS  # fitted
    zero_point: ZeroPoint


def difference_search(
    frame: FrameInputs,
    stars: CatalogStars,
    psf: FieldPsf,
    params: DifferenceParams | None = None,
) -> DifferenceResult:
    """Subtract the catalog reference from a frame and find what the catalog does not hold.

    Parameters
    ----------
    frame : FrameInputs
        The analysed frame's pixels, noise, fitted WCS and zero point.
    stars : CatalogStars
        The reference catalog around the frame (in the frame's filter).
    psf : FieldPsf
        The frame's PSF (:func:`tasks.nrt.reference.measure_field_psf`).
    params : DifferenceParams, optional
        Thresholds.

    Returns
    -------
    DifferenceResult

    Raises
    ------
    ValueError
        The frame is not 2-D, its mask has another shape, or its noise or gain is not positive.
    """
    params = params or DifferenceParams()
    _check(frame)
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    shape = (int(frame.data.shape[0]), int(frame.data.shape[1]))
    sx, sy = frame.wcs.all_world2pix(stars.ra, stars.dec, 0, quiet=True)
    sx, sy = np.asarray(sx, float), np.asarray(sy, float)
    flux = 10.0 ** (-0.4 * (stars.mag - frame.zero_point.zero_point))
    ferr = 0.921034 * np.nan_to_num(np.asarray(stars.mag_err, float), nan=0.05)
    reference = render_reference(
        shape, sx, sy, flux, ferr, psf, rms_adu=frame.rms_adu, psf_error=params.psf_error
    )
    seconds["reference"] = _lap(mark)
    mark = time.perf_counter()
    bad = frame.mask
    # In place where it can be: each fresh 4096² array costs its page faults, which were most
    # of this step's time.
    diff = frame.data - reference.model
    var: npt.NDArray[np.float32] = np.maximum(reference.model, np.float32(0.0))
    var /= np.float32(frame.gain)
    var += np.float32(frame.rms_adu**2)
    numerator = np.square(reference.error)  # the reference's variance, then the scratch below
    var += numerator
    if bad is not None:
        diff[bad] = 0.0
        var[bad] = np.float32(frame.rms_adu**2)
    fwhm = psf.shape.fwhm_px
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    ndimage.gaussian_filter(diff, sigma, output=numerator, truncate=3.0)
    snr = ndimage.gaussian_filter(var, sigma / math.sqrt(2.0), truncate=3.0)
    snr *= np.float32(1.0 / (4.0 * math.pi * sigma**2))
    np.sqrt(snr, out=snr)
    np.divide(numerator, snr, out=snr)
    seconds["subtract"] = _lap(mark)
    mark = time.perf_counter()
    peaks = _peaks(snr, params.snr_min)
    seconds["detect"] = _lap(mark)
    mark = time.perf_counter()
    maps = _Maps(diff=diff, var=var, snr=snr, filtered=numerator)
    kept, rejected = _measure_and_vet(frame, maps, peaks, reference, stars, sx, sy, params)
    seconds["vet"] = _lap(mark)
    seconds["total"] = sum(seconds.values())
    return DifferenceResult(
        difference=diff,
        noise=np.sqrt(var),
        reference=reference,
        candidates=kept,
        rejected=rejected,
        seconds=seconds,
    )


def _check(frame: FrameInputs) -> None:
    """Refuse a frame the search cannot work on, naming what is wrong."""
    if frame.data.ndim != 2:
        raise ValueError(f"difference_search needs a 2-D frame, got shape {frame.data.shape}")
    if frame.mask is not None and frame.mask.shape != frame.data.shape:
        raise ValueError(
            f"the mask's shape {frame.mask.shape} is not the frame's {frame.data.shape}"
        )
    if not (frame.rms_adu > 0 and frame.gain > 0):
        raise ValueError(
            f"background noise and gain must be positive (rms {frame.rms_adu}, gain {frame.gain})"
        )


@dataclass(frozen=True)
class _Maps:
    """The difference, its variance, its SNR map and the filtered difference."""

    diff: npt.NDArray[np.float32]
    var: npt.NDArray[np.float32]
    snr: npt.NDArray[np.float32]
    filtered: npt.NDArray[np.float32]


class _Peak(NamedTuple):
    """A peak's centroid, forced-photometry SNR, sharpness and PSF-fit chi-square."""

    x: float
    y: float
    snr: float
    sharp: float
    chi2: float


def _lap(mark: float) -> float:
    return time.perf_counter() - mark


def _peaks(snr: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.intp]:
    """(row, column) of the maximum of each connected region at ``threshold`` or more."""
    labels, count = ndimage.label(snr >= threshold)
    positions = np.zeros((count, 2), dtype=np.intp)
    # find_objects and an argmax per box: ndimage.maximum_position reads the whole frame.
    for number, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        values = np.where(labels[box] == number, snr[box], -np.inf)
        row, col = np.unravel_index(int(np.argmax(values)), values.shape)
        positions[number - 1] = (box[0].start + row, box[1].start + col)
    return positions


def _measure_and_vet(
    frame: FrameInputs,
    maps: _Maps,
    peaks: npt.NDArray[np.intp],
    reference: Reference,
    stars: CatalogStars,
    sx: Floats,
    sy: Floats,
    params: DifferenceParams,
) -> tuple[list[Candidate], list[Candidate]]:
    """Forced PSF photometry at each peak, then the vetting tests (first failure named)."""
    diff, var, snr = maps.diff, maps.var, maps.snr
    height, width = diff.shape
    psf = reference.psf
    fwhm = psf.shape.fwhm_px
    kept: list[Candidate] = []
    rejected: list[Candidate] = []
    if len(peaks) == 0:
        return kept, rejected
    n = len(peaks)
    # The filtered difference, not the SNR map, whose noise grows towards a star's core.
    x, y = _centroids(maps.filtered, peaks)
    flux, flux_err, sharp, chi2 = forced_psf(
        diff, var, psf, x, y, params.psf_error, gain=frame.gain
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(flux_err > 0, flux / flux_err, 0.0)
        mag_err = np.where(s > 0, 1.0857362 / s, np.nan)
    mag = frame.zero_point.magnitude(flux)
    ra, dec = frame.wcs.all_pix2world(x, y, 0)
    placed = _place(stars, sx, sy)
    on_star = np.zeros(n, dtype=bool)
    if placed.tree is not None:
        d, _ = placed.tree.query(np.column_stack([x, y]))
        on_star = d <= params.star_radius_fwhm * fwhm
    limit = stars.mag_limit
    if limit is None and len(stars):
        limit = float(np.percentile(stars.mag, 99))
    # The tests of the whole set first (cheap), the per-pixel ones on what passes them.
    verdicts = np.full(n, "real", dtype=object)
    margin = params.edge_margin_fwhm * fwhm
    edge = (x < margin) | (x > width - 1 - margin) | (y < margin) | (y > height - 1 - margin)
    verdicts[(s < params.star_snr_min) & on_star] = "faint on a star"
    if limit is not None:
        shallow = ~(
            np.nan_to_num(mag + 3.0 * mag_err, nan=99.0) <= limit - params.catalog_margin_mag
        )
        verdicts[shallow] = "below catalog depth"
    verdicts[s < params.snr_min] = "faint in forced photometry"
    verdicts[edge] = "edge"
    alive = np.flatnonzero(verdicts == "real")
    saturated = near_saturated_blobs(x[alive], y[alive], frame.mask, 2.0 * fwhm)
    for i, near_saturation in zip(alive, saturated, strict=True):
        peak = _Peak(float(x[i]), float(y[i]), float(s[i]), float(sharp[i]), float(chi2[i]))
        verdicts[i] = _verdict(frame, peak, psf, near_saturation, snr, params)
    # A peak that failed only the fit's chi-square is refitted at its best position (few are).
    misfit = np.flatnonzero(verdicts == _MISFIT)
    chi2[misfit] = best_fit_chi2(
        diff, var, psf, x[misfit], y[misfit], (params.psf_error, frame.gain)
    )
    verdicts[misfit] = np.where(chi2[misfit] > params.fit_chi2_max, "cosmic ray", "real")
    alive = np.flatnonzero(verdicts == "real")
    hosts = _brighter_star(x[alive], y[alive], mag[alive], placed, fwhm, params)
    for i, star in zip(alive, hosts, strict=True):
        if star is None:
            continue
        ratio, mirror_snr = _mirror(maps, psf, (x[i], y[i]), star)
        if abs(ratio) >= params.mirror_ratio_max and abs(mirror_snr) >= params.mirror_snr_min:
            verdicts[i] = "PSF residual"
    kinds = np.where(on_star, CandidateKind.BRIGHTENED.value, CandidateKind.NEW.value).tolist()
    records = candidate_records(kinds, ra, dec, x, y, mag, mag_err, s)
    for record, verdict, fit in zip(records, verdicts.tolist(), np.round(chi2, 2).tolist(),
                                    strict=True):  # fmt: skip
        record.update(method="difference", vetting=verdict, fit_chi2=fit)
        (kept if verdict == "real" else rejected).append(record)
    return _merge(kept, fwhm), rejected


def _verdict(
    frame: FrameInputs,
    peak: _Peak,
    psf: FieldPsf,
    near_saturated: bool,
    snr_map: npt.NDArray[np.float32],
    params: DifferenceParams,
) -> str:
    """``real``, or the first per-pixel vetting test the peak fails (saturated star, bad
    pixels, dipole, cosmic ray by its sharpness, :data:`_MISFIT` by its fit's chi-square)."""
    x, y, snr, sharp, chi2 = peak
    fwhm = psf.shape.fwhm_px
    if near_saturated:
        return "saturated star"
    if frame.mask is not None:
        r = math.ceil(params.mask_radius_fwhm * fwhm)
        iy, ix = round(y), round(x)
        window = frame.mask[max(iy - r, 0) : iy + r + 1, max(ix - r, 0) : ix + r + 1]
        if window.any():
            return "bad pixels"
    r = math.ceil(2.0 * fwhm)
    iy, ix = round(y), round(x)
    lobe = snr_map[max(iy - r, 0) : iy + r + 1, max(ix - r, 0) : ix + r + 1]
    if float(lobe.min()) <= -max(params.dipole_ratio * snr, params.snr_min):
        return "dipole"
    if sharp > params.sharpness_max * psf.at(x, y).peak_fraction:
        return "cosmic ray"
    return _MISFIT if chi2 > params.fit_chi2_max else "real"


class _Placed(NamedTuple):
    """The catalog stars with a pixel position: one tree of them, for "on a star" and the
    mirror test (~90,000 stars in a crowded field)."""

    tree: cKDTree | None
    rows: npt.NDArray[np.intp]  # their rows in the catalog
    x: Floats  # every catalog star's pixel position (NaN off the projection) ...
    y: Floats
    mag: Floats  # ... and magnitude


def _place(stars: CatalogStars, sx: Floats, sy: Floats) -> _Placed:
    index = np.flatnonzero(np.isfinite(sx) & np.isfinite(sy))
    tree = cKDTree(np.column_stack([sx[index], sy[index]])) if len(index) else None
    return _Placed(tree, index, sx, sy, np.asarray(stars.mag, float))


def _brighter_star(
    x: Floats,
    y: Floats,
    mag: Floats,
    placed: _Placed,
    fwhm: float,
    params: DifferenceParams,
) -> list[tuple[float, float] | None]:
    """Per peak, the brightest catalog star within the mirror radius, far enough for the mirror
    test and brighter than it by the contrast (pixel position), or None."""
    if placed.tree is None or len(x) == 0:
        return [None] * len(x)
    sx, sy, star_mag = placed.x, placed.y, placed.mag
    found: list[tuple[float, float] | None] = []
    for near, px, py, m in zip(
        placed.tree.query_ball_point(np.column_stack([x, y]), params.mirror_radius_fwhm * fwhm),
        x, y, np.nan_to_num(mag, nan=99.0), strict=True,
    ):  # fmt: skip
        index = placed.rows[np.asarray(near, dtype=np.intp)]
        offset = np.hypot(sx[index] - px, sy[index] - py)
        brighter = star_mag[index] <= m - params.mirror_min_contrast_mag
        index = index[(offset >= params.mirror_min_offset_fwhm * fwhm) & brighter]
        if len(index) == 0:
            found.append(None)
            continue
        brightest = int(index[np.argmin(star_mag[index])])
        found.append((float(sx[brightest]), float(sy[brightest])))
    return found


def _mirror(
    maps: _Maps, psf: FieldPsf, peak: tuple[float, float], star: tuple[float, float]
) -> tuple[float, float]:
    """Flux at the peak's mirror image through the star over the peak's, and the mirror flux's
    SNR: both PSFs fitted together to the difference (optimal weights) so that their overlap is
    not counted twice.

    A transient beside a star gives about 0, a residual of the star's profile (its width or
    shape) about +1, a misplaced star (a shift) about -1. A mirror off the frame, or a fit with
    no positive flux at the peak, gives (0, 0): the test does not apply.
    """
    height, width = maps.diff.shape
    mx, my = 2.0 * star[0] - peak[0], 2.0 * star[1] - peak[1]
    if not (0.0 <= mx <= width - 1 and 0.0 <= my <= height - 1):
        return 0.0, 0.0
    shape = psf.at(star[0], star[1])
    half = math.ceil(2.0 * shape.fwhm_px)
    x0, x1 = (
        max(math.floor(min(peak[0], mx)) - half, 0),
        min(math.ceil(max(peak[0], mx)) + half + 1, width),
    )
    y0, y1 = (
        max(math.floor(min(peak[1], my)) - half, 0),
        min(math.ceil(max(peak[1], my)) + half + 1, height),
    )
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(float)
    model = np.stack([shape.evaluate(gx - peak[0], gy - peak[1]), shape.evaluate(gx - mx, gy - my)])
    weight = 1.0 / maps.var[y0:y1, x0:x1].astype(float)
    data = maps.diff[y0:y1, x0:x1].astype(float)
    normal = np.einsum("iyx,jyx,yx->ij", model, model, weight)
    if abs(float(np.linalg.det(normal))) < 1e-12 * float(normal[0, 0] * normal[1, 1]):
        return 0.0, 0.0
    covariance = np.linalg.inv(normal)
    own, mirror = covariance @ np.einsum("iyx,yx,yx->i", model, weight, data)
    if own <= 0:
        return 0.0, 0.0
    return float(mirror / own), float(mirror / math.sqrt(covariance[1, 1]))


def _centroids(
    image: npt.NDArray[np.float32], peaks: npt.NDArray[np.intp]
) -> tuple[Floats, Floats]:
    """Sub-pixel maxima of ``image`` near each (row, column): uphill to the brightest pixel of
    its 3×3 neighbourhood (at most ``CLIMB_STEPS`` steps), then a parabola through the 3 pixels
    on each axis.

    The climb matters beside a star: the SNR map's peak is pushed away from the star, whose
    photon noise lowers the SNR towards its core, by more than a pixel from the flux's peak.
    """
    height, width = image.shape

    def at(r: npt.NDArray[np.intp], c: npt.NDArray[np.intp]) -> Floats:
        # Off the frame, the nearest edge pixel (no padded copy of a 4096² frame).
        values: Floats = image[np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)].astype(float)
        return values

    rows, cols = peaks[:, 0].copy(), peaks[:, 1].copy()
    steps = np.array([-1, 0, 1])
    for _ in range(CLIMB_STEPS):
        box = at(
            rows[:, None, None] + steps[None, :, None], cols[:, None, None] + steps[None, None, :]
        )
        best = np.argmax(box.reshape(len(peaks), 9), axis=1)
        if np.all(best == 4):
            break
        rows, cols = rows + best // 3 - 1, cols + best % 3 - 1

    def offset(minus: Floats, centre: Floats, plus: Floats) -> Floats:
        curvature = minus - 2.0 * centre + plus
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (minus - plus) / curvature, 0.0)
        clipped: Floats = np.clip(np.nan_to_num(shift), -0.5, 0.5)
        return clipped

    dx = offset(at(rows, cols - 1), at(rows, cols), at(rows, cols + 1))
    dy = offset(at(rows - 1, cols), at(rows, cols), at(rows + 1, cols))
    x = np.clip(cols + dx, 0, width - 1)
    y = np.clip(rows + dy, 0, height - 1)
    return x, y


def _merge(found: list[Candidate], fwhm: float) -> list[Candidate]:
    """One candidate per source: peaks within 1 FWHM of a stronger one are dropped."""
    ordered = sorted(found, key=lambda c: -c["snr"])
    kept: list[Candidate] = []
    for c in ordered:
        if all(math.hypot(c["x"] - k["x"], c["y"] - k["y"]) > fwhm for k in kept):
            kept.append(c)
    return kept


def search_analysed(
    analysis: FrameAnalysis,
    catalog: CatalogCache,
    max_offset_arcsec: float,
    params: DifferenceParams | None = None,
) -> DifferenceResult:
    """The difference search on a frame :func:`tasks.nrt.pipeline.analyse_frame` analysed.

    Parameters
    ----------
    analysis : FrameAnalysis
        The analysed frame (its pixels background subtracted, WCS and zero point fitted).
    catalog : CatalogCache
        The reference catalog (the analysis's query is cached there).
    max_offset_arcsec : float
        ``[nrt] max_offset_arcsec``: the analysis's query, found again in the cache.
    params : DifferenceParams, optional
        Thresholds.

    Returns
    -------
    DifferenceResult
        ``seconds["psf"]`` holds the PSF fit's time.
    """
    frame = analysis.frame
    started = time.perf_counter()
    stars = _catalog_stars(frame, catalog, max_offset_arcsec)
    data = np.asarray(frame.data, dtype=np.float32)
    psf = measure_field_psf(data, frame.mask, analysis.extraction, frame.gain)
    psf_seconds = time.perf_counter() - started
    inputs = FrameInputs(
        data=data,
        mask=frame.mask,
        rms_adu=analysis.extraction.background_rms_adu,
        gain=frame.gain,
        wcs=analysis.solution.wcs,
        zero_point=analysis.zero_point,
    )
    result = difference_search(inputs, stars, psf, params)
    result.seconds["psf"] = psf_seconds
    result.seconds["total"] += psf_seconds
    return result


__all__ = [
    "DifferenceParams",
    "DifferenceResult",
    "FrameInputs",
    "difference_search",
    "measure_field_psf",
    "search_analysed",
]
