"""The night's progress as a person reads it: one line per event that matters.

What happened is read from the database as *changes* (:class:`Change`): the sequences' state
transitions and the events of the journal (weather, dome, alerts, afterglows, devices).
:func:`progress_lines` turns changes into lines (pure: tested without a database);
:class:`ProgressReader` reads the changes that are new since its last read. Nothing else makes a
line: a quiet night prints nothing between its events (``pyros night --simulate`` adds a progress
bar of the night).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db.models import Image, JournalEntry, Sequence, SequenceTransition
from infra.db.sequence_state import SequenceState
from infra.events import (
    ALERT_RECEIVED,
    DEVICE_BACK,
    DEVICE_LOST,
    DOME_ACTION,
    NRT_CANDIDATE,
    SITE_ALARM,
    WEATHER_SAFE,
    WEATHER_UNSAFE,
)
from infra.journal import KIND_EVENT

S = SequenceState

#: Sequence states whose reaching is a line (the start and the ways an execution ends).
_SEQUENCE_LINES = {
    S.EXECUTING: "started",
    S.EXECUTED: "executed",
    S.INTERRUPTED: "interrupted",
}
#: Longest reason shown on a line (the report has them whole).
MAX_REASON = 100


@dataclass(frozen=True)
class Change:
    """One change of the night's state.

    ``kind`` is ``"sequence"`` (``data``: ``id``, ``name``, ``state``, ``reason``, ``images``)
    or an event name (``data``: the event's payload).
    """

    at: datetime
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def _short(text: object) -> str:
    one_line = " ".join(str(text or "").split())
    return one_line if len(one_line) <= MAX_REASON else one_line[: MAX_REASON - 1] + "…"


def _sequence_text(data: dict[str, Any]) -> str | None:
    verb = _SEQUENCE_LINES.get(data.get("state", ""))
    if verb is None:
        return None
    text = f"sequence {data.get('id')} {data.get('name', '')!r} {verb}"
    if verb == "started":
        return text
    text += f": {data.get('images', 0)} image(s)"
    if verb == "interrupted":
        text += f" ({_short(data.get('reason'))})"
    return text


def _weather_text(kind: str, data: dict[str, Any]) -> str:
    actions = ", ".join(str(a) for a in data.get("actions") or [])
    verdict = "weather safe" if kind == WEATHER_SAFE else "weather UNSAFE"
    text = f"{verdict}: {_short(data.get('reason'))}"
    return f"{text}; {actions}" if actions else text


def _alert_text(data: dict[str, Any]) -> str:
    name = data.get("mission") or "alert"
    burst = f" {data['burst_key']}" if data.get("burst_key") else ""
    decision = data.get("decision") or "undecided"
    text = f"alert received: {name}{burst}, decided {decision}"
    if data.get("request_id"):
        text += f" (request {data['request_id']})"
    return f"{text}: {_short(data.get('reason'))}" if data.get("reason") else text


def _candidate_text(data: dict[str, Any]) -> str | None:
    if not data.get("alert_ivorn"):
        return None  # only a candidate in an alert's error box is an afterglow
    where = ""
    if data.get("ra") is not None and data.get("dec") is not None:
        where = f" at RA {float(data['ra']):.4f} Dec {float(data['dec']):+.4f}"
    mag = f", mag {float(data['mag']):.2f}" if data.get("mag") is not None else ""
    return f"afterglow candidate{where}{mag} on {data.get('image_id')}"


def change_text(change: Change) -> str | None:
    """The words for one change, or None when it is not worth a line."""
    data, kind = change.data, change.kind
    if kind == "sequence":
        return _sequence_text(data)
    if kind in (WEATHER_SAFE, WEATHER_UNSAFE):
        return _weather_text(kind, data)
    if kind == DOME_ACTION:
        actions = ", ".join(str(a) for a in data.get("actions") or [])
        return f"dome: {actions}" if actions else None
    if kind == SITE_ALARM:
        return f"site alarm: {data.get('site_status')}"
    if kind == ALERT_RECEIVED:
        return _alert_text(data)
    if kind == NRT_CANDIDATE:
        return _candidate_text(data)
    if kind in (DEVICE_LOST, DEVICE_BACK):
        device = data.get("device") or data.get("name") or "a device"
        state = "lost" if kind == DEVICE_LOST else "back"
        reason = f": {_short(data.get('reason'))}" if data.get("reason") else ""
        return f"device {device} {state}{reason}"
    return None


def progress_lines(changes: Iterable[Change]) -> list[str]:
    """One line per change that matters, in time order, each stamped with its simulated time
    (``HH:MM:SS``); a line identical to the one before it is not repeated."""
    lines: list[str] = []
    said = ""
    for change in sorted(changes, key=lambda c: c.at):
        text = change_text(change)
        if text is None or text == said:
            continue
        said = text
        lines.append(f"{change.at:%H:%M:%S} {text}")
    return lines


class ProgressReader:
    """Reads the changes made since its last read (by row id: nothing is read twice)."""

    def __init__(self) -> None:
        self.last_transition = 0
        self.last_event = 0

    def start_at_end(self, session: Session) -> None:
        """Skip what happened before now (a night following an older database)."""
        self.last_transition = session.scalar(select(func.max(SequenceTransition.id))) or 0
        self.last_event = session.scalar(select(func.max(JournalEntry.id))) or 0

    def read(self, session: Session) -> list[Change]:
        """The new changes."""
        return [*self._transitions(session), *self._events(session)]

    def _transitions(self, session: Session) -> list[Change]:
        rows = session.execute(
            select(SequenceTransition, Sequence.name)
            .join(Sequence, Sequence.id == SequenceTransition.sequence_id)
            .where(SequenceTransition.id > self.last_transition)
            .order_by(SequenceTransition.id)
        ).all()
        changes = []
        for transition, name in rows:
            self.last_transition = max(self.last_transition, transition.id)
            if transition.to_state not in _SEQUENCE_LINES:
                continue
            images = session.scalar(
                select(func.count())
                .select_from(Image)
                .where(Image.sequence_id == transition.sequence_id)
            )
            data = {
                "id": transition.sequence_id,
                "name": name,
                "state": transition.to_state,
                "reason": transition.reason,
                "images": images or 0,
            }
            changes.append(Change(transition.at, "sequence", data))
        return changes

    def _events(self, session: Session) -> list[Change]:
        rows = session.execute(
            select(JournalEntry.id, JournalEntry.sim_time, JournalEntry.payload)
            .where(JournalEntry.id > self.last_event, JournalEntry.kind == KIND_EVENT)
            .order_by(JournalEntry.id)
        ).all()
        changes = []
        for row in rows:
            self.last_event = max(self.last_event, row.id)
            at, payload = row.sim_time, row.payload
            if not isinstance(at, datetime):
                continue
            if isinstance(payload, dict) and isinstance(payload.get("event"), str):
                body = payload.get("payload")
                data = body if isinstance(body, dict) else {}
                changes.append(Change(at, payload["event"], data))
        return changes
