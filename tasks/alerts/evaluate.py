"""The pure path: raw bytes to an :class:`~tasks.alerts.decision.AlertDecision` with an in-memory
history, no database.

Used by the fuzz tests, the benchmark and anything that must decide without storage; the stored
path (:mod:`tasks.alerts.handle`) runs the same parse and policy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from infra.config import SiteConfig
from tasks.alerts.decision import AlertDecision, DecisionKind
from tasks.alerts.identity import InMemoryHistory, PastAlert
from tasks.alerts.parse import (
    FLAG_LOST_LOCK,
    FLAG_NOT_A_GRB,
    FLAG_RETRACTION,
    AlertRejected,
    Notice,
    parse_notice,
)
from tasks.alerts.policy import AlertVerdict, decide
from tasks.alerts.visibility import Sky

WITHDRAWALS = frozenset({FLAG_RETRACTION, FLAG_LOST_LOCK, FLAG_NOT_A_GRB})


def to_decision(
    notice: Notice,
    verdict: AlertVerdict,
    *,
    received_at: datetime | None = None,
    alert_id: int | None = None,
    request_id: int | None = None,
    stored: bool = False,
) -> AlertDecision:
    """The public decision for a parsed notice and the policy's verdict.

    ``request_id`` is the follow-up request created for it (default: the verdict's, the burst's
    continuing follow-up).
    """
    coverage = verdict.coverage if verdict.creates_request else None
    return AlertDecision(
        ivorn=notice.ivorn,
        decision=verdict.decision,
        reason=verdict.reason,
        action=verdict.action,
        request_id=request_id if request_id is not None else verdict.request_id,
        cancelled_request_id=verdict.cancel_request_id,
        alert_id=alert_id,
        received_at=received_at,
        mission=notice.mission,
        burst_key=verdict.burst_key,
        strategy=coverage.strategy.name if coverage else None,
        tiles=coverage.tiles if coverage else 0,
        ra_deg=notice.ra_deg,
        dec_deg=notice.dec_deg,
        error_radius_deg=notice.error_radius_deg,
        window=verdict.window,
        stored=stored,
        details=verdict.details,
    )


def past_alert(
    notice: Notice, verdict: AlertVerdict, *, alert_id: int, request_id: int | None
) -> PastAlert:
    """How a stored alert is seen by later notices."""
    return PastAlert(
        id=alert_id,
        ivorn=notice.ivorn,
        mission=notice.mission,
        burst_key=verdict.burst_key,
        trigger_key=notice.trigger_key,
        event_time=notice.event_time,
        ra_deg=notice.ra_deg,
        dec_deg=notice.dec_deg,
        error_radius_deg=notice.error_radius_deg,
        decision=verdict.decision,
        action=verdict.action,
        request_id=request_id,
        request_active=request_id is not None,
        retraction=bool(notice.flags & WITHDRAWALS),
    )


def evaluate(
    raw: bytes,
    now: datetime,
    history: InMemoryHistory,
    config: SiteConfig,
    *,
    manual: bool = False,
    sky: Sky | None = None,
) -> AlertDecision:
    """Parse and decide one packet, remembering it in ``history``; never raises.

    Follow-up requests are not created: a decision that would create one gets a negative
    ``request_id`` (so later updates of the burst see it as followed).
    """
    if now.tzinfo is None:  # naive instants are UTC, as everywhere in PyROS
        now = now.replace(tzinfo=UTC)
    try:
        notice = parse_notice(
            raw, config.alerts.max_packet_bytes, now, config.alerts.max_clock_skew_s
        )
    except AlertRejected as exc:
        return AlertDecision(
            ivorn=None,
            decision=DecisionKind.REJECTED,
            reason=exc.reason,
            received_at=now,
            details={"claimed_ivorn": exc.ivorn},
        )
    except Exception as exc:  # a bug must not stop the stream
        return AlertDecision(
            ivorn=None,
            decision=DecisionKind.REJECTED,
            reason=f"internal error while parsing: {type(exc).__name__}: {exc}",
            received_at=now,
            error=type(exc).__name__,
        )
    try:
        verdict = decide(notice, now, history, config, manual=manual, sky=sky)
    except Exception as exc:
        return AlertDecision(
            ivorn=notice.ivorn,
            decision=DecisionKind.IGNORED,
            reason=f"not decided: internal error {type(exc).__name__}: {exc}",
            received_at=now,
            error=type(exc).__name__,
        )
    if verdict.decision is DecisionKind.DUPLICATE:
        return to_decision(notice, verdict, received_at=now)
    stored = history.remember(
        past_alert(notice, verdict, alert_id=0, request_id=-1 if verdict.creates_request else None),
        cancel_request_id=verdict.cancel_request_id,
    )
    request_id = stored.request_id if verdict.creates_request else verdict.request_id
    return to_decision(notice, verdict, received_at=now, alert_id=stored.id, request_id=request_id)
