"""Building master bias, dark and flat frames from calibration frames on disk (pure: no database).

:func:`build_master` never raises on bad input: every unusable frame is rejected with its
reason, and when too few frames remain the result says ``failed`` with the reason (the caller
records it and keeps the previous master). What each master is:

- **bias** (ADU): sigma-clipped mean of the bias frames;
- **dark** (ADU at its ``EXPTIME``, bias subtracted): sigma-clipped mean of bias-subtracted darks
  of one exposure time; science frames subtract it scaled by their exposure (ccdproc);
- **flat** (response, median 1 over the central window): each frame bias- and dark-subtracted and
  divided by its level, then sigma-clipped and averaged. Twilight flats must be *dithered*: stars
  sit on different pixels in each frame, and the per-pixel clipping across frames removes them.

Each master carries a bad-pixel mask (``BPM`` extension): hot pixels from the dark, pixels whose
flat response is far from the median (dead pixels and columns) from the flat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.stats import mad_std

from infra.config import InstrumentSection
from infra.config_calibration import CalibrationSection
from infra.db.models.calibration import MasterStatus
from tasks.calibration.combine import CombineStats, Correction, Float32Array, combine_frames
from tasks.calibration.frames import (
    KINDS,
    FrameError,
    FrameInfo,
    OpenFrames,
    ascii_fold,
    central_window,
    majority,
)

#: Code version written in every master's header.
SOFTWARE = "PyROS calibration 1"


class MasterError(ValueError):
    """A master cannot be built; the message says why."""


@dataclass(frozen=True)
class MasterRef:
    """A master used to build another one, or to calibrate a frame (loaded in memory)."""

    id: int | None
    kind: str
    path: str
    night: str
    data: Float32Array
    bpm: npt.NDArray[np.bool_] | None = None
    exposure_s: float = 0.0
    filter: str = ""
    flat_source: str = ""
    header: fits.Header | None = None


@dataclass(frozen=True)
class MasterSpec:
    """Which master to build, and on what.

    ``kind`` (bias, dark or flat) of the camera ``instrument`` for ``night``; for flats the
    set's ``filter_name`` and ``flat_source`` (default: the most common among the frames); the
    masters subtracted first: ``bias`` (darks and flats need one) and ``dark`` (flats, optional).
    """

    kind: str
    instrument: InstrumentSection
    night: str
    filter_name: str | None = None
    flat_source: str | None = None
    bias: MasterRef | None = None
    dark: MasterRef | None = None


@dataclass
class MasterBuild:
    """The outcome of one build: a master (data, mask, header) or the reason there is none."""

    kind: str
    camera: str
    filter: str = ""
    flat_source: str = ""
    exposure_s: float = 0.0
    night: str = ""
    status: MasterStatus = MasterStatus.FAILED
    reason: str = ""
    frames: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    data: Float32Array | None = None
    bpm: npt.NDArray[np.bool_] | None = None
    header: fits.Header | None = None

    @property
    def ok(self) -> bool:
        """Whether a master was built."""
        return self.status == MasterStatus.GOOD

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the master ((0, 0) without one)."""
        if self.data is None:
            return (0, 0)
        height, width = self.data.shape
        return height, width


def _minimum(config: CalibrationSection, kind: str) -> int:
    return {
        "bias": config.min_frames_bias,
        "dark": config.min_frames_dark,
        "flat": config.min_frames_flat,
    }[kind]


def _select(frames: OpenFrames, spec: MasterSpec) -> tuple[str, str, float]:
    """Reject frames that do not belong to the set; returns (filter, flat source, exposure)."""
    kind, instrument = spec.kind, spec.instrument
    camera = ascii_fold(instrument.name)
    shape = (instrument.height, instrument.width)
    drop: dict[int, str] = {}
    for i, info in enumerate(frames.infos):
        if info.kind != kind:
            drop[i] = f"{info.path}: IMAGETYP is {info.kind!r}, not {kind!r}"
        elif ascii_fold(info.instrument) != camera:
            drop[i] = f"{info.path}: INSTRUME is {info.instrument!r}, not {instrument.name!r}"
        elif info.shape != shape:
            drop[i] = (
                f"{info.path}: {info.shape[1]}x{info.shape[0]} pixels, the camera gives "
                f"{shape[1]}x{shape[0]}"
            )
    frames.reject(list(drop), list(drop.values()))
    chosen_filter = chosen_source = ""
    exposure = 0.0
    if kind == "flat":
        chosen_filter = spec.filter_name or majority([i.filter for i in frames.infos])
        _drop_where(
            frames,
            lambda i: i.filter != chosen_filter,
            lambda i: f"FILTER is {i.filter!r}, the set is {chosen_filter!r}",
        )
        chosen_source = spec.flat_source or majority([i.flat_source for i in frames.infos])
        _drop_where(
            frames,
            lambda i: i.flat_source != chosen_source,
            lambda i: f"FLATTYPE is {i.flat_source!r}, the set is {chosen_source!r}",
        )
    if kind == "dark":
        exposure = float(majority([f"{i.exposure_s:g}" for i in frames.infos]) or 0.0)
        _drop_where(
            frames,
            lambda i: not math.isclose(i.exposure_s, exposure, rel_tol=1e-6),
            lambda i: f"EXPTIME is {i.exposure_s:g} s, the set's darks are {exposure:g} s",
        )
        if exposure <= 0 and len(frames):
            raise MasterError("darks need an exposure time > 0")
    return chosen_filter, chosen_source, exposure


