"""The night loop on the discrete-event clock: it carries the policy's decisions out, in order,
and stops at its instant, at dawn or when told; the night's run times and blocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from infra.clock import DiscreteEventClock
from infra.config import get_config
from infra.opmode import OperatingMode
from tasks.night.loop import Handlers, NightLoop
from tasks.night.policy import NightState, PlannedEntry
from tasks.night.windows import (
    END_OF_NIGHT,
    EXECUTE_NIGHT,
    START_OF_NIGHT,
    block_end,
    night_run_times,
    windows_of,
)
from tasks.scheduling.night_times import night_for
from tests.tasks.night.test_policy import START, WINDOWS


class World:
    """A tiny observatory the handlers act on: the dome opens when asked, sequences run 10 min."""

    def __init__(self, clock: DiscreteEventClock, schedule: list[PlannedEntry]):
        self.clock, self.schedule = clock, schedule
        self.requested_open = self.open = False
        self.done: list[str] = []
        self.calls: list[str] = []

    def look(self, calibrations: frozenset[str]) -> NightState:
        return NightState(
            now=self.clock.now(),
            windows=WINDOWS,
            mode=OperatingMode.AUTO,
            weather_safe=True,
            dome_open=self.open,
            dome_requested_open=self.requested_open,
            schedule=tuple(e for e in self.schedule if str(e.sequence_id) not in self.done),
            calibrations_done=calibrations,
        )

    def handlers(self) -> Handlers:
        def execute(sequence_id: int) -> str:
            self.calls.append(f"execute {sequence_id}")
            self.clock.sleep_until(self.clock.now() + timedelta(minutes=10))
            self.done.append(str(sequence_id))
            return str(sequence_id)

        def dome(state: str, reason: str) -> str:
            self.calls.append(f"dome {state}")
            self.requested_open = self.open = state == "open"
            return state

        def calibrate(name: str) -> str:
            self.calls.append(f"calibrate {name}")
            self.clock.sleep_until(self.clock.now() + timedelta(minutes=20))
            return name

        return Handlers(execute=execute, replan=lambda r: r, request_dome=dome, calibrate=calibrate)


def test_from_the_evening_to_the_end_of_the_schedule():
    sunset = WINDOWS.sunset
    clock = DiscreteEventClock(sunset - timedelta(minutes=30))
    schedule = [
        PlannedEntry(1, START + timedelta(minutes=5), START + timedelta(minutes=15)),
        PlannedEntry(2, START + timedelta(minutes=40), START + timedelta(minutes=50)),
    ]
    world = World(clock, schedule)
    loop = NightLoop(clock, world.look, world.handlers(), poll_s=30.0, min_poll_wall_s=0.01)
    summary = loop.run(START + timedelta(hours=2))
    assert world.calls == [
        "calibrate evening-bias-dark",
        "dome open",
        "calibrate dusk-flats",
        "execute 1",
        "execute 2",
    ]
    assert summary.executed == ["1", "2"] and summary.ended == "until"
    assert clock.now() >= START + timedelta(hours=2)
    # Sequence 2 started when due (60 s early at most), not at once after 1.
    assert summary.waits > 0


def test_the_loop_ends_at_dawn_and_when_stopped():
    clock = DiscreteEventClock(WINDOWS.end - timedelta(minutes=1))
    world = World(clock, [])
    world.requested_open = world.open = True
    loop = NightLoop(clock, world.look, world.handlers(), poll_s=30.0, min_poll_wall_s=0.01)
    assert loop.run(WINDOWS.end + timedelta(hours=1)).ended == "night over"
    stopped = NightLoop(clock, world.look, world.handlers(), poll_s=30.0, min_poll_wall_s=0.01)
    stopped.stop.set()
    assert stopped.run(WINDOWS.end + timedelta(hours=1)).ended == "stopped"


def test_the_nights_runs_start_at_its_twilights_and_blocks_end_at_dawn():
    config = get_config()
    night = night_for("2026-11-24", config)
    times = night_run_times(night, config)
    assert list(times) == [START_OF_NIGHT, EXECUTE_NIGHT, END_OF_NIGHT]
    assert times[START_OF_NIGHT] == night.sunset - timedelta(seconds=config.night.evening_lead_s)
    assert (times[EXECUTE_NIGHT], times[END_OF_NIGHT]) == (night.start, night.end)
    block = timedelta(seconds=config.night.block_s)
    assert block_end(night.start, night, config) == night.start + block
    assert block_end(night.end - timedelta(minutes=5), night, config) == night.end
    windows = windows_of(night)
    assert (windows.start, windows.end, windows.dusk_flats) == (
        night.start,
        night.end,
        night.dusk_flats,
    )
    no_dark = replace(night, start=None, end=None)
    assert night_run_times(no_dark, config) == {}
