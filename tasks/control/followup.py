"""Cancelling a GRB follow-up by hand: the burst's followed request, found from its burst key or
one of its notices' IVORN, is cancelled as any request is (:mod:`tasks.requests.lifecycle`): its
sequences not yet executed become cancelled; the one executing stops before its next frame
(the follow-up's executor checks for a cancellation before each frame), its images kept."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from infra.db.models import Alert
from tasks.alerts.decision import DecisionKind


def followed_request(session: Session, burst: str) -> tuple[str, int]:
    """The burst key and the request followed now for ``burst`` (a burst key such as
    ``swift:1234567`` or the IVORN of one of its notices).

    Raises
    ------
    LookupError
        No alert of that burst, or none of its notices was followed.
    """
    wanted = burst.strip()
    alert = session.scalars(
        select(Alert).where(or_(Alert.burst_key == wanted, Alert.ivorn == wanted)).limit(1)
    ).first()
    if alert is None or alert.burst_key is None:
        raise LookupError(f"no alert with burst key or IVORN {wanted!r}")
    followed = session.scalars(
        select(Alert)
        .where(
            Alert.burst_key == alert.burst_key,
            Alert.decision == DecisionKind.FOLLOW_UP.value,
            Alert.request_id.is_not(None),
        )
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()
    if followed is None or followed.request_id is None:
        raise LookupError(f"burst {alert.burst_key}: no notice of it was followed up")
    return alert.burst_key, followed.request_id
