"""The monitor's dome watch (#24): a close that does not finish in time is an emergency — the mount
parks and ``pyros.dome.stuck`` calls the operator; pure looks first, then the real simulators
behind real gateways (a dome in hardware fault, closing wanted for rain or by request)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from devices.controllers import ShutterState
from infra.db import session_scope
from infra.db.models import JournalEntry
from tasks.environment.observatory_state import request_dome
from tests.support.waiting import wait_until
from tests.watchers.environment.test_monitor import STEP_S, open_dome, shutter
from watchers.environment.dome_watch import (
    CLOSE_TIME_FACTOR,
    MIN_WALL_S,
    DomeCloseWatch,
    stuck_after_s,
)

T0 = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_allowance_is_twice_the_closing_time_never_under_the_wall_floor():
    assert stuck_after_s(30.0, 1.0) == CLOSE_TIME_FACTOR * 30.0
    assert stuck_after_s(30.0, 100.0) == MIN_WALL_S * 100.0  # 0.6 s wall would be a blip
    assert stuck_after_s(30.0, float("inf")) == 60.0  # the discrete-event clock: no wall


def test_a_close_within_the_allowance_is_not_stuck():
    watch = DomeCloseWatch(60.0)
    assert watch.look(True, ShutterState.OPEN, at(0)).stuck is None
    assert watch.look(True, ShutterState.CLOSING, at(59)).stuck is None
    look = watch.look(True, ShutterState.CLOSED, at(61))
    assert look.stuck is None and not look.freed and not look.became_stuck


def test_stuck_is_told_once_then_freed_once_when_closed():
    watch = DomeCloseWatch(60.0)
    watch.look(True, ShutterState.OPEN, at(0))
    first = watch.look(True, ShutterState.FAULT, at(61))
    assert first.became_stuck and "61 s" in first.stuck and "reads fault" in first.stuck
    again = watch.look(True, ShutterState.FAULT, at(120))
    assert again.stuck == first.stuck and not again.became_stuck
    freed = watch.look(True, ShutterState.CLOSED, at(130))
    assert freed.freed and freed.stuck is None
    assert not watch.look(True, ShutterState.CLOSED, at(131)).freed


def test_an_unanswering_dome_counts_as_not_closed():
    watch = DomeCloseWatch(10.0)
    watch.look(True, None, at(0))
    assert "not answering" in watch.look(True, None, at(11)).stuck


def test_nothing_is_pending_while_closing_is_not_wanted():
    watch = DomeCloseWatch(10.0)
    assert watch.look(False, ShutterState.OPEN, at(0)).stuck is None
    assert watch.look(False, ShutterState.OPEN, at(100)).stuck is None
    # Wanted from 100 on: the allowance counts from there, not from the first look.
    assert watch.look(True, ShutterState.OPEN, at(100)).stuck is None
    assert watch.look(True, ShutterState.OPENING, at(105)).stuck is None
    assert watch.look(True, ShutterState.OPEN, at(111)).became_stuck
    # No longer wanted (an operator asked it open in fine weather): the episode ends.
    assert watch.look(False, ShutterState.OPEN, at(112)).freed


def test_the_allowance_must_be_positive():
    with pytest.raises(ValueError, match="allowance_s"):
        DomeCloseWatch(0.0)


def _stuck_events(engine) -> list[dict]:
    with session_scope(engine) as session:
        return [
            e.payload["payload"]
            for e in session.scalars(select(JournalEntry).where(JournalEntry.kind == "event"))
            if e.payload["event"] == "pyros.dome.stuck"
        ]


def _motion(mrig) -> str:
    return mrig.monitor.reflex.mount.status().motion.value


def test_a_dome_stuck_open_in_the_rain_parks_the_mount_and_calls_the_operator(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0)  # allowance: 3 wall s (60 simulated)
    mrig.start()
    open_dome(mrig, engine)
    mrig.bench.observatory.inject_fault("dome", "fault", None)  # stuck until cleared
    mrig.bench.observatory.plc.set_value("WXT520", "RainRate", 12.0)

    assert wait_until(lambda: mrig.monitor.dome_watch.stuck is not None, 20, STEP_S)
    assert _motion(mrig) in {"parking", "parked"}
    assert mrig.queue.flush(30)
    (event,) = _stuck_events(engine)
    assert event["reason"].startswith("dome stuck") and "reads fault" in event["reason"]

    # Freed: the next close is admitted, the dome reaches closed, the episode ends, told once.
    mrig.bench.observatory.faults.clear("dome")
    assert wait_until(lambda: shutter(mrig) == "closed", 30, STEP_S), shutter(mrig)
    assert wait_until(lambda: mrig.monitor.dome_watch.stuck is None, 10, STEP_S)
    mrig.stop()
    assert mrig.queue.flush(30)
    assert len(_stuck_events(engine)) == 1


def test_a_dome_that_will_not_close_on_request_parks_the_mount_in_fine_weather(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0)
    mrig.start()
    open_dome(mrig, engine)
    mount = mrig.monitor.reflex.mount
    mrig.bench.observatory.inject_fault("dome", "fault", None)
    with session_scope(engine) as session:
        request_dome(session, "closed", "test", mrig.bench.clock.now())
    mrig.control.refresh()

    assert wait_until(lambda: mrig.monitor.dome_watch.stuck is not None, 20, STEP_S)
    assert mrig.monitor.gate.safe  # the weather is fine: the stuck dome alone parks the mount
    assert wait_until(lambda: _motion(mrig) in {"parking", "parked"}, 10, STEP_S), _motion(mrig)
    assert mount.lease_info().owner == "environment-monitor"

    mrig.bench.observatory.faults.clear("dome")
    assert wait_until(lambda: shutter(mrig) == "closed", 30, STEP_S), shutter(mrig)
    # Freed in fine weather: the mount is given back.
    assert wait_until(lambda: mount.lease_info().owner is None, 10, STEP_S), mount.lease_info()
