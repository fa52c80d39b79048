"""``make bench B=pipeline``: the near-real-time analysis, fast and right, against the truth.

Everything runs in a temporary PYROS_HOME (SQLite) deleted afterwards; every frame is deleted.

1. **Speed** on the tuning configuration (the defaults: field at b = −31°, seeing 1.4″): masters
   built with the calibration module from rendered bias, dark and dome-flat frames; frames
   analysed by one warm consumer state (masters, catalog fields, engine kept), calibration and
   astrometry included: ``nrt_seconds_4096`` (goal <= 2.0), ``nrt_seconds_2048`` (medians after
   a warm-up frame), and the same frames with the photutils engine, side by side
   (``photutils_*``), with each engine's accuracy on those frames.
2. **Accuracy** on configurations the pipeline was not tuned on, drawn here from a seeded RNG
   (the fields, anywhere on the sky high at the benchmark's instant, away from the galactic
   plane; seeing, SIP distortion, pointing error and rotation, sky seed — printed in
   ``acceptance_configs``), 2048² frames each with an afterglow at an alert position (error
   circle 3–10″), magnitudes spread over SNR 6–80: ``completeness_snr10``, ``phot_rms_mag_snr50``,
   ``astrom_rms_arcsec`` (fitted vs true WCS over the frame, from ``pointing_error_arcsec`` of
   70–150″), ``afterglow_recovery_rate`` (SNR >= 10), ``afterglow_offset_arcsec_max``,
   ``false_candidates_per_frame``.
3. **Crowding** (reported, not a goal): the same figures on a field drawn within 3° of the
   galactic plane, its knobs drawn as above (``crowded_config``).
4. **The night's frames** (``tests/support/night_sky.py``): frames of both cameras taken as
   ``pyros night --simulate`` takes them — its derived site file (``NIGHT_FRAME_PX``, default
   512 as ``--frame-px``: the pixels up to 4× coarser and 1.3″ at most), the night's
   calibrations built by the calibration module (evening bias and darks, dusk twilight flats),
   the default scenario's
   requests and alert follow-ups of the site's strategy (with an afterglow), at instants drawn
   over a drawn night where the target is above the altitude limit. Each frame is analysed,
   its Image and NrtAnalysis rows stored, and the figures come from
   ``tasks/nrt/night_frames.py:frame_figures`` (what the night summary shows):
   ``night_frames_analysed_fraction`` per camera (goal >= 0.99), failures with their reasons,
   ``night_false_candidates_per_frame`` per camera against the truth (goal <= 1), and
   ``night_afterglows_found`` per camera: follow-up frames whose afterglow (in the truth, on the
   frame) has a candidate within 1″ (reported, not a goal: faint in J/H or merged with a star,
   an afterglow may be below the frame's reach).

5. **Blind** (``tests/benchmarks/pipeline_blind.py``): afterglows anywhere in frames of fields
   drawn from the seed (one in the galactic plane), no alert circle: ``blind_recovery_rate``
   (goal >= 0.95), ``blind_false_per_frame`` (goal <= 1), the crowded field apart.

Photometry is scored on every measurement matched to the truth (``phot_rms_mag_snr50``); the
measurements the pipeline flags are also given apart (``phot_rms_mag_snr50_flagged``,
``phot_flagged_measurements``; ``..._unflagged``). A frame the analysis fails on counts its
afterglows as missed. ``PIPELINE_SEED=N`` chooses the
draws (acceptance configurations, afterglows, the night and its frames); unset, a random seed is
drawn and printed (``pipeline_seed``). ``PIPELINE_PARTS=night`` runs the night's frames only.

Figures are provisional when other work loads the machine: ``load_average`` is printed.
"""

from __future__ import annotations

import math
import os
import secrets
import statistics
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from tests.benchmarks.common import emit, isolated_home, machine
from tests.benchmarks.pipeline_blind import blind, draw_fields
from tests.benchmarks.pipeline_common import Setup, Tally

