"""The night's calibration sets: evening bias and darks, twilight flats at dusk and dawn.

Each set goes through the calibration module (the acquisition hook takes the frames with the
cameras; the masters are built and recorded); a failure is recorded there and the previous
masters stay in use, so the night goes on.
"""

from __future__ import annotations

from sqlalchemy import select

from infra.clock import get_clock
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from infra.db.models import Album, Plan, ScheduledSequence
from infra.db.models.calibration import MasterStatus
from tasks.calibration.acquisition import Acquire, plan_acquisitions
from tasks.calibration.service import take_and_build
from tasks.night.timing_journal import journal_calibration
from tasks.night.vocabulary import CalibrationSet
from tasks.scheduling.schedule_rows import current_schedule
from tasks.sky import as_time, sun_altitude_deg


def flat_filters(label: str, config: SiteConfig) -> dict[str, list[str]]:
    """Filters to flat per camera: those tonight's schedule uses, else each wheel's first."""
    wanted: dict[str, list[str]] = {i.name: [] for i in config.instruments}
    with session_scope() as session:
        schedule = current_schedule(session, label)
        if schedule is not None:
            rows = session.execute(
                select(Album.instrument, Plan.filter)
                .distinct()
                .join(Plan, Plan.album_id == Album.id)
                .join(ScheduledSequence, ScheduledSequence.sequence_id == Album.sequence_id)
                .where(
                    ScheduledSequence.schedule_id == schedule.id,
                    ScheduledSequence.planned.is_(True),
                )
            ).all()
            for camera, filter_name in rows:
                if camera in wanted and filter_name not in wanted[camera]:
                    wanted[camera].append(filter_name)
    for instrument in config.instruments:
        if not wanted[instrument.name]:
            wanted[instrument.name] = [instrument.filters[0]]
    return wanted


def take_night_calibrations(name: str, label: str, acquire: Acquire) -> str:
    """Take (through ``acquire``) and build the set ``name`` for night ``label``; a one-line
    summary."""
    config, clock = get_config(), get_clock()
    kinds: tuple[str, ...]
    filters: dict[str, list[str]]
    if name == CalibrationSet.EVENING:
        kinds, filters = ("bias", "dark"), {i.name: [] for i in config.instruments}
    elif name in (CalibrationSet.DUSK_FLATS, CalibrationSet.DAWN_FLATS):
        kinds, filters = ("flat",), flat_filters(label, config)
    else:
        raise ValueError(f"unknown calibration set {name!r}")
    started = clock.now()
    sun = float(sun_altitude_deg(as_time(started), config)[0])
    built = failed = 0
    for camera, camera_filters in filters.items():
        plan = plan_acquisitions(config, camera, kinds, camera_filters, sun)
        for result in take_and_build(plan, acquire, config=config, night=label):
            if result.get("status") == MasterStatus.GOOD:
                built += 1
            else:
                failed += 1
    summary = f"{name}: {built} master(s) built, {failed} failed"
    journal_calibration(name, started, clock.now(), summary, source="night")
    return summary
