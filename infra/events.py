"""Event names and the emit helper (DESIGN §6).

:func:`emit` journals every event and sends it to Prefect only when a Prefect API is configured:
with no API URL, Prefect's ``emit_event`` would start a whole temporary server (10–20 s), so it is
never called then. Sending is fire-and-forget; nothing safety-related depends on an event arriving.
Every event names its resource and carries the mode label (``pyros.mode`` = live | sim | replay) so
automations match live events only; the simulated instant travels in the payload and a label.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from infra.clock import Clock, format_instant, get_clock
from infra.config import get_config
from infra.journal import KIND_EVENT, JournalTarget, record, to_json_payload
from infra.settings import RunMode, load_settings

log = logging.getLogger(__name__)

WEATHER_UNSAFE = "pyros.weather.unsafe"
WEATHER_SAFE = "pyros.weather.safe"
ALERT_RECEIVED = "pyros.alert.received"
ALERT_FOLLOW_UP = "pyros.alert.follow-up"
#: An alert the operator must look at (MANUAL mode held back a follow-up, or it was refused).
ALERT_ATTENTION = "pyros.alert.attention"
IMAGE_ACQUIRED = "pyros.image.acquired"
SEQUENCE_EXECUTED = "pyros.sequence.executed"
SEQUENCE_INTERRUPTED = "pyros.sequence.interrupted"
SCHEDULE_UPDATED = "pyros.schedule.updated"
NRT_CANDIDATE = "pyros.nrt.candidate"
DEVICE_LOST = "pyros.device.lost"
DEVICE_BACK = "pyros.device.back"
#: The night holds for a lost device (the mount, the dome, every camera) / goes on again (#24).
NIGHT_DEVICE_HOLD = "pyros.night.device-hold"
NIGHT_DEVICE_RESUMED = "pyros.night.device-resumed"
WATCHER_HEARTBEAT = "pyros.watcher.heartbeat"
REQUEST_SUBMITTED = "pyros.request.submitted"
#: A request cancelled (issue #23): its sequences leave the schedule at the next re-plan.
REQUEST_CANCELLED = "pyros.request.cancelled"
SITE_ALARM = "pyros.site.alarm"
DOME_ACTION = "pyros.dome.action"
DOME_STUCK = "pyros.dome.stuck"

ALL_EVENTS = frozenset(
    value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and value.startswith("pyros.")
)

#: A resource label that fixes the Prefect event id (a UUID): Prefect's triggers service ignores
#: an event id it has seen, so an announcement sent twice starts its deployment once.
EVENT_ID_LABEL = "pyros.event.id"


def site_resource() -> str:
    """Resource id of the site (``pyros.site.<name>``)."""
    return f"pyros.site.{get_config().site.name}"


def prefect_configured() -> bool:
    """Whether a Prefect API is configured (env var, or Prefect's active settings if loaded)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect" not in sys.modules:
        # Importing Prefect only to learn that no API is configured costs more than a second.
        return False
    try:
        # Prefect is already imported here (checked above): this costs nothing.
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    except Exception:
        return False


def current_mode() -> RunMode:
    """The mode label of this process (live, sim or replay)."""
    return load_settings().mode


def emit(
    event: str,
    resource_id: str,
    payload: Mapping[str, Any] | None = None,
    *,
    source: str = "pyros",
    related: list[Mapping[str, str]] | None = None,
    labels: Mapping[str, str] | None = None,
    into: JournalTarget | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Journal an event and, when Prefect is configured, send it (fire-and-forget).

    Parameters
    ----------
    event : str
        Dotted name starting with ``pyros.``.
    resource_id : str
        ``prefect.resource.id`` of what the event is about (``pyros.site.colibri``,
        ``pyros.alert.<ivorn>``, ``pyros.image.<id>``...).
    payload : mapping, optional
        Event payload (JSON-able); ``sim_time`` is added.
    source : str
        Emitting component, recorded in the journal.
    related : list of mapping, optional
        Related resources; each needs ``prefect.resource.id`` and ``prefect.resource.role``.
    labels : mapping, optional
        Extra resource labels.
    into : Session, WriteBehindQueue or Engine, optional
        Where the journal write goes: the caller's transaction, a write-behind queue, or its own
        short transaction on an engine (default: the process database); see
        :func:`infra.journal.record`.
    clock : Clock, optional
        Clock giving the simulated instant.

    Returns
    -------
    dict
        The event as sent (``event``, ``resource``, ``payload``, ``related``, ``occurred``).

    Raises
    ------
    ValueError
        When the name does not start with ``pyros.`` or a related resource lacks its role.
    """
    if not event.startswith("pyros.") or event.strip() != event:
        raise ValueError(f"event name {event!r} must be dotted and start with 'pyros.'")
    clock = clock or get_clock()
    sim_now = clock.now()
    sim_iso = format_instant(sim_now)
    resource = {
        "prefect.resource.id": resource_id,
        "pyros.mode": current_mode(),
        "pyros.sim_time": sim_iso,
        **(labels or {}),
    }
    related_list = _related_resources(related)
    body = dict(to_json_payload(dict(payload or {})))
    body.setdefault("sim_time", sim_iso)
    occurred = datetime.now(UTC)
    message = {
        "event": event,
        "resource": resource,
        "payload": body,
        "related": related_list,
        "occurred": format_instant(occurred),
    }
    _journal(message, source, sim_now, occurred, into)
    if prefect_configured():
        _send(event, resource, body, related_list, occurred)
    return message


def _related_resources(related: list[Mapping[str, str]] | None) -> list[dict[str, str]]:
    """Copies of the related resources, each checked for its id and role."""
    related_list = [dict(r) for r in related or []]
    for item in related_list:
        if "prefect.resource.id" not in item or "prefect.resource.role" not in item:
            raise ValueError("related resources need prefect.resource.id and prefect.resource.role")
    return related_list


def _journal(
    message: dict[str, Any],
    source: str,
    sim_time: datetime,
    wall_time: datetime,
    into: JournalTarget | None,
) -> None:
    """Journal the event; a journal that is down only costs a warning (nothing waits on the
    database), except inside the caller's transaction, where the caller must know."""
    try:
        record(KIND_EVENT, source, message, sim_time=sim_time, wall_time=wall_time, into=into)
    except Exception as exc:
        if isinstance(into, Session):
            raise
        log.warning(
            "event %s could not be journaled: %s",
            message["event"],
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )


class _DrainProgressFilter(logging.Filter):
    """Drops the progress lines Prefect's event worker logs while it drains at exit ("Still
    processing items: N items remaining..."): they reached stderr through logging's last-resort
    handler, after a command's one JSON document. Delivery failures still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Still processing items")


_DRAIN_FILTER = _DrainProgressFilter()


def _quiet_event_worker() -> None:
    """Install the drain-progress filter on the logger of Prefect's event worker (once)."""
    # Prefect's queue services log under their class name.
    worker_log = logging.getLogger("EventsWorker")
    if _DRAIN_FILTER not in worker_log.filters:
        worker_log.addFilter(_DRAIN_FILTER)


def flush_sent_events(timeout_s: float = 5.0) -> None:
    """Wait (at most ``timeout_s`` wall seconds) until the events sent to Prefect by this process
    are delivered; for one-shot commands, before they exit. Nothing to do if none was sent."""
    if "prefect.events.worker" not in sys.modules:
        return
    _quiet_event_worker()
    try:
        # Already imported (checked above): this costs nothing.
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=timeout_s, at_exit=False)
    except Exception as exc:
        log.warning("events may not all have reached Prefect: %s", exc)


def _send(
    event: str,
    resource: dict[str, str],
    payload: dict[str, Any],
    related: list[dict[str, str]],
    occurred: datetime,
) -> None:
    try:
        # Only reached with a Prefect API configured: importing Prefect costs over a second and
        # must not be paid by every process that emits (DESIGN §6).
        from prefect.events import emit_event

        _quiet_event_worker()
        event_id = resource.get(EVENT_ID_LABEL)
        emit_event(
            event=event,
            resource=resource,
            payload=payload,
            related=related or None,
            occurred=occurred,
            id=UUID(event_id) if event_id else None,
        )
    except Exception as exc:
        log.warning("event %s could not be sent to Prefect: %s", event, exc)
