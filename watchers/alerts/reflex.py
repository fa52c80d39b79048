"""The alert reflex (DESIGN §2), the listener's side effects: preempt the telescope and slew to
the burst before Prefect hears of it. What to do is decided by
:func:`tasks.alerts.reflex.decide_reflex` (pure); this module only carries it out, through the
device gateways, and never waits on Prefect.

The leases are taken at alert priority under the burst's owner (``alert:<burst key>``): the
gateways abort a routine exposure or slew in flight (its sequence ends ``interrupted`` with the
reason), and the ``alert-follow-up`` flow, claiming again under the same owner, inherits them
(a new epoch, nothing aborted). The reflex keeps them alive (heartbeats) until the flow takes
them, the follow-up is withdrawn, or ``handover_wall_s`` passes without a flow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devices.controllers import GatewayCamera, GatewayMount, Priority
from devices.controllers.link import LeaseHandle
from devices.errors import DeviceProblem
from tasks.alerts.reflex import ReflexAction, ReflexPlan

log = logging.getLogger(__name__)

#: How long (wall s) the reflex keeps the leases of a follow-up no flow has taken over.
HANDOVER_WALL_S = 300.0
#: Wall seconds a reflex claim waits for an equal holder (another burst's follow-up).
CLAIM_WAIT_S = 0.2


@dataclass
class ReflexOutcome:
    """What the reflex did (the ``reflex`` part of ``pyros.alert.follow-up``'s payload)."""

    action: str
    reason: str
    owner: str
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    slew_sent_wall: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "action": self.action,
            "reason": self.reason,
            "owner": self.owner,
            "done": list(self.done),
            "problems": list(self.problems),
            "slew_sent_wall": self.slew_sent_wall,
        }


@dataclass
class _Held:
    leases: list[LeaseHandle]
    since: float


