"""Calibration with the database: build and record masters, find frames, calibrate frames.

These functions compose the pure modules (:mod:`~tasks.calibration.masters`,
:mod:`~tasks.calibration.science`) with the database
(:mod:`~tasks.calibration.master_registry`) and the files under
``$PYROS_HOME/calibration/<night>/<camera>/``. They are what the CLI, the Prefect tasks and the
near-real-time consumer call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from astropy.io import fits
from sqlalchemy import Engine, select

from infra.clock import get_clock
from infra.config import InstrumentSection, SiteConfig, get_config
from infra.db import session_scope
from infra.db.models import Image
from infra.db.models.calibration import MasterStatus
from infra.journal import night_label
from infra.settings import load_settings
from tasks.calibration.acquisition import Acquire, AcquisitionRequest
from tasks.calibration.frames import KINDS, ascii_fold, frame_kind
from tasks.calibration.master_registry import MasterChoice, choose_master, record_build
from tasks.calibration.masterfiles import read_master, write_master
from tasks.calibration.masters import MasterBuild, MasterRef, MasterSpec, build_master
from tasks.calibration.science import MasterCache


def calibration_dir() -> Path:
    """Where masters are written: ``$PYROS_HOME/calibration``."""
    return load_settings().home / "calibration"


def instrument_named(config: SiteConfig, camera: str) -> InstrumentSection:
    """The instrument called ``camera`` (ValueError naming the known ones otherwise)."""
    instrument = config.instrument(camera)
    if instrument is None:
        known = ", ".join(repr(i.name) for i in config.instruments)
        raise ValueError(f"camera {camera!r} is not an instrument ({known})")
    return instrument


def night_of(instant: datetime, config: SiteConfig) -> str:
    """The night label of an instant at the site."""
    return night_label(instant, config.site.longitude_deg)


def _latest_date_obs(paths: Sequence[Path | str]) -> datetime | None:
    latest = None
    for path in paths:
        try:
            value = fits.getheader(path).get("DATE-OBS")
            instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except Exception:
            continue
        instant = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
        latest = instant if latest is None or instant > latest else latest
    return latest


def load_choice(choice: MasterChoice, cache: MasterCache | None = None) -> MasterRef:
    """Load the master a choice names (through ``cache`` when given)."""
    if cache is not None:
        return cache.load(choice.path, id=choice.id, kind=choice.kind, night=choice.night)
    return read_master(choice.path, id=choice.id, kind=choice.kind, night=choice.night)


def build_and_record(
    kind: str,
    paths: Sequence[Path | str],
    *,
    camera: str,
    filter_name: str | None = None,
    flat_source: str | None = None,
    night: str | None = None,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
) -> dict[str, Any]:
    """Build a master from ``paths``, write it under :func:`calibration_dir` and record it (a
    failure is recorded too).

    The bias (and dark) subtracted from darks and flats are the ones chosen for the night in the
    database. Never raises on bad frames: the returned dictionary says ``status`` good or failed,
    with the reason, the rejected frames and the quality figures.

    Raises
    ------
    ValueError
        Unknown camera or master type (nothing is recorded).
    """
    config = config or get_config()
    if kind not in KINDS:
        raise ValueError(f"unknown master type {kind!r} (bias, dark or flat)")
    instrument = instrument_named(config, camera)
    clock_now = get_clock().now()
    night = night or night_of(_latest_date_obs(paths) or clock_now, config)
    bias, dark = _masters_beneath(kind, instrument, night, config, engine)
    spec = MasterSpec(kind, instrument, night, filter_name, flat_source, bias, dark)
    started = time.perf_counter()
    build = _build(spec, paths, config, clock_now)
    path, sha256 = _write(build, clock_now)
    build.quality["build_seconds"] = round(time.perf_counter() - started, 3)
    with session_scope(engine) as session:
        row = record_build(session, build, clock_now, path, sha256)
        return {
            "id": row.id,
            "camera": camera,
            "type": kind,
            "filter": build.filter,
            "flat_source": build.flat_source,
            "exposure_s": build.exposure_s,
            "night": night,
            "status": row.status,
            "reason": build.reason,
            "path": path,
            "sha256": sha256,
            "n_frames": len(build.frames),
            "rejected": build.rejected,
            "quality": row.quality,
        }


def _masters_beneath(
    kind: str, instrument: InstrumentSection, night: str, config: SiteConfig, engine: Engine | None
) -> tuple[MasterRef | None, MasterRef | None]:
    """The bias (for darks and flats) and dark (for flats) chosen for ``night``, loaded."""
    if kind not in ("dark", "flat"):
        return None, None
    shape = (instrument.height, instrument.width)
    max_age = config.calibration.max_master_age_nights
    loaded: dict[str, MasterRef | None] = {"bias": None, "dark": None}
    with session_scope(engine) as session:
        for beneath in ("bias", "dark") if kind == "flat" else ("bias",):
            choice = choose_master(
                session, instrument.name, beneath, night, shape=shape, max_age_nights=max_age
            )
            loaded[beneath] = load_choice(choice) if choice else None
    return loaded["bias"], loaded["dark"]


def _build(
    spec: MasterSpec, paths: Sequence[Path | str], config: SiteConfig, created_at: datetime
) -> MasterBuild:
    """:func:`~tasks.calibration.masters.build_master`, its unexpected errors (MemoryError, a
    disk error...) made a failed build, so that no build goes unrecorded."""
    try:
        return build_master(spec, list(paths), config=config.calibration, created_at=created_at)
    except Exception as exc:
        return MasterBuild(kind=spec.kind, camera=spec.instrument.name,
                           filter=spec.filter_name or "", flat_source=spec.flat_source or "",
                           night=spec.night,
                           reason=f"build failed: {type(exc).__name__}: {exc}")  # fmt: skip


def _write(build: MasterBuild, created_at: datetime) -> tuple[str, str]:
    """Write a good master; its path and SHA-256 (empty when there is nothing written, and a
    master that cannot be written becomes a failed build)."""
    if not build.ok:
        return "", ""
    try:
        written, sha256 = write_master(build, calibration_dir(), created_at)
    except OSError as exc:
        build.status, build.reason = MasterStatus.FAILED, f"master not written: {exc}"
        return "", ""
    return str(written), sha256


def night_window(night: str, config: SiteConfig) -> tuple[datetime, datetime]:
    """UTC instants bounding a night label (local solar noon to the next noon)."""
    start = datetime.fromisoformat(night).replace(tzinfo=UTC) + timedelta(
        hours=12 - config.site.longitude_deg / 15.0
    )
    return start, start + timedelta(days=1)


def frames_from_database(
    camera: str,
    kind: str,
    night: str,
    *,
    filter_name: str | None = None,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
) -> list[Path]:
    """Paths of the night's calibration frames of ``kind`` recorded as Image rows."""
    config = config or get_config()
    start, end = night_window(night, config)
    with session_scope(engine) as session:
        query = select(Image).where(
            Image.instrument == camera,
            Image.acquired_at >= start,
            Image.acquired_at < end,
        )
        if filter_name and kind == "flat":
            query = query.where(Image.filter == filter_name)
        rows = session.scalars(query.order_by(Image.acquired_at)).all()
        return [Path(r.path) for r in rows if frame_kind(r.image_type) == kind]


