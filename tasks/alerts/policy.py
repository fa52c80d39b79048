"""The follow-up policy: one verdict, with its reason and action, per notice (pure).

:func:`decide` looks at the notice, the earlier alerts and the sky, and never stores anything:
:mod:`tasks.alerts.handle` stores its verdict, :mod:`tasks.alerts.evaluate` keeps it in memory.
Its checks run in the order of docs/alerts.md; each one is a named step below.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from infra.config import AlertsSection, SiteConfig
from tasks.alerts.decision import DecisionKind, FollowUpAction
from tasks.alerts.identity import AlertHistory, Burst, PastAlert, separation_deg
from tasks.alerts.missions import KIND_LABELS
from tasks.alerts.parse import (
    FLAG_LOST_LOCK,
    FLAG_NOT_A_GRB,
    FLAG_RETRACTION,
    FLAG_TEST,
    Notice,
)
from tasks.alerts.strategy import Coverage, choose_strategy
from tasks.alerts.visibility import Sky


@dataclass(frozen=True)
class AlertVerdict:
    """The alert policy's answer for one notice, and what storing it must do.

    :class:`~tasks.alerts.decision.AlertDecision` is what the caller is told once it is stored.
    """

    decision: DecisionKind
    reason: str
    action: FollowUpAction = FollowUpAction.NONE
    burst_key: str | None = None
    matched_by: str | None = None
    coverage: Coverage | None = None
    #: Window of the follow-up request to create (None: create nothing).
    window: tuple[datetime, datetime] | None = None
    #: Follow-up request whose remaining sequences must be cancelled.
    cancel_request_id: int | None = None
    #: The burst's existing follow-up request, when it simply continues.
    request_id: int | None = None
    #: MANUAL mode held back an action: the operator must be told.
    attention: bool = False
    duplicate_of: PastAlert | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def creates_request(self) -> bool:
        """Whether storing this verdict creates a follow-up request."""
        return self.window is not None and self.coverage is not None

    @property
    def acts(self) -> bool:
        """Whether storing this verdict changes what the telescope will do."""
        return self.creates_request or self.cancel_request_id is not None


@dataclass(frozen=True)
class _Identity:
    """The burst a notice is about, as every verdict after the duplicate check records it."""

    burst: Burst | None
    key: str
    matched_by: str | None

    @property
    def followed(self) -> PastAlert | None:
        """The burst's latest alert that created a follow-up request."""
        return self.burst.followed if self.burst is not None else None


@dataclass(frozen=True)
class _Position:
    """A notice's position once it is known to be usable (a position and a known radius)."""

    ra_deg: float
    dec_deg: float
    error_radius_deg: float


@dataclass(frozen=True)
class _Update:
    """What a notice does to the follow-up its burst already has."""

    action: FollowUpAction = FollowUpAction.NONE
    cancel_request_id: int | None = None
    #: Said before the sky's reason ("better position ... re-pointed; ").
    prefix: str = ""


@dataclass(frozen=True)
class _SkyQuestion:
    """What is asked of the sky: can this circle, so covered, be observed before the deadline."""

    position: _Position
    coverage: Coverage
    now: datetime
    deadline: datetime


def decide(
    notice: Notice,
    now: datetime,
    history: AlertHistory,
    config: SiteConfig,
    *,
    manual: bool = False,
    sky: Sky | None = None,
) -> AlertVerdict:
    """Decide what to do with ``notice`` received at ``now``.

    The order is the order of precedence: a duplicate IVORN; the role (test packets unless
    ``alerts.test_mode``, utility, prediction); a retraction, lost lock or not-a-GRB notice
    (cancels the burst's follow-up); the event kind, the position and the error radius; the
    strategy's coverage; the validity; an existing follow-up of the burst (re-point it or leave
    it); the sky now, else the next window. Last, MANUAL mode turns anything that would act into
    ``ignored`` and asks for the operator.

    Parameters
    ----------
    notice : Notice
        The parsed packet.
    now : datetime
        Reception instant (the clock's; ``pyros alert ingest`` uses the packet's date).
    history : AlertHistory
        Earlier alerts (database or in memory).
    config : SiteConfig
        Site configuration (``[alerts]``, limits, instruments).
    manual : bool
        Whether the observatory is in MANUAL mode.
    sky : Sky, optional
        Visibility oracle (default: :class:`~tasks.alerts.visibility.Sky` on ``config``).
    """
    past = history.seen(notice.ivorn)
    if past is not None:
        return _duplicate(past)
    identity = _identify(notice, now, history)
    alerts = config.alerts
    refusal = _refused_role(notice, alerts)
    if refusal is not None:
        return _ignored(identity, refusal)
    withdrawal = _withdrawal(notice)
    if withdrawal is not None:
        return _withdraw(withdrawal, identity)
    position = _usable_position(notice, alerts)
    if isinstance(position, str):
        return _ignored(identity, position)
    coverage = choose_strategy(notice.mission, position.error_radius_deg, config)
    if isinstance(coverage, str):
        return _ignored(identity, coverage)
    origin = notice.event_time or notice.issued_at or now
    deadline = origin + timedelta(seconds=alerts.validity_s)
    if deadline <= now:
        return _ignored(identity, _expired(origin, now, alerts))
    update = _update_followed(identity, position, alerts)
    if isinstance(update, AlertVerdict):
        return update
    verdict = _from_the_sky(
        _SkyQuestion(position, coverage, now, deadline), update, identity, sky or Sky(config)
    )
    if manual and verdict.acts:
        return _held_for_operator(verdict, identity)
    return verdict


