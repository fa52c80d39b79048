"""Matching the reply lines of one connection to the requests waiting for them.

A reply names its request by ``id``; a device that does not echo ids answers in order, so a reply
without an id answers the oldest request. A line that cannot be read (not JSON, over 1 MiB) also
answers the oldest request, which fails with a :class:`~devices.errors.ProtocolError`; a reply
whose request is gone (it timed out) is counted as late and dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from devices.errors import DeviceDisconnected, ProtocolError
from devices.framing import OversizedLine, decode
from devices.protocol import parse_reply, reply_id

log = logging.getLogger(__name__)


class PendingReply:
    """A request sent and not yet answered."""

    __slots__ = ("_event", "_items", "_problem", "names", "request_id", "sent_at")

    def __init__(self, request_id: str, names: list[str]) -> None:
        self.request_id = request_id
        self.names = names
        self.sent_at = time.monotonic()
        self._event = threading.Event()
        self._items: list[dict[str, Any]] | None = None
        self._problem: Exception | None = None

    def resolve(self, items: list[dict[str, Any]]) -> None:
        self._items = items
        self._event.set()

    def fail(self, problem: Exception) -> None:
        self._problem = problem
        self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> list[dict[str, Any]] | None:
        """The reply items, or None if nothing came within ``timeout`` (wall seconds)."""
        if not self._event.wait(timeout):
            return None
        if self._problem is not None:
            raise self._problem
        return self._items


class ReplyRouter:
    """The pending requests of one connection and how its reply lines resolve them.

    Parameters
    ----------
    name : str
        The server's name, for messages.
    on_late : callable, optional
        Called for each reply that answers no pending request.
    """

    def __init__(self, name: str, on_late: Callable[[], None] | None = None) -> None:
        self.name = name
        self._on_late = on_late
        self._lock = threading.Lock()
        self._pending: dict[str, PendingReply] = {}
        #: Whether a reply carrying an id was seen (then late replies cannot be mismatched).
        self.ids_echoed = False
        #: Bytes of an unterminated line received so far.
        self.partial = 0

    def add(self, pending: PendingReply) -> None:
        with self._lock:
            self._pending[pending.request_id] = pending

    def discard(self, request_id: str) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    def route(self, line: bytes | OversizedLine) -> None:
        """Resolve (or fail) the request that ``line`` answers."""
        if isinstance(line, OversizedLine):
            problem = line.error(f"{self.name}: reply line")
            problem.device = self.name
            self._fail_oldest(problem)
            return
        try:
            items = parse_reply(decode(line))
        except ProtocolError as exc:
            self._fail_oldest(
                ProtocolError(f"{self.name}: bad reply: {exc.message}", device=self.name)
            )
            return
        request_id = reply_id(items)
        with self._lock:
            if request_id is not None:
                self.ids_echoed = True
                pending = self._pending.pop(str(request_id), None)
            else:
                pending = self._pop_oldest()
        if pending is not None:
            pending.resolve(items)
        elif self._on_late is not None:
            self._on_late()

    def fail_all(self, reason: str, *, closing: bool) -> None:
        """Fail every pending request: the connection is gone.

        The oldest fails with a "truncated reply" ProtocolError when part of its reply line had
        arrived; the others with DeviceDisconnected.
        """
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            partial, self.partial = self.partial, 0
        for index, request in enumerate(pending):
            if index == 0 and partial and not closing:
                request.fail(
                    ProtocolError(
                        f"{self.name}: truncated reply: connection closed after {partial} bytes "
                        "of an unterminated line",
                        device=self.name,
                    )
                )
            else:
                request.fail(
                    DeviceDisconnected(f"{self.name}: connection lost ({reason})", device=self.name)
                )

    def _pop_oldest(self) -> PendingReply | None:
        for key in self._pending:
            return self._pending.pop(key)
        return None

    def _fail_oldest(self, problem: ProtocolError) -> None:
        with self._lock:
            pending = self._pop_oldest()
        if pending is not None:
            pending.fail(problem)
        else:
            log.warning("%s: unsolicited bad line: %s", self.name, problem.message)