def _drop_where(
    frames: OpenFrames,
    predicate: Callable[[FrameInfo], bool],
    reason: Callable[[FrameInfo], str],
) -> None:
    indices = [i for i, info in enumerate(frames.infos) if predicate(info)]
    frames.reject(indices, [f"{frames.infos[i].path}: {reason(frames.infos[i])}" for i in indices])


def _check_levels(frames: OpenFrames, spec: MasterSpec, config: CalibrationSection) -> list[float]:
    """Read each frame's central window: reject blank, unreadable or badly exposed frames.

    Returns the level (median ADU above bias and dark, central window) of each kept frame.
    """
    kind, instrument, bias, dark = spec.kind, spec.instrument, spec.bias, spec.dark
    levels: list[float] = []
    drop: dict[int, str] = {}
    saturation = instrument.saturation_adu
    for i, info in enumerate(frames.infos):
        try:
            window = frames.window(i).astype(np.float32)
        except Exception as exc:
            drop[i] = f"{info.path}: pixels unreadable ({type(exc).__name__}: {exc})"
            continue
        rows, columns = central_window(info.shape)
        if bias is not None:
            window -= bias.data[rows, columns]
        if dark is not None and kind == "flat" and dark.exposure_s > 0:
            window -= dark.data[rows, columns] * np.float32(info.exposure_s / dark.exposure_s)
        if not np.all(np.isfinite(window)):
            drop[i] = f"{info.path}: pixels are not all finite"
            continue
        if float(np.ptp(window)) == 0.0:
            drop[i] = f"{info.path}: every pixel of the central window is equal (a blank frame)"
            continue
        level = float(np.median(window))
        if kind == "flat":
            top = (info.saturate_adu or saturation) - (bias_level(bias) or instrument.bias_adu)
            low, high = config.flat_level_min_fraction * top, config.flat_level_max_fraction * top
            if not low <= level <= high:
                drop[i] = (
                    f"{info.path}: flat level {level:.0f} ADU is outside the usable "
                    f"{low:.0f}-{high:.0f} ADU"
                )
                continue
        levels.append(level)
    frames.reject(list(drop), list(drop.values()))
    return levels


