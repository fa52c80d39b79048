"""The follow-up policy: one decision, with its reason and action, per notice (pure).

Checks run in the order of docs/alerts.md: duplicate IVORN; role (test packets unless
``alerts.test_mode``, utility, prediction); retraction, lost lock or not-a-GRB (cancels the
burst's follow-up); event kind; position and error radius; strategy coverage; validity; an
existing follow-up of the burst (re-point or leave it); the sky now, else the next window; last,
MANUAL mode turns anything that would act into ``ignored`` and asks for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.config import SiteConfig
from tasks.alerts.decision import Action, DecisionKind
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

D, A = DecisionKind, Action


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one notice, and what storing it must do."""

    decision: DecisionKind
    reason: str
    action: Action = Action.NONE
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


def _label(notice: Notice) -> str:
    return notice.name or notice.trigger_key or notice.ivorn.split("#", 1)[-1]


def _withdrawal(notice: Notice) -> str | None:
    if FLAG_RETRACTION in notice.flags:
        return "retraction"
    if FLAG_LOST_LOCK in notice.flags:
        return f"{notice.mission} star tracker lost lock: the position is unreliable"
    if FLAG_NOT_A_GRB in notice.flags:
        return f"{notice.mission} says this is not a GRB"
    return None


def _at(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M}Z"