def _duplicate(past: PastAlert) -> AlertVerdict:
    return AlertVerdict(
        DecisionKind.DUPLICATE,
        f"IVORN already handled as alert {past.id} ({past.decision})",
        burst_key=past.burst_key,
        request_id=past.request_id,
        duplicate_of=past,
    )


def _identify(notice: Notice, now: datetime, history: AlertHistory) -> _Identity:
    burst = history.burst_of(notice, now)
    if burst is None:
        return _Identity(None, notice.trigger_key or notice.ivorn, None)
    return _Identity(burst, burst.key, burst.matched_by)


def _ignored(identity: _Identity, reason: str, request_id: int | None = None) -> AlertVerdict:
    return AlertVerdict(
        DecisionKind.IGNORED,
        reason,
        burst_key=identity.key,
        matched_by=identity.matched_by,
        request_id=request_id,
    )


def _refused_role(notice: Notice, alerts: AlertsSection) -> str | None:
    """Why a test, utility or prediction packet is not followed (None: an observation)."""
    if FLAG_TEST in notice.flags and not alerts.test_mode:
        what = "test packet (role=test)" if notice.role == "test" else "test submission"
        return f"{what}; alerts.test_mode is off"
    if notice.role in ("utility", "prediction"):
        return f"{notice.role} packet: PyROS follows observations only"
    return None


def _withdrawal(notice: Notice) -> str | None:
    if FLAG_RETRACTION in notice.flags:
        return "retraction"
    if FLAG_LOST_LOCK in notice.flags:
        return f"{notice.mission} star tracker lost lock: the position is unreliable"
    if FLAG_NOT_A_GRB in notice.flags:
        return f"{notice.mission} says this is not a GRB"
    return None


def _withdraw(what: str, identity: _Identity) -> AlertVerdict:
    """Cancel the burst's active follow-up (or say there is nothing to cancel)."""
    followed = identity.followed
    if followed is not None and followed.request_active:
        return AlertVerdict(
            DecisionKind.IGNORED,
            f"{what}: follow-up request {followed.request_id} of burst {identity.key} cancelled",
            FollowUpAction.CANCEL,
            burst_key=identity.key,
            matched_by=identity.matched_by,
            cancel_request_id=followed.request_id,
        )
    tail = "nothing of this burst is being followed"
    if followed is not None:
        tail = f"follow-up request {followed.request_id} has nothing left to cancel"
    return _ignored(identity, f"{what}; {tail}")


def _usable_position(notice: Notice, alerts: AlertsSection) -> _Position | str:
    """The notice's position, or why it cannot be followed (kind, no position, no radius)."""
    if notice.kind not in alerts.followed_kinds:
        label = KIND_LABELS.get(notice.kind, notice.kind)
        return (
            f"{label} alert from {notice.mission}: PyROS does not follow {label} events "
            f"(alerts.followed_kinds = {', '.join(alerts.followed_kinds)})"
        )
    if notice.ra_deg is None or notice.dec_deg is None:
        return "no position in the notice"
    if notice.error_radius_deg is None or notice.error_radius_deg < 0.0:
        return "unknown error radius (-1): the box cannot be covered"
    return _Position(notice.ra_deg, notice.dec_deg, notice.error_radius_deg)


