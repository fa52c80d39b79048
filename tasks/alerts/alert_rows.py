"""The database side of alerts: the raw packet in the journal, earlier alerts as a history, and a
verdict stored (Alert row, follow-up request through the request path, cancellations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from infra.clock import Clock
from infra.config import SiteConfig
from infra.db import session_scope
from infra.db.models import Alert, JournalEntry, Sequence
from infra.db.sequence_state import FINAL_STATES, SequenceState, transition
from infra.journal import KIND_ALERT, record, to_json_payload
from tasks.alerts.decision import Arrival, DecisionKind, FollowUpAction
from tasks.alerts.evaluate import WITHDRAWALS
from tasks.alerts.identity import Burst, PastAlert, match_burst
from tasks.alerts.parse import Notice
from tasks.alerts.policy import AlertVerdict
from tasks.alerts.strategy import USER, followup_spec, render_request_xml
from tasks.requests.ingest import store_request
from tasks.requests.validate import validate_request

_FINAL = tuple(state.value for state in FINAL_STATES)


def journal_packet(
    raw: bytes, source: str, received_at: datetime, *, engine: Engine | None, clock: Clock
) -> JournalEntry:
    """Make the raw packet durable: one journal entry in its own committed transaction."""
    entry = record(
        KIND_ALERT,
        source,
        {"received_at": received_at, "bytes": len(raw)},
        sim_time=received_at,
        raw=bytes(raw),
        into=engine,
        clock=clock,
    )
    if entry is None:  # only a write handed to a queue returns no entry; this one is direct
        raise RuntimeError("the journal returned no entry for the raw packet")
    return entry


def _past(row: Alert, active: bool = False) -> PastAlert:
    details = row.details or {}
    return PastAlert(
        id=row.id,
        ivorn=row.ivorn or "",
        mission=row.mission,
        burst_key=row.burst_key,
        trigger_key=details.get("trigger_key"),
        event_time=row.event_time,
        ra_deg=row.ra_deg,
        dec_deg=row.dec_deg,
        error_radius_deg=row.error_radius_deg,
        decision=DecisionKind(row.decision),
        action=FollowUpAction(row.action),
        request_id=row.request_id,
        request_active=active,
        retraction=bool(set(details.get("flags") or ()) & WITHDRAWALS),
    )


class DbHistory:
    """An :class:`~tasks.alerts.identity.AlertHistory` over the ``alerts`` table.

    Candidates for a burst: alerts sharing the trigger key, cited IVORNs, and accepted alerts
    received within ``alerts.lookback_s`` (matched in memory: there are few).
    """

    def __init__(self, session: Session, config: SiteConfig) -> None:
        self.session, self.config = session, config

    def seen(self, ivorn: str) -> PastAlert | None:
        row = self.session.scalar(select(Alert).where(Alert.ivorn == ivorn))
        return None if row is None else _past(row)

    def burst_of(self, notice: Notice, now: datetime) -> Burst | None:
        conditions = [Alert.received_at >= now - timedelta(seconds=self.config.alerts.lookback_s)]
        if notice.trigger_key:
            conditions.append(Alert.burst_key == notice.trigger_key)
        cited = [ivorn for ivorn, _ in notice.citations]
        if cited:
            conditions.append(Alert.ivorn.in_(cited))
        rows = self.session.scalars(
            select(Alert).where(Alert.ivorn.is_not(None), or_(*conditions)).order_by(Alert.id)
        ).all()
        burst = match_burst(notice, [_past(r) for r in rows], self.config.alerts.match_window_s)
        if burst is None:
            return None
        members = self.session.scalars(
            select(Alert).where(Alert.burst_key == burst.key).order_by(Alert.id)
        ).all()
        requests = {m.request_id for m in members if m.request_id is not None}
        active: set[int] = set()
        if requests:
            active = set(
                self.session.scalars(
                    select(Sequence.request_id)
                    .where(Sequence.request_id.in_(requests), Sequence.state.not_in(_FINAL))
                    .distinct()
                )
            )
        alerts = tuple(_past(m, m.request_id in active) for m in members)
        return Burst(key=burst.key, matched_by=burst.matched_by, alerts=alerts)


def cancel_request(session: Session, request_id: int, reason: str, at: datetime) -> int:
    """Cancel every sequence of a follow-up that is not final; returns how many."""
    sequences = session.scalars(
        select(Sequence).where(Sequence.request_id == request_id, Sequence.state.not_in(_FINAL))
    ).all()
    for sequence in sequences:
        transition(session, sequence, SequenceState.CANCELLED, reason, at)
    return len(sequences)


def create_followup(
    session: Session,
    notice: Notice,
    verdict: AlertVerdict,
    received_at: datetime,
    config: SiteConfig,
    clock: Clock,
) -> int:
    """Build, validate and store the follow-up request (the request path), marked ``is_alert``.

    Raises
    ------
    tasks.requests.parse.RequestError
        When the request path refuses it (e.g. the GRB program's quota is exhausted).
    ValueError
        When the verdict creates no request (no coverage or no window).
    """
    coverage, window = verdict.coverage, verdict.window
    if coverage is None or window is None or notice.ra_deg is None or notice.dec_deg is None:
        raise ValueError(f"the verdict on {notice.ivorn} creates no follow-up request")
    label = notice.name or notice.trigger_key or notice.ivorn.split("#", 1)[-1]
    spec = followup_spec(
        label=label,
        source=f"alert:{notice.ivorn}",
        ra_deg=notice.ra_deg,
        dec_deg=notice.dec_deg,
        coverage=coverage,
        window=window,
        now=received_at,
        config=config,
    )
    valid = validate_request(spec, config, received_at, max_priority=config.alerts.priority)
    result = store_request(
        session, valid, USER, render_request_xml(spec), clock=clock, is_alert=True
    )
    return result.request_id


def store_alert(
    session: Session,
    notice: Notice,
    verdict: AlertVerdict,
    *,
    received_at: datetime,
    arrival: Arrival,
    journal: JournalEntry | None,
    request_id: int | None,
    extra: dict[str, Any] | None = None,
) -> Alert:
    """Insert the Alert row of an accepted notice (flushes; the unique IVORN guards races)."""
    coverage = verdict.coverage if verdict.creates_request else None
    details = {
        **notice.summary(),
        "matched_by": verdict.matched_by,
        "cancelled_request_id": verdict.cancel_request_id,
        "continuing_request_id": verdict.request_id if request_id is None else None,
        "tiles": coverage.tiles if coverage is not None else 0,
        "tiles_needed": coverage.tiles_needed if coverage is not None else 0,
        "probability_covered": round(coverage.probability, 4) if coverage is not None else None,
        "window": list(verdict.window) if verdict.window else None,
        "attention": verdict.attention,
        **verdict.details,
        **(extra or {}),
    }
    row = Alert(
        ivorn=notice.ivorn,
        received_at=received_at,
        wall_received_at=arrival.wall_received_at or datetime.now(UTC),
        role=notice.role,
        mission=notice.mission,
        packet_type=None if notice.packet_type is None else str(notice.packet_type),
        burst_key=verdict.burst_key,
        event_time=notice.event_time,
        ra_deg=notice.ra_deg,
        dec_deg=notice.dec_deg,
        error_radius_deg=notice.error_radius_deg,
        decision=str(verdict.decision),
        reason=verdict.reason,
        action=str(verdict.action),
        strategy=coverage.strategy.name if coverage is not None else None,
        request_id=request_id,
        journal_id=journal.id if journal is not None else None,
        raw_sha256=journal.sha256 if journal is not None else "",
        details=to_json_payload(details),
        road=arrival.road,
        wall_decided_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def store_rejected(
    engine: Engine | None,
    reason: str,
    claimed_ivorn: str | None,
    *,
    received_at: datetime,
    journal: JournalEntry | None,
    raw_sha256: str,
    arrival: Arrival | None = None,
) -> int:
    """Insert the Alert row of a rejected packet (no IVORN: it never shadows a valid packet)."""
    with session_scope(engine) as session:
        row = Alert(
            ivorn=None,
            received_at=received_at,
            wall_received_at=(arrival and arrival.wall_received_at) or datetime.now(UTC),
            decision=str(DecisionKind.REJECTED),
            reason=reason,
            action=str(FollowUpAction.NONE),
            journal_id=journal.id if journal is not None else None,
            raw_sha256=raw_sha256,
            details={"claimed_ivorn": claimed_ivorn},
            road=arrival.road if arrival is not None else None,
            wall_decided_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return row.id
