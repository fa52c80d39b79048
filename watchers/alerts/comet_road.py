"""The VOEvent Transport road: the listener subscribes to the stack's Comet broker with Comet's own
subscriber (``comet.protocol.subscriber``, on a Twisted reactor in a thread), and recovers the
events the broker saved (``--save-event``) that the listener never spooled.

Comet acknowledges a packet to its author *before* its handlers run, saves it (its ``save-event``
handler, which runs before the relay to subscribers) and only then broadcasts it: the broker's
saved file is the first copy on disk. A listener that was down, reconnecting, or killed between
the broadcast and its spool write finds the event in the saved directory: every saved file of
the last ``recover_window_s`` whose bytes were never spooled is spooled then (road ``comet``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: A saved file younger than this (wall seconds) may still be being written, or be on its way
#: to the listener by the broadcast: it is looked at on a later scan.
SETTLE_S = 2.0

Receive = Callable[[bytes, str, str], object]


class CometRoad:
    """Subscribe to a VOEvent broker; each event goes to ``receive(raw, "comet", "")``.

    Parameters
    ----------
    host, port : str, int
        The broker's broadcast address.
    local_ivo : str
        This subscriber's IVOA identifier (sent in VTP responses).
    receive : callable
        The listener's :meth:`~watchers.alerts.listener.AlertListener.receive`.
    """

    def __init__(self, host: str, port: int, local_ivo: str, receive: Receive) -> None:
        self.host, self.port, self.local_ivo = host, port, local_ivo
        self._receive = receive
        self._thread: threading.Thread | None = None
        self._reactor: Any = None
        self._factory: Any = None
        self._connector: Any = None

    def _on_event(self, event: Any) -> None:
        """Comet handler: called on the reactor thread with a ``comet.utility.xml_document``."""
        try:
            self._receive(bytes(event.raw_bytes), "comet", "")
        except OSError:
            log.exception("VOEvent not spooled (the broker's saved copy will be recovered)")

    def start(self) -> CometRoad:
        """Start the reactor thread and connect (reconnecting with Comet's backoff)."""
        from comet.protocol.subscriber import VOEventSubscriberFactory
        from twisted.internet import reactor  # import time: installs the default reactor
        from twisted.python import log as twisted_log

        observer = twisted_log.PythonLoggingObserver(loggerName="comet")  # type: ignore[no-untyped-call]
        observer.start()
        self._reactor = reactor
        self._factory = VOEventSubscriberFactory(
            local_ivo=self.local_ivo, validators=[], handlers=[self._on_event]
        )
        self._factory.maxDelay = 2  # reconnect within 2 s when the broker comes back
        self._factory.noisy = False
        reactor.callWhenRunning(self._connect)
        self._thread = threading.Thread(
            target=self._reactor.run,
            kwargs={"installSignalHandlers": False},
            name="comet-subscriber",
            daemon=True,
        )
        self._thread.start()
        return self

    def _connect(self) -> None:
        self._connector = self._reactor.connectTCP(self.host, self.port, self._factory)

    @property
    def connected(self) -> bool:
        """Whether the subscription is up (connected to the broker's broadcaster)."""
        return self._connector is not None and self._connector.state == "connected"

    def stop(self) -> None:
        """Stop the reactor (the thread ends)."""
        if self._reactor is not None and self._reactor.running:
            self._reactor.callFromThread(self._reactor.stop)
        if self._thread is not None:
            self._thread.join(5.0)


class SavedEvents:
    """The broker's ``--save-event`` directory, seen from the listener.

    Parameters
    ----------
    directory : Path
        Where the broker saves events.
    receive : callable
        The listener's ``receive``.
    known_sha : callable
        ``known_sha(sha256 hex)``: whether those bytes were already spooled.
    window_s : float
        Only files modified this recently (wall seconds) are looked at.
    """

    def __init__(
        self,
        directory: Path,
        receive: Receive,
        known_sha: Callable[[str], bool],
        window_s: float,
    ) -> None:
        self.directory = Path(directory)
        self._receive = receive
        self._known_sha = known_sha
        self.window_s = window_s
        self._accounted: set[str] = set()
        self.recovered = 0

    def scan(self) -> int:
        """Spool every settled saved event never spooled; returns how many were recovered."""
        if not self.directory.is_dir():
            return 0
        now = time.time()
        recovered = 0
        for path in sorted(self.directory.iterdir()):
            name = path.name
            if name in self._accounted or name.endswith("-lock"):
                continue
            try:
                modified = path.stat().st_mtime
                if modified < now - self.window_s:
                    self._accounted.add(name)
                    continue
                if modified > now - SETTLE_S:
                    continue
                raw = path.read_bytes()
            except OSError:
                continue
            if not self._known_sha(hashlib.sha256(raw).hexdigest()):
                self._receive(raw, "comet", f"saved:{name}")
                recovered += 1
            self._accounted.add(name)
        self.recovered += recovered
        if recovered:
            log.warning("%d VOEvent(s) recovered from the broker's saved events", recovered)
        return recovered
