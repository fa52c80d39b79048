"""The pipeline benchmark's blind part (issue 25): afterglows anywhere in the frame, no alert
circle, on fields drawn from the seed (one of them in the galactic plane).

Figures: ``blind_recovery_rate`` (afterglows with SNR >= 10, away from the edges, with a
candidate within 1″; goal >= 0.95), ``blind_false_per_frame`` (candidates on no afterglow; goal
<= 1), the same for the crowded field apart (``blind_crowded_*``), and the drawn fields.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np

from tests.benchmarks.pipeline_common import Setup, Tally

#: Fields are drawn this high above the horizon at the benchmark's instant (degrees).
MIN_ALTITUDE_DEG = 55.0
#: The crowded field lies this close to the galactic plane (degrees of latitude).
CROWDED_B_DEG = 3.0
AFTERGLOWS_PER_FRAME = 3


def draw_knobs(rng: np.random.Generator) -> dict[str, float | int]:
    """One field's seeing, distortion and pointing errors and the frame's noise seed."""
    return {
        "seeing_fwhm_arcsec": round(float(rng.uniform(1.0, 2.2)), 3),
        "sip_amplitude_px": round(float(rng.uniform(2.0, 4.0)), 3),
        "pointing_error_arcsec": round(float(rng.uniform(60.0, 150.0)), 1),
        "rotation_error_deg": round(float(rng.uniform(0.05, 0.3)), 3),
        "seed": int(rng.integers(1, 2**31)),
    }


def draw_fields(rng: np.random.Generator, count: int) -> list[tuple[float, float, float]]:
    """``count`` fields (RA, Dec, galactic b) high in the sky at the benchmark's night, drawn
    uniformly on the sphere; the last one within ``CROWDED_B_DEG`` of the galactic plane."""
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord

    from infra.astro import site_location
    from infra.config import load_config
    from tasks.sky import as_time
    from tests.support.nrt_sky import NIGHT

    frame = AltAz(obstime=as_time(NIGHT), location=site_location(load_config().site))
    ra = rng.uniform(0.0, 360.0, 20000)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 20000)))
    sky = SkyCoord(ra * u.deg, dec * u.deg)
    high = sky.transform_to(frame).alt.deg > MIN_ALTITUDE_DEG
    b = sky.galactic.b.deg
    plane = np.flatnonzero(high & (np.abs(b) < CROWDED_B_DEG))
    away = np.flatnonzero(high & (np.abs(b) >= CROWDED_B_DEG))
    chosen = [*away[: count - 1], plane[0]]
    return [(round(ra[i], 4), round(dec[i], 4), round(b[i], 2)) for i in chosen]


def blind(home: Path, rng: np.random.Generator, frames_per_field: int = 8) -> dict:
    """Frames of drawn fields and seeing with afterglows anywhere, analysed without an alert."""
    from tests.support.nrt_sky import NIGHT, afterglow, missed_afterglows, score, sky_config

    fields = draw_fields(rng, 4)
    tallies = {"blind_": Tally(), "blind_crowded_": Tally()}
    drawn = []
    for index, (ra, dec, b) in enumerate(fields):
        knobs = draw_knobs(rng)
        drawn.append({"field": [ra, dec], "galactic_b": b, **knobs})
        tally = tallies["blind_crowded_" if abs(b) < 3.0 else "blind_"]
        setup = Setup(sky_config(2048, **knobs), home, f"blind{index}")
        half = 2048 * 0.38 / 3600 / 2 * 0.85
        for k in range(frames_per_field):
            start = NIGHT + timedelta(minutes=2 * k)
            glows = tuple(
                afterglow(
                    ra + rng.uniform(-half, half) / math.cos(math.radians(dec)),
                    dec + rng.uniform(-half, half),
                    start,
                    float(rng.uniform(16.5, 20.5)),
                )
                for _ in range(AFTERGLOWS_PER_FRAME)
            )
            path = setup.maker.light(f"b{k}", ra, dec, start, afterglows=glows)
            try:
                analysis, _ = setup.analyse(path)
            except Exception as exc:  # counted: a failed frame finds nothing
                tally.failed.append(f"blind{index}/{k}: {exc}")
                tally.frames += 1
                tally.glows += missed_afterglows(path, setup.config)
            else:
                tally.add(score(analysis, path, setup.config))
            path.unlink(missing_ok=True)
            path.with_name(path.name.replace(".fits", ".truth.ecsv")).unlink(missing_ok=True)
        setup.maker.cleanup()
    figures: dict = {"blind_fields": drawn}
    for prefix, tally in tallies.items():
        all_figures = tally.figures(prefix)
        figures[f"{prefix}recovery_rate"] = all_figures[f"{prefix}afterglow_recovery_rate"]
        figures[f"{prefix}afterglows_snr10"] = all_figures[f"{prefix}afterglows_snr10"]
        figures[f"{prefix}false_per_frame"] = all_figures[f"{prefix}false_candidates_per_frame"]
        figures[f"{prefix}frames"] = tally.frames
        figures[f"{prefix}frames_failed"] = tally.failed
    return figures
