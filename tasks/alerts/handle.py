"""One raw packet in, one :class:`~tasks.alerts.decision.AlertDecision` out, never an exception.

The order is the point (docs/alerts.md):

1. the raw bytes go into the journal (kind ``alert``) in their own committed transaction;
2. safe parsing and semantic checks (:mod:`tasks.alerts.parse`); a rejected packet is stored
   without an IVORN, so it can never shadow the genuine packet;
3. in one transaction: de-duplication and burst identity from the ``alerts`` table, the
   operating mode, the policy, then the Alert row, the follow-up request (through the request
   path) and the cancellation of a withdrawn or re-pointed follow-up;
4. after the commit, the events: ``pyros.alert.received`` for every packet,
   ``pyros.alert.follow-up`` for a follow-up (unless the caller announces it after its reflex:
   ``Arrival.defer_follow_up``; ``Arrival.on_follow_up`` hears of a follow-up before the
   commit), ``pyros.request.submitted`` for a follow-up scheduled for a later window,
   ``pyros.alert.attention`` when MANUAL mode held one back.

The transport (Comet) and the reflex (slewing) call this with the bytes they received.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import session_scope
from infra.db.models import JournalEntry
from infra.events import (
    ALERT_ATTENTION,
    ALERT_FOLLOW_UP,
    ALERT_RECEIVED,
    EVENT_ID_LABEL,
    REQUEST_SUBMITTED,
    emit,
)
from infra.opmode import OperatingMode, get_operating_mode
from tasks.alerts import policy
from tasks.alerts.alert_rows import (
    DbHistory,
    cancel_request,
    create_followup,
    journal_packet,
    store_alert,
    store_rejected,
)
from tasks.alerts.decision import (
    CHECKPOINT_DECIDING,
    CHECKPOINT_JOURNALED,
    AlertDecision,
    Arrival,
    DecisionKind,
    FollowUpAction,
)
from tasks.alerts.evaluate import to_decision
from tasks.alerts.parse import AlertRejected, Notice, parse_notice
from tasks.alerts.policy import AlertVerdict
from tasks.alerts.visibility import Sky
from tasks.requests.parse import RequestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Handling:
    """What every step of one packet's handling works with."""

    engine: Engine | None
    config: SiteConfig
    clock: Clock
    sky: Sky | None
    arrival: Arrival


