"""What a gateway writes down: the lease mirror, device health, the journal and the events.

Nothing here may block a gateway: every call only enqueues a job; one background thread turns jobs
into write-behind writes (:class:`~infra.writebehind.WriteBehindQueue`) and events
(:func:`infra.events.emit`, which journals through the same queue and reaches Prefect only when
configured). Without a queue the gateway runs without a database and the recorder only logs.

Times: ``device_leases.expires_at`` and ``updated_at`` are **wall** instants (leases are wall
time); journal entries, health history and the ``devices`` row use the PyROS clock.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.gateway.health import LinkTransition
from devices.lease import Lease
from infra.clock import Clock
from infra.db.models import Device, DeviceLease, DeviceStatusHistory
from infra.events import DEVICE_BACK, DEVICE_LOST, emit
from infra.journal import KIND_DEVICE, record
from infra.writebehind import WriteBehindQueue

log = logging.getLogger(__name__)

_EVENTS = {LinkTransition.LOST: DEVICE_LOST, LinkTransition.BACK: DEVICE_BACK}


class GatewayRecorder:
    """Hand a gateway's records to the write-behind queue from a thread of its own.

    Parameters
    ----------
    device, kind, host, port :
        The device and its endpoint (for the ``devices`` row).
    queue : WriteBehindQueue or None
        Where writes go; None: log only.
    clock : Clock
        For journal and history instants.
    """

    def __init__(
        self,
        device: str,
        kind: str,
        host: str,
        port: int,
        *,
        queue: WriteBehindQueue | None,
        clock: Clock,
    ) -> None:
        self.device, self.kind, self.host, self.port = device, kind, host, port
        self._queue = queue
        self._clock = clock
        self._jobs: queues.SimpleQueue[Callable[[], None] | None] = queues.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.source = f"gateway:{device}"

    def start(self) -> GatewayRecorder:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"recorder-{self.device}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Finish the queued jobs (up to ``timeout``) and stop."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the jobs queued so far were handed to the write-behind queue."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._jobs.put(done.set)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("%s: record failed", self.source)

    def _submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    # ------------------------------------------------------------------ lease
    def lease(self, snapshot: Callable[[], tuple[Lease, float | None]]) -> None:
        """Mirror the lease (display only).

        ``snapshot()`` gives the lease and its remaining seconds when the job runs, not when it
        was queued: jobs run in order, so the last write always shows the latest lease even if
        two changes were queued out of order.
        """

        def job() -> None:
            lease, expires_in_s = snapshot()
            wall_now = datetime.now(UTC)
            values = {
                "owner": lease.owner,
                "priority": lease.priority.label if lease.priority is not None else None,
                "epoch": lease.epoch,
                "expires_at": wall_now + timedelta(seconds=expires_in_s)
                if expires_in_s is not None
                else None,
                "updated_at": wall_now,
            }

            def write(session: Session) -> None:
                row = session.get(DeviceLease, self.device)
                if row is None:
                    row = DeviceLease(device=self.device)
                    session.add(row)
                for key, value in values.items():
                    setattr(row, key, value)

            self._put(write)

        self._submit(job)

    def lease_event(self, event: str, payload: dict[str, Any]) -> None:
        """Journal a preemption or a lapse (kind ``device``)."""
        body = {"device": self.device, "event": event, **payload}
        log.info("%s: %s %s", self.source, event, payload)
        self._submit(lambda: self._journal(body))

    # ------------------------------------------------------------------ health
    def health(self, transition: LinkTransition, snapshot: dict[str, Any]) -> None:
        """Record a health transition: journal, history, the ``devices`` row, and an event."""
        at = self._clock.now()
        body = {"device": self.device, "event": transition, **snapshot}
        level = logging.WARNING if transition == LinkTransition.LOST else logging.INFO
        log.log(level, "%s: device %s (%s)", self.source, transition, snapshot.get("last_error"))

        def job() -> None:
            self._journal(body)
            self._put(self._history_write(transition, snapshot, at))
            event = _EVENTS.get(transition)
            if event is not None and self._queue is not None:
                emit(
                    event,
                    f"pyros.device.{self.device}",
                    {"device": self.device, "kind": self.kind, "reason": snapshot["last_error"]},
                    source=self.source,
                    into=self._queue,
                    clock=self._clock,
                )

        self._submit(job)

    def _history_write(
        self, transition: LinkTransition, snapshot: dict[str, Any], at: datetime
    ) -> Callable[[Session], None]:
        connected = bool(snapshot["connected"])
        error = snapshot["last_error"] if transition == LinkTransition.LOST else ""

        def write(session: Session) -> None:
            session.add(
                DeviceStatusHistory(
                    device=self.device,
                    at=at,
                    event=transition,
                    connected=connected,
                    error=error,
                    status=snapshot,
                )
            )
            row = session.scalars(select(Device).where(Device.name == self.device)).first()
            if row is None:
                row = Device(name=self.device, kind=self.kind)
                session.add(row)
            row.host, row.port, row.connected = self.host, self.port, connected
            row.last_error = snapshot["last_error"]
            row.status = snapshot
            row.updated_at = at
            if snapshot.get("last_reply_at"):
                row.last_reply_at = datetime.fromisoformat(
                    snapshot["last_reply_at"].replace("Z", "+00:00")
                )

        return write

    # ------------------------------------------------------------------ plumbing
    def _journal(self, body: dict[str, Any]) -> None:
        if self._queue is not None:
            record(KIND_DEVICE, self.source, body, into=self._queue, clock=self._clock)

    def _put(self, write: Callable[[Session], object]) -> None:
        if self._queue is not None:
            self._queue.put(write)
