"""Rendered frames for the near-real-time analysis, and its evaluation against the truth.

Used by ``tests/tasks/nrt/``, ``tests/flows/test_nrt.py`` and ``tests/benchmarks/bench_pipeline.py``
(never by ``tasks/``): configurations (camera size, ``[sky]`` knobs), calibration masters built
with the calibration module from rendered bias, dark and dome-flat frames, light frames with
afterglows, and the figures the acceptance asks for (completeness, photometric and astrometric
accuracy, afterglow recovery, false candidates), all measured against ``frame.truth.ecsv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from infra.config import SiteConfig, parse_config
from simulators.sky import Afterglow, FrameRequest, read_truth, render_frame, write_frame
from tasks.nrt.astrometry import separation_arcsec
from tasks.nrt.engines import FLAG_EDGE, FLAG_MASKED, FLAG_SATURATED
from tasks.nrt.snr import optimal_snr
from tests.tasks.calibration.helpers import config_data

VISIBLE = "Visible camera"
#: A dark, moonless instant at the site (the calibration tests' night).
NIGHT = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
NIGHT_LABEL = "2026-12-08"


def sky_config(size: int, nrt: dict | None = None, **sky) -> SiteConfig:
    """The default site configuration with ``size``² cameras, ``[sky]`` and ``[nrt]`` overrides."""
    data = config_data(size, **sky)
    if nrt:
        data["nrt"] = {**data.get("nrt", {}), **nrt}
    return parse_config(data, "test-nrt")


@dataclass
class FrameMaker:
    """Renders frames of one configuration into a directory (and remembers them to delete)."""

    config: SiteConfig
    directory: Path
    made: list[Path] = field(default_factory=list)

    def render(self, name: str, **request) -> Path:
        request.setdefault("instrument", VISIBLE)
        rendered = render_frame(FrameRequest(**request), self.config)
        files = write_frame(rendered, self.directory / f"{name}.fits")
        self.made += [files.fits_path, files.truth_path]
        return files.fits_path

    def light(self, name: str, ra: float, dec: float, start: datetime = NIGHT, **changes) -> Path:
        request = dict(
            image_type="light", filter="r", start=start, exposure_s=60.0, ra_deg=ra, dec_deg=dec
        )
        request.update(changes)
        return self.render(name, **request)

    def calibration_frames(self, filters=("r",), camera: str = VISIBLE, count: int = 5) -> dict:
        """Render bias, dark (60 s) and dome-flat frames (per filter) for the masters."""
        frames = {
            "bias": [
                self.render(
                    f"bias-{k}",
                    instrument=camera,
                    image_type="bias",
                    exposure_s=0.0,
                    start=NIGHT - timedelta(hours=2, seconds=-20 * k),
                )
                for k in range(count)
            ],
            "dark": [
                self.render(
                    f"dark-{k}",
                    instrument=camera,
                    image_type="dark",
                    exposure_s=60.0,
                    start=NIGHT - timedelta(hours=1, minutes=-2 * k),
                )
                for k in range(max(3, count - 2))
            ],
        }
        for filter_name in filters:
            frames[f"flat-{filter_name}"] = [
                self.render(
                    f"flat-{filter_name}-{k}",
                    instrument=camera,
                    image_type="flat",
                    filter=filter_name,
                    flat_source="dome",
                    exposure_s=5.0,
                    start=NIGHT - timedelta(minutes=30 - k),
                )
                for k in range(count)
            ]
        return frames

    def build_masters(self, engine, frames: dict, camera: str = VISIBLE) -> dict:
        """Build and record the masters of :meth:`calibration_frames` (calibration module)."""
        from tasks.calibration.service import build_and_record

        built = {}
        for kind, paths in frames.items():
            base, _, filter_name = kind.partition("-")
            built[kind] = build_and_record(
                base,
                paths,
                camera=camera,
                engine=engine,
                config=self.config,
                filter_name=filter_name or None,
            )
            if built[kind]["status"] != "good":
                raise RuntimeError(f"master {kind} not built: {built[kind]['reason']}")
        return built

    def masters(self, engine, filters=("r",), camera: str = VISIBLE, count: int = 5) -> dict:
        """Render the calibration frames, build the masters, delete the frames."""
        frames = self.calibration_frames(filters, camera, count)
        built = self.build_masters(engine, frames, camera)
        for paths in frames.values():
            for path in paths:
                path.unlink(missing_ok=True)
                path.with_name(path.name.replace(".fits", ".truth.ecsv")).unlink(missing_ok=True)
        return built

    def cleanup(self) -> None:
        """Delete every frame (and truth) rendered."""
        for path in self.made:
            path.unlink(missing_ok=True)
            path.with_name(path.name.replace(".fits", ".cal.fits")).unlink(missing_ok=True)
        self.made.clear()


def afterglow(
    ra: float,
    dec: float,
    start: datetime,
    mag_at_start: float,
    alpha: float = 1.0,
    since_s: float = 300.0,
    name: str = "afterglow",
) -> Afterglow:
    """An afterglow whose magnitude at ``start`` is ``mag_at_start`` (burst ``since_s`` before)."""
    t0 = 60.0
    mag_t0 = mag_at_start - 2.5 * alpha * math.log10(since_s / t0)
    return Afterglow(
        ra, dec, start - timedelta(seconds=since_s), mag_t0=mag_t0, t0_s=t0, alpha=alpha, name=name
    )


def truth_snr(truth, config: SiteConfig) -> np.ndarray:
    """The SNR of every truth source by the one definition (``tasks/nrt/snr.py``)."""
    meta = truth.meta
    instrument = config.instrument(meta["frame"]["instrument"])
    background = meta["conditions"]["sky_e_per_pixel"]
    background += instrument.dark_current_e_s * meta["frame"]["exposure_s"]
    snr = optimal_snr(
        np.asarray(truth["flux_e"]),
        np.asarray(truth["fwhm_px"]),
        meta["conditions"]["moffat_beta"],
        background,
        instrument.read_noise_e,
    )
    return np.where(np.asarray(truth["kind"]) == "cosmic_ray", np.nan, snr)


@dataclass
class FrameScore:
    """One analysed frame against its truth."""

    completeness_total: int = 0
    completeness_found: int = 0
    phot_residuals: list[float] = field(default_factory=list)  # unflagged measurements
    phot_flagged_residuals: list[float] = field(default_factory=list)  # flagged by the pipeline
    astrom_grid_rms_arcsec: float = math.nan
    afterglows: list[dict] = field(default_factory=list)
    false_candidates: int = 0
    candidates: int = 0
    fwhm_ratio: float = math.nan
    zero_point_error: float = math.nan


def score(analysis, fits_path: Path, config: SiteConfig, match_arcsec: float = 1.0) -> FrameScore:
    """Compare an analysis (``tasks.nrt.pipeline.FrameAnalysis``) with the frame's truth.

    - completeness: truth stars with SNR >= 10, unsaturated, centre >= 3 FWHM from the edges and
      no brighter truth source within 2 FWHM (a blend no detector separates), found among the
      reported sources (measured SNR >= 5) within ``match_arcsec`` of their true position;
    - photometry: measured minus true magnitude of found stars with SNR >= 50, unsaturated, no
      truth source within 3 FWHM brighter than 5 magnitudes fainter than them, away from edges;
      the measurements the pipeline flags (masked, saturated or truncated aperture) apart;
    - astrometry: RMS over a 32 × 32 grid covering the frame of the distance between the fitted
      and the true WCS;
    - afterglows: found when a candidate lies within ``match_arcsec`` of the true position;
    - false candidates: candidates farther than ``match_arcsec`` from every afterglow.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    truth = read_truth(fits_path)
    result = FrameScore()
    snr = truth_snr(truth, config)
    kind = np.asarray(truth["kind"])
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    fwhm = np.asarray(truth["fwhm_px"])
    height, width = analysis.frame.shape
    inside = away_from_edges(truth, width, height)
    light = kind != "cosmic_ray"
    flux = np.where(light, np.asarray(truth["flux_e"]), 0.0)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([x[light], y[light]]))
    light_index = np.flatnonzero(light)
    reported = analysis.extraction.snr >= 5.0
    det_tree = cKDTree(
        np.column_stack(
            [
                analysis.ra[reported] * np.cos(np.radians(analysis.dec[reported])),
                analysis.dec[reported],
            ]
        )
    )
    stars = np.flatnonzero((kind == "star") & inside & ~np.asarray(truth["saturated"]))
    blended = np.zeros(len(truth), dtype=bool)
    crowded = np.zeros(len(truth), dtype=bool)
    for i, near in zip(
        stars,
        tree.query_ball_point(np.column_stack([x[stars], y[stars]]), 3 * fwhm[stars]),
        strict=True,
    ):
        near = light_index[np.asarray(near, dtype=int)]
        near = near[near != i]
        d = np.hypot(x[near] - x[i], y[near] - y[i])
        blended[i] = bool(np.any((d < 2 * fwhm[i]) & (flux[near] > flux[i])))
        crowded[i] = bool(np.any(flux[near] > flux[i] * 10 ** (-0.4 * 5)))
    ra_t, dec_t = np.asarray(truth["ra"]), np.asarray(truth["dec"])
    scale = match_arcsec / 3600.0
    dist, j = det_tree.query(
        np.column_stack([ra_t * np.cos(np.radians(dec_t)), dec_t]), distance_upper_bound=scale
    )
    found = np.isfinite(dist)
    target = np.zeros(len(truth), dtype=bool)
    target[stars] = True
    target &= (snr >= 10) & ~blended
    result.completeness_total = int(target.sum())
    result.completeness_found = int((target & found).sum())
    phot = target & found & (snr >= 50) & ~crowded
    # Measurements the pipeline flags as unreliable (masked or saturated pixels in the aperture:
    # e.g. a fragment of a saturated star's halo next to a faint star) are scored apart, never
    # dropped (issue 25): the headline figure takes every measurement matched to the truth.
    det_flags = analysis.extraction.flags[reported]
    unflagged = (det_flags & (FLAG_MASKED | FLAG_SATURATED | FLAG_EDGE)) == 0
    flagged = phot.copy()
    flagged[phot] &= ~unflagged[j[phot]]
    phot[phot] &= unflagged[j[phot]]
    det_mag = analysis.mag[reported]
    result.phot_residuals = list(det_mag[j[phot]] - np.asarray(truth["mag"])[phot])
    result.phot_flagged_residuals = list(det_mag[j[flagged]] - np.asarray(truth["mag"])[flagged])
    true_wcs = WCS(fits.Header(truth.meta["true_wcs"]))
    gx, gy = np.meshgrid(np.linspace(0, width - 1, 32), np.linspace(0, height - 1, 32))
    r1, d1 = analysis.solution.wcs.all_pix2world(gx.ravel(), gy.ravel(), 0)
    r2, d2 = true_wcs.all_pix2world(gx.ravel(), gy.ravel(), 0)
    result.astrom_grid_rms_arcsec = float(np.sqrt(np.mean(separation_arcsec(r1, d1, r2, d2) ** 2)))
    cands = analysis.candidates
    c_ra = np.array([c["ra"] for c in cands])
    c_dec = np.array([c["dec"] for c in cands])
    result.candidates = len(cands)
    result.afterglows, is_glow = _afterglows(truth, snr, inside, c_ra, c_dec, match_arcsec)
    result.false_candidates = int((~is_glow).sum())
    result.fwhm_ratio = analysis.extraction.fwhm_px / truth.meta["conditions"]["seeing_fwhm_px"]
    result.zero_point_error = (
        analysis.zero_point.zero_point_e_s - truth.meta["conditions"]["zero_point_mag"]
    )
    return result


