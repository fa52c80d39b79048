"""The alert reflex's decision (DESIGN §2): given a stored alert decision and what the devices
say, what the listener does to the telescope before Prefect hears of the alert (pure).

The alert listener (:mod:`watchers.alerts.reflex`) carries the plan out through ``devices/``:
it claims the mount and the cameras at alert priority under the burst's lease owner (the
follow-up flow claims again under the same owner and inherits them), sets each camera's first
filter of the strategy and slews; then it emits ``pyros.alert.follow-up``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from infra.config import SiteConfig
from infra.opmode import OperatingMode
from tasks.alerts.decision import AlertDecision, DecisionKind, FollowUpAction

#: Lease owners of follow-ups start with this (the flow claims under the same owner).
OWNER_PREFIX = "alert:"


class ReflexAction(StrEnum):
    """What the reflex does."""

    SLEW = "slew"  # claim mount and cameras, first filters, slew
    REPOINT = "re-point"  # the burst is followed: claim the mount again, slew to the new circle
    RELEASE = "release"  # retraction / lost lock: give back what the reflex holds
    WAIT_WEATHER = "wait-weather"  # nothing moves; the follow-up waits for the dome, still valid
    MANUAL = "manual"  # nothing moves; the alert is recorded and shown to the operator
    NONE = "none"  # nothing to do


@dataclass(frozen=True)
class ReflexState:
    """What the reflex looks at.

    Attributes
    ----------
    decision : AlertDecision
        The stored decision of the packet.
    now : datetime
        Simulated now.
    mode : OperatingMode
        AUTO or MANUAL.
    weather_safe : bool
        False when the environment monitor holds the mount at safety priority (it parked it:
        the weather or the site is unsafe) or its verdict says unsafe.
    target : tuple of float, optional
        RA/Dec (deg) of the follow-up's first pointing (the first tile); default: the burst.
    """

    decision: AlertDecision
    now: datetime
    mode: OperatingMode
    weather_safe: bool
    target: tuple[float, float] | None = None


@dataclass(frozen=True)
class ReflexPlan:
    """The reflex's answer."""

    action: ReflexAction
    reason: str
    owner: str = ""
    ra_deg: float | None = None
    dec_deg: float | None = None
    #: First filter of the strategy per instrument name (set before the slew ends).
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def moves(self) -> bool:
        """Whether the plan moves the telescope."""
        return self.action in (ReflexAction.SLEW, ReflexAction.REPOINT)

    @property
    def announces(self) -> bool:
        """Whether ``pyros.alert.follow-up`` is emitted after the plan (a follow-up exists)."""
        return self.action in (ReflexAction.SLEW, ReflexAction.REPOINT, ReflexAction.WAIT_WEATHER)


def owner_for(burst_key: str | None) -> str:
    """The lease owner of a burst's follow-up (the reflex's and the flow's)."""
    return f"{OWNER_PREFIX}{burst_key or 'unknown'}"[:120]


def first_filters(config: SiteConfig, strategy: str | None) -> dict[str, str]:
    """The first filter of ``strategy`` on each of its instruments (empty when unknown)."""
    for candidate in config.alerts.strategies:
        if candidate.name == strategy:
            filters: dict[str, str] = {}
            for plan in candidate.plans:
                filters.setdefault(plan.instrument, plan.filter)
            return filters
    return {}


def _held_in_manual(decision: AlertDecision) -> bool:
    return bool(decision.details.get("attention")) and "MANUAL" in decision.reason


def decide_reflex(state: ReflexState, config: SiteConfig) -> ReflexPlan:
    """What the reflex does with one decided alert.

    The order is the order of precedence, first match wins:

    1. a ``cancel`` action (retraction, lost lock, not a GRB): release what the reflex holds for
       the burst — in MANUAL mode too (it moves nothing towards the sky);
    2. MANUAL mode with a follow-up or an alert the policy held back for MANUAL: nothing moves,
       the alert is recorded and shown;
    3. anything but a ``follow-up`` decision (ignored, not observable, duplicate, rejected):
       nothing;
    4. no position: nothing (the policy never follows one; a guard);
    5. the follow-up window is over: nothing;
    6. unsafe weather (the monitor holds the mount at safety priority): nothing moves and nothing
       opens; the follow-up is announced and waits, still valid, for the dome;
    7. a ``re-point`` of a followed burst: slew the mount to the new circle (the cameras stay
       with the running follow-up);
    8. a new follow-up: claim mount and cameras, first filters, slew.
    """
    decision = state.decision
    owner = owner_for(decision.burst_key)
    if decision.action is FollowUpAction.CANCEL:
        return ReflexPlan(ReflexAction.RELEASE, f"follow-up withdrawn: {decision.reason}", owner)
    if state.mode is OperatingMode.MANUAL and (
        decision.decision is DecisionKind.FOLLOW_UP or _held_in_manual(decision)
    ):
        return ReflexPlan(
            ReflexAction.MANUAL,
            "MANUAL mode: nothing moves; the alert is recorded and shown to the operator",
            owner,
        )
    if decision.decision is not DecisionKind.FOLLOW_UP:
        return ReflexPlan(ReflexAction.NONE, f"no follow-up ({decision.decision})", owner)
    ra, dec = state.target or (decision.ra_deg, decision.dec_deg)
    if ra is None or dec is None:
        return ReflexPlan(ReflexAction.NONE, "no position to slew to", owner)
    if decision.window is not None and state.now >= decision.window[1]:
        return ReflexPlan(ReflexAction.NONE, "the follow-up window is over", owner)
    if not state.weather_safe:
        return ReflexPlan(
            ReflexAction.WAIT_WEATHER,
            "weather unsafe: nothing moves; the follow-up waits for the dome while valid",
            owner,
            ra,
            dec,
        )
    filters = first_filters(config, decision.strategy)
    if decision.action is FollowUpAction.REPOINT:
        return ReflexPlan(
            ReflexAction.REPOINT, "better position of a followed burst: re-point", owner, ra, dec
        )
    return ReflexPlan(
        ReflexAction.SLEW, "follow-up: preempt and slew to the burst", owner, ra, dec, filters
    )
