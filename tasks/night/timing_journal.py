"""What a night journals of its timing that a replay cannot compute and takes as input
(docs/replay.md): each calibration set taken (``KIND_CALIBRATION``: which set, when it started
and ended: the devices' time; written by :mod:`tasks.night.calibrations`), and when each night
loop began (``KIND_NIGHT_LOOP``: a start-of-night or execute-night run got going, the
orchestration's latency; written by the night flows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.journal import JournalTarget, entries, record

#: A calibration set taken by the night: its name, when it started and ended (the devices' time).
KIND_CALIBRATION = "calibration"
#: A night loop began (a start-of-night or execute-night run): its owner and instant.
KIND_NIGHT_LOOP = "night-loop"


def journal_calibration(
    name: str,
    started: datetime,
    ended: datetime,
    summary: str,
    *,
    source: str,
    into: JournalTarget | None = None,
) -> None:
    """Journal calibration set ``name`` taken from ``started`` to ``ended`` (at ``started``;
    ``into``: as :func:`infra.journal.record`, default the process database)."""
    payload = {
        "set": name,
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "summary": summary,
    }
    record(KIND_CALIBRATION, source, payload, sim_time=started, into=into)


def calibration_durations(session: Session, night: str) -> dict[str, list[float]]:
    """How long (simulated s) each calibration set of night ``night`` took, per set in the
    order taken; a record without its instants is skipped."""
    found: dict[str, list[float]] = {}
    for entry in entries(session, night=night, kinds=[KIND_CALIBRATION]):
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        try:
            took = datetime.fromisoformat(str(payload["ended"])) - datetime.fromisoformat(
                str(payload["started"])
            )
        except (KeyError, ValueError):
            continue
        found.setdefault(str(payload.get("set")), []).append(max(0.0, took.total_seconds()))
    return found


def journal_loop_start(owner: str, clock: Clock) -> None:
    """Journal that ``owner``'s night loop begins now (``KIND_NIGHT_LOOP``)."""
    now = clock.now()
    record(KIND_NIGHT_LOOP, owner, {"started": now.isoformat()}, sim_time=now, clock=clock)


def loop_starts(session: Session, night: str) -> list[datetime]:
    """When the night loops of night ``night`` began, in order."""
    return sorted(
        entry.sim_time for entry in entries(session, night=night, kinds=[KIND_NIGHT_LOOP])
    )
