"""``make bench B=night``: simulated nights through the whole stack, with figures that can fail.

The simulated clock runs ``--speed`` times the wall whether or not the flows keep up, so its speed
read back measures nothing (issue 25). Printed instead, from what the night recorded
(:mod:`tasks.night.timing`):

- ``lateness_p95_sim_s``: each execution's start minus the instant it could have started
  (telescope free, its planned start less the allowed early start), simulated seconds;
- ``orchestration_loss_fraction``: that lateness summed over the span's dark time (goal <= 0.01
  at speed 100);
- ``prefect_overhead_per_sequence_s`` / ``prefect_overhead_p95_s``: every execution's wall time
  not spent waiting on devices (goal <= 0.2 s both);
- ``executed_over_hindsight``: executed sequences over those a plan made after the night, the
  weather closures known, could place (:mod:`tasks.night.hindsight`; goal >= 0.9);
- ``max_speed_keeping_up`` (part ``speeds``): the highest clock speed of 100, 200, 400, 800 at
  which the executed sequences and their order equal those at speed 20 (goal >= 200).

``NIGHT_PARTS`` chooses the parts (``night,speeds``; default both), ``NIGHT_HOURS`` the long
night's hours (default 10), ``NIGHT_SPEED`` its clock speed (default 100). ``NIGHT_DELAY_S``
sleeps that many wall seconds before each sequence (the test switch
``PYROS_TEST_SEQUENCE_DELAY_S``): a deliberately slow orchestration, whose figures must miss
their goals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.common import emit, failed_runs, isolated_home, machine
from tests.support.cli import pyros_command
from tests.support.stack_site import write_site_with_free_ports

SPEED = 100.0
HOURS = 10.0
FRAME_PX = 2048
#: The speed sweep: a shorter night, smaller frames (the frames are not what is measured).
SWEEP_HOURS = 1.5
SWEEP_FRAME_PX = 512
REFERENCE_SPEED = 20.0
SWEEP_SPEEDS = (100.0, 200.0, 400.0, 800.0)


def simulated_night_start() -> tuple[datetime, datetime]:
    """The run's start and the dark night's start of the night ``pyros night --simulate`` would
    simulate now at the bundled site (the run starts the simulation's evening before sunset)."""
    from app.cli.nightsim import SIM_EVENING_S
    from infra.config import load_config
    from tasks.scheduling.night_times import night_to_plan

    night = night_to_plan(datetime.now(UTC), load_config())
    assert night.sunset is not None and night.start is not None, night.label
    return night.sunset - timedelta(seconds=SIM_EVENING_S), night.start


def run_night(
    speed: float,
    hours: float,
    frame_px: int,
    delay_s: float = 0.0,
    *,
    scenario: Path | None = None,
    inspect: Callable[[Path, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One simulated night in a fresh home; its summary, timing figures and executed order.

    ``scenario`` replaces the default night's; ``inspect(home, night)`` looks at the night's home
    before it is removed (its result is ``"inspected"``)."""
    with isolated_home() as home:
        write_site_with_free_ports(home / "site.toml", frame_px=None)
        env = {**os.environ, "PYROS_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}
        env.pop("PYROS_SITE_CONFIG", None)
        if delay_s:
            env["PYROS_TEST_SEQUENCE_DELAY_S"] = str(delay_s)
        pyros = pyros_command(installed=True)  # the console script, as typed
        subprocess.run([*pyros, "db", "init"], check=True, capture_output=True, env=env)
        args = ["--speed", f"{speed:g}", "--hours", f"{hours:g}", "--frame-px", str(frame_px)]
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        try:
            result = subprocess.run(
                [*pyros, "night", "--simulate", *args, "--json"],
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
            figures, order = _recorded_timing(home, summary["night"], hours)
            inspected = inspect(home, summary["night"]) if inspect is not None else {}
        finally:
            subprocess.run([*pyros, "down"], capture_output=True, env=env, timeout=300)
    return {"summary": summary, "timing": figures, "order": order, "inspected": inspected}


def _recorded_timing(home: Path, label: str, hours: float) -> tuple[dict[str, Any], list[str]]:
    """The timing figures of the night in ``home`` and its executed sequences' names in order."""
    from infra.config import load_config
    from infra.db import session_scope
    from infra.db.engine import create_pyros_engine
    from infra.db.models import Sequence
    from tasks.night.hindsight import executed_over_hindsight
    from tasks.night.timing import timing_figures
    from tasks.night.timing_rows import dome_reopenings, executions
    from tasks.scheduling.night_times import night_for

    config = load_config(home / "run" / "site-simulation.toml")
    night = night_for(label, config)
    assert night.start is not None and night.end is not None, label
    end = min(night.end, night.start + timedelta(hours=hours))
    engine = create_pyros_engine(f"sqlite:///{home / 'pyros.db'}")
    try:
        with session_scope(engine) as session:
            done = executions(session, night.start - timedelta(hours=1), end)
            figures = timing_figures(
                done,
                dome_reopenings(session, night.start - timedelta(hours=1), end),
                early_start_s=config.night.early_start_s,
                dark_s=(end - night.start).total_seconds(),
            )
            figures.update(executed_over_hindsight(session, label, config, end))
            names = {s.id: s.name for s in session.query(Sequence)}
            order = [f"{names[e.sequence_id]}#{e.sequence_id}" for e in done]
    finally:
        engine.dispose()
    return figures, order


def night_part(delay_s: float) -> None:
    """The long night (speed 100 unless ``NIGHT_SPEED``) and its figures."""
    hours = float(os.environ.get("NIGHT_HOURS") or HOURS)
    speed = float(os.environ.get("NIGHT_SPEED") or SPEED)
    night = run_night(speed, hours, FRAME_PX, delay_s, inspect=lambda home, _: failed_runs(home))
    summary = night["summary"]
    emit(
        "night",
        hours=hours,
        frame_px=FRAME_PX,
        speed=speed,
        sequence_delay_s=delay_s,
        wall_seconds=summary["wall_seconds"],
        sequences_plannable=summary["sequences_plannable"],
        sequences_executed=summary["sequences_executed"],
        images=summary["images"],
        flow_runs_failed=summary["flow_runs_failed"],
        flow_runs_crashed=summary["flow_runs_crashed"],
        runs_failed_or_crashed=night["inspected"],
        **night["timing"],
        load_1min_after=round(os.getloadavg()[0], 2),
        **machine(),
    )


def speeds_part(delay_s: float) -> None:
    """The highest speed whose executed sequences, in order, equal those at the reference."""
    reference = run_night(REFERENCE_SPEED, SWEEP_HOURS, SWEEP_FRAME_PX, delay_s)["order"]
    kept_up, tried = None, {}
    for speed in SWEEP_SPEEDS:
        order = run_night(speed, SWEEP_HOURS, SWEEP_FRAME_PX, delay_s)["order"]
        tried[f"{speed:g}"] = order == reference
        if order != reference:
            sys.stderr.write(f"speed {speed:g}: {order}\n  differs from {reference}\n")
            break
        kept_up = speed
    emit(
        "night_speeds",
        hours=SWEEP_HOURS,
        reference_speed=REFERENCE_SPEED,
        reference_executed=len(reference),
        same_as_reference=tried,
        max_speed_keeping_up=kept_up,
        sequence_delay_s=delay_s,
        load_1min_after=round(os.getloadavg()[0], 2),
        **machine(),
    )


def main() -> None:
    parts = os.environ.get("NIGHT_PARTS", "night,speeds").split(",")
    delay_s = float(os.environ.get("NIGHT_DELAY_S") or 0.0)
    if "night" in parts:
        night_part(delay_s)
    if "speeds" in parts:
        speeds_part(delay_s)


if __name__ == "__main__":
    main()
