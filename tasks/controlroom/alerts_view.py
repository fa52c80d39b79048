"""The alerts of the night as the control room shows them: each alert with its decision, reason,
action, the road it came by, its intake latency, and what became of its follow-up (issue 21).

The read is one query over the night's alerts and one over their follow-ups' sequences; the rows
and the one-line description are pure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.models import Alert, Sequence

ALERTS_KEY = "pyros-alerts"
#: The newest alerts shown (a storm of notices must not grow the table without bound).
MAX_ALERTS = 50


@dataclass(frozen=True)
class AlertLine:
    """One alert of the night as stored, with its follow-up's sequence states."""

    received_at: datetime
    mission: str | None
    packet_type: str | None
    burst_key: str | None
    decision: str
    action: str
    reason: str
    road: str | None
    latency_ms: float | None
    follow_up: str


def alerts_since(session: Session, since: datetime, limit: int = MAX_ALERTS) -> list[AlertLine]:
    """The alerts received at or after ``since`` (simulated time), newest first, at most
    ``limit``; each with its intake latency (wall reception to stored decision) and its
    follow-up's sequence states (``""``: no follow-up)."""
    alerts = session.scalars(
        select(Alert)
        .where(Alert.received_at >= since)
        .order_by(Alert.received_at.desc(), Alert.id.desc())
        .limit(limit)
    ).all()
    requests = {a.request_id for a in alerts if a.request_id is not None}
    states: dict[int, list[str]] = {}
    if requests:
        rows = session.execute(
            select(Sequence.request_id, Sequence.state)
            .where(Sequence.request_id.in_(requests))
            .order_by(Sequence.id)
        )
        for request_id, state in rows:
            states.setdefault(request_id, []).append(state)
    return [
        AlertLine(
            received_at=a.received_at,
            mission=a.mission,
            packet_type=a.packet_type,
            burst_key=a.burst_key,
            decision=a.decision,
            action=a.action,
            reason=a.reason,
            road=a.road,
            latency_ms=_latency_ms(a.wall_received_at, a.wall_decided_at),
            follow_up=", ".join(states.get(a.request_id, [])) if a.request_id else "",
        )
        for a in alerts
    ]


def _latency_ms(received: datetime, decided: datetime | None) -> float | None:
    if decided is None:
        return None
    return (decided - received).total_seconds() * 1000.0


def alert_rows(lines: list[AlertLine]) -> list[dict[str, str]]:
    """The table's rows: one per alert, newest first."""
    return [
        {
            "received (UTC)": line.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "mission": line.mission or "",
            "packet": line.packet_type or "",
            "burst": line.burst_key or "",
            "decision": line.decision,
            "action": line.action,
            "reason": line.reason,
            "road": line.road or "",
            "latency (ms)": "" if line.latency_ms is None else f"{line.latency_ms:.0f}",
            "follow-up": line.follow_up,
        }
        for line in lines
    ]


def alerts_description(rows: list[dict[str, str]]) -> str:
    """The night's alerts in one line: how many, by decision, and the newest."""
    if not rows:
        return "**Alerts of the night**: none received."
    counts = Counter(row["decision"] for row in rows)
    by_decision = ", ".join(f"{n} {decision}" for decision, n in sorted(counts.items()))
    newest = rows[0]
    return (
        f"**Alerts of the night**: {len(rows)} ({by_decision}); newest at "
        f"{newest['received (UTC)']} UTC: {newest['mission'] or 'unknown mission'} "
        f"{newest['packet']}, {newest['decision']} ({newest['reason']})."
    )
