"""The night policy (DESIGN §1, §3, §9): given the state, what to do next.

Pure and deterministic: the night flows ask it between steps, and replay / in-process simulation
ask it on the discrete-event clock with the same answers. It never moves anything itself; the
flows carry its decisions out (the dome is only *requested*: the monitor decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from infra.opmode import OperatingMode
from tasks.night.device_health import (
    DeviceHealth,
    DeviceRole,
    lost_instruments,
    night_blocker,
    waits_for,
)
from tasks.night.vocabulary import CalibrationSet, NightAction


@dataclass(frozen=True)
class NightWindows:
    """The instants that structure a night (aware UTC; None when they do not happen)."""

    sunset: datetime | None
    start: datetime | None  # the dark night (sun below the night altitude)
    end: datetime | None
    sunrise: datetime | None
    dusk_flats: tuple[datetime, datetime] | None = None
    dawn_flats: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class PlannedEntry:
    """A planned sequence of the current schedule."""

    sequence_id: int
    start: datetime
    end: datetime
    #: The instruments it still needs (albums with images left; #24).
    instruments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NightState:
    """Everything the policy looks at."""

    now: datetime
    windows: NightWindows
    mode: OperatingMode
    weather_safe: bool
    dome_open: bool
    dome_requested_open: bool
    schedule: tuple[PlannedEntry, ...] = ()
    executing: int | None = None
    devices_ok: bool = True
    devices_problem: str = ""
    replan_needed: bool = False
    replan_reason: str = ""
    calibrations_done: frozenset[str] = field(default_factory=frozenset)
    #: Calibration sets the night still wants in the evening (bias, darks...: any time before
    #: the night, dome closed) and during the dusk flat window.
    evening_calibrations: tuple[str, ...] = (CalibrationSet.EVENING,)
    dusk_flat_calibrations: tuple[str, ...] = (CalibrationSet.DUSK_FLATS,)
    #: How early a sequence may start before its planned instant.
    early_start_s: float = 60.0
    #: The monitor's last word is this old (s), past what the night trusts: the weather counts
    #: as unsafe, whatever the last verdict said (None: fresh).
    weather_stale_s: float | None = None
    #: Each device's health (#24; empty: not known, as in replays).
    health: tuple[DeviceHealth, ...] = ()
    #: The instruments each sequence left out for a lost device still needs.
    waiting_on: frozenset[frozenset[str]] = frozenset()
    #: The sequences to insert into the current schedule one by one (the alert's first, then
    #: the interrupted ones, then the new ones) when the schedule is out of date only because
    #: of them (#18); empty: a re-plan, if one is needed, plans the whole rest of the night.
    to_insert: tuple[int, ...] = ()
    #: The sequences of an alert follow-up (the ``alert-follow-up`` flow runs them under the
    #: alert's lease): the schedule keeps their time, the night never executes them (#18).
    follow_up: frozenset[int] = frozenset()
    #: Why the telescope is the follow-up's now ('' when it is not): one of its sequences
    #: executing, or the mount's lease held at alert priority (the reflex, the flow).
    alert_holds: str = ""


@dataclass(frozen=True)
class NightDecision:
    """The policy's answer."""

    action: NightAction
    reason: str
    until: datetime | None = None
    sequence_id: int | None = None
    calibration: str | None = None
    #: A wait for the weather (unsafe, or a verdict too old to trust): a block of the night may
    #: end here rather than hold the telescope until it clears (``pyros.weather.safe`` starts
    #: the next one, docs/events.md).
    weather: bool = False
    #: The device the night waits for (a lost mount, dome, or every camera lost; #24).
    device: str | None = None
    #: A re-plan by incremental insertion: these sequences, one by one, into the current
    #: schedule (#18); empty: the whole rest of the night is planned again.
    insert: tuple[int, ...] = ()


def _wait(reason: str, until: datetime | None) -> NightDecision:
    return NightDecision(NightAction.WAIT, reason, until=until)


