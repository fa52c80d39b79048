"""``make bench B=device_faults`` (#24): a simulated night through the whole stack with random
device faults, and what they cost.

``pyros night --simulate --speed 100 --hours 10 --frame-px 512`` on the default night's requests
with 20 faults drawn from ``DEVICE_FAULTS_SEED`` (random when unset; printed): every kind of
:data:`tests.benchmarks.device_faults_draw.FAULT_KINDS` in turn (a camera lost or silent, the
mount in fault or lost, the dome stuck, the PLC silent, a link dropped for a minute), random
devices, instants inside the dark span and durations, never two at once on one device. Printed:

- ``flow_runs_failed``, ``flow_runs_crashed`` (goal 0 both);
- ``images_lost``: image rows whose file is missing or not whole, and frames on disk without a row
  whose sequence is finished (a frame of an unfinished sequence is ``frames_awaiting_adoption``:
  its next execution adopts it) (goal 0);
- ``images_duplicated``: rows beyond the first for one (sequence, plan, index) (goal 0);
- ``interruptions_without_reason``: interrupted transitions and report lines not executed, with
  no reason (goal 0);
- ``sky_time_lost_fraction``: the executions' lateness (:mod:`tasks.night.timing`) with the end of
  every fault that stops the telescope (mount, dome, PLC) counted as an instant it was free again —
  the dark time lost beyond the faults' own durations — over the span's dark time (goal <= 0.05).

``DEVICE_FAULTS_HOURS`` and ``DEVICE_FAULTS_COUNT`` change the night's length and the faults,
``DEVICE_FAULTS_SPEED`` the clock's speed (default 100; at a speed the orchestration keeps up with,
the lateness left is the faults').
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_night import run_night, simulated_night_start
from tests.benchmarks.common import emit, failed_runs, machine
from tests.benchmarks.device_faults_draw import (
    DrawnFault,
    ImageRecord,
    draw_faults,
    excused_instants,
    fault_scenario,
    fault_seconds,
    integrity_figures,
    kinds_count,
)

SPEED = 100.0
HOURS = 10.0
FRAME_PX = 512
FAULTS = 20
#: A science frame's name: ``S<sequence>-P<plan>-I<index>``.
SCIENCE_FRAME = re.compile(r"^S(\d+)-P\d+-I\d+$")


def dark_span_s(hours: float) -> tuple[float, float]:
    """The night's dark span in run seconds (the run starts before sunset, as ``pyros night``)."""
    run_start, dark_start = simulated_night_start()
    dark_from = (dark_start - run_start).total_seconds()
    return dark_from, dark_from + hours * 3600.0


def inspect_night(faults: list[DrawnFault], hours: float):
    """What to read in the night's home before it goes (see the module)."""

    def inspect(home: Path, label: str) -> dict[str, Any]:
        from app.cli.nightsim import SIM_EVENING_S
        from infra.config import load_config
        from infra.db import session_scope
        from infra.db.engine import create_pyros_engine
        from tasks.night.timing import timing_figures
        from tasks.night.timing_rows import dome_reopenings, executions
        from tasks.scheduling.night_times import night_for

        config = load_config(home / "run" / "site-simulation.toml")
        night = night_for(label, config)
        assert night.sunset is not None and night.start is not None and night.end is not None
        end = min(night.end, night.start + timedelta(hours=hours))
        since = night.start - timedelta(hours=1)
        engine = create_pyros_engine(f"sqlite:///{home / 'pyros.db'}")
        try:
            with session_scope(engine) as session:
                free_again = dome_reopenings(session, since, end) + excused_instants(
                    faults, night.sunset - timedelta(seconds=SIM_EVENING_S)
                )
                timing = timing_figures(
                    executions(session, since, end),
                    sorted(free_again),
                    early_start_s=config.night.early_start_s,
                    dark_s=(end - night.start).total_seconds(),
                )
                integrity = _integrity(session, home, label)
        finally:
            engine.dispose()
        return {
            **integrity,
            "sky_time_lost_fraction": timing["orchestration_loss_fraction"],
            "lateness_p95_sim_s": timing["lateness_p95_sim_s"],
            "executions": timing["executions"],
            "runs_failed_or_crashed": failed_runs(home),
        }

    return inspect


def _integrity(session, home: Path, label: str) -> dict[str, int]:
    from sqlalchemy import select

    from infra.db.models import Image, Sequence, SequenceTransition
    from tasks.night.images import sha256_of

    images = []
    for image in session.scalars(select(Image)):
        path = Path(image.path)
        whole = path.is_file() and sha256_of(path) == (image.sha256, image.size_bytes)
        images.append(ImageRecord((image.sequence_id, image.plan_id, image.index), whole))
    rows = set(session.scalars(select(Image.id)))
    orphans: dict[str, str | None] = {}
    for frame in (home / "frames" / label).glob("*.fits"):
        named = SCIENCE_FRAME.match(frame.stem)
        if named and frame.stem not in rows:
            sequence = session.get(Sequence, int(named.group(1)))
            orphans[frame.stem] = sequence.state if sequence is not None else None
    unexplained = sum(
        1
        for t in session.scalars(
            select(SequenceTransition).where(SequenceTransition.to_state == "interrupted")
        )
        if not t.reason
    )
    report = json.loads((home / "reports" / f"{label}.json").read_text(encoding="utf-8"))
    unexplained += sum(
        1
        for line in report["sequences"] + report["dropped"] + report["unplannable"]
        if line["state"] != "executed" and not line["reason"]
    )
    return integrity_figures(images, orphans, unexplained)


def main() -> None:
    from simulators import DATA_DIR

    seed = int(os.environ.get("DEVICE_FAULTS_SEED") or random.SystemRandom().randrange(2**31))
    hours = float(os.environ.get("DEVICE_FAULTS_HOURS") or HOURS)
    count = int(os.environ.get("DEVICE_FAULTS_COUNT") or FAULTS)
    speed = float(os.environ.get("DEVICE_FAULTS_SPEED") or SPEED)
    sys.stderr.write(f"device_faults: seed {seed} (DEVICE_FAULTS_SEED={seed} to draw it again)\n")
    faults = draw_faults(random.Random(seed), count, dark_span_s(hours))
    for fault in faults:
        sys.stderr.write(
            f"  {fault.start_s:>8.0f}-{fault.end_s:<8.0f} {fault.kind:<14} {fault.device} "
            f"({fault.fault})\n"
        )
    with tempfile.TemporaryDirectory(prefix="pyros-bench-faults-") as tmp:
        scenario = fault_scenario(
            DATA_DIR / "scenarios" / "night" / "night.json", faults, Path(tmp) / "faults.json"
        )
        night = run_night(
            speed, hours, FRAME_PX, scenario=scenario, inspect=inspect_night(faults, hours)
        )
    summary = night["summary"]
    emit(
        "device_faults",
        seed=seed,
        hours=hours,
        speed=speed,
        faults=len(faults),
        fault_kinds=kinds_count(faults),
        telescope_stopped_by_faults_s=fault_seconds(faults),
        wall_seconds=summary["wall_seconds"],
        sequences_plannable=summary["sequences_plannable"],
        sequences_executed=summary["sequences_executed"],
        flow_runs_failed=summary["flow_runs_failed"],
        flow_runs_crashed=summary["flow_runs_crashed"],
        **night["inspected"],
        load_1min_after=round(os.getloadavg()[0], 2),
        **machine(),
    )


if __name__ == "__main__":
    main()
