"""Frames as a simulated night takes them, for the pipeline benchmark and tests.

What ``pyros night --simulate`` does to the frames, without the stack: the simulation's derived site
file (``app.cli.nightsim.derived_site_file``: frames of ``frame_px`` pixels, the pixels up to
``MAX_PIXEL_GROWTH`` times coarser and ``MAX_PIXEL_ARCSEC`` at most), the night's calibrations taken
and built by the calibration module as the night takes them (evening bias and darks with the dome
closed, dusk flats at the start of the twilight-flat window on the flat-field spot, dithered, for
the filters the night uses), then science frames of the default scenario's requests (their targets,
filters, exposure times and image counts, one camera per album, in parallel) and alert follow-ups of
the site's strategies (with a fading afterglow), at instants drawn over the dark night where the
target is above the altitude limit. The camera simulator's request is built as the camera builds it;
the renderer adds the pointing error, the seeing, the moon and the twilight of that instant.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord

from infra.config import SiteConfig, load_config
from simulators.sky import Afterglow, FrameRequest, render_frame, write_frame
from simulators.sky.conditions import geometry

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "simulators" / "data" / "scenarios" / "night"


@dataclass(frozen=True)
class PlannedFrames:
    """One plan of a sequence: ``count`` frames of ``exposure_s`` in ``filter`` on ``camera``."""

    camera: str
    filter: str
    exposure_s: float
    count: int


@dataclass(frozen=True)
class NightSequence:
    """A target and its plans (the albums run in parallel, one per camera)."""

    name: str
    ra_deg: float
    dec_deg: float
    plans: tuple[PlannedFrames, ...]
    alert: bool = False


@dataclass
class NightFrame:
    """A science frame taken, and what the analysis needs beside it."""

    path: Path
    camera: str
    filter: str
    start: datetime
    sequence: str
    alert: tuple[float, float, float] | None = None  # alert RA, Dec, error radius (arcsec)


@dataclass
class NightFrames:
    """The night's frames: science frames and the calibration masters built."""

    config: SiteConfig
    label: str
    frames: list[NightFrame] = field(default_factory=list)
    masters: list[dict] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        """Delete every frame and truth written."""
        for path in self.written:
            path.unlink(missing_ok=True)
            path.with_name(path.name.replace(".fits", ".truth.ecsv")).unlink(missing_ok=True)
        self.written.clear()


def night_config(home: Path, frame_px: int) -> SiteConfig:
    """The site configuration a simulated night runs with (its derived site file)."""
    from app.cli.nightsim import derived_site_file

    return load_config(derived_site_file(load_config(), home, frame_px))


def scenario_sequences(directory: Path = SCENARIO_DIR) -> list[NightSequence]:
    """The default night scenario's requests, one sequence each."""
    sequences = []
    for path in sorted(directory.glob("night_request_*.xml")):
        for sequence in ET.parse(path).getroot().iter("sequence"):
            where = SkyCoord(sequence.get("target_coords", ""), unit=("hourangle", "deg"))
            plans = tuple(
                PlannedFrames(
                    album.get("detector", ""),
                    plan.get("filter", ""),
                    float(plan.get("duration", "0")),
                    int(plan.get("nb_images", "1")),
                )
                for album in sequence.iter("album")
                for plan in album.iter("plan")
            )
            sequences.append(
                NightSequence(sequence.get("name", path.stem), where.ra.deg, where.dec.deg, plans)
            )
    return sequences


def alert_sequence(config: SiteConfig, ra: float, dec: float, name: str) -> NightSequence:
    """A follow-up of the site's first alert strategy (one pointing) at (ra, dec)."""
    strategy = next(s for s in config.alerts.strategies if not s.allow_tiling)
    plans = tuple(
        PlannedFrames(p.instrument, p.filter, p.exposure_s, p.count) for p in strategy.plans
    )
    return NightSequence(name, ra, dec, plans, alert=True)