@dataclass(frozen=True)
class _Reception:
    """One packet as received: when (clock and wall) and its journal entry, if it has one."""

    received_at: datetime
    wall: datetime
    journal: JournalEntry | None


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def handle_packet(
    raw: bytes,
    received_at: datetime | None = None,
    *,
    source: str = "listener",
    engine: Engine | None = None,
    config: SiteConfig | None = None,
    clock: Clock | None = None,
    sky: Sky | None = None,
    arrival: Arrival | None = None,
) -> AlertDecision:
    """Journal, parse, identify, decide and store one packet; never raises.

    Parameters
    ----------
    raw : bytes
        The packet exactly as received.
    received_at : datetime, optional
        Reception instant (default: the clock's now).
    source : str
        Where it came from (journal source: ``listener``, ``cli:<file>``...).
    engine : Engine, optional
        Database (default: the process database).
    config : SiteConfig, optional
        Site configuration (default: the process configuration).
    clock : Clock, optional
        The clock (default: the process clock).
    sky : Sky, optional
        Visibility oracle (default: computed with astropy for the site).
    arrival : Arrival, optional
        The road and the wall reception instant (stored in the Alert row), and a checkpoint
        the alert listener's crash tests use; default: road ``cli`` when ``source`` starts with
        ``cli:``, else ``listener``.

    Returns
    -------
    AlertDecision
        Always. ``stored`` is False and ``error`` says why when the database failed; nothing
        is then followed automatically (the decision is ``ignored``, or ``rejected`` for a bad
        packet).
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        return AlertDecision(
            None, DecisionKind.REJECTED, f"a packet must be bytes, not {type(raw).__name__}"
        )
    try:
        clock = clock or get_clock()
        config = config or get_config()
        received_at = received_at or clock.now()
        if received_at.tzinfo is None:  # naive instants are UTC, as everywhere in PyROS
            received_at = received_at.replace(tzinfo=UTC)
    except Exception as exc:
        return AlertDecision(
            None, DecisionKind.IGNORED, f"not handled: {_one_line(exc)}", error="setup"
        )
    if arrival is None:
        arrival = Arrival("cli" if source.startswith("cli:") else "listener")
    try:
        how = _Handling(engine, config, clock, sky, arrival)
        return _handle(bytes(raw), received_at, source, how)
    except Exception as exc:  # the last net: a stream of alerts never stops on one packet
        log.exception("alert packet not handled")
        return AlertDecision(
            None,
            DecisionKind.IGNORED,
            f"not handled: internal error {_one_line(exc)}",
            received_at=received_at,
            error=type(exc).__name__,
        )


def _handle(raw: bytes, received_at: datetime, source: str, how: _Handling) -> AlertDecision:
    wall = how.arrival.wall_received_at or datetime.now(UTC)
    journal, journal_error = None, None
    try:
        journal = journal_packet(raw, source, received_at, engine=how.engine, clock=how.clock)
    except Exception as exc:
        journal_error = f"raw packet not journaled: {_one_line(exc)}"
        log.error("alert from %s: %s", source, journal_error)
    how.arrival.reached(CHECKPOINT_JOURNALED)
    journal_id = journal.id if journal else None

    try:
        alerts = how.config.alerts
        notice = parse_notice(raw, alerts.max_packet_bytes, received_at, alerts.max_clock_skew_s)
    except AlertRejected as exc:
        decision = AlertDecision(
            None,
            DecisionKind.REJECTED,
            exc.reason,
            details={"claimed_ivorn": exc.ivorn},
            error=journal_error,
            journal_id=journal_id,
            received_at=received_at,
        )
        decision = _store_rejected(decision, exc, raw, _Reception(received_at, wall, journal), how)
        _announce(decision, how.engine, how.clock)
        return decision

    decision = _decide_and_store(notice, _Reception(received_at, wall, journal), how)
    decision = replace(decision, journal_id=journal_id, received_at=received_at)
    if journal_error and decision.error is None:
        decision = replace(decision, error=journal_error)
    _announce(decision, how.engine, how.clock, defer_follow_up=how.arrival.defer_follow_up)
    return decision


def _store_rejected(
    decision: AlertDecision,
    exc: AlertRejected,
    raw: bytes,
    reception: _Reception,
    how: _Handling,
) -> AlertDecision:
    journal = reception.journal
    try:
        alert_id = store_rejected(
            how.engine,
            exc.reason,
            exc.ivorn,
            received_at=reception.received_at,
            journal=journal,
            raw_sha256=journal.sha256 if journal else hashlib.sha256(raw).hexdigest(),
            arrival=replace(how.arrival, wall_received_at=reception.wall),
        )
        return replace(decision, alert_id=alert_id, stored=True)
    except Exception as error:
        return replace(decision, error=decision.error or f"not stored: {_one_line(error)}")


def _decide_and_store(notice: Notice, reception: _Reception, how: _Handling) -> AlertDecision:
    try:
        with session_scope(how.engine) as session:
            history = DbHistory(session, how.config)
            manual = get_operating_mode(session) is OperatingMode.MANUAL
            # Looked up on the module at each call, so a test can substitute the policy.
            verdict = policy.decide(
                notice, reception.received_at, history, how.config, manual=manual, sky=how.sky
            )
            if verdict.decision is DecisionKind.DUPLICATE:
                return to_decision(notice, verdict, stored=True)
            if verdict.decision is DecisionKind.FOLLOW_UP:
                _early_follow_up(how.arrival, to_decision(notice, verdict))
            decision = _apply(session, notice, verdict, reception, how)
            how.arrival.reached(CHECKPOINT_DECIDING)
            return decision
    except IntegrityError:
        # Another process stored the same IVORN between our check and our insert.
        with session_scope(how.engine) as session:
            past = DbHistory(session, how.config).seen(notice.ivorn)
        if past is not None:
            reason = f"IVORN already handled as alert {past.id} ({past.decision})"
            return AlertDecision(
                notice.ivorn, DecisionKind.DUPLICATE, reason, alert_id=None, stored=True
            )
        raise
    except Exception as exc:
        log.error("alert %s not decided: %s", notice.ivorn, _one_line(exc))
        return AlertDecision(
            notice.ivorn,
            DecisionKind.IGNORED,
            f"not decided: database error ({_one_line(exc)}); nothing is followed automatically",
            mission=notice.mission,
            error=_one_line(exc),
        )


def _early_follow_up(arrival: Arrival, decision: AlertDecision) -> None:
    """Tell the caller of a follow-up before it is stored (the reflex's early slew)."""
    if arrival.on_follow_up is None:
        return
    try:
        arrival.on_follow_up(decision)
    except Exception as exc:
        log.warning("early follow-up of %s: %s", decision.ivorn, _one_line(exc))


def _apply(
    session: Session,
    notice: Notice,
    verdict: AlertVerdict,
    reception: _Reception,
    how: _Handling,
) -> AlertDecision:
    """Store a verdict: cancel what it withdraws, create its follow-up, insert the Alert row."""
    received_at = reception.received_at
    extra: dict[str, Any] = {}
    if verdict.cancel_request_id is not None:
        why = "re-pointed" if verdict.action is FollowUpAction.REPOINT else "withdrawn"
        extra["cancelled_sequences"] = cancel_request(
            session,
            verdict.cancel_request_id,
            f"alert {notice.ivorn}: {why}",
            received_at,
        )
    request_id = None
    if verdict.creates_request:
        savepoint = session.begin_nested()
        try:
            request_id = create_followup(
                session, notice, verdict, received_at, how.config, how.clock
            )
            savepoint.commit()
        except RequestError as exc:
            savepoint.rollback()
            verdict = replace(
                verdict,
                decision=DecisionKind.IGNORED,
                reason=f"would be {verdict.decision} but the request was refused: {exc}",
                window=None,
                attention=True,
            )
    row = store_alert(
        session,
        notice,
        verdict,
        received_at=received_at,
        arrival=replace(how.arrival, wall_received_at=reception.wall),
        journal=reception.journal,
        request_id=request_id,
        extra=extra,
    )
    decision = to_decision(notice, verdict, alert_id=row.id, stored=True)
    if request_id is not None:
        decision = replace(decision, request_id=request_id)
    if verdict.attention:
        decision = replace(decision, details={**decision.details, "attention": True})
    return decision


def _resource(decision: AlertDecision) -> str:
    if decision.ivorn:
        return f"pyros.alert.{decision.ivorn}"
    return f"pyros.alert.unidentified.{decision.journal_id or 'unjournaled'}"


def follow_up_labels(decision: AlertDecision) -> dict[str, str]:
    """Resource labels of ``pyros.alert.follow-up``: the burst, the action, and for a new
    follow-up (action ``none``) a Prefect event id derived from the burst's identity.

    Prefect's triggers service ignores an event id it has already seen, so the
    ``alert-follow-up`` deployment trigger (``prefect.yaml``) starts one run per burst even if
    the announcement is sent again (Prefect's ``RunDeployment`` idempotency key is per
    invocation and cannot be templated from the event).
    """
    burst = decision.burst_key or decision.ivorn or "unknown"
    labels = {"pyros.burst.key": burst, "pyros.alert.action": str(decision.action)}
    if decision.action is FollowUpAction.NONE:
        labels[EVENT_ID_LABEL] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"pyros-follow-up:{burst}"))
    return labels


