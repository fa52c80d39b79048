"""Blocks of the night started by an event (docs/events.md, docs/rulings.md "Weather").

A block of the night ends when the policy waits for the weather, giving the telescope and its
worker back; ``pyros.weather.safe`` then starts a new block by automation, and a crashed block is
followed the same way. Such a block first checks it is wanted (:func:`resume_refusal`), fits in
the chain of blocks already scheduled (:func:`resumed_block_end`), and a block that ended for
the weather says why in its final state (:func:`weather_wait_message`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from tasks.environment.observatory_state import monitor_last_word, weather_verdict
from tasks.scheduling.night_times import Night


def cut_short_refusal(span_end: datetime | None, now: datetime) -> str | None:
    """Why a block should not run at ``now`` in a night cut short at ``span_end`` (None: it may).

    A simulated night cut short (``pyros night --simulate --hours``) journals its span's end and
    ends; the clock runs on, and each block scheduled its successor when it started: without
    this, the chain went on for the rest of the simulated night, each block cancelled as it
    began, and the Prefect server's SQLite locked under it (the browser tier's form submitted
    then created no run, CI 2026-12-06).
    """
    if span_end is not None and now >= span_end:
        return f"the night was cut short at {span_end:%H:%M:%S} (simulated): its span is over"
    return None


def resume_refusal(night: Night, now: datetime, running: Iterable[str] = ()) -> str | None:
    """Why a block started by an event should not run now (None: it should).

    Parameters
    ----------
    night : Night
        Tonight.
    now : datetime
        The clock's now.
    running : iterable of str
        Names of the other blocks of the night running or about to (a block already holds the
        night: the event changes nothing).
    """
    if night.start is None or night.end is None:
        return f"night {night.label}: no dark time"
    if now < night.start:
        return f"the dark night starts at {night.start:%H:%M:%S} (start-of-night has it until then)"
    if now >= night.end:
        return "the night is over"
    others = sorted(running)
    if others:
        return f"block {', '.join(others)} already runs the night"
    return None


def resumed_block_end(
    planned_end: datetime, now: datetime, scheduled_starts: Iterable[datetime]
) -> tuple[datetime, bool]:
    """Where a block started by an event ends: at the start of the next block already scheduled
    (so the night keeps one chain of blocks), else at its own ``planned_end``.

    Returns
    -------
    tuple
        The end, and whether a following block is already scheduled (then none is added).
    """
    following = sorted(s for s in scheduled_starts if s > now)
    if following:
        return min(following[0], planned_end), True
    return planned_end, False


def weather_wait_message(session: Session, reason: str) -> str:
    """What a block that ended for the weather says: ``waiting: weather unsafe since T`` (the
    monitor's verdict), or ``waiting: weather verdict stale since T`` (its last word)."""
    verdict = weather_verdict(session)
    if verdict.safe:  # safe but too old to trust: the monitor is silent
        since, what = monitor_last_word(session, verdict), "weather verdict stale"
    else:
        since, what = verdict.at, "weather unsafe"
    when = f"{since:%Y-%m-%d %H:%M:%S} UTC (simulated)" if since is not None else "the start"
    return f"waiting: {what} since {when}; {reason}"