def take_night(
    config: SiteConfig,
    label: str,
    directory: Path,
    rng: np.random.Generator,
    sequences: int,
    alerts: int,
    engine=None,
) -> NightFrames:
    """Calibrate as the night does, then take ``sequences`` scenario sequences and ``alerts``
    follow-ups at instants drawn over the dark night (target above the altitude limit)."""
    from tasks.scheduling.night_times import night_for

    night = night_for(label, config)
    if night.start is None or night.end is None:
        raise ValueError(f"night {label}: no dark time")
    taken = NightFrames(config, label)
    pool = scenario_sequences()
    starts = []
    for k in range(sequences + alerts):
        if k < sequences:  # the requests the scheduler could place then: observable ones
            starts.append(_observable(config, night.start, night.end, pool, rng))
        else:
            template = [alert_sequence(config, 0.0, 0.0, f"alert-{k - sequences}")]
            starts.append(_observable(config, night.start, night.end, template, rng))
    todo = [sequence for _, sequence in starts]
    filters = {
        plan.camera: sorted({p.filter for s in todo for p in s.plans if p.camera == plan.camera})
        for s in todo
        for plan in s.plans
    }
    taken.masters = calibrate(config, label, night, filters, directory, taken.written, engine)
    for number, (start, sequence) in enumerate(starts):
        taken.frames += _sequence_frames(config, sequence, start, directory, number, rng)
    taken.written += [f.path for f in taken.frames]
    return taken


def _observable(
    config: SiteConfig,
    begin: datetime,
    end: datetime,
    pool: Sequence[NightSequence],
    rng: np.random.Generator,
) -> tuple[datetime, NightSequence]:
    """An instant of the dark night and a sequence of ``pool`` the scheduler could place then:
    above the altitude limit, far enough from the moon (an alert: at a random position)."""
    span = (end - begin).total_seconds() - 1200.0
    for _ in range(500):
        start = begin + timedelta(seconds=float(rng.uniform(0.0, max(span, 1.0))))
        sequence = pool[int(rng.integers(len(pool)))]
        if sequence.alert:
            ra, dec = float(rng.uniform(0, 360)), math.degrees(math.asin(rng.uniform(-0.5, 1.0)))
            sequence = NightSequence(sequence.name, ra, dec, sequence.plans, alert=True)
        where = geometry(config, start, sequence.ra_deg, sequence.dec_deg)
        limits = config.limits
        moon_ok = where.moon_alt <= 0 or where.moon_separation >= limits.min_moon_distance_deg
        if where.target_alt >= limits.min_altitude_deg and moon_ok:
            return start, sequence
    raise ValueError("no target above the altitude limit tonight")


def _sequence_frames(
    config: SiteConfig,
    sequence: NightSequence,
    start: datetime,
    directory: Path,
    number: int,
    rng: np.random.Generator,
) -> list[NightFrame]:
    """The frames of one sequence: each camera's plans one after the other, cameras in parallel."""
    alert = glow = None
    if sequence.alert:
        error = float(rng.choice([3.0, 5.0, 10.0]))
        alert = (sequence.ra_deg, sequence.dec_deg, error)
        offset = error * 0.5 * math.sqrt(float(rng.uniform()))
        angle = float(rng.uniform(0, 2 * math.pi))
        glow_dec = sequence.dec_deg + offset * math.sin(angle) / 3600
        glow_ra = sequence.ra_deg + offset * math.cos(angle) / 3600 / math.cos(
            math.radians(glow_dec)
        )
        since = float(rng.uniform(120.0, 1800.0))
        mag = float(rng.uniform(15.5, 19.5))
        glow = Afterglow(
            glow_ra, glow_dec, start - timedelta(seconds=since), mag_t0=mag, t0_s=since
        )
    frames = []
    clocks: dict[str, datetime] = {}
    for plan in sequence.plans:
        instrument = config.instrument(plan.camera)
        if instrument is None:
            continue
        when = clocks.get(plan.camera, start) + timedelta(seconds=instrument.filter_move_s)
        for index in range(plan.count):
            request = FrameRequest(
                instrument=instrument.name,
                image_type="light",
                start=when,
                exposure_s=plan.exposure_s,
                filter=plan.filter,
                ra_deg=sequence.ra_deg,
                dec_deg=sequence.dec_deg,
                afterglows=(glow,) if glow is not None else (),
                object_name=sequence.name,
            )
            name = f"s{number:03d}-{instrument.device}-{plan.filter}-{index:02d}".replace(" ", "_")
            files = write_frame(render_frame(request, config), directory / f"{name}.fits")
            frames.append(
                NightFrame(
                    files.fits_path, instrument.name, plan.filter, when, sequence.name, alert
                )
            )
            when += timedelta(seconds=plan.exposure_s + instrument.readout_s)
        clocks[plan.camera] = when
    return frames


