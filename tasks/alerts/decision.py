"""What PyROS decided about one alert packet: the decision, its reason and the action on a
follow-up. The decision and action words are defined here and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DecisionKind(StrEnum):
    """The decision about an alert packet (docs/alerts.md); stored in ``alerts.decision``."""

    FOLLOW_UP = "follow-up"
    NOT_OBSERVABLE = "not-observable"
    IGNORED = "ignored"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class FollowUpAction(StrEnum):
    """What an alert packet does to an existing follow-up of its burst; stored in
    ``alerts.action``."""

    NONE = "none"
    REPOINT = "re-point"
    CANCEL = "cancel"


#: Points of :func:`tasks.alerts.handle.handle_packet` a caller may watch (``Arrival.checkpoint``):
#: the raw packet committed to the journal; the decision made, its transaction not yet committed.
CHECKPOINT_JOURNALED = "journaled"
CHECKPOINT_DECIDING = "deciding"


@dataclass(frozen=True)
class Arrival:
    """How a packet reached PyROS, for the Alert row and the intake's crash tests.

    Attributes
    ----------
    road : str
        ``comet``, ``kafka``, ``drop`` or ``cli``.
    wall_received_at : datetime, optional
        Wall instant the packet reached PyROS (the listener's spool); default: when
        ``handle_packet`` starts.
    checkpoint : callable, optional
        Called with :data:`CHECKPOINT_JOURNALED` and :data:`CHECKPOINT_DECIDING` as the handling
        passes them (the listener's kill switch; never needed otherwise).
    defer_follow_up : bool
        The caller emits ``pyros.alert.follow-up`` itself, after its reflex moved the telescope
        (the alert listener); otherwise the handling emits it after the commit.
    on_follow_up : callable, optional
        Called with the (not yet stored) decision as soon as the policy decides a follow-up,
        before the request is built and the transaction committed: the alert listener's reflex
        slews then (DESIGN §2: the slew never waits for the database's write). Its exceptions
        are logged, never raised.
    """

    road: str
    wall_received_at: datetime | None = None
    checkpoint: Callable[[str], None] | None = None
    defer_follow_up: bool = False
    on_follow_up: Callable[[AlertDecision], None] | None = None

    def reached(self, point: str) -> None:
        """Tell the checkpoint (if any) that ``point`` is reached."""
        if self.checkpoint is not None:
            self.checkpoint(point)


@dataclass(frozen=True)
class AlertDecision:
    """The outcome of :func:`tasks.alerts.handle.handle_packet` (or of the pure path,
    :func:`tasks.alerts.evaluate.evaluate`).

    ``stored`` says whether the decision was committed to the database; ``error`` names what
    prevented it (the packet itself is not at fault then).
    """

    ivorn: str | None
    decision: DecisionKind
    reason: str
    action: FollowUpAction = FollowUpAction.NONE
    request_id: int | None = None
    cancelled_request_id: int | None = None
    alert_id: int | None = None
    journal_id: int | None = None
    received_at: datetime | None = None
    mission: str | None = None
    burst_key: str | None = None
    strategy: str | None = None
    tiles: int = 0
    ra_deg: float | None = None
    dec_deg: float | None = None
    error_radius_deg: float | None = None
    window: tuple[datetime, datetime] | None = None
    stored: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (``pyros alert ingest --json``, event payloads)."""
        return {
            "ivorn": self.ivorn,
            "decision": str(self.decision),
            "reason": self.reason,
            "action": str(self.action),
            "request_id": self.request_id,
            "cancelled_request_id": self.cancelled_request_id,
            "alert_id": self.alert_id,
            "journal_id": self.journal_id,
            "received_at": self.received_at,
            "mission": self.mission,
            "burst_key": self.burst_key,
            "strategy": self.strategy,
            "tiles": self.tiles,
            "ra_deg": self.ra_deg,
            "dec_deg": self.dec_deg,
            "error_radius_deg": self.error_radius_deg,
            "window": list(self.window) if self.window else None,
            "stored": self.stored,
            "error": self.error,
        }
