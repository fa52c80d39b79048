"""A process's connection to one gateway, and the lease held through it (with its heartbeat).

:class:`GatewayLink` wraps the one client shape (:class:`~devices.client.NdjsonClient`) with the
timings of ``[gateways]``; :class:`LeaseHandle` is a granted lease: its epoch, the thread renewing
it, and its release (a context manager).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from devices.client import NdjsonClient, ReconnectPolicy
from devices.errors import DeviceProblem, Preempted
from devices.lease import Priority

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkSettings:
    """Timings of a link (wall seconds), from ``[gateways]`` and the device's ``timeout_s``."""

    timeout_s: float = 6.0
    claim_wait_s: float = 5.0
    heartbeat_s: float = 2.0
    poll_interval_s: float = 0.05
    min_wait_s: float = 2.0
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 2.0


class LeaseHandle:
    """A granted lease: epoch, heartbeat thread, release. A context manager.

    Attributes
    ----------
    device, owner, priority, epoch, ttl_s :
        The lease.
    previous : dict or None
        The holder this claim displaced (``owner``, ``priority``, ``epoch``), if any.
    aborted : bool
        Whether the gateway aborted what the displaced holder had in flight.
    """

    def __init__(
        self,
        link: GatewayLink,
        owner: str,
        priority: Priority,
        reply: dict[str, Any],
        heartbeat_s: float,
    ) -> None:
        lease = reply.get("lease") or {}
        self.device = link.device
        self.owner = owner
        self.priority = priority
        self.epoch = int(reply["epoch"])
        self.ttl_s = float(lease.get("ttl_s") or 0.0)
        self.previous: dict[str, Any] | None = reply.get("previous")
        self.aborted = bool(reply.get("aborted"))
        self._link = link
        self._problem: Preempted | None = None
        self._stopped = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"lease-{link.device}-{owner}", daemon=True
        )
        self._thread.start()

    @property
    def lost(self) -> bool:
        """Whether the lease is known to be gone (preempted, lapsed or superseded)."""
        return self._problem is not None

    @property
    def problem(self) -> Preempted | None:
        """Why the lease was lost."""
        return self._problem

    def ensure(self) -> None:
        """Raise :class:`~devices.errors.Preempted` if the lease is known to be lost."""
        if self._problem is not None:
            raise self._problem

    def confirm(self) -> bool:
        """Ask the gateway now whether the lease still holds (a heartbeat out of turn), rather
        than wait up to ``heartbeat_s`` for the heartbeat thread to learn it was taken.

        Returns
        -------
        bool
            False once the lease is known to be lost; True while it holds or while the gateway
            cannot be reached (the heartbeat's own rule then applies).
        """
        if self._problem is not None:
            return False
        with contextlib.suppress(DeviceProblem):
            self._beat()
        return self._problem is None

    def _beat(self) -> None:
        """One heartbeat: a ``Preempted`` answer marks the lease lost; other device problems
        (the gateway unreachable) are raised."""
        try:
            self._link.call("HEARTBEAT", owner=self.owner, epoch=self.epoch)
        except Preempted as problem:
            self.mark_lost(problem)

    def mark_lost(self, problem: Preempted) -> None:
        """Record that the lease is gone; the heartbeat stops."""
        if self._problem is None:
            self._problem = problem
        self._stopped.set()

    def release(self) -> None:
        """Give the lease back (idempotent; a lost lease is not released twice)."""
        self._stopped.set()
        if self._link.lease is self:
            self._link.lease = None
        if self._problem is not None:
            return
        self._problem = Preempted(
            f"{self.device}: lease of {self.owner} released", device=self.device
        )
        try:
            self._link.call("RELEASE", owner=self.owner, epoch=self.epoch)
        except DeviceProblem as problem:
            log.info("%s: release by %s: %s", self.device, self.owner, problem.message)

    def __enter__(self) -> LeaseHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _heartbeat(self) -> None:
        interval = self._heartbeat_s
        while not self._stopped.wait(interval):
            try:
                self._beat()  # a loss marks the lease lost, which stops this loop
                interval = self._heartbeat_s
            except DeviceProblem as problem:
                # The gateway is unreachable: keep trying, faster; if it stays away longer than
                # the lease lives, the next heartbeat or command learns it was lost.
                log.warning("%s: heartbeat of %s failed: %s", self.device, self.owner, problem)
                interval = max(0.05, self._heartbeat_s / 4)


class GatewayLink:
    """One process's connection to one gateway, and the lease held through it.

    Parameters
    ----------
    device : str
        Device name.
    host, port :
        The gateway.
    settings : LinkSettings
        Timings.
    """

    def __init__(self, device: str, host: str, port: int, settings: LinkSettings) -> None:
        self.device = device
        self.settings = settings
        self.lease: LeaseHandle | None = None
        self.client = NdjsonClient(
            host,
            port,
            name=device,
            timeout_s=settings.timeout_s,
            reconnect=ReconnectPolicy(
                settings.reconnect_initial_s, settings.reconnect_max_s, on_demand=True
            ),
        ).start()

    def call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        owner: str | None = None,
        epoch: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One command; the reply item (see :meth:`NdjsonClient.call`)."""
        return self.client.call(name, args, owner=owner, epoch=epoch, timeout=timeout)

    def close(self) -> None:
        """Release the lease (if held) and close the connection."""
        if self.lease is not None:
            self.lease.release()
        self.client.close()
