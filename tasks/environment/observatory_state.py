"""What operators and flows ask of the environment monitor, kept in the database.

- the dome request (``open`` / ``closed``): flows and operators *request*; the monitor alone moves
  the dome, and opens it only when every element is good and the hold time has passed;
- overrides: force the dome closed (drills: ``fake-alarm``), or ignore a faulty sensor, each with
  an expiry, an author and a reason — always visible in the synthesis.

Every change is journaled as an operator command (replay feeds on it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import format_instant, parse_instant
from infra.db.models import ObservatoryState, WeatherWatch
from infra.journal import KIND_OPERATOR, record
from tasks.environment.station import STATION_ELEMENT_NAMES
from tasks.environment.synthesis import FORCE_CLOSED, WEATHER_ELEMENT_NAMES, Override

DOME_REQUEST_KEY = "dome_request"
OVERRIDES_KEY = "environment_overrides"
VERDICT_KEY = "weather_verdict"
SITE_ELEMENTS = ("doors", "intrusion", "lights", "shutter", "inside temperature", "inside humidity")


class DomeRequestState(StrEnum):
    """What the dome was asked to be (the monitor decides whether it may)."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class DomeRequest:
    """The latest request for the dome."""

    state: DomeRequestState
    by: str
    at: datetime | None


def _put(session: Session, key: str, value: str, by: str, at: datetime) -> None:
    row = session.get(ObservatoryState, key)
    if row is None:
        session.add(ObservatoryState(key=key, value=value, updated_at=at, updated_by=by))
    else:
        row.value, row.updated_at, row.updated_by = value, at, by


def request_dome(session: Session, state: str, by: str, at: datetime, reason: str = "") -> None:
    """Ask the monitor to open or close the dome.

    Raises
    ------
    ValueError
        When ``state`` is not ``open`` or ``closed`` (``close`` is taken for ``closed``).
    """
    word = state.strip().lower()
    if word == "close":
        word = DomeRequestState.CLOSED
    try:
        request = DomeRequestState(word)
    except ValueError:
        raise ValueError(f"dome request {word!r} is not 'open' or 'closed'") from None
    _put(session, DOME_REQUEST_KEY, request.value, by, at)
    record(
        KIND_OPERATOR,
        by,
        {"command": "dome", "request": request.value, "reason": reason},
        sim_time=at,
        into=session,
    )


def dome_request(session: Session) -> DomeRequest:
    """The current request (``closed`` when nobody asked)."""
    row = session.get(ObservatoryState, DOME_REQUEST_KEY)
    if row is None:
        return DomeRequest(DomeRequestState.CLOSED, "", None)
    return DomeRequest(DomeRequestState(row.value), row.updated_by, row.updated_at)


def overrides(session: Session) -> list[Override]:
    """Every stored override (expired ones included; the synthesis ignores those)."""
    row = session.get(ObservatoryState, OVERRIDES_KEY)
    if row is None:
        return []
    return [
        Override(o["element"], parse_instant(o["until"]), o["by"], o["reason"])
        for o in json.loads(row.value)
    ]


def add_override(
    session: Session, element: str, duration_s: float, by: str, reason: str, at: datetime
) -> Override:
    """Force the dome closed (``element="*"``, :data:`FORCE_CLOSED`) or ignore an element, for
    ``duration_s``.

    Raises
    ------
    ValueError
        Unknown element, a non-positive duration, or no reason.
    """
    known = (FORCE_CLOSED, *WEATHER_ELEMENT_NAMES, *STATION_ELEMENT_NAMES, *SITE_ELEMENTS)
    if element not in known:
        raise ValueError(f"unknown element {element!r} (known: {', '.join(known)})")
    if not duration_s > 0:
        raise ValueError(f"duration must be positive (got {duration_s:g} s)")
    if not reason.strip():
        raise ValueError("an override needs a reason (it is shown to every operator)")
    override = Override(element, at + timedelta(seconds=duration_s), by, reason.strip())
    kept = [o for o in overrides(session) if o.until > at and o.element != element]
    kept.append(override)
    value = json.dumps(
        [
            {"element": o.element, "until": format_instant(o.until), "by": o.by, "reason": o.reason}
            for o in kept
        ]
    )
    _put(session, OVERRIDES_KEY, value, by, at)
    record(
        KIND_OPERATOR,
        by,
        {
            "command": "override",
            "element": element,
            "until": override.until,
            "reason": override.reason,
        },
        sim_time=at,
        into=session,
    )
    return override


def clear_overrides(session: Session, by: str, at: datetime) -> None:
    """Remove every override."""
    _put(session, OVERRIDES_KEY, "[]", by, at)
    record(KIND_OPERATOR, by, {"command": "override", "clear": True}, sim_time=at, into=session)


@dataclass(frozen=True)
class WeatherVerdict:
    """The monitor's last verdict, as the night flows read it (unsafe when never written)."""

    safe: bool
    reason: str
    at: datetime | None


def verdict_write(safe: bool, reason: str, at: datetime) -> Callable[[Session], None]:
    """A write (for the monitor's write-behind queue) recording its verdict."""
    value = json.dumps({"safe": safe, "reason": reason})

    def write(session: Session) -> None:
        _put(session, VERDICT_KEY, value, "environment-monitor", at)

    return write


def weather_verdict(session: Session) -> WeatherVerdict:
    """The monitor's last verdict."""
    row = session.get(ObservatoryState, VERDICT_KEY)
    if row is None:
        return WeatherVerdict(False, "no verdict from the environment monitor yet", None)
    data = json.loads(row.value)
    return WeatherVerdict(bool(data["safe"]), str(data["reason"]), row.updated_at)


def monitor_last_word(session: Session, verdict: WeatherVerdict) -> datetime | None:
    """When the monitor last spoke: its verdict (written on changes) or its latest synthesis
    (a weather row every poll), whichever is later (simulated instant)."""
    latest = session.scalar(
        select(WeatherWatch.updated_at).order_by(WeatherWatch.id.desc()).limit(1)
    )
    instants = [at for at in (verdict.at, latest) if at is not None]
    return max(instants) if instants else None


def verdict_age_s(last_word: datetime | None, now: datetime) -> float | None:
    """Seconds since the monitor's last word (None when it never spoke)."""
    return None if last_word is None else (now - last_word).total_seconds()