def decide(state: NightState) -> NightDecision:
    """What to do next.

    The order is the order of precedence: the end of the night, then the operator's mode, then
    the evening calibrations, lost devices (a lost mount closes the dome and holds the night; a
    lost camera re-plans the sequences that need it, a camera back re-plans those that waited
    for it), re-planning, device trouble, weather (a stale verdict first: the
    monitor may be dead, so its last "safe" is not trusted), the dome, an alert follow-up
    holding the telescope (wait: the ``alert-follow-up`` flow runs its sequences; when it
    ends, the lease goes back and the night goes on), and finally the schedule (an alert
    follow-up's own sequences are never executed by the night: their time is kept, the flow
    runs them).

    A re-plan is either *incremental* or *full*. When the schedule is out of date only
    because of a few sequences to add — an alert's, an interrupted one to resume with what is
    left, a new request's — the decision carries their ids (``insert``, from
    ``NightState.to_insert``: the alert's first) and each is inserted into the current schedule
    without moving the rest of the night. Every other reason — no schedule yet, a cancelled
    sequence, a missed slot, the weather safe again, a lost or recovered device, or too many
    sequences at once — plans the whole rest of the night (``insert`` empty).
    """
    now, w = state.now, state.windows
    if w.start is None or w.end is None:
        return _wait("no dark time tonight at this site", None)
    if now >= w.end:
        return NightDecision(NightAction.END, "the night is over (dawn)")
    if state.mode == OperatingMode.MANUAL:
        return _wait("MANUAL mode: nothing automatic moves the telescope", None)
    if now < w.start:
        for name in state.evening_calibrations:
            if name not in state.calibrations_done:
                return NightDecision(
                    NightAction.CALIBRATE, f"{name} before the night", calibration=name
                )
        if w.dusk_flats is not None and w.dusk_flats[0] <= now < w.dusk_flats[1]:
            for name in state.dusk_flat_calibrations:
                if name not in state.calibrations_done:
                    if not state.dome_requested_open:
                        return NightDecision(NightAction.REQUEST_OPEN, "open for the dusk flats")
                    if state.dome_open and state.weather_safe:
                        return NightDecision(
                            NightAction.CALIBRATE, f"{name} in their window", calibration=name
                        )
        if not state.dome_requested_open:
            return NightDecision(NightAction.REQUEST_OPEN, "open before the night starts")
        until = w.start
        if w.dusk_flats is not None and now < w.dusk_flats[0]:
            until = w.dusk_flats[0]
        return _wait("waiting for the night to start", until)
    reaction = _device_reaction(state)
    if reaction is not None:
        return reaction
    return _in_the_night(state)


def _in_the_night(state: NightState) -> NightDecision:
    """The dark night, once the devices have had their say: re-plan, wait, or execute."""
    now, w = state.now, state.windows
    assert w.end is not None, "decide() only asks during a night that ends"
    if state.replan_needed:
        return NightDecision(
            NightAction.REPLAN,
            state.replan_reason or "the schedule is out of date",
            insert=state.to_insert,
        )
    if not state.devices_ok:
        return _wait(f"devices: {state.devices_problem or 'not ready'}", None)
    if not state.dome_requested_open:
        return NightDecision(NightAction.REQUEST_OPEN, "the night has started")
    if state.weather_stale_s is not None:
        return NightDecision(
            NightAction.WAIT,
            f"weather verdict stale: the monitor's last word is {state.weather_stale_s:.0f} s "
            "old; treated as unsafe",
            weather=True,
        )
    if not state.weather_safe:
        return NightDecision(
            NightAction.WAIT, "weather unsafe: the monitor keeps the dome closed", weather=True
        )
    if not state.dome_open:
        return _wait("the dome is not open yet (the monitor opens it when safe)", None)
    if state.alert_holds:
        return _wait(f"the alert follow-up has the telescope: {state.alert_holds}", None)
    upcoming = sorted(
        (e for e in state.schedule if e.end > now and e.sequence_id not in state.follow_up),
        key=lambda e: e.start,
    )
    if not upcoming:
        return _wait("nothing left in the schedule", w.end)
    first = upcoming[0]
    if first.start - timedelta(seconds=state.early_start_s) <= now:
        return NightDecision(
            NightAction.EXECUTE,
            f"sequence {first.sequence_id} is due",
            sequence_id=first.sequence_id,
        )
    return _wait(f"sequence {first.sequence_id} starts at {first.start:%H:%M:%S}", first.start)


def _device_reaction(state: NightState) -> NightDecision | None:
    """What a lost (or recovered) device changes, or None (#24)."""
    blocker = night_blocker(state.health)
    if blocker is not None:
        if blocker.role is DeviceRole.MOUNT and state.dome_requested_open:
            return NightDecision(
                NightAction.REQUEST_CLOSE,
                f"{blocker.describe()}: the dome closes until the mount is back",
                device=blocker.name,
            )
        return NightDecision(
            NightAction.WAIT, f"the night waits for {blocker.describe()}", device=blocker.name
        )
    lost = lost_instruments(state.health)
    upcoming = (e for e in state.schedule if e.end > state.now)
    stranded = sorted(e.sequence_id for e in upcoming if waits_for(e.instruments, lost))
    if stranded:
        names = ", ".join(sorted(lost))
        ids = ", ".join(str(i) for i in stranded)
        return NightDecision(
            NightAction.REPLAN, f"{names} lost: re-plan without it (sequence(s) {ids} need it)"
        )
    ready = [needs for needs in state.waiting_on if not waits_for(needs, lost)]
    if ready:
        needs = ", ".join(sorted(set().union(*ready)))
        return NightDecision(
            NightAction.REPLAN,
            f"device back: {len(ready)} sequence(s) that waited for a lost device ({needs}) "
            "planned again",
        )
    return None
