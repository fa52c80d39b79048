"""``make bench B=calibration``: combining 20 frames of 4096², and calibrating one frame.

Renders 20 bias frames of the default visible camera (4096², uint16) into a temporary directory
(deleted afterwards), then, each in its own process so that peak memory is its own:

- ``combine_20x4096_seconds``: PyROS's combine (row bands, each input read once, median/MAD
  sigma clipping, ``[calibration]`` defaults: 512 MB working bound, 2 threads), goal <= 10 s;
  ``combine_peak_memory_mb``: its peak resident memory above the process's before the combine;
- ``ccdproc_combine_20x4096_seconds``: ``ccdproc.combine(paths)`` with its default settings
  (average, no clipping, ``mem_limit`` 16 GB: one chunk, float64) on the same files, and its
  peak memory. Skipped, with the reason, when the machine has less free memory than it needs;
- ``ccdproc_combine_memlimit512_20x4096_seconds``: the same with ``mem_limit=512e6``, our
  bound: ccdproc then re-reads every input for each of its chunks (astropy/ccdproc#1012);
- like for like, in the same run: ``combine_1thread_20x4096_seconds`` (ours on one thread, as
  ccdproc runs) and ``ccdproc_same_method_20x4096_seconds`` (ccdproc with our method: one pass
  of 3-sigma clipping around the median with the MAD standard deviation, then the median, and
  our 512 MB bound), with their peaks and ``speedup_same_threads_same_bound``.

Then builds a master dark (5 × 60 s) and a dome flat (7 frames) at 4096², and measures
``calibrate_frame_4096_seconds``: read a 4096² light frame and apply bias, dark and flat with
ccdproc (masters cached in memory, as the near-real-time consumer keeps them), provenance in the
header; median of 5 frames after a warm-up. The atomic write of the result is timed separately.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.benchmarks.common import emit, machine

FRAMES = 20
START = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
#: ccdproc's default combine holds float64 copies of every frame: measured 1.9 GB at 20 x 2048².
CCDPROC_BYTES_PER_PIXEL_FRAME = 28


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak_above(base: int) -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base / 2**20, 1)


def worker(which: str, paths: list[str]) -> dict:
    """Run one combine in this (fresh) process; returns its time and peak memory."""
    if which in ("ours", "ours-1"):
        from infra.config import load_config
        from tasks.calibration.combine import combine_frames
        from tasks.calibration.frames import OpenFrames

        section = load_config().calibration
        base = _rss()
        started = time.perf_counter()
        with OpenFrames(paths, "bias") as frames:
            data, stats = combine_frames(
                frames,
                sigma_low=section.sigma_low,
                sigma_high=section.sigma_high,
                iterations=section.clip_iterations,
                memory_bytes=section.combine_memory_mb * 1e6,
                threads=1 if which == "ours-1" else section.combine_threads,
            )
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "peak_mb": _peak_above(base), "stats": stats.as_dict(),
                "level": float(data[::64, ::64].mean())}  # fmt: skip
    import ccdproc

    # "ccdproc": default settings. "ccdproc-512": the same 512 MB bound as ours, where ccdproc
    # splits the output into chunks and re-reads every input for each (astropy/ccdproc#1012).
    options = {"mem_limit": 512e6} if which in ("ccdproc-512", "ccdproc-same") else {}
    if which == "ccdproc-same":
        # Our method ([calibration] defaults: one pass, 3 sigma each side, median and MAD).
        import numpy as np
        from astropy.stats import mad_std

        options.update(method="median", sigma_clip=True, sigma_clip_low_thresh=3.0,
                       sigma_clip_high_thresh=3.0, sigma_clip_func=np.ma.median,
                       sigma_clip_dev_func=mad_std)  # fmt: skip
    base = _rss()
    started = time.perf_counter()
    combined = ccdproc.combine(paths, **options)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": _peak_above(base), "dtype": str(combined.data.dtype),
            "level": float(combined.data[::64, ::64].mean())}  # fmt: skip


def _in_subprocess(which: str, paths: list[Path]) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_calibration", "--worker", which,
         *map(str, paths)],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _render(config, directory: Path, name: str, **request) -> Path:
    from simulators.sky import FrameRequest, render_frame, write_frame

    rendered = render_frame(FrameRequest(instrument="Visible camera", **request), config)
    return write_frame(rendered, directory / f"{name}.fits").fits_path


def _calibration_figures(config, directory: Path, bias_paths: list[Path]) -> dict:
    from tasks.calibration.masters import MasterRef, MasterSpec, build_master
    from tasks.calibration.science import MasterCache, UsedMaster, calibrate_frame

    instrument = config.instrument("Visible camera")
    section = config.calibration
    darks = [_render(config, directory, f"dark{k}", image_type="dark", exposure_s=60.0,
                     start=START + timedelta(minutes=2 * k)) for k in range(5)]  # fmt: skip
    flats = [_render(config, directory, f"flat{k}", image_type="flat", exposure_s=5.0,
                     filter="r", flat_source="dome", start=START + timedelta(minutes=20 + k))
             for k in range(7)]  # fmt: skip
    night = "2026-12-08"
    started = time.perf_counter()
    bias = build_master(MasterSpec("bias", instrument, night), bias_paths, config=section)
    bias_seconds = time.perf_counter() - started
    bias_ref = MasterRef(1, "bias", "bias.fits", night, bias.data)
    started = time.perf_counter()
    dark = build_master(MasterSpec("dark", instrument, night, bias=bias_ref), darks,
                        config=section)  # fmt: skip
    dark_ref = MasterRef(2, "dark", "dark.fits", night, dark.data, dark.bpm, dark.exposure_s)
    flat = build_master(MasterSpec("flat", instrument, night, "r", bias=bias_ref, dark=dark_ref),
                        flats, config=section)  # fmt: skip
    masters_seconds = time.perf_counter() - started
    used = {
        "bias": UsedMaster(bias_ref),
        "dark": UsedMaster(dark_ref),
        "flat": UsedMaster(
            MasterRef(3, "flat", "flat.fits", night, flat.data, flat.bpm, 0.0, "r", "dome")
        ),
    }
    lights = [_render(config, directory, f"light{k}", image_type="light", exposure_s=30.0,
                      filter="r", ra_deg=60.0, dec_deg=10.0,
                      start=START + timedelta(minutes=40 + k)) for k in range(6)]  # fmt: skip
    cache = MasterCache()
    started = time.perf_counter()
    calibrate_frame(lights[0], used, cache=cache)  # cold: dark scaled, flat prepared, mask built
    cold = time.perf_counter() - started
    warm, writes, phases = [], [], []
    for k, light in enumerate(lights[1:]):
        started = time.perf_counter()
        result = calibrate_frame(light, used, cache=cache)
        warm.append(time.perf_counter() - started)
        phases.append(result.seconds)
        started = time.perf_counter()
        from tasks.calibration.science import write_calibrated

        write_calibrated(result.ccd, directory / f"light{k}.cal.fits")
        writes.append(time.perf_counter() - started)
    return {
        "calibrate_frame_4096_seconds": round(statistics.median(warm), 3),
        "calibrate_frame_4096_max": round(max(warm), 3),
        "calibrate_frame_4096_cold_seconds": round(cold, 3),
        "calibrate_read_seconds": round(statistics.median(p["read"] for p in phases), 3),
        "calibrate_ccdproc_seconds": round(statistics.median(p["calibrate"] for p in phases), 3),
        "calibrated_write_4096_seconds": round(statistics.median(writes), 3),
        "master_bias_20x4096_build_seconds": round(bias_seconds, 3),
        "master_dark_and_flat_4096_build_seconds": round(masters_seconds, 3),
        "flat_master_ok": flat.ok,
    }


def main() -> None:
    import psutil

    from infra.config import load_config

    config = load_config()
    directory = Path(tempfile.mkdtemp(prefix="pyros-bench-calibration-"))
    try:
        started = time.perf_counter()
        paths = [
            _render(config, directory, f"bias{k:02d}", image_type="bias", exposure_s=0.0,
                    start=START + timedelta(seconds=30 * k))
            for k in range(FRAMES)
        ]  # fmt: skip
        render_seconds = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        ours = _in_subprocess("ours", paths)
        load_ours = os.getloadavg()[0]
        instrument = config.instrument("Visible camera")
        need = CCDPROC_BYTES_PER_PIXEL_FRAME * FRAMES * instrument.width * instrument.height
        available = psutil.virtual_memory().available
        if available > 1.3 * need:
            theirs = _in_subprocess("ccdproc", paths)
        else:
            theirs = {"skipped": f"needs ~{need / 1e9:.1f} GB, {available / 1e9:.1f} GB free"}
        load_theirs = os.getloadavg()[0]
        bounded = _in_subprocess("ccdproc-512", paths)
        ours_one = _in_subprocess("ours-1", paths)
        theirs_same = _in_subprocess("ccdproc-same", paths)
        load_like = os.getloadavg()[0]
        figures = {
            "combine_20x4096_seconds": round(ours.get("seconds", float("nan")), 3),
            "ccdproc_combine_20x4096_seconds": round(theirs.get("seconds", float("nan")), 3),
            "combine_peak_memory_mb": ours.get("peak_mb"),
            "combine_working_bound_mb": config.calibration.combine_memory_mb,
            "ccdproc_combine_peak_memory_mb": theirs.get("peak_mb"),
            "combine_details": ours.get("stats") or ours,
            "ccdproc_details": {k: v for k, v in theirs.items() if k != "seconds"},
            "ccdproc_combine_memlimit512_20x4096_seconds": round(
                bounded.get("seconds", float("nan")), 3
            ),
            "ccdproc_combine_memlimit512_peak_memory_mb": bounded.get("peak_mb"),
            "combine_1thread_20x4096_seconds": round(ours_one.get("seconds", float("nan")), 3),
            "combine_1thread_peak_memory_mb": ours_one.get("peak_mb"),
            "ccdproc_same_method_20x4096_seconds": round(
                theirs_same.get("seconds", float("nan")), 3
            ),
            "ccdproc_same_method_peak_memory_mb": theirs_same.get("peak_mb"),
            "speedup_same_threads_same_bound": round(
                theirs_same.get("seconds", float("nan")) / ours_one.get("seconds", float("nan")), 2
            ),
            "levels_adu": [ours.get("level"), theirs.get("level")],
            "levels_same_method_adu": [ours_one.get("level"), theirs_same.get("level")],
            "render_20_bias_seconds": round(render_seconds, 1),
            "load_average_1min": [
                round(load_before, 2),
                round(load_ours, 2),
                round(load_theirs, 2),
                round(load_like, 2),
            ],
        }
        figures.update(_calibration_figures(config, directory, paths))
        figures["load_average_1min_end"] = round(os.getloadavg()[0], 2)
        emit("calibration", **figures, **machine())
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3:])))
    else:
        main()