SEED = int(os.environ.get("PIPELINE_SEED") or secrets.randbelow(2**31))
PARTS = set((os.environ.get("PIPELINE_PARTS") or "speed,accuracy,crowded,blind,night").split(","))
#: The simulated night's frame size (``pyros night --frame-px`` default).
NIGHT_FRAME_PX = int(os.environ.get("NIGHT_FRAME_PX", 512))
#: Scenario sequences and alert follow-ups drawn for the night's frames.
NIGHT_SEQUENCES, NIGHT_ALERTS = 24, 4
#: Tuning field (RA, Dec; the defaults were tuned here: b = −31°, altitude 68° at NIGHT). The
#: acceptance fields and the crowded one are drawn from the seed (``draw_configs``).
TUNED_FIELD = (60.0, 10.0)
#: Acceptance configurations away from the galactic plane; one more is drawn in it (crowded).
ACCEPTANCE_COUNT = 3


def speed(home: Path) -> dict:
    """Timing on the tuning configuration, SEP and photutils side by side."""
    from tests.support.nrt_sky import NIGHT, score, sky_config

    figures: dict = {}
    for size, frames in ((4096, 4), (2048, 4)):
        setup = Setup(sky_config(size), home, f"speed{size}")
        paths = [
            setup.maker.light(f"t{k}", *TUNED_FIELD, NIGHT + timedelta(minutes=3 * k))
            for k in range(frames)
        ]
        for engine in ("sep", "photutils"):
            tally, seconds, phases = Tally(), [], []
            for k, path in enumerate(paths):
                analysis, elapsed = setup.analyse(path, engine=engine)
                if k:  # the first frame warms the caches (masters, catalog, imports)
                    seconds.append(elapsed)
                    phases.append(analysis.seconds)
                tally.add(score(analysis, path, setup.config))
            key = f"nrt_seconds_{size}" if engine == "sep" else f"photutils_nrt_seconds_{size}"
            figures[key] = round(statistics.median(seconds), 3)
            figures[f"{key}_max"] = round(max(seconds), 3)
            figures[f"{key}_phases"] = {
                name: round(statistics.median(p.get(name, 0.0) for p in phases), 3)
                for name in (
                    "load",
                    "background",
                    "detect",
                    "photometry",
                    "astrometry",
                    "candidates",
                )
            }
            if size == 4096:
                tuned = tally.figures(f"{engine}_tuned_")
                figures.update({k: v for k, v in tuned.items() if "afterglow" not in k})
        setup.maker.cleanup()
    return figures


def draw_configs(rng: np.random.Generator) -> tuple[list[dict], dict]:
    """Acceptance configurations and the crowded one, every knob away from the tuning values.

    The fields are drawn uniformly on the sphere among those high in the sky at the benchmark's
    instant (``pipeline_blind.draw_fields``): ``ACCEPTANCE_COUNT`` away from the galactic plane,
    the last one in it; seeing either sharper or broader than the tuning's 1.4″.
    """
    configs = []
    for ra, dec, b in draw_fields(rng, ACCEPTANCE_COUNT + 1):
        seeing = float(rng.choice([rng.uniform(0.9, 1.2), rng.uniform(1.7, 2.4)]))
        configs.append(
            {
                "field": [ra, dec],
                "galactic_b": b,
                "seeing_fwhm_arcsec": round(seeing, 3),
                "sip_amplitude_px": round(float(rng.uniform(2.0, 4.0)), 3),
                "pointing_error_arcsec": round(float(rng.uniform(70.0, 150.0)), 1),
                "rotation_error_deg": round(float(rng.uniform(0.08, 0.3)), 3),
                "seed": int(rng.integers(1, 2**31)),
            }
        )
    return configs[:-1], configs[-1]