def announce_follow_up(
    decision: AlertDecision,
    engine: Engine | None,
    clock: Clock,
    reflex: dict[str, Any] | None = None,
) -> None:
    """Emit ``pyros.alert.follow-up`` (the alert listener calls it after its reflex, with what
    the reflex did); failures are logged, never raised."""
    payload = {**decision.as_dict(), "reflex": reflex}
    try:
        emit(
            ALERT_FOLLOW_UP,
            _resource(decision),
            payload,
            source="alerts",
            labels=follow_up_labels(decision),
            into=engine,
            clock=clock,
        )
    except Exception as exc:
        log.warning("follow-up of %s not announced: %s", decision.ivorn, _one_line(exc))


def _announce(
    decision: AlertDecision, engine: Engine | None, clock: Clock, defer_follow_up: bool = False
) -> None:
    """Emit the events of a decision (after its commit; failures are logged, never raised)."""
    payload = decision.as_dict()
    resource = _resource(decision)
    events = [(ALERT_RECEIVED, resource)]
    if decision.decision is DecisionKind.FOLLOW_UP and not defer_follow_up:
        announce_follow_up(decision, engine, clock)
    elif decision.decision is DecisionKind.NOT_OBSERVABLE and decision.request_id is not None:
        events.append((REQUEST_SUBMITTED, f"pyros.request.{decision.request_id}"))
    if decision.details.get("attention"):
        events.append((ALERT_ATTENTION, resource))
    for event, resource_id in events:
        try:
            emit(event, resource_id, payload, source="alerts", into=engine, clock=clock)
        except Exception as exc:
            log.warning("event %s for %s not emitted: %s", event, resource_id, _one_line(exc))
