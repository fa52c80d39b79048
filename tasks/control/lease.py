"""The operator's side of the lease (DESIGN §2): claim at operator priority, refuse clearly.

A manual action claims its device at :attr:`~devices.lease.Priority.OPERATOR`: it preempts the
routine night (whose sequence ends ``interrupted`` with the reason) and never steals from safety
or an alert. When one of those holds the device the action is refused at once with a message
naming the holder; an equal holder (another operator) is waited for up to the link's
``claim_wait_s``. Every outcome — done, refused, failed — is journaled (kind ``operator``) with
who asked and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from devices.controllers.base import Controller
from devices.errors import CommandRefused, DeviceProblem, LeaseRefused, Preempted
from devices.lease import Priority
from infra.journal import KIND_OPERATOR, JournalTarget, record

#: Journal outcomes of a manual action.
DONE, REFUSED, FAILED = "done", "refused", "failed"


@dataclass(frozen=True)
class Operator:
    """Who asks for a manual action, and why (both go to the journal).

    Raises
    ------
    ValueError
        An empty user or reason.
    """

    user: str
    reason: str

    def __post_init__(self) -> None:
        if not self.user.strip():
            raise ValueError("a manual action needs the operator's name (user)")
        if not self.reason.strip():
            raise ValueError("a manual action needs a reason (it is journaled)")

    @property
    def owner(self) -> str:
        """The lease owner the gateways show (``operator:<user>``)."""
        return f"operator:{self.user.strip()}"


class ManualRefused(Exception):
    """A manual action refused: safety or an alert holds the device, or a controller's check
    (the horizon, an unknown filter...) said no. ``holder`` names the lease holder, if any."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.holder = holder


@dataclass(frozen=True)
class ManualResult:
    """What a manual action did."""

    action: str
    user: str
    reason: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the flow run's result)."""
        return {
            "action": self.action,
            "user": self.user,
            "reason": self.reason,
            "message": self.message,
            **self.detail,
        }


def journal_action(
    action: str,
    who: Operator,
    outcome: str,
    message: str,
    detail: dict[str, Any] | None = None,
    *,
    into: JournalTarget | None = None,
) -> None:
    """Journal one manual action (kind ``operator``, source the user) with who and why."""
    payload = {
        "command": action,
        "user": who.user,
        "reason": who.reason,
        "outcome": outcome,
        "message": message,
        **(detail or {}),
    }
    record(KIND_OPERATOR, who.user, payload, into=into)


def _held_above_operator(controller: Controller) -> ManualRefused | None:
    holder = controller.lease_info()
    if holder.owner is None or holder.priority is None or holder.priority <= Priority.OPERATOR:
        return None
    return ManualRefused(
        f"{controller.device} refused: held by {holder.owner} ({holder.priority.label}), "
        f"above operator priority; try again when it lets go",
        holder=holder.owner,
    )


@contextmanager
def operator_lease(controller: Controller, who: Operator) -> Iterator[None]:
    """Hold ``controller``'s device at operator priority for the ``with`` block, then release.

    Raises
    ------
    ManualRefused
        Safety or an alert holds the device (at once), an equal holder kept it past the wait, or
        a higher claim took it during the block (the message names the holder).
    """
    refusal = _held_above_operator(controller)
    if refusal is not None:
        raise refusal
    try:
        handle = controller.claim(who.owner, Priority.OPERATOR)
    except LeaseRefused as refused:
        raise ManualRefused(refused.message, refused.detail.get("holder")) from refused
    try:
        with handle:
            yield
    except Preempted as taken:
        holder = controller.lease_info().owner
        raise ManualRefused(f"{taken.message} (now held by {holder})", holder) from taken


def run_manual(
    action: str,
    who: Operator,
    controller: Controller,
    body: Callable[[], tuple[str, dict[str, Any]]],
    *,
    asked: dict[str, Any] | None = None,
    into: JournalTarget | None = None,
) -> ManualResult:
    """Run ``body`` (returns a message and details) under the operator lease; journal the
    outcome with what was ``asked`` (the action's parameters).

    Raises
    ------
    ManualRefused
        Refused (journaled ``refused``): the lease, or a controller's check
        (:class:`~devices.errors.CommandRefused`, e.g. below the horizon).
    DeviceProblem
        Any other device trouble (journaled ``failed``).
    """
    asked = dict(asked or {})
    try:
        with operator_lease(controller, who):
            message, detail = body()
    except ManualRefused as refused:
        journal_action(
            action, who, REFUSED, refused.message, {**asked, "holder": refused.holder}, into=into
        )
        raise
    except CommandRefused as check:
        journal_action(action, who, REFUSED, check.message, asked, into=into)
        raise ManualRefused(check.message) from check
    except DeviceProblem as problem:
        journal_action(action, who, FAILED, problem.message, asked, into=into)
        raise
    journal_action(action, who, DONE, message, {**asked, **detail}, into=into)
    return ManualResult(action, who.user, who.reason, message, {**asked, **detail})
