"""A bounded write-behind queue: watchers hand writes over and never wait for the database.

A background thread applies queued writes in batches, one transaction per batch. While the
database is unreachable the batch stays at the head of the queue and is retried with capped
exponential backoff, so queued writes land when the database is back. The queue is bounded: when
it is full the oldest write is dropped and counted (a watcher must never block on memory either).
A write that fails for another reason than connectivity (a bug, a constraint) is retried alone and
dropped with a log line if it fails again, so one bad write never blocks the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Write = Callable[[Session], object]


@dataclass
class QueueStats:
    """Counters of a :class:`WriteBehindQueue`."""

    pending: int
    written: int
    dropped: int
    failed: int
    retries: int
    last_error: str


def _is_connectivity_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class WriteBehindQueue:
    """Apply database writes in the background.

    Parameters
    ----------
    engine_factory : callable
        Returns the engine to write to (called on each batch, so a new URL or a reset engine is
        picked up).
    maxsize : int
        Most writes kept while the database is slow or absent; beyond, the oldest are dropped.
    batch_size : int
        Most writes per transaction.
    retry_initial_s, retry_max_s : float
        Backoff (wall seconds) between attempts while the database is unreachable.
    name : str
        Thread name, for logs.
    """

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        *,
        maxsize: int = 10_000,
        batch_size: int = 200,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        name: str = "write-behind",
    ) -> None:
        if maxsize < 1 or batch_size < 1:
            raise ValueError("maxsize and batch_size must be >= 1")
        self._engine_factory = engine_factory
        self._queue: deque[Write] = deque()
        self._maxsize = maxsize
        self._batch_size = batch_size
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._name = name
        self._written = self._dropped = self._failed = self._retries = 0
        self._last_error = ""

    def put(self, write: Write) -> None:
        """Queue ``write`` (a function taking a Session); never blocks."""
        with self._cond:
            if len(self._queue) >= self._maxsize:
                self._queue.popleft()
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    log.warning(
                        "%s: queue full, %d oldest writes dropped", self._name, self._dropped
                    )
            self._queue.append(write)
            self._cond.notify()

    def start(self) -> WriteBehindQueue:
        """Start the background writer (idempotent)."""
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (wall seconds) until every queued write is applied; True if the queue drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 5.0) -> int:
        """Flush for at most ``timeout`` seconds, stop the thread; returns writes left unapplied."""
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, timeout))
        with self._cond:
            return len(self._queue)

    @property
    def stats(self) -> QueueStats:
        """A snapshot of the counters."""
        with self._cond:
            return QueueStats(
                pending=len(self._queue),
                written=self._written,
                dropped=self._dropped,
                failed=self._failed,
                retries=self._retries,
                last_error=self._last_error,
            )

    def _run(self) -> None:
        backoff = self._retry_initial_s
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop and not self._queue:
                    return
                batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
                self._busy = True
            consumed, unreachable = self._apply(batch)
            with self._cond:
                self._busy = False
                for _ in range(consumed):
                    # put() may have dropped some of this batch from the head meanwhile.
                    if self._queue and self._queue[0] in batch:
                        self._queue.popleft()
                self._cond.notify_all()
                if not unreachable:
                    backoff = self._retry_initial_s
                    continue
                self._retries += 1
                if self._stop:
                    return
            time.sleep(backoff)
            backoff = min(self._retry_max_s, backoff * 2)

    def _apply(self, batch: list[Write]) -> tuple[int, bool]:
        """Apply ``batch``; returns (writes consumed from the head, database unreachable)."""
        try:
            self._transaction(batch)
        except Exception as exc:
            self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            if _is_connectivity_error(exc):
                return 0, True
            # A bad write among good ones: apply them one by one, dropping the bad ones.
            for done, write in enumerate(batch):
                try:
                    self._transaction([write])
                except Exception as single:
                    if _is_connectivity_error(single):
                        return done, True
                    self._failed += 1
                    log.error("%s: write dropped: %s", self._name, single)
                else:
                    self._written += 1
            return len(batch), False
        self._written += len(batch)
        return len(batch), False

    def _transaction(self, writes: list[Write]) -> None:
        with Session(self._engine_factory(), expire_on_commit=False) as session, session.begin():
            for write in writes:
                write(session)
