"""What the database tells ``pyros status``: mode, the monitor's word, sequences, the last alert,
the watchers' last heartbeats (their ``pyros.watcher.heartbeat`` events, journaled by
:func:`infra.events.emit`).

Each reader takes a session and the simulated instant; :func:`read_records` turns a database that
does not answer into ``RecordsStatus(error=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.statusview.model import (
    AlertStatus,
    PlanProgress,
    RecordsStatus,
    SequenceStatus,
    WeatherStatus,
)
from infra.db import session_scope
from infra.db.models import (
    Album,
    Alert,
    JournalEntry,
    ObservatoryState,
    Plan,
    Schedule,
    ScheduledSequence,
    Sequence,
    SiteWatch,
    WeatherWatch,
)
from infra.db.sequence_state import SequenceState
from infra.events import WATCHER_HEARTBEAT
from infra.journal import KIND_EVENT
from infra.opmode import MODE_KEY, get_operating_mode
from tasks.environment.observatory_state import (
    dome_request,
    monitor_last_word,
    overrides,
    verdict_age_s,
    weather_verdict,
)

#: Heartbeats older than this (simulated) are not looked for: the journal's index on ``sim_time``
#: keeps the search short however long the journal grows.
HEARTBEAT_LOOKBACK = timedelta(days=1)


def read_weather(session: Session, now: datetime) -> WeatherStatus:
    """The monitor's verdict, its latest synthesis rows, the overrides in force and the age."""
    verdict = weather_verdict(session)
    latest = select(WeatherWatch).order_by(WeatherWatch.id.desc()).limit(1)
    weather = session.scalars(latest).first()
    site = session.scalars(select(SiteWatch).order_by(SiteWatch.id.desc()).limit(1)).first()
    last_word = monitor_last_word(session, verdict)
    age = verdict_age_s(last_word, now)
    stored = (weather.synthesis or {}) if weather is not None else {}
    return WeatherStatus(
        safe=verdict.safe if verdict.at is not None else None,
        reason=verdict.reason,
        weather_status=weather.global_status if weather else None,
        site_status=site.global_status if site else None,
        should_close=weather.should_close if weather else None,
        reasons=[str(r) for r in stored.get("reasons", [])],
        overrides=[o.describe() for o in overrides(session) if o.until > now],
        last_word_at=last_word,
        age_s=None if age is None else round(age, 1),
        dome_request=str(dome_request(session).state),
    )


def _plans(session: Session, sequence_id: int) -> list[PlanProgress]:
    rows = session.execute(
        select(Album.name, Plan.name, Plan.filter, Plan.images_done, Plan.nb_images)
        .join(Plan, Plan.album_id == Album.id)
        .where(Album.sequence_id == sequence_id)
        .order_by(Album.position, Album.id, Plan.position, Plan.id)
    ).all()
    return [PlanProgress(a, p, f, done, total) for a, p, f, done, total in rows]


def _sequence(
    session: Session, sequence: Sequence, planned_start: datetime | None = None
) -> SequenceStatus:
    return SequenceStatus(
        id=sequence.id,
        name=sequence.name,
        state=sequence.state,
        since=sequence.state_changed_at,
        planned_start=planned_start,
        plans=_plans(session, sequence.id),
    )


def current_sequence(session: Session) -> SequenceStatus | None:
    """The sequence executing now (the latest to start, should there be more than one)."""
    sequence = session.scalars(
        select(Sequence)
        .where(Sequence.state == SequenceState.EXECUTING.value)
        .order_by(Sequence.state_changed_at.desc(), Sequence.id.desc())
        .limit(1)
    ).first()
    return None if sequence is None else _sequence(session, sequence)


def next_sequence(session: Session) -> SequenceStatus | None:
    """The first sequence still ``planned`` in the latest current schedule, by planned start."""
    schedule_id = session.scalar(
        select(Schedule.id).where(Schedule.is_current.is_(True)).order_by(Schedule.id.desc())
    )
    if schedule_id is None:
        return None
    row = session.execute(
        select(Sequence, ScheduledSequence.planned_start)
        .join(ScheduledSequence, ScheduledSequence.sequence_id == Sequence.id)
        .where(
            ScheduledSequence.schedule_id == schedule_id,
            ScheduledSequence.planned.is_(True),
            Sequence.state == SequenceState.PLANNED.value,
        )
        .order_by(ScheduledSequence.planned_start, ScheduledSequence.position)
        .limit(1)
    ).first()
    return None if row is None else _sequence(session, row[0], row[1])


def last_alert(session: Session) -> AlertStatus | None:
    """The last alert received, its decision and action, and its follow-up's sequence state."""
    alert = session.scalars(
        select(Alert).order_by(Alert.received_at.desc(), Alert.id.desc()).limit(1)
    ).first()
    if alert is None:
        return None
    follow_up = None
    if alert.request_id is not None:
        states = session.scalars(
            select(Sequence.state).where(Sequence.request_id == alert.request_id)
        ).all()
        follow_up = ", ".join(states) or None
    return AlertStatus(
        ivorn=alert.ivorn,
        mission=alert.mission,
        received_at=alert.received_at,
        decision=alert.decision,
        action=alert.action,
        reason=alert.reason,
        follow_up=follow_up,
    )


def last_heartbeats(
    session: Session, watchers: Iterable[str], now: datetime
) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """Each watcher's last journaled heartbeat: its wall instant and payload."""
    found: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for name in watchers:
        entries = session.scalars(
            select(JournalEntry)
            .where(
                JournalEntry.kind == KIND_EVENT,
                JournalEntry.source == name,
                JournalEntry.sim_time >= now - HEARTBEAT_LOOKBACK,
            )
            .order_by(JournalEntry.id.desc())
            .limit(50)
        )
        for entry in entries:
            message = entry.payload if isinstance(entry.payload, dict) else {}
            if message.get("event") == WATCHER_HEARTBEAT:
                found[name] = (entry.wall_time, dict(message.get("payload") or {}))
                break
    return found


def _records(session: Session, watchers: Iterable[str], now: datetime) -> RecordsStatus:
    mode_row = session.get(ObservatoryState, MODE_KEY)
    return RecordsStatus(
        mode=get_operating_mode(session).value,
        mode_by=mode_row.updated_by if mode_row is not None else "",
        weather=read_weather(session, now),
        current=current_sequence(session),
        next=next_sequence(session),
        last_alert=last_alert(session),
        heartbeats=last_heartbeats(session, watchers, now),
    )


def read_records(engine: Engine, watchers: Iterable[str], now: datetime) -> RecordsStatus:
    """Everything the database tells, or why it could not be read (never raises for it)."""
    try:
        with session_scope(engine) as session:
            return _records(session, list(watchers), now)
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RecordsStatus(
            weather=WeatherStatus(error=f"database: {first}"), error=f"database: {first}"
        )