class AlertReflex:
    """The telescope as the alert listener moves it.

    Parameters
    ----------
    mount : GatewayMount
        The mount (its own connection to the gateway).
    cameras : dict
        Cameras by instrument name (each with its filter wheel), own connections.
    handover_wall_s : float
        How long leases no flow has taken over are kept.
    """

    def __init__(
        self,
        mount: GatewayMount,
        cameras: dict[str, GatewayCamera],
        handover_wall_s: float = HANDOVER_WALL_S,
    ) -> None:
        self.mount, self.cameras = mount, cameras
        self.handover_wall_s = handover_wall_s
        self._held: dict[str, _Held] = {}
        #: Slews sent before the decision was stored: owner -> (target, what was done).
        self._early: dict[str, tuple[tuple[float | None, float | None], ReflexOutcome]] = {}
        self._lock = threading.Lock()

    def weather_safe(self) -> bool:
        """False when the environment monitor holds the mount at safety priority (it parked
        the mount for the weather or the site); an unreachable mount counts as safe here (the
        claim then fails and says so)."""
        try:
            return self.mount.lease_info().priority is not Priority.SAFETY
        except DeviceProblem as problem:
            log.warning("reflex: mount lease not read: %s", problem)
            return True

    def carry_out(self, plan: ReflexPlan) -> ReflexOutcome:
        """Do what ``plan`` says; never raises for device trouble (named in ``problems``).

        A slew already sent by :meth:`slew_early` for the same owner and target is not sent
        again: the outcome then starts with what the early slew did.
        """
        outcome = ReflexOutcome(str(plan.action), plan.reason, plan.owner)
        if plan.action in (ReflexAction.SLEW, ReflexAction.REPOINT):
            with self._lock:
                early = self._early.pop(plan.owner, None)
            if early is not None and early[0] == (plan.ra_deg, plan.dec_deg):
                outcome.done, outcome.problems = list(early[1].done), list(early[1].problems)
                outcome.slew_sent_wall = early[1].slew_sent_wall
            else:
                self._slew_mount(plan, outcome)
            if plan.action is ReflexAction.SLEW:
                leases = [self._camera(n, c, plan.filters.get(n), outcome, plan.owner)
                          for n, c in self.cameras.items()]  # fmt: skip
                self._hold(plan.owner, [lease for lease in leases if lease is not None])
        elif plan.action is ReflexAction.RELEASE:
            self.release(plan.owner)
            outcome.done.append("released")
        return outcome

    def slew_early(self, plan: ReflexPlan) -> None:
        """Claim the mount and send the slew now, before the decision is stored (the rest of
        the plan — cameras, filters — follows in :meth:`carry_out`)."""
        if plan.action not in (ReflexAction.SLEW, ReflexAction.REPOINT):
            return
        outcome = ReflexOutcome(str(plan.action), plan.reason, plan.owner)
        self._slew_mount(plan, outcome)
        with self._lock:
            self._early[plan.owner] = ((plan.ra_deg, plan.dec_deg), outcome)

    def _step(self, outcome: ReflexOutcome, what: str, call: Callable[[], object]) -> bool:
        try:
            call()
            outcome.done.append(what)
            return True
        except DeviceProblem as problem:
            outcome.problems.append(f"{what}: {problem}")
            log.warning("reflex %s: %s: %s", outcome.owner, what, problem)
            return False

    def _hold(self, owner: str, leases: list[LeaseHandle]) -> None:
        with self._lock:
            held = self._held.setdefault(owner, _Held([], time.monotonic()))
            held.leases.extend(leases)

    def _slew_mount(self, plan: ReflexPlan, outcome: ReflexOutcome) -> None:
        """Claim the mount at alert priority (a routine slew in flight is aborted) and send
        the slew: what the afterglow waits for comes first."""
        assert plan.ra_deg is not None and plan.dec_deg is not None
        ra, dec = plan.ra_deg, plan.dec_deg
        try:
            lease = self.mount.claim(plan.owner, Priority.ALERT, wait_s=CLAIM_WAIT_S)
        except DeviceProblem as problem:
            outcome.problems.append(f"mount claimed: {problem}")
            log.warning("reflex %s: mount claim: %s", plan.owner, problem)
            return
        outcome.done.append("mount claimed")
        self._hold(plan.owner, [lease])
        outcome.slew_sent_wall = datetime.now(UTC)
        if not self._step(outcome, f"slew to {ra:.4f} {dec:+.4f}",
                          lambda: self.mount.goto(ra, dec)):  # fmt: skip
            outcome.slew_sent_wall = None

    def _camera(
        self,
        name: str,
        camera: GatewayCamera,
        wanted: str | None,
        outcome: ReflexOutcome,
        owner: str,
    ) -> LeaseHandle | None:
        """Claim one camera (the gateway aborts a routine exposure in flight) and move its
        wheel to the strategy's first filter; the lease (None when refused)."""
        try:
            lease = camera.claim(owner, Priority.ALERT, wait_s=CLAIM_WAIT_S)
        except DeviceProblem as problem:
            outcome.problems.append(f"{name} claimed: {problem}")
            return None
        outcome.done.append(f"{name} claimed")
        if wanted:
            self._step(
                outcome,
                f"{name} filter {wanted}",
                lambda: camera.filter_wheel.set_filter(wanted, wait=False),
            )
        return lease

    def release(self, owner: str) -> None:
        """Give back what the reflex holds for ``owner`` (leases the flow took are not ours:
        their epoch moved on, so the gateway ignores our release)."""
        with self._lock:
            held = self._held.pop(owner, None)
            self._early.pop(owner, None)
        for lease in held.leases if held else []:
            if not lease.lost:
                lease.release()

    def tick(self) -> None:
        """Forget leases the flow took over; release those kept past the hand-over time."""
        now = time.monotonic()
        with self._lock:
            owners = list(self._held.items())
        for owner, held in owners:
            if all(lease.lost for lease in held.leases):
                with self._lock:
                    self._held.pop(owner, None)
            elif now - held.since > self.handover_wall_s:
                log.warning("reflex: no follow-up flow took %s's leases: released", owner)
                self.release(owner)

    def holding(self) -> list[str]:
        """Owners whose leases the reflex still keeps."""
        with self._lock:
            return sorted(self._held)

    def close(self) -> None:
        """Release everything and close the connections."""
        for owner in self.holding():
            self.release(owner)
        for controller in (self.mount, *self.cameras.values()):
            controller.disconnect()