def _expired(origin: datetime, now: datetime, alerts: AlertsSection) -> str:
    age_h = (now - origin).total_seconds() / 3600.0
    return (
        f"expired: the burst is {age_h:.1f} h old (alerts.validity_s = "
        f"{alerts.validity_s / 3600.0:g} h)"
    )


def _update_followed(
    identity: _Identity, position: _Position, alerts: AlertsSection
) -> _Update | AlertVerdict:
    """Re-point the burst's active follow-up for a better, moved position; else leave it."""
    followed = identity.followed
    if identity.burst is None or followed is None:
        return _Update()
    if identity.burst.retracted and not followed.request_active:
        return _ignored(identity, f"burst {identity.key} was withdrawn; not followed again")
    moved = _moved_arcmin(position, followed)
    if followed.error_radius_deg is not None and not (
        position.error_radius_deg <= followed.error_radius_deg
    ):
        why = (
            f"less precise ({position.error_radius_deg:g} deg) than the followed position "
            f"({followed.error_radius_deg:g} deg)"
        )
        return _unchanged(identity, followed, why)
    if moved <= alerts.repoint_threshold_arcmin:
        why = f"moved {moved:.2f} arcmin (threshold {alerts.repoint_threshold_arcmin:g})"
        return _unchanged(identity, followed, why)
    if not followed.request_active:
        return _Update()
    return _Update(
        FollowUpAction.REPOINT,
        followed.request_id,
        f"better position for burst {identity.key} moved {moved:.2f} arcmin: re-pointed "
        f"(request {followed.request_id} cancelled); ",
    )


def _unchanged(identity: _Identity, followed: PastAlert, why: str) -> AlertVerdict:
    state = "continues" if followed.request_active else "already done"
    return _ignored(
        identity,
        f"update of burst {identity.key}: {why}; follow-up request {followed.request_id} {state}",
        request_id=followed.request_id,
    )


def _moved_arcmin(position: _Position, followed: PastAlert) -> float:
    if followed.ra_deg is None or followed.dec_deg is None:
        return float("inf")
    return 60.0 * separation_deg(
        position.ra_deg, position.dec_deg, followed.ra_deg, followed.dec_deg
    )


def _at(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M}Z"


def _from_the_sky(
    question: _SkyQuestion, update: _Update, identity: _Identity, sky: Sky
) -> AlertVerdict:
    """Follow up now when observable, else schedule the next window before the deadline."""
    position, coverage = question.position, question.coverage
    now, deadline = question.now, question.deadline
    visibility = sky.now(position.ra_deg, position.dec_deg, now)
    details: dict[str, Any] = {
        "altitude_deg": round(visibility.altitude_deg, 2),
        "sun_altitude_deg": round(visibility.sun_altitude_deg, 2),
        "moon_separation_deg": round(visibility.moon_separation_deg, 2),
        "deadline": deadline,
    }
    plan = f"strategy {coverage.strategy.name}{coverage.describe()}"
    verdict = AlertVerdict(
        DecisionKind.NOT_OBSERVABLE,
        "",
        update.action,
        burst_key=identity.key,
        matched_by=identity.matched_by,
        cancel_request_id=update.cancel_request_id,
        details=details,
    )
    if visibility.observable:
        return replace(
            verdict,
            decision=DecisionKind.FOLLOW_UP,
            reason=(
                f"{update.prefix}observable now (altitude {visibility.altitude_deg:.1f} deg): "
                f"{plan}"
            ),
            coverage=coverage,
            window=(now, deadline),
        )
    window = sky.next_window(position.ra_deg, position.dec_deg, now, deadline)
    if window is None:
        reason = f"{visibility.reason}; no observable window before {_at(deadline)}"
        return replace(verdict, reason=f"{update.prefix}{reason}")
    reason = f"{visibility.reason}; scheduled for {_at(window[0])}-{_at(window[1])}: {plan}"
    return replace(verdict, reason=f"{update.prefix}{reason}", coverage=coverage, window=window)


def _held_for_operator(verdict: AlertVerdict, identity: _Identity) -> AlertVerdict:
    """MANUAL mode: nothing automatic is done; the operator is told what would have been."""
    followed = identity.followed
    return AlertVerdict(
        DecisionKind.IGNORED,
        f"MANUAL mode: would be {verdict.decision} ({verdict.reason}); "
        "nothing automatic is done, the operator decides",
        burst_key=identity.key,
        matched_by=identity.matched_by,
        attention=True,
        request_id=followed.request_id if followed else None,
        details={**verdict.details, "would_be": str(verdict.decision)},
    )
