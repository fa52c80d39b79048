"""What every controller shares: the link to a gateway, the lease handle, health, waiting.

A controller is one capability (mount, dome, camera, filter wheel, PLC). Its abstract base class
(``Mount``, ``Dome``...) holds the typed state and the safety checks; its gateway driver
(``GatewayMount``...) makes the calls. The lease belongs to the
:class:`~devices.controllers.link.GatewayLink` (one connection to one gateway), so a camera and
its filter wheel share it.

Typical use::

    mount = connect_mount()
    with mount.claim("alert-listener", Priority.ALERT):   # heartbeats in the background
        mount.goto(ra, dec)
        mount.wait_until_idle()

A preempted holder learns it from its next command, its next status poll while waiting, or its
heartbeat, whichever comes first: each raises :class:`~devices.errors.Preempted`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.controllers.link import GatewayLink, LeaseHandle
from devices.errors import LEASE_REQUIRED, CommandRefused, DeviceTimeout, Preempted
from devices.lease import Priority
from infra.clock import Clock
from infra.config import SiteConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as a gateway reports it."""

    owner: str | None
    priority: Priority | None
    epoch: int
    expires_in_s: float | None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> LeaseInfo:
        priority = fields.get("priority")
        return cls(
            owner=fields.get("owner"),
            priority=Priority.parse(priority) if priority else None,
            epoch=int(fields.get("epoch") or 0),
            expires_in_s=fields.get("expires_in_s"),
        )


@dataclass(frozen=True)
class HealthReport:
    """Health of a device as its gateway tracks it."""

    device: str
    connected: bool
    state: str
    since: str | None
    last_reply_at: str | None
    last_reply_age_s: float | None
    last_error: str
    last_error_at: str | None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> HealthReport:
        return cls(
            device=str(fields.get("device", "")),
            connected=bool(fields.get("connected")),
            state=str(fields.get("state", "unknown")),
            since=fields.get("since"),
            last_reply_at=fields.get("last_reply_at"),
            last_reply_age_s=fields.get("last_reply_age_s"),
            last_error=str(fields.get("last_error") or ""),
            last_error_at=fields.get("last_error_at"),
        )


@dataclass(frozen=True)
class GatewayView:
    """What a gateway adds to a device's ``STATUS``: health, lease, last operation, preemption."""

    health: HealthReport
    lease: LeaseInfo
    operation: dict[str, Any] | None
    last_preemption: dict[str, Any] | None

    @classmethod
    def from_fields(cls, fields: dict[str, Any] | None) -> GatewayView | None:
        if not fields:
            return None
        return cls(
            health=HealthReport.from_fields(fields.get("health") or {}),
            lease=LeaseInfo.from_fields(fields.get("lease") or {}),
            operation=fields.get("operation"),
            last_preemption=fields.get("last_preemption"),
        )


class Controller(ABC):
    """Base of every capability: a device, its lease and its health."""

    device: str

    @abstractmethod
    def claim(
        self,
        owner: str,
        priority: Priority | str,
        *,
        wait_s: float | None = None,
        ttl_s: float | None = None,
    ) -> LeaseHandle:
        """Claim the device's lease (see :class:`~devices.lease.LeaseArbiter` for the rules)."""

    @property
    @abstractmethod
    def lease(self) -> LeaseHandle | None:
        """The lease held through this controller, if any."""

    @abstractmethod
    def health(self) -> HealthReport:
        """The device's health as its gateway sees it."""

    @abstractmethod
    def lease_info(self) -> LeaseInfo:
        """Who holds the device's lease now (no lease needed)."""

    def _require_lease(self, command: str) -> LeaseHandle:
        lease = self.lease
        if lease is None:
            raise CommandRefused(
                f"{self.device}: {command} needs the lease: claim() it first",
                device=self.device,
                code=LEASE_REQUIRED,
            )
        lease.ensure()
        return lease


