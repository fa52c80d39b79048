"""Why a sequence is not in tonight's schedule.

Every reason is stored as ``"<code>: <explanation>"`` (the code first, so it can be grouped and
matched; the explanation names the numbers). Only :data:`LATER_NIGHT` leaves a sequence waiting in
``to-be-planned``; every other reason makes it ``unplannable`` for this plan.
"""

from __future__ import annotations

from datetime import UTC, datetime

BAD_DURATION = "bad-duration"
UNKNOWN_INSTRUMENT = "unknown-instrument"
#: An album still to take needs a camera that is lost tonight (#24): planned again when it is back.
DEVICE_LOST = "device-lost"
EMPTY_WINDOW = "empty-window"
NO_DARK_TIME = "no-dark-time"
WINDOW_PASSED = "window-passed"
WINDOW_IN_DAYTIME = "window-in-daytime"
LATER_NIGHT = "later-night"
NO_POSITION = "no-position"
LONGER_THAN_NIGHT = "longer-than-night"
LONGER_THAN_WINDOW = "longer-than-window"
NEVER_HIGH_ENOUGH = "never-high-enough"
TOO_CLOSE_TO_MOON = "too-close-to-moon"
LOW_OR_NEAR_MOON = "low-or-near-moon"
NOT_OBSERVABLE_IN_WINDOW = "not-observable-in-window"
OBSERVABLE_TOO_BRIEFLY = "observable-too-briefly"
NO_ROOM = "no-room"
DISPLACED = "displaced"

#: Reasons after which the sequence stays ``to-be-planned`` (it waits for a later night).
WAITING = frozenset({LATER_NIGHT})


def make(code: str, explanation: str) -> str:
    """The stored form of a reason."""
    return f"{code}: {explanation}"


def code_of(reason: str) -> str:
    """The code of a stored reason (``""`` for an empty one)."""
    return reason.split(":", 1)[0].strip() if reason else ""


def hhmm(unix_seconds: float) -> str:
    """A Unix instant as ``YYYY-MM-DD HH:MM UTC`` for explanations."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def minutes(seconds: float) -> str:
    """A duration in minutes for explanations."""
    return f"{seconds / 60.0:.1f} min"
