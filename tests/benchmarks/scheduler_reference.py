"""References the scheduler is measured against: an exact integer program and astroplan.

- :func:`milp_optimum`: the exact optimum of a time-indexed integer program with the scheduler's
  objective (scipy.optimize.milp, i.e. HiGHS). Starts lie on a grid (60 s), durations are rounded
  up to whole slots, and every start must lie in one of the sequence's feasible start intervals
  computed by the scheduler (same night, windows and observability). Its schedules are therefore
  valid in continuous time too, so the planner may do slightly better than it. The lexicographic
  objective is solved level by level (maximise the time at the top priority, fix it, then the
  next), which is exact and keeps the coefficients small.
- :func:`astroplan_schedule`: astroplan's PriorityScheduler on the same blocks and constraints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from tasks.scheduling.problem import Problem


@dataclass(frozen=True)
class Reference:
    """A reference schedule: the items it schedules (with starts) and how long it took."""

    starts: dict[int, float]
    seconds: float
    optimal: bool = True
    detail: str = ""


def milp_optimum(problem: Problem, resolution_s: float = 60.0, time_limit_s: float = 600.0):
    """Exact optimum of the time-indexed program (see the module docstring)."""
    from scipy.optimize import LinearConstraint, milp
    from scipy.sparse import coo_array

    started = time.perf_counter()
    begin, end = problem.begin, problem.end
    slots = math.floor((end - begin) / resolution_s)
    owners, start_slots, lengths = [], [], []
    for item in range(len(problem)):
        if item in problem.fixed or not problem.feasible[item]:
            continue
        length = math.ceil(problem.duration[item] / resolution_s - 1e-9)
        for first, last in problem.feasible[item]:
            k0 = max(0, math.ceil((first - begin) / resolution_s - 1e-9))
            k1 = min(slots - length, math.floor((last - begin) / resolution_s + 1e-9))
            for k in range(k0, k1 + 1):
                owners.append(item)
                start_slots.append(k)
                lengths.append(length)
    variables = len(owners)
    if variables == 0:
        return Reference({}, time.perf_counter() - started)
    owners_a = np.asarray(owners)
    starts_a = np.asarray(start_slots)
    lengths_a = np.asarray(lengths)
    # Each item at most once.
    items = sorted(set(owners))
    row_of_item = {item: row for row, item in enumerate(items)}
    once = coo_array(
        (np.ones(variables), ([row_of_item[o] for o in owners], np.arange(variables))),
        shape=(len(items), variables),
    ).tocsr()
    # Each slot used by at most one start.
    rows = np.concatenate([starts_a + j for j in range(int(lengths_a.max()))])
    cols = np.concatenate([np.arange(variables)] * int(lengths_a.max()))
    within = np.concatenate([j < lengths_a for j in range(int(lengths_a.max()))])
    occupancy = coo_array(
        (np.ones(int(within.sum())), (rows[within], cols[within])), shape=(slots, variables)
    ).tocsr()
    duration = np.asarray([problem.duration[o] for o in owners])
    priority = np.asarray([problem.priority[o] for o in owners])
    constraints = [
        LinearConstraint(once, -np.inf, 1.0),
        LinearConstraint(occupancy, -np.inf, 1.0),
    ]
    optimal = True
    solution = None
    for level in sorted(set(priority.tolist()), reverse=True):
        weights = np.where(priority == level, duration, 0.0)
        result = milp(
            -weights,
            constraints=constraints,
            integrality=np.ones(variables),
            bounds=(0, 1),
            options={"time_limit": time_limit_s, "mip_rel_gap": 0.0},
        )
        if result.x is None:
            raise RuntimeError(f"MILP failed at priority {level}: {result.message}")
        optimal = optimal and result.status == 0
        solution = result.x
        best = float(weights @ np.round(result.x))
        # Keep this level's optimum (less a hair for floating point) while solving the next.
        constraints.append(LinearConstraint(weights[np.newaxis, :], best - 1e-6, np.inf))
    chosen = np.flatnonzero(np.round(solution) > 0.5)
    starts = {int(owners_a[v]): begin + float(starts_a[v]) * resolution_s for v in chosen}
    return Reference(
        starts, time.perf_counter() - started, optimal, f"{variables} variables, {slots} slots"
    )


def astroplan_schedule(problem: Problem, candidates, config, resolution_s: float = 60.0):
    """astroplan's PriorityScheduler on the same sequences (astroplan: 1 = most important).

    The time counts everything astroplan does: its observer, targets, blocks and the schedule
    (astroplan is imported before, as our planner is imported before it is timed)."""
    import warnings

    import astropy.units as u
    from astroplan import (
        AltitudeConstraint,
        AtNightConstraint,
        FixedTarget,
        MoonSeparationConstraint,
        Observer,
        ObservingBlock,
        PriorityScheduler,
        Schedule,
        TimeConstraint,
        Transitioner,
    )
    from astroplan.utils import BACKUP_Time_get_delta_ut1_utc
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    from infra.astro import site_location

    # astroplan's import falls back to low-precision UT1 (patching astropy's Time for the whole
    # process) when no IERS table opens; astropy is set offline with the bundled tables, so
    # that must not have happened: the figures would then compare different astronomy.
    if Time._get_delta_ut1_utc is not BACKUP_Time_get_delta_ut1_utc:
        raise RuntimeError("astroplan fell back to low-precision UT1: no IERS table available")
    started = time.perf_counter()
    observer = Observer(location=site_location(config.site))
    top = max(c.priority for c in candidates)
    blocks = []
    index_of = {sid: i for i, sid in enumerate(problem.ids)}
    for candidate in candidates:
        target = FixedTarget(
            SkyCoord(candidate.ra_deg * u.deg, candidate.dec_deg * u.deg), name=str(candidate.id)
        )
        constraints = [
            AltitudeConstraint(
                min=(candidate.min_altitude_deg or config.limits.min_altitude_deg) * u.deg
            ),
            TimeConstraint(Time(candidate.window_start), Time(candidate.window_end)),
        ]
        blocks.append(
            ObservingBlock(
                target,
                candidate.duration_s * u.s,
                top + 1 - candidate.priority,
                constraints=constraints,
                name=str(candidate.id),
            )
        )
    global_constraints = [
        AtNightConstraint(max_solar_altitude=config.night.sun_altitude_deg * u.deg),
        MoonSeparationConstraint(min=config.limits.min_moon_distance_deg * u.deg),
    ]
    # Durations already hold the worst-case slew: no transition blocks on top of it.
    scheduler = PriorityScheduler(
        constraints=global_constraints,
        observer=observer,
        transitioner=Transitioner(),
        time_resolution=resolution_s * u.s,
    )
    schedule = Schedule(Time(problem.begin, format="unix"), Time(problem.end, format="unix"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler(blocks, schedule)
    seconds = time.perf_counter() - started
    starts = {
        index_of[int(block.name)]: float(block.start_time.unix)
        for block in schedule.scheduled_blocks
        if isinstance(block, ObservingBlock)
    }
    return Reference(starts, seconds)