class GatewayController(Controller):
    """A controller whose driver is a gateway (the lease, health and waiting parts).

    Parameters
    ----------
    link : GatewayLink
        The connection to the device's gateway (shared by the capabilities of one device).
    config : SiteConfig
        Limits, instruments and timings.
    clock : Clock
        Converts simulated durations into wall waits; gives "now" to the safety checks.
    """

    def __init__(self, link: GatewayLink, *, config: SiteConfig, clock: Clock) -> None:
        self._link = link
        self.device = link.device
        self.config = config
        self.clock = clock

    # ------------------------------------------------------------------ lease
    @property
    def lease(self) -> LeaseHandle | None:
        return self._link.lease

    def claim(
        self,
        owner: str,
        priority: Priority | str,
        *,
        wait_s: float | None = None,
        ttl_s: float | None = None,
    ) -> LeaseHandle:
        """Claim the lease; the handle heartbeats until released (use it as a context manager).

        Parameters
        ----------
        owner : str
            Who claims (a flow run, ``alert-listener``, ``environment-monitor``, an operator).
        priority : Priority or str
            ``routine``, ``operator``, ``alert`` or ``safety``.
        wait_s : float, optional
            How long (wall) to wait for an equal or higher holder (default ``claim_wait_s``).
        ttl_s : float, optional
            Lease time-to-live (wall; default: the gateway's).

        Raises
        ------
        LeaseRefused
            The wait ended and the holder kept the lease.
        """
        priority = Priority.parse(priority)
        settings = self._link.settings
        wait = settings.claim_wait_s if wait_s is None else wait_s
        args: dict[str, Any] = {"owner": owner, "priority": priority.label, "wait_s": wait}
        if ttl_s is not None:
            args["ttl_s"] = ttl_s
        reply = self._link.call("CLAIM", args, timeout=wait + 2 * settings.timeout_s)
        previous = self._link.lease
        handle = LeaseHandle(self._link, owner, priority, reply, settings.heartbeat_s)
        if previous is not None:
            previous.mark_lost(
                Preempted(
                    f"{self.device}: superseded by a new claim of {owner}", device=self.device
                )
            )
        self._link.lease = handle
        return handle

    def release(self) -> None:
        """Release the lease held through this controller (if any)."""
        if self._link.lease is not None:
            self._link.lease.release()

    def lease_info(self) -> LeaseInfo:
        return LeaseInfo.from_fields(self._link.call("LEASE")["lease"])

    def health(self) -> HealthReport:
        return HealthReport.from_fields(self._link.call("HEALTH")["health"])

    def disconnect(self) -> None:
        """Release the lease and close the connection to the gateway.

        (Not ``close``: a dome closes its shutter.)
        """
        self._link.close()

    # ------------------------------------------------------------------ calls
    def _control(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command under the lease; a Preempted reply marks the handle lost."""
        lease = self._require_lease(name)
        try:
            return self._link.call(name, args, owner=lease.owner, epoch=lease.epoch)
        except Preempted as problem:
            lease.mark_lost(problem)
            raise

    def _status_fields(self) -> dict[str, Any]:
        return self._link.call("STATUS")

    def _wait_for(
        self,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        timeout_s: float,
    ) -> dict[str, Any]:
        """Poll ``STATUS`` until ``done(fields)``; ``timeout_s`` is simulated seconds.

        While a lease is held, each poll also checks it is still ours: a preemption raises
        :class:`~devices.errors.Preempted` naming who took the device and what was aborted.
        """
        settings = self._link.settings
        wall = max(self.clock.wall_seconds(timeout_s), settings.min_wait_s)
        deadline = time.monotonic() + wall
        lease = self._link.lease
        while True:
            fields = self._status_fields()
            if lease is not None:
                self._check_held(lease, fields.get("gateway") or {})
            if done(fields):
                return fields
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    f"{self.device}: {what} not done within {timeout_s:g} s (simulated; "
                    f"{wall:.2f} s wall)",
                    device=self.device,
                )
            time.sleep(settings.poll_interval_s)

    def _check_held(self, lease: LeaseHandle, gateway: dict[str, Any]) -> None:
        lease.ensure()
        current = gateway.get("lease") or {}
        if current.get("owner") == lease.owner and current.get("epoch") == lease.epoch:
            return
        taken = gateway.get("last_preemption") or {}
        if taken.get("displaced_epoch") == lease.epoch:
            operation = (taken.get("operation") or {}).get("command")
            aborted = f"; {operation} aborted" if operation and taken.get("aborted") else ""
            message = (
                f"{self.device}: preempted by {taken.get('by')} ({taken.get('priority')}) at "
                f"epoch {taken.get('epoch')}{aborted}"
            )
        elif current.get("owner") is None:
            message = f"{self.device}: the lease of {lease.owner} lapsed or was released"
        else:
            message = (
                f"{self.device}: the lease is now held by {current.get('owner')} "
                f"({current.get('priority')}) at epoch {current.get('epoch')}"
            )
        problem = Preempted(message, device=self.device, detail={"epoch": current.get("epoch")})
        lease.mark_lost(problem)
        raise problem
