"""``make bench B=scheduler``: planning speed and quality, side by side with astroplan and an exact
integer program, on the same generated sequences for one night at the site (2026-11-24).

Sequences (:func:`tests.benchmarks.scheduler_common.generate`, drawn from ``SCHEDULER_SEED``,
random when unset and printed as ``seed``): random positions over the part of the sky that
reaches 30 deg at the site, random windows, durations 5-30 min, priorities 1-5, altitude >= 30 deg,
the site's moon distance (15 deg) and the night between nautical twilights. One JSON line per n:

- n = 30, 100, like for like: both planners on the same sequences, constraints, dark span and
  60 s grid (ours samples altitudes and the moon on it, astroplan's ``time_resolution``).
  ``cold_seconds`` / ``astroplan_cold_seconds``: each in a fresh process, imports done, nothing
  computed (ours: night, grid and plan; astroplan: observer, blocks and schedule);
  ``speedup_cold_same_grid`` is their ratio. ``warm_seconds`` (ours, best of 3 with the night and
  grid cached: the re-planning case) and ``astroplan_warm_seconds`` (best of 3 in a process that
  has run it once: astroplan has no cache across calls); ``speedup_warm_same_grid``.
  ``weighted_time_ratio_same_grid`` (our objective, sum of duration * B**priority, on both
  schedules), lexicographic verdict, per-priority scheduled seconds;
  ``production_grid_warm_seconds``: ours on the grid the night really uses (600 s), for reference.
- n = 30: ``optimality_ratio`` of the 60 s-grid plan against the exact optimum of the
  time-indexed integer program (scipy.optimize.milp / HiGHS, 60 s slots, same objective solved
  level by level), and the same on 5 more instances (``optimality_other_seeds``);
- n = 1000, 10000: ``seconds`` (production grid); n = 1000: ``insert_alert_ms`` (one alert at
  the head of the planned night, its observability included; best of 5);
- n = 10000 with ``database``: the whole path on SQLite (load, plan, save the schedule and every
  state change), a re-plan 30 minutes later, and one incremental insertion.

Nothing is downloaded: astropy runs offline (infra.astro) before astroplan is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

from infra.config import load_config
from tasks.scheduling.night_times import Night, night_for
from tasks.scheduling.objective import compare, evaluate, weighted_time
from tasks.scheduling.problem import Candidate
from tasks.scheduling.tonight import add_sequence, plan_night
from tests.benchmarks.common import emit, machine
from tests.benchmarks.scheduler_common import GRID_S, NIGHT_LABEL, draw_seed
from tests.benchmarks.scheduler_common import generate as _generate

#: More n = 30 instances for the optimality ratio.
EXTRA_SEEDS = 5


def generate(count: int, night: Night, latitude_deg: float, seed: int) -> list[Candidate]:
    """``count`` sequences for ``night`` (see :mod:`tests.benchmarks.scheduler_common`)."""
    assert night.start is not None
    return _generate(count, night.start, night.duration_s, latitude_deg, seed)


def _timed_plan(candidates, config, night, repeats: int, grid_s: float | None = None):
    best, outcome = float("inf"), None
    extra = {} if grid_s is None else {"grid_step_s": grid_s}
    for _ in range(repeats):
        started = time.perf_counter()
        outcome = plan_night(candidates, config, night.start, night=night, **extra)
        best = min(best, time.perf_counter() - started)
    return best, outcome


def _cold(which: str, count: int, seed: int, night: Night, problem) -> float:
    """One cold run in a fresh process (:mod:`tests.benchmarks.scheduler_cold`)."""
    job = {
        "which": which,
        "count": count,
        "seed": seed,
        "night_start": night.start.isoformat(),
        "night_s": night.duration_s,
        "begin": problem.begin,
        "end": problem.end,
        "ids": list(problem.ids),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.scheduler_cold", json.dumps(job)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _per_priority(problem, items) -> dict[str, float]:
    objective = evaluate([problem.priority[i] for i in items], [problem.duration[i] for i in items])
    return {str(p): round(s, 1) for p, s in sorted(objective.seconds_by_priority.items())}


def _weighted(problem, items) -> float:
    return weighted_time([problem.priority[i] for i in items], [problem.duration[i] for i in items])


def _verdict(problem, ours, theirs) -> str:
    """better / equal / worse: our schedule against another, lexicographically by priority."""
    mine = evaluate([problem.priority[i] for i in ours], [problem.duration[i] for i in ours])
    other = evaluate([problem.priority[i] for i in theirs], [problem.duration[i] for i in theirs])
    return {1: "better", 0: "equal", -1: "worse"}[compare(mine, other)]


def side_by_side(count: int, config, night: Night, seed: int) -> None:
    from tests.benchmarks.scheduler_reference import astroplan_schedule, milp_optimum

    candidates = generate(count, night, config.site.latitude_deg, seed)
    warm, outcome = _timed_plan(candidates, config, night, repeats=3, grid_s=GRID_S)
    production, _ = _timed_plan(candidates, config, night, repeats=3)
    problem = outcome.plan.problem
    ours = [i for i, _, _ in outcome.plan.timeline]
    astro = astroplan_schedule(problem, candidates, config, GRID_S)
    astro_warm = min(
        [astro.seconds]
        + [astroplan_schedule(problem, candidates, config, GRID_S).seconds for _ in range(2)]
    )
    cold = _cold("ours", count, seed, night, problem)
    astro_cold = _cold("astroplan", count, seed, night, problem)
    figures = {
        "n": count,
        "seed": seed,
        "grid_s": GRID_S,
        "cold_seconds": round(cold, 4),
        "astroplan_cold_seconds": round(astro_cold, 3),
        "speedup_cold_same_grid": round(astro_cold / cold, 1),
        "warm_seconds": round(warm, 4),
        "astroplan_warm_seconds": round(astro_warm, 3),
        "speedup_warm_same_grid": round(astro_warm / warm, 1),
        "production_grid_warm_seconds": round(production, 4),
        # Unrounded: with B = 86401 a difference at priority 4 shows in the 6th decimal.
        "weighted_time_ratio_same_grid": _weighted(problem, ours)
        / max(_weighted(problem, astro.starts), 1e-300),
        "lexicographic_vs_astroplan": _verdict(problem, ours, list(astro.starts)),
        "planned": len(ours),
        "astroplan_planned": len(astro.starts),
        "seconds_by_priority": _per_priority(problem, ours),
        "astroplan_seconds_by_priority": _per_priority(problem, list(astro.starts)),
    }
    if count == 30:
        exact = milp_optimum(problem)
        figures.update(
            optimality_ratio=_weighted(problem, ours) / _weighted(problem, exact.starts),
            lexicographic_vs_milp=_verdict(problem, ours, list(exact.starts)),
            milp_seconds=round(exact.seconds, 2),
            milp_proven_optimal=exact.optimal,
            milp_seconds_by_priority=_per_priority(problem, list(exact.starts)),
            optimality_other_seeds=optimality_over_seeds(count, config, night, seed),
        )
    emit("scheduler", **figures, **machine())


def optimality_over_seeds(count: int, config, night: Night, seed: int) -> dict:
    """The optimality ratio (60 s grid) on ``EXTRA_SEEDS`` more instances drawn after ``seed``
    (one instance proves little)."""
    from tests.benchmarks.scheduler_reference import milp_optimum

    ratios, verdicts = [], []
    for extra in range(1, EXTRA_SEEDS + 1):
        candidates = generate(count, night, config.site.latitude_deg, seed + 7919 * extra)
        outcome = plan_night(candidates, config, night.start, night=night, grid_step_s=GRID_S)
        problem = outcome.plan.problem
        ours = [i for i, _, _ in outcome.plan.timeline]
        exact = milp_optimum(problem)
        ratios.append(_weighted(problem, ours) / _weighted(problem, exact.starts))
        verdicts.append(_verdict(problem, ours, list(exact.starts)))
    return {
        "instances": EXTRA_SEEDS,
        "worst_ratio": min(ratios),
        "lexicographically_equal": verdicts.count("equal") + verdicts.count("better"),
    }


def scale(count: int, config, night: Night, seed: int) -> None:
    candidates = generate(count, night, config.site.latitude_deg, seed)
    seconds, outcome = _timed_plan(candidates, config, night, repeats=3 if count <= 1000 else 2)
    figures = {
        "n": count,
        "seed": seed,
        "seconds": round(seconds, 4),
        "planned": len(outcome.plan.timeline),
        "planned_hours": outcome.summary()["planned_hours"],
    }
    if count == 1000:
        figures["insert_alert_ms"] = round(insert_alert_ms(candidates, config, night), 3)
    emit("scheduler", **figures, **machine())


def insert_alert_ms(candidates, config, night: Night, repeats: int = 5) -> float:
    """One alert at the zenith an hour into the night, inserted at the head of the plan made
    then (its observability computed at insertion); best of ``repeats``, in milliseconds."""
    from astropy.time import Time

    now = night.start + timedelta(hours=1)
    lst = Time(now).sidereal_time("apparent", longitude=config.site.longitude_deg).deg
    alert = Candidate(
        id=10**9,
        priority=100,
        duration_s=900.0,
        window_start=now,
        window_end=now + timedelta(hours=12),
        ra_deg=float(lst),
        dec_deg=config.site.latitude_deg,
        name="GRB alert",
    )
    best = float("inf")
    for _ in range(repeats):
        outcome = plan_night(candidates, config, now, night=night)
        started = time.perf_counter()
        _, inserted = add_sequence(outcome, alert, config, at_head=True)
        best = min(best, time.perf_counter() - started)
        assert inserted and outcome.entries()[0].sequence_id == alert.id
    return best * 1000.0


def database_round_trip(count: int) -> None:
    """The whole path on SQLite: ``count`` stored sequences planned and saved (every state change
    through the state machine), re-planned 30 minutes later, then one sequence inserted."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from infra.clock import DiscreteEventClock
    from infra.db import session_scope
    from infra.db.bootstrap import init_database
    from infra.db.engine import create_pyros_engine
    from infra.db.models import Sequence
    from tasks.requests.ingest import ingest_request_bytes
    from tasks.scheduling.schedule_rows import insert_and_save, plan_and_save
    from tests.benchmarks.common import isolated_home
    from tests.support.requests import many_sequences_xml

    with isolated_home() as home:
        config = load_config()
        clock = DiscreteEventClock(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
        engine = create_pyros_engine(f"sqlite:///{home / 'bench.db'}")
        init_database(engine, config)
        xml = many_sequences_xml(1000).encode()
        for part in range(count // 1000):
            ingest_request_bytes(xml, f"bench-{part}.xml", engine=engine, clock=clock, again=True)
        figures = {"n": count, "database": "sqlite"}
        started = time.perf_counter()
        result = plan_and_save(engine=engine, config=config, clock=clock)
        figures["plan_and_save_seconds"] = round(time.perf_counter() - started, 3)
        clock.advance(1800)
        started = time.perf_counter()
        plan_and_save(engine=engine, config=config, clock=clock)
        figures["replan_and_save_seconds"] = round(time.perf_counter() - started, 3)
        with session_scope(engine) as session:
            waiting = session.scalars(
                select(Sequence.id).where(Sequence.state == "unplannable").limit(1)
            ).first()
        started = time.perf_counter()
        inserted = insert_and_save(waiting, engine=engine, config=config, clock=clock)
        figures["insert_and_save_seconds"] = round(time.perf_counter() - started, 3)
        figures["insert_planning_ms"] = round(inserted["planning_seconds"] * 1000, 3)
        figures["planned"] = result["planned"]
        engine.dispose()
    emit("scheduler", **figures, **machine())


def main() -> None:
    config = load_config()
    seed = draw_seed()
    night = night_for(NIGHT_LABEL, config)
    for count in (30, 100):
        side_by_side(count, config, night, seed)
    for count in (1000, 10000):
        scale(count, config, night, seed)
    database_round_trip(10000)


if __name__ == "__main__":
    main()
