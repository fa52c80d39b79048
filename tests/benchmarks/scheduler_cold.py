"""One cold planning run in a fresh process, for ``make bench B=scheduler``.

``python -m tests.benchmarks.scheduler_cold '{"which": "ours"|"astroplan", "count": N, "seed": S,
"night_start": ISO, "night_s": F, "begin": F, "end": F, "ids": [...]}'`` imports everything first
(import time is not planning time, for either), then times from a fresh process state (no night,
grid, IERS table or ephemeris touched yet): for ours, the night, its 60 s grid and the plan; for
astroplan, its observer, blocks and PriorityScheduler on the same 60 s grid, over the same dark
span (handed in by the parent, so nothing astronomical is computed before astroplan's timer).
Prints ``{"seconds": ...}`` as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from types import SimpleNamespace

from infra.config import load_config
from tasks.scheduling.night_times import compute_night, night_grid
from tasks.scheduling.tonight import plan_night
from tests.benchmarks.scheduler_common import GRID_S, NIGHT_LABEL, generate
from tests.benchmarks.scheduler_reference import astroplan_schedule


def _candidates(job: dict, latitude_deg: float):
    start = datetime.fromisoformat(job["night_start"])
    return generate(job["count"], start, job["night_s"], latitude_deg, job["seed"])


def ours(job: dict) -> float:
    """Seconds for the night, its grid and the plan."""
    config = load_config()
    candidates = _candidates(job, config.site.latitude_deg)
    started = time.perf_counter()
    night = compute_night(NIGHT_LABEL, config)
    night_grid(night, config, GRID_S)
    plan_night(candidates, config, night.start, night=night, grid_step_s=GRID_S)
    return time.perf_counter() - started


def astroplan(job: dict) -> float:
    """Seconds for astroplan's whole schedule."""
    config = load_config()
    candidates = _candidates(job, config.site.latitude_deg)
    problem = SimpleNamespace(begin=job["begin"], end=job["end"], ids=job["ids"])
    return astroplan_schedule(problem, candidates, config, GRID_S).seconds


def main() -> None:
    job = json.loads(sys.argv[1])
    seconds = {"ours": ours, "astroplan": astroplan}[job["which"]](job)
    sys.stdout.write(json.dumps({"seconds": seconds}) + "\n")


if __name__ == "__main__":
    main()