def group_frames(paths: Sequence[Path | str], camera: str) -> dict[tuple[str, str], list[Path]]:
    """Calibration frames of ``camera`` grouped by (kind, filter) from their headers.

    Files whose header cannot be read, or of another camera, or light frames, are left out
    (the build of the group they would belong to reports nothing about them).
    """
    groups: dict[tuple[str, str], list[Path]] = {}
    for raw in paths:
        path = Path(raw)
        try:
            header = fits.getheader(path)
        except Exception:
            continue
        if ascii_fold(str(header.get("INSTRUME", ""))) != ascii_fold(camera):
            continue
        kind = frame_kind(header.get("IMAGETYP", ""))
        if kind not in KINDS:
            continue
        filter_name = str(header.get("FILTER", "")).strip() if kind == "flat" else ""
        groups.setdefault((kind, filter_name), []).append(path)
    return groups


def take_and_build(
    plan: Sequence[AcquisitionRequest],
    acquire: Acquire,
    *,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    night: str | None = None,
) -> list[dict[str, Any]]:
    """Acquire each request of ``plan`` through ``acquire`` and build its master, in order.

    A failed acquisition is recorded as a failed build (its reason), and the next request goes
    on: a dark failure does not prevent the flats (they are built with the previous dark).
    """
    results = []
    for request in plan:
        try:
            paths = list(acquire(request))
        except Exception as exc:
            results.append(
                record_failure(
                    request.kind,
                    request.camera,
                    f"acquisition failed: {exc}",
                    filter_name=request.filter,
                    flat_source=request.flat_source,
                    night=night,
                    engine=engine,
                    config=config,
                )
            )
            continue
        results.append(
            build_and_record(
                request.kind,
                paths,
                camera=request.camera,
                filter_name=request.filter or None,
                flat_source=request.flat_source or None,
                night=night,
                engine=engine,
                config=config,
            )
        )
    return results


def record_failure(
    kind: str,
    camera: str,
    reason: str,
    *,
    filter_name: str = "",
    flat_source: str = "",
    night: str | None = None,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
) -> dict[str, Any]:
    """Record a master that could not even be attempted (e.g. its frames could not be taken)."""
    config = config or get_config()
    now = get_clock().now()
    build = MasterBuild(
        kind=kind,
        camera=camera,
        filter=filter_name,
        flat_source=flat_source,
        night=night or night_of(now, config),
        reason=reason,
    )
    with session_scope(engine) as session:
        row = record_build(session, build, now)
        return {"id": row.id, "camera": camera, "type": kind, "filter": filter_name,
                "night": build.night, "status": row.status, "reason": reason}  # fmt: skip