def calibrate(
    config: SiteConfig,
    label: str,
    night,
    filters: dict[str, Sequence[str]],
    directory: Path,
    written: list[Path],
    engine=None,
) -> list[dict]:
    """The night's calibrations through the calibration module: evening bias and darks (dome
    closed), dusk twilight flats at the window's start on the dithered flat-field spot."""
    from types import SimpleNamespace

    from tasks.calibration.acquisition import adapted_flat_exposure, plan_acquisitions
    from tasks.calibration.camera_acquisition import central_level, dither_offset, flat_field_spot
    from tasks.calibration.service import take_and_build
    from tasks.sky import as_time, sun_altitude_deg

    evening = night.sunset - timedelta(minutes=25)
    flats_at = night.dusk_flats[0] if night.dusk_flats else evening
    results = []
    for camera in (i.name for i in config.instruments):
        for kinds, when, wanted in (
            (("bias", "dark"), evening, []),
            (
                ("flat",),
                flats_at,
                list(filters.get(camera, [])) or [config.instrument(camera).filters[0]],
            ),
        ):
            sun = float(sun_altitude_deg(as_time(when), config)[0])
            plan = plan_acquisitions(config, camera, kinds, wanted, sun)
            clock = {"now": when}

            def acquire(request, clock=clock):
                paths = []
                spot = flat_field_spot(SimpleNamespace(now=lambda: clock["now"]), config)
                exposure = request.exposure_s
                for index in range(request.count):
                    kind = request.kind
                    pointing = (None, None)
                    if kind == "flat" and request.flat_source == "twilight":
                        dra, ddec = dither_offset(index, request.dither_arcsec)
                        cos_dec = max(math.cos(math.radians(spot[1])), 1e-3)
                        pointing = (spot[0] + dra / cos_dec, spot[1] + ddec)
                    frame = FrameRequest(
                        instrument=request.camera,
                        image_type=kind,
                        start=clock["now"],
                        exposure_s=0.0 if kind == "bias" else exposure,
                        filter=request.filter,
                        ra_deg=pointing[0],
                        dec_deg=pointing[1],
                        flat_source=request.flat_source or "twilight",
                        dome_open=kind == "flat" and request.flat_source == "twilight",
                    )
                    name = f"cal-{request.camera}-{kind}-{request.filter}-{index}".replace(" ", "_")
                    path = write_frame(render_frame(frame, config), directory / f"{name}.fits")
                    paths.append(path.fits_path)
                    written.append(path.fits_path)
                    instrument = config.instrument(request.camera)
                    clock["now"] += timedelta(seconds=exposure + instrument.readout_s + 5)
                    if kind == "flat":  # as the night's acquisition does
                        exposure = adapted_flat_exposure(
                            exposure, central_level(path.fits_path), instrument, config
                        )
                return paths

            for result in take_and_build(plan, acquire, engine=engine, config=config, night=label):
                results.append(
                    {
                        "camera": camera,
                        "kind": result.get("type"),
                        "filter": result.get("filter"),
                        "status": str(result.get("status")),
                        "reason": result.get("reason", ""),
                    }
                )
    return results


def draw_night(rng: np.random.Generator, config: SiteConfig) -> str:
    """A night label drawn within a year from 2026-12-01 (every moon phase) with dark time."""
    from tasks.scheduling.night_times import night_for

    first = datetime(2026, 12, 1, tzinfo=UTC)
    for _ in range(50):
        label = (first + timedelta(days=int(rng.integers(0, 365)))).date().isoformat()
        night = night_for(label, config)
        if night.start is not None and night.end is not None and night.end > night.start:
            return label
    raise ValueError("no night with dark time drawn")
