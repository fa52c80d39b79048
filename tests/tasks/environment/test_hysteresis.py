"""Hysteresis: unsafe at once, safe after the hold time of uninterrupted good readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.environment.hysteresis import SafetyGate

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_starts_unsafe_and_opens_after_the_hold_time():
    gate = SafetyGate(600)
    assert not gate.update(False, (), T0).safe
    assert gate.seconds_until_safe(T0 + timedelta(seconds=100)) == 500
    assert not gate.update(False, (), T0 + timedelta(seconds=599)).safe
    verdict = gate.update(False, (), T0 + timedelta(seconds=600))
    assert verdict.safe and verdict.changed


def test_a_closing_reading_is_unsafe_at_once_and_restarts_the_hold():
    gate = SafetyGate(600)
    gate.update(False, (), T0)
    gate.update(False, (), T0 + timedelta(seconds=600))
    verdict = gate.update(
        True, ("Rain = 12 mm/h; it rains hard; close = YES",), T0 + timedelta(seconds=601)
    )
    assert not verdict.safe and verdict.changed and "rains hard" in verdict.reason
    assert not gate.update(False, (), T0 + timedelta(seconds=602)).safe
    assert gate.update(False, (), T0 + timedelta(seconds=1202)).safe


def test_a_hundred_fast_toggles_give_at_most_one_cycle_per_hold_period():
    gate = SafetyGate(600)
    transitions = []
    now = T0
    for i in range(100):  # rain on/off every 5 s for 500 s, then dry
        now += timedelta(seconds=5)
        verdict = gate.update(i % 2 == 0, ("rain",), now)
        if verdict.changed:
            transitions.append((now, verdict.safe))
    for _ in range(200):  # dry for 1000 s
        now += timedelta(seconds=5)
        verdict = gate.update(False, (), now)
        if verdict.changed:
            transitions.append((now, verdict.safe))
    assert [safe for _, safe in transitions] == [True]
    assert transitions[0][0] - (T0 + timedelta(seconds=500)) >= timedelta(seconds=600)
