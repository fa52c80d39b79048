"""Gather the state of the observatory (:class:`~app.statusview.model.ObservatoryStatus`) from
where it lives: the device gateways, the database and the supervisor's process list.

:func:`gather_status` is given its sources (:class:`StatusSources`), so tests point it at a rig
of simulators behind real gateways and a test database; :func:`sources_from_config` builds them
for the running stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from app.statusview.devices import Reply, camera_status, dome_status, mount_status, read_all
from app.statusview.model import (
    ObservatoryStatus,
    ProcessStatus,
    RecordsStatus,
    WatcherStatus,
    WeatherStatus,
)
from app.statusview.records import read_records
from infra.clock import Clock
from infra.config import SiteConfig

#: The supervised watchers that emit ``pyros.watcher.heartbeat`` (the names of
#: ``app.automations.HEARTBEAT_WATCHERS``, not imported from there: it imports Prefect, which
#: would cost this command a few seconds).
WATCHERS = ("environment-monitor", "alert-listener")
#: Wall seconds a gateway has to answer STATUS (all are asked at once).
DEFAULT_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class StatusSources:
    """Where the state is read.

    Attributes
    ----------
    gateways : mapping
        Device name -> its gateway's (host, port); the mount, the dome and the cameras are read.
    cameras : mapping
        Camera device name -> its instrument's name, in display order.
    engine : Engine or None
        The database (None: not read).
    clock : Clock
        The one clock (the simulated instant of exposure progress and ages).
    processes : list of dict or None
        The supervisor's process list (None: no supervisor answered).
    timeout_s : float
        Wall seconds each gateway has to answer.
    watchers : tuple of str
        The watchers whose heartbeats are looked for.
    database_problem : str or None
        Why there is no engine (shown instead of the database's state).
    """

    gateways: Mapping[str, tuple[str, int]]
    cameras: Mapping[str, str]
    engine: Engine | None
    clock: Clock
    processes: list[dict[str, Any]] | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    watchers: tuple[str, ...] = field(default=WATCHERS)
    database_problem: str | None = None


def sources_from_config(
    config: SiteConfig,
    engine: Engine | None,
    clock: Clock,
    processes: list[dict[str, Any]] | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    database_problem: str | None = None,
) -> StatusSources:
    """The configured gateways and cameras of the site."""
    read = ["mount", "dome", *(i.device for i in config.instruments)]
    host = config.gateways.host
    return StatusSources(
        gateways={name: (host, int(getattr(config.gateways.ports, name))) for name in read},
        cameras={i.device: i.name for i in config.instruments},
        engine=engine,
        clock=clock,
        processes=processes,
        timeout_s=timeout_s,
        database_problem=database_problem,
    )


def process_rows(processes: list[dict[str, Any]] | None) -> list[ProcessStatus]:
    """The supervisor's processes as records."""
    return [
        ProcessStatus(
            name=str(p.get("name", "?")),
            state=str(p.get("state", "?")),
            ready=bool(p.get("ready")),
            pid=p["pid"] if isinstance(p.get("pid"), int) else None,
            restarts=int(p.get("restarts") or 0),
        )
        for p in processes or []
    ]


def watcher_rows(
    names: tuple[str, ...],
    processes: list[ProcessStatus],
    heartbeats: Mapping[str, tuple[datetime, dict[str, Any]]],
    wall_now: datetime,
) -> list[WatcherStatus]:
    """Each watcher: its process state and its last heartbeat's wall instant and age."""
    states = {p.name: p.state + ("" if p.ready else " (not ready)") for p in processes}
    rows = []
    for name in names:
        beat = heartbeats.get(name)
        at, summary = beat if beat is not None else (None, {})
        summary = {k: v for k, v in summary.items() if k not in ("watcher", "queue", "sim_time")}
        rows.append(
            WatcherStatus(
                name=name,
                process=states.get(name),
                last_heartbeat_at=at,
                heartbeat_age_s=None if at is None else round((wall_now - at).total_seconds(), 1),
                summary=summary,
            )
        )
    return rows


def _compose(
    sources: StatusSources, replies: dict[str, Reply], records: RecordsStatus, now: datetime
) -> ObservatoryStatus:
    processes = process_rows(sources.processes)
    return ObservatoryStatus(
        at=now,
        mode=records.mode,
        mount=mount_status(replies["mount"]) if "mount" in replies else None,
        dome=dome_status(replies["dome"]) if "dome" in replies else None,
        cameras=[
            camera_status(name, instrument, replies[name], now)
            for name, instrument in sources.cameras.items()
            if name in replies
        ],
        weather=records.weather,
        current=records.current,
        next=records.next,
        last_alert=records.last_alert,
        watchers=watcher_rows(sources.watchers, processes, records.heartbeats, datetime.now(UTC)),
        processes=processes,
        database_error=records.error,
    )


def gather_status(sources: StatusSources) -> ObservatoryStatus:
    """Read every source once and compose the state of the observatory.

    Never raises for a device, gateway or database that does not answer: each shows as such.
    """
    replies = read_all(sources.gateways, sources.timeout_s)
    now = sources.clock.now()
    if sources.engine is None:
        problem = f"database: {sources.database_problem or 'not read'}"
        records = RecordsStatus(weather=WeatherStatus(error=problem), error=problem)
    else:
        records = read_records(sources.engine, sources.watchers, now)
    return _compose(sources, replies, records, now)
