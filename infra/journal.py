"""The night journal (DESIGN §4): one append-only record of every external input and event.

``record(kind, source, payload, sim_time, wall_time)`` stores requests (raw XML), alerts (raw
bytes), PLC readings, operator commands, device faults and events. Each entry belongs to a night
(the local date of its evening at the site); the first entry of a night also registers the night
with the code version and the configuration hash. The database refuses to update or delete an
entry (triggers in the initial migration). Replay feeds on this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from infra.clock import Clock, get_clock
from infra.config import config_hash, get_config
from infra.db import session_scope
from infra.db.models import JournalEntry, Night
from infra.version import code_version
from infra.writebehind import WriteBehindQueue

log = logging.getLogger(__name__)

#: Kinds of journal entries used across PyROS (free strings; these are the conventional ones).
KIND_REQUEST = "request"
KIND_ALERT = "alert"
KIND_PLC = "plc"
#: A reading of a weather station of its own (``[devices.weather]``), as the monitor got it.
KIND_WEATHER = "weather"
KIND_OPERATOR = "operator"
KIND_DEVICE = "device"
KIND_EVENT = "event"
KIND_SCENARIO = "scenario"
#: A notification for the operator (an automation reacting to an event, a watcher gone silent).
KIND_NOTICE = "notice"

#: Where a journal write goes: the caller's transaction (its entry commits or rolls back with it),
#: a write-behind queue (never blocks), or an engine for the entry's own short transaction.
JournalTarget = Session | WriteBehindQueue | Engine


def night_label(instant: datetime, longitude_deg: float) -> str:
    """The night an instant belongs to: the local-solar date of its evening (changes at noon).

    Parameters
    ----------
    instant : datetime
        Aware instant.
    longitude_deg : float
        Site longitude, east positive.
    """
    local_solar = instant.astimezone(UTC) + timedelta(hours=longitude_deg / 15.0)
    return (local_solar - timedelta(hours=12)).date().isoformat()


def night_start_date(label: str) -> date:
    """The evening date of a night label (``YYYY-MM-DD``)."""
    return date.fromisoformat(label)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_payload(payload: Any) -> Any:
    """``payload`` as plain JSON data (datetimes as ISO 8601 UTC, numpy scalars as numbers)."""
    if payload is None:
        return None
    return json.loads(json.dumps(payload, default=_json_default, allow_nan=False))


def _digest(payload: Any, raw: bytes | None) -> str:
    if raw is not None:
        return hashlib.sha256(raw).hexdigest()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _NightRegistry:
    """Registers each night once per process (and once per database, whoever is first)."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def ensure(self, session: Session, label: str, sim_time: datetime, wall_time: datetime) -> None:
        key = (str(session.get_bind().engine.url), label)
        with self._lock:
            if key in self._seen:
                return
        if session.get(Night, label) is not None:
            with self._lock:
                self._seen.add(key)
            return
        values = {
            "label": label,
            "code_version": code_version(),
            "config_hash": config_hash(get_config()),
            "first_seen_at": sim_time,
            "wall_first_seen_at": wall_time,
        }
        # Not marked as seen yet: this transaction may still roll back; the next call checks again.
        _insert_ignore(session, values)

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()


def _insert_ignore(session: Session, values: dict[str, Any]) -> None:
    """Insert a Night unless another process already did (both dialects support ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(Night).values(**values)
        session.execute(statement.on_conflict_do_nothing(index_elements=["label"]))
    elif dialect == "sqlite":
        lite = sqlite.insert(Night).values(**values)
        session.execute(lite.on_conflict_do_nothing(index_elements=["label"]))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        session.add(Night(**values))


_nights = _NightRegistry()


def _site_longitude() -> float:
    return get_config().site.longitude_deg


def make_entry(
    kind: str,
    source: str,
    payload: Any = None,
    sim_time: datetime | None = None,
    wall_time: datetime | None = None,
    *,
    raw: bytes | None = None,
    clock: Clock | None = None,
) -> JournalEntry:
    """Build (not store) a journal entry; see :func:`record`."""
    if isinstance(payload, bytes | bytearray):
        raw, payload = bytes(payload), None
    if not kind or not source:
        raise ValueError("a journal entry needs a kind and a source")
    clock = clock or get_clock()
    sim_time = sim_time or clock.now()
    wall_time = wall_time or datetime.now(UTC)
    data = to_json_payload(payload)
    return JournalEntry(
        kind=kind[:64],
        source=source[:256],
        night=night_label(sim_time, _site_longitude()),
        sim_time=sim_time,
        wall_time=wall_time,
        payload=data,
        raw=raw,
        sha256=_digest(data, raw),
    )


def add_entry(session: Session, entry: JournalEntry) -> JournalEntry:
    """Add a built entry to ``session`` (registering its night) and flush to get its id."""
    _nights.ensure(session, entry.night, entry.sim_time, entry.wall_time)
    session.add(entry)
    session.flush()
    return entry


def record(
    kind: str,
    source: str,
    payload: Mapping[str, Any] | list[Any] | bytes | None = None,
    sim_time: datetime | None = None,
    wall_time: datetime | None = None,
    *,
    raw: bytes | None = None,
    into: JournalTarget | None = None,
    clock: Clock | None = None,
) -> JournalEntry | None:
    """Append one entry to the journal.

    Parameters
    ----------
    kind : str
        What it is (``request``, ``alert``, ``plc``, ``operator``, ``device``, ``event``...).
    source : str
        Who or what it came from (a file name, a device, a user, a component).
    payload : mapping, list or bytes, optional
        JSON-able content; bytes are stored verbatim as the raw input.
    sim_time, wall_time : datetime, optional
        Simulated and wall instants (default: the clock's now and the wall clock's now).
    raw : bytes, optional
        The raw input, exactly as received, stored beside a JSON payload.
    into : Session, WriteBehindQueue or Engine, optional
        Where the entry goes: within the caller's transaction (it commits or rolls back with
        it), to a write-behind queue (never blocks; returns None), or in its own short
        transaction on an engine (default: on the process database).
    clock : Clock, optional
        Clock to read ``sim_time`` from (default: the process clock).

    Returns
    -------
    JournalEntry or None
        The stored entry (None when queued).
    """
    entry = make_entry(kind, source, payload, sim_time, wall_time, raw=raw, clock=clock)
    if isinstance(into, WriteBehindQueue):
        into.put(lambda session: add_entry(session, entry))
        return None
    if isinstance(into, Session):
        return add_entry(into, entry)
    with session_scope(into) as own:
        return add_entry(own, entry)


def entries(
    session: Session,
    *,
    night: str | None = None,
    kinds: list[str] | None = None,
    limit: int | None = None,
) -> list[JournalEntry]:
    """Journal entries in order, optionally of one night and some kinds."""
    query = select(JournalEntry).order_by(JournalEntry.id)
    if night is not None:
        query = query.where(JournalEntry.night == night)
    if kinds:
        query = query.where(JournalEntry.kind.in_(kinds))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def forget_nights_cache() -> None:
    """Forget which nights this process registered (tests that recreate databases)."""
    _nights.forget()