def accuracy(home: Path, configs: list[dict], frames: int, name: str, rng) -> tuple[Tally, float]:
    """Frames of each configuration with one afterglow at an alert position each."""
    from tasks.nrt.candidates import AlertRegion
    from tests.support.nrt_sky import NIGHT, afterglow, missed_afterglows, score, sky_config

    tally = Tally()
    seconds = []
    for index, knobs in enumerate(configs):
        sky = {k: v for k, v in knobs.items() if k not in ("field", "galactic_b")}
        setup = Setup(sky_config(2048, **sky), home, f"{name}{index}")
        ra, dec = knobs["field"]
        half = 2048 * 0.38 / 3600 / 2 * 0.85
        for k in range(frames):
            start = NIGHT + timedelta(minutes=2 * k)
            g_ra = ra + rng.uniform(-half, half) / math.cos(math.radians(dec))
            g_dec = dec + rng.uniform(-half, half)
            mag = float(rng.uniform(17.0, 21.8))
            error = float(rng.choice([3.0, 5.0, 10.0]))
            angle, shift = rng.uniform(0, 2 * math.pi), error * 0.5 * math.sqrt(rng.uniform())
            alert = AlertRegion(
                "ivo://bench/alert",
                g_ra + shift * math.cos(angle) / 3600 / math.cos(math.radians(g_dec)),
                g_dec + shift * math.sin(angle) / 3600,
                error,
            )
            path = setup.maker.light(
                f"a{k}", ra, dec, start, afterglows=(afterglow(g_ra, g_dec, start, mag),)
            )
            try:
                analysis, elapsed = setup.analyse(path, alert)
            except Exception as exc:  # recorded, counted: a failed frame finds nothing
                tally.failed.append(f"{name}{index}/{k}: {exc}")
                tally.frames += 1
                tally.glows += missed_afterglows(path, setup.config)
                continue
            seconds.append(elapsed)
            tally.add(score(analysis, path, setup.config))
            for p in (path,):
                p.unlink(missing_ok=True)
                p.with_name(p.name.replace(".fits", ".truth.ecsv")).unlink(missing_ok=True)
        setup.maker.cleanup()
    return tally, (statistics.median(seconds) if seconds else math.nan)


def night_frames(home: Path, rng: np.random.Generator) -> dict:
    """The night's frames of both cameras, analysed and counted as the night summary counts."""
    from datetime import UTC, datetime

    from infra.db import session_scope
    from infra.db.bootstrap import init_database
    from infra.db.engine import create_pyros_engine
    from infra.db.models import Image, NrtAnalysis
    from simulators.sky import SimulatedReferenceCatalog
    from tasks.calibration.calibrator import ScienceCalibrator
    from tasks.nrt.candidates import AlertRegion
    from tasks.nrt.catalog import CatalogCache
    from tasks.nrt.night_frames import frame_figures
    from tasks.nrt.pipeline import analyse_frame
    from tests.support.night_sky import draw_night, night_config, take_night

    directory = home / "night"
    directory.mkdir()
    config = night_config(directory, NIGHT_FRAME_PX)
    engine = create_pyros_engine(f"sqlite:///{directory}/pyros.sqlite")
    init_database(engine, config)
    label = draw_night(rng, config)
    taken = take_night(config, label, directory, rng, NIGHT_SEQUENCES, NIGHT_ALERTS, engine)
    calibrator = ScienceCalibrator(engine=engine, config=config)
    catalog = CatalogCache(SimulatedReferenceCatalog(config.sky))
    seconds = []
    glows: dict[str, list[int]] = {}
    for number, frame in enumerate(taken.frames):
        alert = AlertRegion("ivo://bench/night", *frame.alert) if frame.alert else None
        status, reason, results = "done", "", {}
        started = time.perf_counter()
        try:
            analysis = analyse_frame(frame.path, calibrator, catalog, config, alert=alert)
            results = {"candidates": analysis.candidates}
        except Exception as exc:  # recorded with its reason, as the consumer does
            status, reason = "failed", str(exc)
        seconds.append(time.perf_counter() - started)
        if alert is not None:
            found = _afterglow_found(frame.path, results.get("candidates", []))
            if found is not None:
                tally = glows.setdefault(frame.camera, [0, 0])
                tally[0] += found
                tally[1] += 1
        with session_scope(engine) as session:
            session.add(
                Image(
                    id=f"night-{number:04d}",
                    instrument=frame.camera,
                    filter=frame.filter,
                    image_type="light",
                    exposure_s=0.0,
                    path=str(frame.path),
                    sha256="0" * 64,
                    acquired_at=frame.start,
                    wall_acquired_at=datetime.now(UTC),
                )
            )
            session.flush()
            session.add(
                NrtAnalysis(
                    image_id=f"night-{number:04d}", status=status, reason=reason, results=results
                )
            )
    with session_scope(engine) as session:
        figures = frame_figures(session, label, config.site.longitude_deg)
    taken.cleanup()
    engine.dispose()
    cameras = figures["cameras"]
    return {
        "night_label": label,
        "night_frame_px": NIGHT_FRAME_PX,
        "night_pixel_scale_arcsec": {i.name: i.pixel_scale_arcsec for i in config.instruments},
        "night_frames_analysed_fraction": {
            name: c["analysed_fraction"] for name, c in cameras.items()
        },
        "night_false_candidates_per_frame": {
            name: c["false_candidates_per_frame"] for name, c in cameras.items()
        },
        "night_frames": {
            name: {
                "taken": c["frames_taken"],
                "analysed": c["frames_analysed"],
                "failed": c["frames_failed"],
                "candidates": c["candidates"],
                "false_candidates": c["false_candidates"],
                "failure_reasons": [
                    {"reason": r["example"], "count": r["count"]} for r in c["failure_reasons"]
                ],
            }
            for name, c in cameras.items()
        },
        "night_afterglows_found": {name: f"{n}/{total}" for name, (n, total) in glows.items()},
        "night_masters": [
            f"{m['camera']} {m['kind']} {m['filter'] or ''}: {m['status']}"
            + (f" ({m['reason']})" if m["reason"] else "")
            for m in taken.masters
        ],
        "night_nrt_seconds_median": round(statistics.median(seconds), 3) if seconds else None,
    }


