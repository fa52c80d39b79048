"""The lease of one device, held in a gateway's memory (DESIGN §2).

A lease has an owner, a priority (safety > alert > operator > routine), an epoch and an expiry
renewed by heartbeats. Every grant takes a new epoch; commands carry the epoch they were issued
under and a stale one is refused (:class:`~devices.errors.Preempted`): the epoch is a fencing
token. Rules (docs/protocol.md, "The lease"):

- a free lease (never held, released, or lapsed) is granted at once, in priority order among
  waiting claims;
- the holder may claim again (a new epoch, nothing aborted);
- a higher priority preempts the holder (a new epoch; the gateway aborts what is in flight);
- safety is always admitted, also over another safety holder (without aborting it);
- an equal or lower priority never steals: it waits up to its ``wait_s`` and is then refused;
- a holder whose heartbeats stop loses the lease when it expires; taking over a lapsed lease
  aborts what the dead holder left in flight.

Lease times are **wall** seconds (:func:`time.monotonic`): a lease guards the liveness of a
process, which does not run faster under a simulated clock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, TypeVar

from devices.errors import LEASE_REQUIRED, DeviceError, LeaseRefused, Preempted

T = TypeVar("T")


class Priority(IntEnum):
    """Lease priorities; a larger value wins."""

    ROUTINE = 0
    OPERATOR = 1
    ALERT = 2
    SAFETY = 3

    @property
    def label(self) -> str:
        """The protocol name (``routine``, ``operator``, ``alert``, ``safety``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        """A priority from its protocol name (or itself).

        Raises
        ------
        ValueError
            Naming the accepted values.
        """
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        names = ", ".join(p.label for p in cls)
        raise ValueError(f"priority {value!r} is not one of {names}")


@dataclass(frozen=True)
class Lease:
    """A lease as held (``owner`` None: free)."""

    device: str
    owner: str | None
    priority: Priority | None
    epoch: int
    expires_at: float | None  # time.monotonic() instant
    ttl_s: float

    def live(self, now: float) -> bool:
        return self.owner is not None and self.expires_at is not None and self.expires_at > now

    def describe(self, now: float) -> dict[str, Any]:
        """The lease as protocol fields."""
        held = self.owner is not None
        return {
            "owner": self.owner,
            "priority": self.priority.label if held and self.priority is not None else None,
            "epoch": self.epoch,
            "expires_in_s": round(max(0.0, self.expires_at - now), 3)
            if held and self.expires_at is not None
            else None,
            "ttl_s": self.ttl_s if held else None,
        }


@dataclass(frozen=True)
class Grant:
    """The outcome of a granted claim.

    Attributes
    ----------
    lease : Lease
        The new lease.
    previous : Lease
        The lease it replaced: the live lease it preempted or renewed, the lapsed lease it took
        over, or a free lease.
    abort : bool
        Whether what the previous holder had in flight must be aborted.
    reason : str
        ``free``, ``renewed``, ``preempted``, ``lapsed`` or ``safety``.
    """

    lease: Lease
    previous: Lease
    abort: bool
    reason: str


class LeaseArbiter:
    """The lease of one device with its waiting claims.

    ``cond`` is public: a gateway holds it while it admits a command *and* writes it to the
    device, and a claim's ``on_grant`` runs under it, so the order in which commands reach the
    device is the order of the lease decisions (the fencing guarantee).

    Parameters
    ----------
    device : str
        Device name, for messages.
    default_ttl_s : float
        Lease time-to-live when a claim gives none (wall seconds).
    epoch_base : int, optional
        Epoch of the free lease at start (default: wall milliseconds, so epochs are not reused
        when a gateway restarts).
    clock : callable
        Monotonic wall time (injectable for tests).
    on_lapse : callable, optional
        Called (under the lock; must be quick) with a lease that has just lapsed.
    """

    def __init__(
        self,
        device: str,
        *,
        default_ttl_s: float,
        epoch_base: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_lapse: Callable[[Lease], None] | None = None,
    ) -> None:
        self.device = device
        self.default_ttl_s = default_ttl_s
        self.cond = threading.Condition(threading.RLock())
        self._clock = clock
        self._on_lapse = on_lapse
        base = int(time.time() * 1000) if epoch_base is None else epoch_base
        self._epochs = itertools.count(base + 1)
        self._lease = Lease(device, None, None, base, None, default_ttl_s)
        self._lapsed: Lease | None = None
        self._waiters: list[tuple[int, int, str]] = []  # (-priority, order, owner)
        self._order = itertools.count()
        self._closed = False

    # ------------------------------------------------------------- reading
    def current(self) -> Lease:
        """The lease now (a lapsed lease shows as free)."""
        with self.cond:
            self._lapse_if_due(self._clock())
            return self._lease

    def describe(self) -> dict[str, Any]:
        """The lease and the waiting claims, as protocol fields."""
        with self.cond:
            now = self._clock()
            self._lapse_if_due(now)
            fields = self._lease.describe(now)
            fields["waiting"] = [
                {"owner": owner, "priority": Priority(-p).label} for p, _, owner in self._waiters
            ]
            return fields

    def expire(self) -> Lease | None:
        """Lapse the lease if its expiry has passed; returns the lapsed lease (housekeeping)."""
        with self.cond:
            return self._lapse_if_due(self._clock())

    def close(self) -> None:
        """Refuse every waiting and future claim (the gateway is stopping)."""
        with self.cond:
            self._closed = True
            self.cond.notify_all()

    # ------------------------------------------------------------- claiming
    def claim(
        self,
        owner: str,
        priority: Priority,
        *,
        wait_s: float = 0.0,
        ttl_s: float | None = None,
        on_grant: Callable[[Grant], T] | None = None,
    ) -> tuple[Grant, T | None]:
        """Claim the lease, waiting up to ``wait_s`` (wall) while an equal or higher holds it.

        ``on_grant(grant)`` runs under the lock, before anyone else can act on the new lease.

        Raises
        ------
        LeaseRefused
            Naming the holder, when the wait ends without a grant.
        """
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        with self.cond:
            now = self._clock()
            deadline = now + max(0.0, wait_s)
            entry = (-int(priority), next(self._order), owner)
            self._waiters.append(entry)
            self._waiters.sort()
            try:
                while True:
                    if self._closed:
                        raise LeaseRefused(f"{self.device}: gateway stopping", device=self.device)
                    self._lapse_if_due(now)
                    outcome = self._decide(owner, priority, entry)
                    if outcome is not None:
                        abort, reason = outcome
                        break
                    remaining = deadline - now
                    if remaining <= 0:
                        raise self._refusal(owner, priority, wait_s)
                    holder = self._lease
                    if holder.expires_at is not None and holder.owner is not None:
                        remaining = min(remaining, max(0.001, holder.expires_at - now))
                    self.cond.wait(remaining)
                    now = self._clock()
            finally:
                self._waiters.remove(entry)
                self.cond.notify_all()
            previous = self._lapsed if reason == "lapsed" and self._lapsed else self._lease
            lease = Lease(self.device, owner, priority, next(self._epochs), now + ttl, ttl)
            self._lease = lease
            self._lapsed = None
            grant = Grant(lease, previous, abort, reason)
            result = on_grant(grant) if on_grant is not None else None
            return grant, result

    def _decide(
        self, owner: str, priority: Priority, entry: tuple[int, int, str]
    ) -> tuple[bool, str] | None:
        """(abort, reason) when the claim can be granted now, else None."""
        holder = self._lease
        if holder.owner is None:
            if priority is not Priority.SAFETY and self._waiters and self._waiters[0] != entry:
                return None  # someone more important, or earlier, waits first
            lapsed = self._lapsed.owner if self._lapsed is not None else None
            if lapsed is None:
                return False, "free"
            return lapsed != owner, "lapsed"
        if holder.owner == owner:
            return False, "renewed"
        assert holder.priority is not None
        if priority is Priority.SAFETY:
            preempting = holder.priority < Priority.SAFETY
            return preempting, "preempted" if preempting else "safety"
        if priority > holder.priority:
            return True, "preempted"
        return None

    def _refusal(self, owner: str, priority: Priority, wait_s: float) -> LeaseRefused:
        holder = self._lease
        held_by = (
            f"held by {holder.owner} ({holder.priority.label})"
            if holder.owner is not None and holder.priority is not None
            else "promised to a waiting claim of higher or equal priority"
        )
        return LeaseRefused(
            f"{self.device}: lease not granted to {owner} ({priority.label}) within "
            f"{wait_s:g} s: {held_by}",
            device=self.device,
            detail={"holder": holder.owner, "epoch": holder.epoch},
        )

    # ------------------------------------------------------------- holding
    def admit(self, owner: str | None, epoch: int | None) -> Lease:
        """Check that ``(owner, epoch)`` holds the lease now and renew it. Call with ``cond`` held.

        Raises
        ------
        DeviceError
            ``lease_required``: the command carried no owner or epoch.
        Preempted
            The lease is free, lapsed, or at another epoch; the message names the holder.
        """
        now = self._clock()
        self._lapse_if_due(now)
        if owner is None or epoch is None:
            raise DeviceError(
                f"{self.device}: this command needs the lease: claim it, then send owner and "
                "epoch with the command",
                device=self.device,
                code=LEASE_REQUIRED,
            )
        lease = self._lease
        if lease.owner is None:
            raise Preempted(
                f"{self.device}: epoch {epoch} of {owner} is no longer valid: the lease is free "
                "(it lapsed or was released); claim again",
                device=self.device,
                detail={"epoch": lease.epoch, "holder": None, "priority": None},
            )
        if lease.owner != owner or lease.epoch != epoch:
            assert lease.priority is not None
            raise Preempted(
                f"{self.device}: stale epoch {epoch} of {owner}: the lease is at epoch "
                f"{lease.epoch}, held by {lease.owner} ({lease.priority.label})",
                device=self.device,
                detail={
                    "epoch": lease.epoch,
                    "holder": lease.owner,
                    "priority": lease.priority.label,
                },
            )
        self._lease = replace(lease, expires_at=now + lease.ttl_s)
        return self._lease

    def heartbeat(self, owner: str | None, epoch: int | None) -> Lease:
        """Renew the lease of ``(owner, epoch)`` (see :meth:`admit` for the errors)."""
        with self.cond:
            return self.admit(owner, epoch)

    def release(self, owner: str | None, epoch: int | None) -> Lease:
        """Give the lease up; nothing is aborted (see :meth:`admit` for the errors)."""
        with self.cond:
            self.admit(owner, epoch)
            self._lease = replace(self._lease, owner=None, priority=None, expires_at=None)
            self._lapsed = None
            self.cond.notify_all()
            return self._lease

    def _lapse_if_due(self, now: float) -> Lease | None:
        lease = self._lease
        if lease.owner is None or lease.expires_at is None or lease.expires_at > now:
            return None
        self._lapsed = lease
        self._lease = replace(lease, owner=None, priority=None, expires_at=None)
        self.cond.notify_all()
        if self._on_lapse is not None:
            self._on_lapse(lease)
        return lease