def bias_level(bias: MasterRef | None) -> float | None:
    """Median level of a master bias (None without one)."""
    if bias is None:
        return None
    return float(np.median(bias.data[:: max(1, bias.data.shape[0] // 256)]))


def build_master(
    spec: MasterSpec,
    paths: Sequence[Path | str],
    *,
    config: CalibrationSection,
    created_at: datetime | None = None,
) -> MasterBuild:
    """Build the master ``spec`` describes from the frames at ``paths``; never raises on bad
    input.

    Parameters
    ----------
    spec : MasterSpec
        Which master (kind, camera, night; a flat's filter and source) and the masters
        subtracted first (a dark needs a bias; a flat needs a bias, a dark is optional).
    paths : sequence of paths
        Candidate frames; unusable ones are rejected with their reason.
    config : CalibrationSection
        Minimum counts, clipping, memory bound, usable flat levels.
    created_at : datetime, optional
        Creation instant written in the header.

    Returns
    -------
    MasterBuild
        ``status`` good with data, mask and header; or failed with the reason.
    """
    build = MasterBuild(kind=spec.kind, camera=spec.instrument.name, night=spec.night)
    if spec.kind not in KINDS:
        build.reason = f"unknown master type {spec.kind!r} (bias, dark or flat)"
        return build
    if spec.kind in ("dark", "flat") and spec.bias is None:
        build.reason = f"no master bias for {spec.instrument.name!r}: build the bias first"
        return build
    with OpenFrames(paths, spec.kind) as frames:
        try:
            data, stats, levels = _combine_set(frames, spec, config, build)
        except (MasterError, FrameError) as exc:
            build.reason = str(exc)
            build.rejected = list(frames.rejected)
            return build
        build.frames = [
            {"path": str(i.path), "image_id": i.image_id, "exposure_s": i.exposure_s}
            for i in frames.infos
        ]
        build.rejected = list(frames.rejected)
        gain = (
            next((i.gain for i in frames.infos if i.gain), None) or spec.instrument.gain_e_per_adu
        )
    if spec.kind == "flat":
        data, level = _normalise(data)
        build.quality["normalisation_adu"] = level
    build.data = data
    build.bpm = _bad_pixels(spec.kind, data, build.exposure_s, gain, config)
    build.quality.update(_quality(data, build, levels, gain))
    build.quality["combine"] = stats.as_dict()
    build.status = MasterStatus.GOOD
    build.header = _header(build, spec, config, created_at, gain)
    return build


def _combine_set(
    frames: OpenFrames, spec: MasterSpec, config: CalibrationSection, build: MasterBuild
) -> tuple[Float32Array, CombineStats, list[float]]:
    """Keep the frames of the set (``build`` learns its filter, source and exposure), check
    there are enough, and combine them; the master's data, how the combine went and each
    frame's level.

    Raises
    ------
    MasterError, FrameError
        Too few valid frames, or a frame unreadable in the middle of the combine.
    """
    build.filter, build.flat_source, build.exposure_s = _select(frames, spec)
    levels = _check_levels(frames, spec, config)
    minimum = _minimum(config, spec.kind)
    if len(frames) < minimum:
        raise MasterError(
            f"{len(frames)} valid {spec.kind} frame(s) of {len(frames) + len(frames.rejected)}"
            f", at least {minimum} needed"
        )
    data, stats = combine_frames(
        frames,
        _correction(spec, frames, levels),
        sigma_low=config.sigma_low,
        sigma_high=config.sigma_high,
        iterations=config.clip_iterations,
        memory_bytes=config.combine_memory_mb * 1e6,
        threads=config.combine_threads,
    )
    return data, stats, levels


def _correction(spec: MasterSpec, frames: OpenFrames, levels: list[float]) -> Correction:
    if spec.kind == "bias":
        return Correction()
    bias, dark = spec.bias, spec.dark
    assert bias is not None, "build_master refuses darks and flats without a bias"
    if spec.kind == "dark":
        return Correction(bias=bias.data)
    dark_factors = (
        [i.exposure_s / dark.exposure_s for i in frames.infos]
        if dark is not None and dark.exposure_s > 0
        else []
    )
    return Correction(
        bias=bias.data,
        dark=dark.data if dark is not None and dark_factors else None,
        dark_factors=dark_factors,
        scales=[1.0 / level for level in levels],
    )


def _normalise(data: Float32Array) -> tuple[Float32Array, float]:
    rows, columns = central_window(data.shape)
    level = float(np.nanmedian(data[rows, columns]))
    if not level > 0:
        raise MasterError("the combined flat has no positive level")
    data /= np.float32(level)
    return data, level


def _bad_pixels(
    kind: str, data: Float32Array, exposure_s: float, gain: float, config: CalibrationSection
) -> npt.NDArray[np.bool_] | None:
    if kind == "flat":
        bad: npt.NDArray[np.bool_] = (
            (data < config.bad_flat_low) | (data > config.bad_flat_high) | ~np.isfinite(data)
        )
        return bad
    if kind == "dark" and exposure_s > 0:
        # Hot: above hot_pixel_e_s *and* clearly above the master's own noise (a short dark's
        # noise alone can exceed hot_pixel_e_s).
        sample = data[:: max(1, data.shape[0] // 512), :: max(1, data.shape[1] // 512)]
        level = float(np.nanmedian(sample))
        noise = float(mad_std(sample, ignore_nan=True))
        threshold = max(config.hot_pixel_e_s * exposure_s / gain, level + 5.0 * noise)
        hot: npt.NDArray[np.bool_] = data > np.float32(threshold)
        return hot
    return None


def _robust_level(data: Float32Array) -> float:
    step = max(1, int(math.sqrt(data.size / 1e6)))  # about a million pixels is plenty
    return float(np.nanmedian(data[::step, ::step]))


def _quality(
    data: Float32Array, build: MasterBuild, levels: list[float], gain: float
) -> dict[str, Any]:
    sample = data[:: max(1, data.shape[0] // 512), :: max(1, data.shape[1] // 512)]
    quality: dict[str, Any] = {"n_rejected": len(build.rejected)}
    if build.kind == "bias":
        level = _robust_level(data)
        columns = np.median(data[:: max(1, data.shape[0] // 256)], axis=0)
        quality.update(
            level_adu=round(level, 3),
            column_pattern_rms_adu=round(float(np.std(columns - level)), 4),
            pixel_rms_adu=round(float(mad_std(sample, ignore_nan=True)), 4),
        )
    elif build.kind == "dark":
        level = _robust_level(data)
        quality.update(
            dark_adu=round(level, 4),
            dark_current_e_s=round(level * gain / build.exposure_s, 6),
            hot_pixels=int(np.count_nonzero(build.bpm)) if build.bpm is not None else 0,
        )
    else:
        blocks = _block_medians(data, 64)
        quality.update(
            frame_levels_adu=[round(v, 1) for v in levels],
            large_scale_min=round(float(np.nanmin(blocks)), 5),
            large_scale_max=round(float(np.nanmax(blocks)), 5),
            bad_pixels=int(np.count_nonzero(build.bpm)) if build.bpm is not None else 0,
        )
    return quality


def _block_medians(data: Float32Array, block: int) -> Float32Array:
    """Median of each ``block`` x ``block`` box (edges cut)."""
    height, width = data.shape
    b = max(1, min(block, height // 4, width // 4))
    cut = data[: height - height % b, : width - width % b]
    boxes = cut.reshape(cut.shape[0] // b, b, cut.shape[1] // b, b).transpose(0, 2, 1, 3)
    medians: Float32Array = np.nanmedian(boxes.reshape(boxes.shape[0], boxes.shape[1], -1), axis=-1)
    return medians


def _header(
    build: MasterBuild,
    spec: MasterSpec,
    config: CalibrationSection,
    created_at: datetime | None,
    gain: float,
) -> fits.Header:
    instrument = spec.instrument
    header = fits.Header()
    header["IMAGETYP"] = (f"master{build.kind}", "master calibration frame")
    header["INSTRUME"] = (ascii_fold(instrument.name), "camera")
    if build.kind == "flat":
        header["FILTER"] = (ascii_fold(build.filter), "filter")
        header["FLATTYPE"] = (build.flat_source or "unknown", "twilight (sky) or dome (lamp)")
        header["BUNIT"] = ("", "normalised response (median 1, central window)")
    else:
        header["BUNIT"] = ("adu", "pixel unit")
    header["EXPTIME"] = (float(build.exposure_s), "exposure time (s) of the inputs")
    header["NIGHT"] = (build.night, "night the master is valid for")
    header["NCOMBINE"] = (len(build.frames), "frames combined")
    header["NREJECT"] = (len(build.rejected), "frames rejected (see the database row)")
    header["COMBINE"] = ("sigma-clipped mean", "per pixel, across frames")
    header["CLIPCEN"] = ("median", "clipping centre")
    header["CLIPSTD"] = ("MAD", "clipping sigma: 1.4826 x median abs. deviation")
    header["CLIPLOW"] = (config.sigma_low, "lower threshold (sigma)")
    header["CLIPHIGH"] = (config.sigma_high, "upper threshold (sigma)")
    header["CLIPITER"] = (config.clip_iterations, "clipping iterations")
    header["GAIN"] = (float(gain), "e-/ADU")
    if created_at is not None:
        header["DATE"] = (created_at.strftime("%Y-%m-%dT%H:%M:%S"), "master created (UTC)")
    for key, ref in (("MBIAS", spec.bias), ("MDARK", spec.dark)):
        if ref is not None and build.kind != "bias":
            header[key] = (Path(ref.path).name[:68], f"{ref.kind} master subtracted")
            if ref.id is not None:
                header[f"{key}ID"] = (ref.id, f"{ref.kind} master id")
    for number, frame in enumerate(build.frames[:999], start=1):
        header[f"IMCMB{number:03d}"] = Path(frame["path"]).name[:68]
    header["ORIGIN"] = ("PyROS", "software that wrote the frame")
    header["CALSOFT"] = (SOFTWARE, "calibration software")
    return header