def away_from_edges(truth, width: int, height: int) -> np.ndarray:
    """Truth sources whose centre lies at least 3 FWHM from every edge of the frame."""
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    margin = 3 * np.nan_to_num(np.asarray(truth["fwhm_px"]), nan=3.0)
    return (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)


def _afterglows(truth, snr, inside, c_ra, c_dec, match_arcsec: float):
    """Each afterglow in the frame, found or not by the candidates at ``(c_ra, c_dec)``, and
    which candidates lie on an afterglow."""
    ra_t, dec_t = np.asarray(truth["ra"]), np.asarray(truth["dec"])
    is_glow = np.zeros(len(c_ra), dtype=bool)
    glows = []
    for i in np.flatnonzero(
        (np.asarray(truth["kind"]) == "afterglow") & np.asarray(truth["in_frame"])
    ):
        d = separation_arcsec(c_ra, c_dec, ra_t[i], dec_t[i]) if len(c_ra) else np.empty(0)
        hit = d <= match_arcsec
        is_glow |= hit
        glows.append(
            {
                "snr": float(snr[i]),
                "mag": float(truth["mag"][i]),
                "found": bool(hit.any()),
                "offset_arcsec": float(d[hit].min()) if hit.any() else None,
                "inside": bool(inside[i]),
            }
        )
    return glows, is_glow