def decide(
    notice: Notice,
    now: datetime,
    history: AlertHistory,
    config: SiteConfig,
    *,
    manual: bool = False,
    sky: Sky | None = None,
) -> Verdict:
    """Decide what to do with ``notice`` received at ``now``.

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
        return Verdict(
            D.DUPLICATE,
            f"IVORN already handled as alert {past.id} ({past.decision})",
            burst_key=past.burst_key,
            request_id=past.request_id,
            duplicate_of=past,
        )
    burst = history.burst_of(notice, now)
    key = burst.key if burst else (notice.trigger_key or notice.ivorn)
    common = {"burst_key": key, "matched_by": burst.matched_by if burst else None}
    alerts = config.alerts

    if FLAG_TEST in notice.flags and not alerts.test_mode:
        what = "test packet (role=test)" if notice.role == "test" else "test submission"
        return Verdict(D.IGNORED, f"{what}; alerts.test_mode is off", **common)
    if notice.role in ("utility", "prediction"):
        return Verdict(
            D.IGNORED, f"{notice.role} packet: PyROS follows observations only", **common
        )

    withdrawal = _withdrawal(notice)
    if withdrawal is not None:
        return _withdraw(withdrawal, burst, common)

    if notice.kind not in alerts.followed_kinds:
        label = KIND_LABELS.get(notice.kind, notice.kind)
        return Verdict(
            D.IGNORED,
            f"{label} alert from {notice.mission}: PyROS does not follow {label} events "
            f"(alerts.followed_kinds = {', '.join(alerts.followed_kinds)})",
            **common,
        )
    if not notice.has_position:
        return Verdict(D.IGNORED, "no position in the notice", **common)
    if not notice.error_known:
        return Verdict(D.IGNORED, "unknown error radius (-1): the box cannot be covered", **common)

    coverage = choose_strategy(notice.mission, notice.error_radius_deg, config)
    if isinstance(coverage, str):
        return Verdict(D.IGNORED, coverage, **common)

    origin = notice.event_time or notice.issued_at or now
    deadline = origin + timedelta(seconds=alerts.validity_s)
    if deadline <= now:
        age_h = (now - origin).total_seconds() / 3600.0
        return Verdict(
            D.IGNORED,
            f"expired: the burst is {age_h:.1f} h old (alerts.validity_s = "
            f"{alerts.validity_s / 3600.0:g} h)",
            **common,
        )

    action, cancel, prefix = A.NONE, None, ""
    followed = burst.followed if burst else None
    if followed is not None:
        moved = _moved_arcmin(notice, followed)
        better = followed.error_radius_deg is None or (
            notice.error_radius_deg <= followed.error_radius_deg
        )
        if burst.retracted and not followed.request_active:
            return Verdict(D.IGNORED, f"burst {key} was withdrawn; not followed again", **common)
        if not better or moved <= alerts.repoint_threshold_arcmin:
            why = (
                f"less precise ({notice.error_radius_deg:g} deg) than the followed position "
                f"({followed.error_radius_deg:g} deg)"
                if not better
                else f"moved {moved:.2f} arcmin (threshold {alerts.repoint_threshold_arcmin:g})"
            )
            state = "continues" if followed.request_active else "already done"
            return Verdict(
                D.IGNORED,
                f"update of burst {key}: {why}; follow-up request {followed.request_id} {state}",
                request_id=followed.request_id,
                **common,
            )
        if followed.request_active:
            action, cancel = A.REPOINT, followed.request_id
            prefix = (
                f"better position for burst {key} moved {moved:.2f} arcmin: re-pointed "
                f"(request {followed.request_id} cancelled); "
            )

    sky = sky or Sky(config)
    visibility = sky.now(notice.ra_deg, notice.dec_deg, now)
    details = {
        "altitude_deg": round(visibility.altitude_deg, 2),
        "sun_altitude_deg": round(visibility.sun_altitude_deg, 2),
        "moon_separation_deg": round(visibility.moon_separation_deg, 2),
        "deadline": deadline,
    }
    tiles = "" if coverage.tiles == 1 else f", {coverage.tiles} tiles"
    plan = f"strategy {coverage.strategy.name}{tiles}"
    if visibility.observable:
        verdict = Verdict(
            D.FOLLOW_UP,
            f"{prefix}observable now (altitude {visibility.altitude_deg:.1f} deg): {plan}",
            action,
            coverage=coverage,
            window=(now, deadline),
            cancel_request_id=cancel,
            details=details,
            **common,
        )
    else:
        window = sky.next_window(notice.ra_deg, notice.dec_deg, now, deadline)
        if window is None:
            reason = f"{visibility.reason}; no observable window before {_at(deadline)}"
            verdict = Verdict(
                D.NOT_OBSERVABLE,
                f"{prefix}{reason}",
                action,
                cancel_request_id=cancel,
                details=details,
                **common,
            )
        else:
            reason = f"{visibility.reason}; scheduled for {_at(window[0])}-{_at(window[1])}: {plan}"
            verdict = Verdict(
                D.NOT_OBSERVABLE,
                f"{prefix}{reason}",
                action,
                coverage=coverage,
                window=window,
                cancel_request_id=cancel,
                details=details,
                **common,
            )
    if manual and (verdict.creates_request or verdict.cancel_request_id is not None):
        return Verdict(
            D.IGNORED,
            f"MANUAL mode: would be {verdict.decision} ({verdict.reason}); "
            "nothing automatic is done, the operator decides",
            attention=True,
            request_id=followed.request_id if followed else None,
            details={**details, "would_be": str(verdict.decision)},
            **common,
        )
    return verdict


def _moved_arcmin(notice: Notice, followed: PastAlert) -> float:
    if followed.ra_deg is None or followed.dec_deg is None:
        return float("inf")
    return 60.0 * separation_deg(notice.ra_deg, notice.dec_deg, followed.ra_deg, followed.dec_deg)


def _withdraw(what: str, burst: Burst | None, common: dict) -> Verdict:
    followed = burst.followed if burst else None
    if followed is not None and followed.request_active:
        return Verdict(
            D.IGNORED,
            f"{what}: follow-up request {followed.request_id} of burst {burst.key} cancelled",
            A.CANCEL,
            cancel_request_id=followed.request_id,
            **common,
        )
    tail = "nothing of this burst is being followed"
    if followed is not None:
        tail = f"follow-up request {followed.request_id} has nothing left to cancel"
    return Verdict(D.IGNORED, f"{what}; {tail}", **common)
