"""Publish the control room's artifacts off the telescope's path, the latest value per key.

An artifact updated in place (a sequence's progress, the device-health table, a request's
artifact) costs HTTP round trips to the Prefect API: 36 ms median on a quiet machine, 100 ms and
more during a night at 100x (measured with py-spy: 15 % of the exposure threads' wall time went
to the per-frame progress artifact). Done where the frame is stored, it delays the next
exposure; done after a sequence, the next sequence's start. Here one background thread does it,
and a value waiting for it is replaced by a newer one of the same key: the artifact shows the
latest state, which is all it ever shows, and a slow API never builds a queue.

A publication keeps the context it was asked in (Prefect's run context: an artifact created
there is linked to the run, as if published in place). What publishes must log its own failures
(the publishers in :mod:`tasks.controlroom.prefect_tasks` do); anything it raises is logged here.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class LatestOnlyPublisher:
    """One background thread calling the latest publication asked under each key, in the order
    the keys were first asked."""

    def __init__(self, name: str = "pyros-publisher") -> None:
        self.name = name
        self._lock = threading.Condition()
        self._waiting: dict[Hashable, tuple[contextvars.Context, Callable[[], Any]]] = {}
        self._busy = False
        self._thread: threading.Thread | None = None
        self.published = 0
        self.replaced = 0

    def submit(self, key: Hashable, publish: Callable[[], Any]) -> None:
        """Have ``publish()`` called in the background, instead of any call still waiting
        under ``key``.

        Parameters
        ----------
        key : hashable
            What the publication updates (an artifact's key, with the sequence or request when
            each has its own).
        publish : callable
            Called with no argument, in a copy of the caller's context.
        """
        context = contextvars.copy_context()
        with self._lock:
            if key in self._waiting:
                self.replaced += 1
                del self._waiting[key]  # re-inserted last: keys keep the order of their news
            self._waiting[key] = (context, publish)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything asked so far is published; False when ``timeout_s`` (wall)
        passed first."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._waiting or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def pending(self) -> int:
        """Publications asked and not yet done (the one in progress included)."""
        with self._lock:
            return len(self._waiting) + int(self._busy)

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    # Idle threads end: a process that stops publishing keeps no thread.
                    if not self._lock.wait(timeout=5.0) and not self._waiting:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                key = next(iter(self._waiting))
                context, publish = self._waiting.pop(key)
                self._busy = True
            try:
                context.run(publish)
            except Exception:  # a publication never stops the next ones
                log.exception("publication %r failed", key)
            finally:
                with self._lock:
                    self._busy = False
                    self.published += 1
                    self._lock.notify_all()


#: The process's publisher (the night's and the follow-up's flows publish through it).
BACKGROUND = LatestOnlyPublisher()


def publish_later(key: Hashable, publish: Callable[[], Any]) -> None:
    """:meth:`LatestOnlyPublisher.submit` on the process's publisher."""
    BACKGROUND.submit(key, publish)


def flush_publications(timeout_s: float = 30.0) -> bool:
    """:meth:`LatestOnlyPublisher.flush` on the process's publisher: a flow calls it before it
    ends, so that its run's artifacts show its last state."""
    return BACKGROUND.flush(timeout_s)
