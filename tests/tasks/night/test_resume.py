"""Blocks started by an event: wanted or not, where they end, what a weather-ended block says;
and the loop that ends for the weather."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from infra.clock import DiscreteEventClock
from infra.config import get_config
from infra.db import session_scope
from tasks.environment.observatory_state import verdict_write
from tasks.night.loop import NightLoop
from tasks.night.policy import NightAction, decide
from tasks.night.resume import (
    cut_short_refusal,
    resume_refusal,
    resumed_block_end,
    weather_wait_message,
)
from tasks.scheduling.night_times import night_for
from tests.tasks.night.test_loop import World
from tests.tasks.night.test_policy import START

NIGHT = night_for("2026-11-24", get_config())


def test_a_block_started_by_an_event_runs_only_in_the_dark_night_and_alone():
    start, end = NIGHT.start, NIGHT.end
    assert "start-of-night has it" in resume_refusal(NIGHT, start - timedelta(minutes=1))
    assert resume_refusal(NIGHT, start) is None
    assert resume_refusal(NIGHT, end) == "the night is over"
    refused = resume_refusal(NIGHT, start + timedelta(hours=1), ["quick-fox"])
    assert refused == "block quick-fox already runs the night"
    no_dark = replace(NIGHT, start=None)
    assert resume_refusal(no_dark, start) == "night 2026-11-24: no dark time"


def test_a_resumed_block_ends_where_the_next_scheduled_block_starts():
    now = NIGHT.start + timedelta(minutes=30)
    planned = now + timedelta(hours=1)
    following = NIGHT.start + timedelta(hours=1)
    assert resumed_block_end(planned, now, [following, now - timedelta(minutes=5)]) == (
        following,
        True,
    )
    assert resumed_block_end(planned, now, []) == (planned, False)
    assert resumed_block_end(planned, now, [now - timedelta(minutes=1)]) == (planned, False)


def test_a_weather_ended_block_says_since_when(engine):
    t0 = NIGHT.start + timedelta(minutes=10)
    with session_scope(engine) as session:
        verdict_write(False, "rain", t0)(session)
    with session_scope(engine) as session:
        message = weather_wait_message(session, "weather unsafe: the monitor keeps the dome closed")
    assert message.startswith(f"waiting: weather unsafe since {t0:%Y-%m-%d %H:%M:%S} UTC")
    with session_scope(engine) as session:
        verdict_write(True, "every element good", t0 + timedelta(minutes=5))(session)
    with session_scope(engine) as session:
        stale = weather_wait_message(session, "weather verdict stale: ...")
    assert stale.startswith("waiting: weather verdict stale since ")


def test_the_loop_ends_for_the_weather_only_when_told():
    clock = DiscreteEventClock(START + timedelta(minutes=5))
    world = World(clock, [])
    world.requested_open = world.open = True
    rainy = lambda done: replace(world.look(done), weather_safe=False)  # noqa: E731
    decision = decide(rainy(frozenset()))
    assert decision.action is NightAction.WAIT and decision.weather
    loop = NightLoop(
        clock, rainy, world.handlers(), poll_s=30.0, min_poll_wall_s=0.01, end_on_weather=True
    )
    summary = loop.run(START + timedelta(hours=1))
    assert summary.ended == "weather" and summary.reason.startswith("weather unsafe")
    assert clock.now() == START + timedelta(minutes=5)  # at once, no wait
    waiting = NightLoop(clock, rainy, world.handlers(), poll_s=30.0, min_poll_wall_s=0.01)
    assert waiting.run(START + timedelta(hours=1)).ended == "until"
    assert not decide(world.look(frozenset())).weather


def test_a_block_past_the_span_of_a_night_cut_short_does_not_run(engine):
    # The span journaled by a night cut short ends the chain of blocks: a block at or after its
    # end refuses (before scheduling a successor), one before it, or in a night not cut, runs.
    from datetime import UTC, datetime

    from tasks.night.report import record_night_run, recorded_span_end

    span_end = datetime(2026, 12, 7, 3, 6, tzinfo=UTC)
    with session_scope(engine) as session:
        assert recorded_span_end(session, "2026-12-06") is None
        record_night_run(session, "2026-12-06", span_end, span_end=span_end)
        record_night_run(session, "2026-12-06", span_end, figures={"wall_seconds": 183.1})
    with session_scope(engine) as session:
        recorded = recorded_span_end(session, "2026-12-06")
        assert recorded == span_end
        assert recorded_span_end(session, "2026-12-05") is None
    refusal = cut_short_refusal(recorded, span_end)
    assert refusal and "cut short at 03:06:00" in refusal
    assert cut_short_refusal(recorded, span_end + timedelta(hours=1))
    assert cut_short_refusal(recorded, span_end - timedelta(seconds=1)) is None
    assert cut_short_refusal(None, span_end + timedelta(hours=1)) is None
