"""The monitor's watch on the dome's closing (#24): a dome that does not reach closed in time is
stuck, an emergency — the rain may be falling into an open dome, and nothing PyROS commands will
close it.

The monitor wants the dome closed when the weather is unsafe, when the mount cannot be trusted,
or when nobody asks it open. From the first look where it wants it closed and the shutter is not
``closed``, the dome has :func:`stuck_after_s` to get there. Past that, :meth:`DomeCloseWatch.look`
says *stuck* once; the monitor then parks the mount at safety priority (the telescope pointed
away, the mirror under its cover) and emits ``pyros.dome.stuck``, which an automation turns into an
emergency notice for the operator. When the shutter reads ``closed`` again, the watch says *freed*
once.

Precedence of :meth:`DomeCloseWatch.look`:

1. the monitor does not want the dome closed: nothing is pending (a stuck episode ends: freed);
2. the shutter reads ``closed``: nothing is pending (freed, if it was stuck);
3. otherwise (opening, open, closing, in fault or not answering) the closing is pending since the
   first such look; stuck when pending longer than the allowance, told once per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.controllers import ShutterState

#: The allowance is this many times the dome's own closing time.
CLOSE_TIME_FACTOR = 2.0
#: ... and never under this many wall seconds (at 100x a 30 s close is 0.3 s wall: a poll or two
#: late must not be an emergency).
MIN_WALL_S = 3.0


def stuck_after_s(close_s: float, speed: float) -> float:
    """Simulated seconds a close may take before the dome is stuck: twice its closing time, and
    at least :data:`MIN_WALL_S` wall seconds at ``speed``."""
    wall_floor = MIN_WALL_S * speed if speed != float("inf") else 0.0
    return max(CLOSE_TIME_FACTOR * close_s, wall_floor)


@dataclass(frozen=True)
class DomeLook:
    """One look at the dome's closing.

    Attributes
    ----------
    stuck : str or None
        Why the dome is stuck (None: it is not, or nothing is pending).
    became_stuck : bool
        The dome just became stuck at this look (act and tell once).
    freed : bool
        A stuck episode just ended (the shutter reads closed, or closing is no longer wanted).
    """

    stuck: str | None
    became_stuck: bool = False
    freed: bool = False


class DomeCloseWatch:
    """Whether a close the monitor wants is taking longer than the dome may (see the module).

    Parameters
    ----------
    allowance_s : float
        Simulated seconds a close may take (:func:`stuck_after_s`).
    """

    def __init__(self, allowance_s: float) -> None:
        if allowance_s <= 0:
            raise ValueError("allowance_s must be > 0")
        self.allowance_s = allowance_s
        self.pending_since: datetime | None = None
        self.stuck: str | None = None

    def look(self, wants_closed: bool, shutter: ShutterState | None, now: datetime) -> DomeLook:
        """One look: ``shutter`` as read this poll (None: the dome did not answer)."""
        if not wants_closed or shutter is ShutterState.CLOSED:
            self.pending_since = None
            freed, self.stuck = self.stuck is not None, None
            return DomeLook(None, freed=freed)
        if self.pending_since is None:
            self.pending_since = now
        waited = (now - self.pending_since).total_seconds()
        if self.stuck is not None or waited <= self.allowance_s:
            return DomeLook(self.stuck)
        seen = "not answering" if shutter is None else f"reads {shutter.value}"
        self.stuck = (
            f"dome stuck: not closed {waited:.0f} s after closing was wanted "
            f"(allowed {self.allowance_s:.0f} s); the shutter {seen}"
        )
        return DomeLook(self.stuck, became_stuck=True)
