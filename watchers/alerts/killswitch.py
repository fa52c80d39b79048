"""A test switch: the listener kills itself (SIGKILL) at a named point of the intake path.

``PYROS_ALERT_LISTENER_KILL_AT=<point>[:<n>]`` makes the listener die the ``n``-th time (default
the first) it reaches ``point``. The points, in the order a packet passes them:

- ``received``: a road has the packet, nothing is written yet;
- ``journaled``: the raw packet is committed to the journal (inside ``handle_packet``);
- ``deciding``: the decision is made and stored in its transaction, not yet committed;
- ``decided``: the decision is committed, the spool entry not yet marked done;
- ``before-commit``: a Kafka message is spooled, its offset not yet committed.

Unset (always, outside the crash tests) it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)

ENV = "PYROS_ALERT_LISTENER_KILL_AT"
POINTS = ("received", "journaled", "deciding", "decided", "before-commit")


class KillSwitch:
    """Dies at the ``n``-th passage of ``point`` (no point: never).

    Raises
    ------
    ValueError
        When the point is not one of :data:`POINTS` or ``n`` is not a positive integer.
    """

    def __init__(self, point: str | None = None, n: int = 1) -> None:
        if point is not None and point not in POINTS:
            raise ValueError(f"{ENV}: unknown kill point {point!r} (known: {', '.join(POINTS)})")
        if n < 1:
            raise ValueError(f"{ENV}: the count must be >= 1 (got {n})")
        self.point, self.n = point, n
        self._count = 0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KillSwitch:
        """The switch ``PYROS_ALERT_LISTENER_KILL_AT`` describes (inactive when unset)."""
        text = (environ if environ is not None else dict(os.environ)).get(ENV, "").strip()
        if not text:
            return cls()
        point, _, count = text.partition(":")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise ValueError(f"{ENV}: {text!r} is not <point>[:<n>]") from None
        return cls(point, n)

    def __call__(self, point: str) -> None:
        """Reached ``point``: die here if this is the chosen passage."""
        if point != self.point:
            return
        with self._lock:
            self._count += 1
            if self._count < self.n:
                return
        sys.stderr.write(f"alert listener: kill switch at {point} (passage {self._count})\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