def _afterglow_found(path: Path, candidates: list[dict]) -> bool | None:
    """Whether a candidate lies within 1″ of the afterglow on the frame (None: none on it)."""
    from simulators.sky import read_truth
    from tasks.nrt.night_frames import false_candidates

    truth = read_truth(path)
    glow = truth[(truth["kind"] == "afterglow") & truth["in_frame"]]
    if not len(glow):
        return None
    on_glow = (np.asarray(glow["ra"], dtype=float), np.asarray(glow["dec"], dtype=float))
    return false_candidates(candidates, on_glow, 1.0) < len(candidates)


def main() -> None:
    load = os.getloadavg()
    rng = np.random.default_rng(SEED)
    night_rng = np.random.default_rng([SEED, 27])  # the night's draws leave the others unchanged
    configs, crowded_config = draw_configs(rng)
    started = time.perf_counter()
    figures: dict = {}
    with isolated_home() as home:
        if "speed" in PARTS:
            figures.update(speed(home))
        if "accuracy" in PARTS:
            tally, median = accuracy(home, configs, 30, "accept", rng)
            figures.update(tally.figures())
            figures["acceptance_nrt_seconds_2048"] = round(median, 3)
            figures["acceptance_configs"] = configs
        if "crowded" in PARTS:
            crowded, crowded_median = accuracy(home, [crowded_config], 6, "crowded", rng)
            figures.update(crowded.figures("crowded_"))
            figures["crowded_nrt_seconds_2048"] = round(crowded_median, 3)
            figures["crowded_config"] = crowded_config
        if "blind" in PARTS:
            # Its own stream of draws: adding it leaves the other parts' draws unchanged.
            figures.update(blind(home, np.random.default_rng([SEED, 25])))
        if "night" in PARTS:
            figures.update(night_frames(home, night_rng))
    emit(
        "pipeline",
        pipeline_seed=SEED,
        **figures,
        load_average=[round(v, 2) for v in load],
        load_average_after=[round(v, 2) for v in os.getloadavg()],
        bench_seconds=round(time.perf_counter() - started, 1),
        **machine(),
    )


if __name__ == "__main__":
    main()
