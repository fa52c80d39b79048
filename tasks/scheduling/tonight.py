"""Plan tonight from candidates, and add an alert to a plan: the pure entry points.

No database and no Prefect here: :mod:`tasks.scheduling.schedule_rows` loads candidates and saves
the result, :mod:`tasks.scheduling.prefect_tasks` wraps both for flows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.config import SiteConfig
from tasks.scheduling import reasons as why
from tasks.scheduling.draft import Entry, ScheduleDraft
from tasks.scheduling.improve import insert_at_head, insert_one
from tasks.scheduling.night_times import GRID_STEP_S, Night, night_grid, night_to_plan
from tasks.scheduling.objective import Objective
from tasks.scheduling.planner import plan, restore
from tasks.scheduling.problem import Candidate, Executing, add_candidates, build_problem
from tasks.scheduling.shares import ProgramUse, fair_keys


@dataclass
class PlannedNight:
    """A plan for (the rest of) a night, with what it took to make it."""

    night: Night
    now: datetime
    plan: ScheduleDraft
    seconds: float

    def entries(self) -> list[Entry]:
        """The plan's entries (planned by start, then the others)."""
        return self.plan.entries()

    def objective(self) -> Objective:
        """The plan's objective."""
        return self.plan.objective()

    def summary(self, entries: list[Entry] | None = None) -> dict[str, Any]:
        """Counts and figures for the schedule's details, events and the CLI (``entries``: this
        outcome's, when the caller already has them)."""
        entries = self.entries() if entries is None else entries
        planned = [e for e in entries if e.planned and not e.executing]
        planned_s = sum(
            (e.end - e.start).total_seconds()
            for e in planned
            if e.start is not None and e.end is not None
        )
        reasons = Counter(why.code_of(e.reason) for e in entries if not e.planned)
        objective = self.objective()
        return {
            "night": self.night.label,
            "planned": len(planned),
            "unplanned": sum(reasons.values()),
            "unplanned_by_reason": dict(sorted(reasons.items())),
            "planned_hours": round(planned_s / 3600.0, 4),
            "free_hours": round(self.plan.timeline.free_s / 3600.0, 4),
            "plan_begin": datetime.fromtimestamp(self.plan.problem.begin, self.now.tzinfo),
            "plan_end": datetime.fromtimestamp(self.plan.problem.end, self.now.tzinfo),
            "objective": objective.as_dict(),
            "planning_seconds": round(self.seconds, 6),
        }


def plan_night(
    candidates: Sequence[Candidate],
    config: SiteConfig,
    now: datetime,
    *,
    executing: Sequence[Executing] = (),
    night: Night | None = None,
    grid_step_s: float = GRID_STEP_S,
    uses: Mapping[str, ProgramUse] | None = None,
) -> PlannedNight:
    """Plan the rest of the night from ``now``.

    Parameters
    ----------
    candidates : sequence of Candidate
        Sequences to plan (to-be-planned, planned, unplannable, interrupted).
    config : SiteConfig
        The site.
    now : datetime
        The planning instant (from the clock); nothing is planned before it.
    executing : sequence of Executing
        What is on the telescope now (kept as it is).
    night : Night, optional
        The night (default: :func:`~tasks.scheduling.night_times.night_to_plan` at ``now``).
    grid_step_s : float, optional
        Spacing of the grid the altitudes and the moon are sampled on (the default serves the
        night; the benchmark plans on astroplan's 60 s grid to compare like for like).
    uses : mapping, optional
        Program name -> quota and hours used: among equal priorities, the program furthest
        below its share goes first (:mod:`tasks.scheduling.shares`). None: no time allocation.
    """
    started = time.perf_counter()
    night = night or night_to_plan(now, config)
    grid = night_grid(night, config, grid_step_s)
    problem = build_problem(candidates, night, grid, config, now, executing)
    if uses:
        problem.fair_key = fair_keys(problem, candidates, uses)
    result = plan(problem)
    return PlannedNight(night, now, result, time.perf_counter() - started)


def resume_plan(
    candidates: Sequence[Candidate],
    starts: dict[int, datetime],
    config: SiteConfig,
    now: datetime,
    *,
    executing: Sequence[Executing] = (),
    night: Night | None = None,
) -> PlannedNight:
    """The plan a previous schedule had: ``starts`` maps sequence ids to their planned start
    (sequences whose start no longer fits are placed again). No re-planning of the rest."""
    started = time.perf_counter()
    night = night or night_to_plan(now, config)
    grid = night_grid(night, config)
    problem = build_problem(candidates, night, grid, config, now, executing)
    index = {sid: i for i, sid in enumerate(problem.ids)}
    blocks = [(index[sid], s.timestamp()) for sid, s in starts.items() if sid in index]
    result = restore(problem, blocks)
    return PlannedNight(night, now, result, time.perf_counter() - started)


def add_sequence(
    outcome: PlannedNight, candidate: Candidate, config: SiteConfig, *, at_head: bool
) -> tuple[PlannedNight, bool]:
    """Insert one new sequence into ``outcome``'s plan, incrementally (not a full re-plan).

    ``at_head``: an alert, as early as it can be observed, later sequences sliding right or
    displaced; otherwise where it fits, sliding others or taking time from lower priorities.
    Returns the updated outcome (same objects, mutated) and whether the sequence was planned.
    """
    started = time.perf_counter()
    grid = night_grid(outcome.night, config)
    (item,) = add_candidates(
        outcome.plan.problem, [candidate], outcome.night, grid, config, outcome.now
    )
    inserted = (insert_at_head if at_head else insert_one)(outcome.plan, item)
    outcome.seconds = time.perf_counter() - started
    return outcome, inserted
