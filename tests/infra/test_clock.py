"""The one clock: system, simulated (DESIGN §3) and discrete-event."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from infra.clock import (
    ClockError,
    DiscreteEventClock,
    SimulatedClock,
    SystemClock,
    get_clock,
    parse_clock,
    set_clock,
)

START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_simulated_time_is_start_plus_speed_times_elapsed_wall():
    epoch = time.time() - 10.0  # the stack became healthy 10 wall seconds ago
    clock = SimulatedClock(START, 60.0, epoch)
    elapsed = (clock.now() - START).total_seconds()
    assert 600.0 <= elapsed < 600.0 + 60.0 * 5  # 10 s × 60, plus this test's own run time


def test_wall_and_sim_conversions_are_inverse():
    clock = SimulatedClock(START, 100.0, 1_700_000_000.0)
    sim = START + timedelta(hours=3)
    wall = clock.to_wall(sim)
    assert wall == datetime.fromtimestamp(1_700_000_000.0 + 3 * 3600 / 100.0, UTC)
    assert abs((clock.to_sim(wall) - sim).total_seconds()) < 1e-3
    assert clock.wall_seconds(600.0) == pytest.approx(6.0)


def test_sleep_lasts_the_simulated_duration_converted_to_wall_time():
    clock = SimulatedClock(START, 200.0, time.time())
    before = time.monotonic()
    clock.sleep(20.0)  # 0.1 wall seconds at 200x
    assert time.monotonic() - before >= 0.1


def test_wait_returns_when_the_event_is_set():
    clock = SimulatedClock(START, 1000.0, time.time())
    event = threading.Event()
    threading.Timer(0.01, event.set).start()
    assert clock.wait(event, 3600.0) is True


def test_spec_round_trips_through_the_environment_format():
    clock = SimulatedClock(START, 60.0, 1_764_000_000.5)
    again = parse_clock(clock.spec())
    assert isinstance(again, SimulatedClock)
    assert (again.start, again.speed, again.wall_epoch) == (START, 60.0, 1_764_000_000.5)
    assert isinstance(parse_clock("system"), SystemClock)


def test_spec_without_epoch_starts_now():
    clock = parse_clock("sim:2026-11-25T02:00:00Z@10", wall_now=1000.0)
    assert clock.wall_epoch == 1000.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("simulated", "neither 'system' nor"),
        ("sim:yesterday@60@0", "not an ISO 8601 instant"),
        ("sim:2026-11-25T02:00:00Z@fast@0", "speed 'fast' is not a number"),
        ("sim:2026-11-25T02:00:00Z@-5@0", "positive finite"),
        ("sim:2026-11-25T02:00:00Z@60@later", "wall epoch 'later' is neither"),
        ("sim:2026-11-25T02:00:00Z", "must be sim:START@SPEED@EPOCH"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ClockError, match=message):
        parse_clock(spec)


def test_process_clock_comes_from_the_environment_unless_injected(monkeypatch):
    monkeypatch.setenv("PYROS_CLOCK", "sim:2026-11-25T02:00:00Z@60@0")
    set_clock(None)
    assert isinstance(get_clock(), SimulatedClock)
    injected = DiscreteEventClock(START)
    set_clock(injected)
    assert get_clock() is injected


def test_discrete_event_clock_runs_callbacks_in_time_then_insertion_order():
    clock = DiscreteEventClock(START)
    seen = []
    clock.call_later(30, lambda: seen.append(("b", clock.now())))
    clock.call_later(10, lambda: seen.append(("a", clock.now())))
    clock.call_later(30, lambda: seen.append(("c", clock.now())))
    cancelled = clock.call_later(20, lambda: seen.append(("never", clock.now())))
    clock.cancel(cancelled)
    assert clock.pending() == 3
    assert clock.run() == 3
    assert [name for name, _ in seen] == ["a", "b", "c"]
    assert seen[0][1] == START + timedelta(seconds=10)
    assert clock.now() == START + timedelta(seconds=30)


def test_discrete_event_sleep_advances_time_and_runs_what_falls_due():
    clock = DiscreteEventClock(START)
    seen = []
    clock.call_later(5, lambda: seen.append(clock.now()))
    clock.sleep(60)
    assert seen == [START + timedelta(seconds=5)]
    assert clock.now() == START + timedelta(seconds=60)
    # Callbacks scheduled in the past run at once, never back in time.
    clock.call_at(START, lambda: seen.append(clock.now()))
    clock.run()
    assert seen[-1] == START + timedelta(seconds=60)


def test_an_epoch_file_freezes_time_until_the_stack_writes_it(tmp_path):
    from infra.clock import write_epoch_file

    path = tmp_path / "run" / "clock.epoch"
    clock = parse_clock(f"sim:2026-11-25T02:00:00Z@60@file:{path}")
    assert clock.now() == START and clock.wall_epoch is None
    assert clock.spec() == f"sim:2026-11-25T02:00:00Z@60@file:{path}"
    epoch = write_epoch_file(path, time.time() - 10.0)
    assert clock.wall_epoch == pytest.approx(epoch)
    assert (clock.now() - START).total_seconds() >= 600.0
    # Another process reading the same file agrees on the epoch.
    assert parse_clock(clock.spec()).wall_epoch == pytest.approx(epoch)
