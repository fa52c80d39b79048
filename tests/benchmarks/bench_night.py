"""``make bench B=night``: a 10-hour simulated night with 2048×2048 frames through the whole stack.

Figures: ``wall_seconds``, ``speed_factor`` (simulated seconds per wall second, goal ≥ 100) and
``prefect_overhead_per_sequence_s`` (goal ≤ 0.2): between two sequences, when the second was
already due as the first ended, the wall time from the first's end to the second's start. No
device or pipeline work happens in that gap: it is what the orchestration costs per sequence
(the task run, its events, looking at the night again).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from datetime import timedelta

from tests.benchmarks.common import emit, isolated_home, machine
from tests.support.cli import pyros_command
from tests.support.stack_site import write_site_with_free_ports

SPEED = 100.0
HOURS = 10.0
FRAME_PX = 2048


def orchestration_gaps(engine, early_start_s: float) -> list[float]:
    """Wall seconds between a sequence's end and the next one's start, when the next was due."""
    from sqlalchemy import select

    from infra.db import session_scope
    from infra.db.models import Schedule, ScheduledSequence, SequenceTransition

    with session_scope(engine) as session:
        rows = session.execute(
            select(
                SequenceTransition.sequence_id,
                SequenceTransition.to_state,
                SequenceTransition.at,
                SequenceTransition.wall_at,
            )
            .where(SequenceTransition.to_state.in_(("executing", "executed", "interrupted")))
            .order_by(SequenceTransition.wall_at, SequenceTransition.id)
        ).all()
        gaps = []
        previous_end = None
        for sequence_id, state, at, wall_at in rows:
            if state != "executing":
                previous_end = (at, wall_at)
                continue
            if previous_end is None:
                continue
            planned_start = session.scalar(
                select(ScheduledSequence.planned_start)
                .join(Schedule, Schedule.id == ScheduledSequence.schedule_id)
                .where(
                    ScheduledSequence.sequence_id == sequence_id,
                    ScheduledSequence.planned.is_(True),
                    Schedule.created_at <= at,
                )
                .order_by(Schedule.id.desc())
                .limit(1)
            )
            due = (
                planned_start is not None
                and planned_start - timedelta(seconds=early_start_s) <= previous_end[0]
            )
            if due:
                gaps.append((wall_at - previous_end[1]).total_seconds())
            previous_end = None
    return gaps


def main() -> None:
    with isolated_home() as home:
        write_site_with_free_ports(home / "site.toml", frame_px=None)
        env = {**os.environ, "PYROS_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}
        env.pop("PYROS_SITE_CONFIG", None)
        pyros = pyros_command(installed=True)  # the console script, as typed
        subprocess.run([*pyros, "db", "init"], check=True, capture_output=True, env=env)
        try:
            result = subprocess.run(
                [
                    *pyros,
                    "night",
                    "--simulate",
                    "--speed",
                    f"{SPEED:g}",
                    "--hours",
                    f"{HOURS:g}",
                    "--frame-px",
                    str(FRAME_PX),
                    "--json",
                ],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=3600,
            )
            if result.returncode != 0:
                sys.stderr.write(result.stderr[-4000:])
                raise SystemExit(f"pyros night --simulate failed ({result.returncode})")
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            os.environ["PYROS_HOME"] = str(home)
            from infra.config import load_config
            from infra.db.engine import create_pyros_engine

            config = load_config(home / "run" / "site-simulation.toml")
            engine = create_pyros_engine(f"sqlite:///{home / 'pyros.db'}")
            gaps = orchestration_gaps(engine, config.night.early_start_s)
            engine.dispose()
        finally:
            subprocess.run([*pyros, "down"], capture_output=True, env=env, timeout=300)
        emit(
            "night",
            hours=HOURS,
            frame_px=FRAME_PX,
            requested_speed=SPEED,
            wall_seconds=summary["wall_seconds"],
            simulated_seconds=summary["simulated_seconds"],
            speed_factor=summary["speed_factor"],
            sequences_plannable=summary["sequences_plannable"],
            sequences_executed=summary["sequences_executed"],
            images=summary["images"],
            flow_runs_failed=summary["flow_runs_failed"],
            flow_runs_crashed=summary["flow_runs_crashed"],
            back_to_back_sequences=len(gaps),
            prefect_overhead_per_sequence_s=round(statistics.mean(gaps), 3) if gaps else None,
            prefect_overhead_p95_s=round(sorted(gaps)[int(0.95 * (len(gaps) - 1))], 3)
            if gaps
            else None,
            **machine(),
        )


if __name__ == "__main__":
    main()
