"""Which earlier alerts a notice repeats or updates (pure; the history comes in as data).

- **Duplicate**: the IVORN was already handled (Comet only de-duplicates identical bytes).
- **Same burst**: a shared trigger id (Swift ``TrigID``, Fermi/GECAM trigger number, SVOM
  ``Burst_Id``...), a citation of an earlier IVORN, or, failing both, event times within
  ``alerts.match_window_s`` and error circles that overlap (distance <= sum of the radii). Two
  different trigger ids of one mission are never the same burst.

Every alert of a burst stores the burst's *canonical* key (the first alert's), and its own
trigger key in its details, so a later notice finds the burst by either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from tasks.alerts.decision import DecisionKind, FollowUpAction
from tasks.alerts.parse import Notice


@dataclass(frozen=True)
class PastAlert:
    """An alert already handled (accepted: rejected packets have no identity)."""

    id: int
    ivorn: str
    mission: str | None
    burst_key: str | None
    trigger_key: str | None
    event_time: datetime | None
    ra_deg: float | None
    dec_deg: float | None
    error_radius_deg: float | None
    decision: DecisionKind
    action: FollowUpAction = FollowUpAction.NONE
    request_id: int | None = None
    #: Whether the follow-up request still has sequences to observe.
    request_active: bool = False
    retraction: bool = False


@dataclass(frozen=True)
class Burst:
    """The earlier alerts of the burst a notice is about."""

    key: str
    matched_by: str
    alerts: tuple[PastAlert, ...]

    @property
    def followed(self) -> PastAlert | None:
        """The latest alert of the burst that created a follow-up request."""
        with_request = [a for a in self.alerts if a.request_id is not None]
        return max(with_request, key=lambda a: a.id) if with_request else None

    @property
    def retracted(self) -> bool:
        """Whether a retraction (or lost-lock/not-a-GRB notice) was received for the burst."""
        return any(a.retraction for a in self.alerts)


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance in degrees (astropy's Vincenty formula, no frame machinery)."""
    # Import time: astropy.coordinates is heavy; most packets never compare positions.
    from astropy.coordinates import angular_separation

    return math.degrees(
        float(
            angular_separation(
                math.radians(ra1), math.radians(dec1), math.radians(ra2), math.radians(dec2)
            )
        )
    )


def _mission_of_key(key: str | None) -> str | None:
    return key.split(":", 1)[0] if key else None


def _close(notice: Notice, past: PastAlert, window_s: float) -> float | None:
    """Seconds between the events when they can be the same burst by time and position."""
    if notice.event_time is None or past.event_time is None:
        return None
    radius = notice.error_radius_deg
    if radius is None or radius < 0.0 or past.error_radius_deg is None or past.error_radius_deg < 0:
        return None
    if (
        past.ra_deg is None
        or past.dec_deg is None
        or notice.ra_deg is None
        or notice.dec_deg is None
    ):
        return None
    delta = abs((notice.event_time - past.event_time).total_seconds())
    if delta > window_s:
        return None
    distance = separation_deg(notice.ra_deg, notice.dec_deg, past.ra_deg, past.dec_deg)
    if distance > radius + past.error_radius_deg:
        return None
    return delta


def _conflicts(notice: Notice, burst: list[PastAlert]) -> bool:
    """Whether the burst already has another trigger of the notice's mission."""
    mine = notice.trigger_key
    if not mine:
        return False
    return any(
        a.trigger_key
        and a.trigger_key != mine
        and _mission_of_key(a.trigger_key) == _mission_of_key(mine)
        for a in burst
    )


def match_burst(
    notice: Notice, candidates: Iterable[PastAlert], match_window_s: float
) -> Burst | None:
    """The burst ``notice`` belongs to among ``candidates``, or None for a new burst.

    A shared trigger key wins over a citation, which wins over closeness in time and position.
    """
    keyed = [(a.burst_key, a) for a in candidates if a.burst_key]
    found = (
        _by_trigger(notice, keyed)
        or _by_citation(notice, keyed)
        or _by_closeness(notice, keyed, match_window_s)
    )
    if found is None:
        return None
    key, how = found
    members = tuple(sorted((a for k, a in keyed if k == key), key=lambda a: a.id))
    return Burst(key=key, matched_by=how, alerts=members)


def _by_trigger(notice: Notice, keyed: list[tuple[str, PastAlert]]) -> tuple[str, str] | None:
    """The first burst sharing the notice's trigger key: (burst key, how it matched)."""
    trigger = notice.trigger_key
    if not trigger:
        return None
    for key, past in keyed:
        if trigger in (past.trigger_key, key):
            return key, f"trigger {trigger}"
    return None


def _by_citation(notice: Notice, keyed: list[tuple[str, PastAlert]]) -> tuple[str, str] | None:
    """The first burst with an alert the notice cites."""
    cited = {ivorn for ivorn, _ in notice.citations}
    for key, past in keyed:
        if past.ivorn in cited:
            return key, f"citation of {past.ivorn}"
    return None


def _by_closeness(
    notice: Notice, keyed: list[tuple[str, PastAlert]], match_window_s: float
) -> tuple[str, str] | None:
    """The burst whose event is nearest in time with overlapping error circles."""
    bursts: dict[str, list[PastAlert]] = {}
    for key, past in keyed:
        bursts.setdefault(key, []).append(past)
    near: list[tuple[float, PastAlert, str]] = []
    for key, members in bursts.items():
        if _conflicts(notice, members):
            continue  # two triggers of one mission are two bursts
        for past in members:
            delta = _close(notice, past, match_window_s)
            if delta is not None:
                near.append((delta, past, key))
    if not near:
        return None
    delta, _, key = min(near, key=lambda item: (item[0], -item[1].id))
    return key, f"event {delta:.0f} s apart with overlapping error circles"


class AlertHistory(Protocol):
    """What the policy needs to know about earlier alerts."""

    def seen(self, ivorn: str) -> PastAlert | None:
        """The accepted alert with this IVORN, if any."""

    def burst_of(self, notice: Notice, now: datetime) -> Burst | None:
        """The burst ``notice`` is about, if seen before."""


@dataclass
class InMemoryHistory:
    """An :class:`AlertHistory` kept in memory (the pure path: fuzzing, benchmarks, replays).

    ``remember`` plays the part of the database: requests get negative ids.
    """

    match_window_s: float = 120.0
    alerts: list[PastAlert] = field(default_factory=list)
    _by_ivorn: dict[str, PastAlert] = field(default_factory=dict)

    def seen(self, ivorn: str) -> PastAlert | None:
        return self._by_ivorn.get(ivorn)

    def burst_of(self, notice: Notice, now: datetime) -> Burst | None:
        return match_burst(notice, self.alerts, self.match_window_s)

    def remember(self, past: PastAlert, cancel_request_id: int | None = None) -> PastAlert:
        """Add an accepted alert (with the next id) and mark a cancelled request inactive."""
        past = replace(past, id=len(self.alerts) + 1)
        if past.request_id == -1:  # a request created now: give it an id of its own
            past = replace(past, request_id=-past.id, request_active=True)
        if cancel_request_id is not None:
            self.alerts = [
                replace(a, request_active=False) if a.request_id == cancel_request_id else a
                for a in self.alerts
            ]
            self._by_ivorn = {a.ivorn: a for a in self.alerts}
        self.alerts.append(past)
        self._by_ivorn[past.ivorn] = past
        return past