def missed_afterglows(fits_path: Path, config: SiteConfig) -> list[dict]:
    """The afterglows of a frame the analysis failed on, as :func:`score` lists them, not found.

    A failed frame finds nothing: leaving its afterglows out would flatter the recovery rate.
    """
    truth = read_truth(fits_path)
    inside = away_from_edges(truth, truth.meta["frame"]["width"], truth.meta["frame"]["height"])
    none = np.empty(0)
    return _afterglows(truth, truth_snr(truth, config), inside, none, none, 1.0)[0]


def write_site_config(path: Path, size: int, **sky) -> Path:
    """Write the site file of :func:`sky_config` (for processes reading ``PYROS_SITE_CONFIG``).

    ``[sky]`` keys already in the default file are replaced in place, others added.
    """
    import json
    import re

    from infra.config import DEFAULT_CONFIG_PATH

    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(width|height) = \d+", lambda m: f"{m.group(1)} = {size}", text)
    head, _, rest = text.partition("[sky]\n")
    section, marker, tail = rest.partition("\n[sky.filters")
    for key, value in sky.items():
        literal = json.dumps(value) if isinstance(value, str) else repr(value)
        line = f"{key} = {literal}"
        section, count = re.subn(rf"(?m)^{key} = [^\n]*", line, section)
        if not count:
            section = f"{line}\n{section}"
    path.write_text(f"{head}[sky]\n{section}{marker}{tail}", encoding="utf-8")
    return path
