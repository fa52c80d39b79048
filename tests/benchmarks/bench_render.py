"""``make bench B=render``: seconds to render a frame (goal <= 1.0 s at 4096x4096), and to write it.

Renders r-band 30 s light frames of a high-latitude field (b ≈ −38°) and a crowded one
(b ≈ +5°) on the default cameras (visible 4096², infrared 2048²), each at successive instants
(new noise, new seeing, same static patterns once cached), after one warm-up frame per camera
(astropy's ephemeris, the detector patterns and the catalog cells are built once per process).
Reports the median of 5 and the cold first frame, the FITS+truth write time (atomic, fsync'ed, to
a temporary directory deleted afterwards) and the machine's load average.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.benchmarks.common import emit, machine

START = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
FIELDS = {"high_latitude": (60.0, 10.0), "crowded": (95.0, 25.0)}
REPEATS = 5


def _phase_split(timings: list[dict]) -> dict:
    keys = ("geometry", "sources", "noise", "digitise", "total")
    return {k: round(statistics.median(t.get(k, 0.0) for t in timings), 3) for k in keys}


def main() -> None:
    from infra.config import load_config
    from simulators.sky import FrameRequest, render_frame, write_frame

    config = load_config()
    out = Path(tempfile.mkdtemp(prefix="pyros-bench-render-"))
    try:
        for instrument, size, filter_name in (
            ("Visible camera", 4096, "r"),
            ("Infrared camera", 2048, "J"),
        ):
            for field, (ra, dec) in FIELDS.items():
                base = FrameRequest(
                    instrument=instrument, image_type="light", start=START, exposure_s=30.0,
                    filter=filter_name, ra_deg=ra, dec_deg=dec,
                )  # fmt: skip
                cold_started = time.perf_counter()
                first = render_frame(base, config)
                cold = time.perf_counter() - cold_started
                seconds, writes, phases = [], [], []
                for k in range(REPEATS):
                    request = replace(base, start=START + timedelta(minutes=k + 1))
                    started = time.perf_counter()
                    rendered = render_frame(request, config)
                    seconds.append(time.perf_counter() - started)
                    phases.append(rendered.timings)
                    started = time.perf_counter()
                    files = write_frame(rendered, out / f"{size}-{field}-{k}.fits")
                    writes.append(time.perf_counter() - started)
                    files.fits_path.unlink()
                    files.truth_path.unlink()
                figures = {
                    "instrument": instrument,
                    "field": field,
                    f"render_seconds_{size}": round(statistics.median(seconds), 3),
                    "render_seconds_max": round(max(seconds), 3),
                    "render_seconds_cold_first": round(cold, 3),
                    f"write_seconds_{size}": round(statistics.median(writes), 3),
                    "sources": len(rendered.truth),
                    "stars_first_frame": int((first.truth["kind"] == "star").sum()),
                    "phases_cumulative": _phase_split(phases),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                }
                emit("render", **figures, **machine())
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
