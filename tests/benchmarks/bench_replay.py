"""Replay benchmark (#20): a recorded 10-hour night replayed from its journal.

The night: the night scenario's 30 submissions (every 5 minutes from the evening), a PLC
reading every 20 simulated seconds (the monitor's cadence at 100x) and half an hour of rain,
recorded by the in-process simulation (not the real stack: docs/replay.md). Figures: the
replay's ``speed_factor`` (simulated over wall seconds; goal >= 2000), ``decisions_compared``
and ``identical``. No random draw (``seed`` null): the night is fixed.
"""

from __future__ import annotations

import time

from infra.config import get_config
from infra.db.engine import create_pyros_engine
from infra.journal import forget_nights_cache
from tasks.replay.engine import replay_night
from tasks.replay.inputs import load_inputs
from tasks.replay.run import replay_and_compare
from tests.benchmarks.common import emit, isolated_home, machine
from tests.support.replay_night import NIGHT, record_inputs

GOAL_SPEED_FACTOR = 2000.0


def main() -> None:
    with isolated_home() as home:
        forget_nights_cache()
        config = get_config()
        inputs = create_pyros_engine(f"sqlite:///{home / 'inputs.db'}")
        record_inputs(inputs, config, hours=10.0, requests=30, plc_every_s=20.0)
        night = create_pyros_engine(f"sqlite:///{home / 'night.db'}")
        started = time.perf_counter()
        replay_night(load_inputs(inputs, NIGHT), config, night)
        record_s = time.perf_counter() - started
        outcome = replay_and_compare(night, NIGHT, config, home / "replay")
        summary = outcome.summary()
        emit(
            "replay",
            night_hours=round(outcome.run.simulated_seconds / 3600, 2),
            plc_readings=len(load_inputs(night, NIGHT).of("plc")),
            recording_wall_seconds=round(record_s, 3),
            wall_seconds=summary["wall_seconds"],
            simulated_seconds=summary["simulated_seconds"],
            speed_factor=summary["speed_factor"],
            goal_speed_factor=GOAL_SPEED_FACTOR,
            speed_goal_met=summary["speed_factor"] >= GOAL_SPEED_FACTOR,
            decisions_compared=summary["decisions_compared"],
            compared=summary["compared"],
            identical=summary["identical"],
            differences=len(summary["differences"]),
            warnings=len(summary["warnings"]),
            seed=None,
            **machine(),
        )
        night.dispose()
        inputs.dispose()


if __name__ == "__main__":
    main()
