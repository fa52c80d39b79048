"""``make bench B=scheduler``: planning speed and quality, side by side with astroplan and an exact
integer program, on the same generated sequences for one night at the site (2026-11-24).

Sequences: random positions over the part of the sky that reaches 30 deg at the site, random
windows (opening between an hour before dusk and an hour before dawn, 1 to 8 hours long),
durations 5-30 min, priorities 1-5, altitude >= 30 deg, the site's moon distance (15 deg) and the
night between nautical twilights. One JSON line per n:

- n = 30, 100: ``seconds`` (best of 3: observability + planning, the night already known as it is
  for every re-plan), ``cold_seconds`` (the night and its grid computed too),
  ``astroplan_seconds`` (PriorityScheduler, same blocks and constraints, 60 s resolution, our
  priority p mapped to its convention as 6 - p), ``speedup_vs_astroplan``,
  ``weighted_time_ratio_vs_astroplan`` (our objective, sum of duration * B**priority, on both
  schedules), and per-priority scheduled seconds of both;
- n = 30: ``optimality_ratio`` against the exact optimum of the time-indexed integer program
  (scipy.optimize.milp / HiGHS, 60 s slots, same objective solved level by level), and the same on
  5 more generated instances (``optimality_other_seeds``);
- n = 1000, 10000: ``seconds``; n = 1000: ``insert_alert_ms`` (one alert at the head of the
  planned night, its observability included; best of 5);
- n = 10000 with ``database``: the whole path on SQLite (load, plan, save the schedule and every
  state change), a re-plan 30 minutes later, and one incremental insertion.

Nothing is downloaded: astropy runs offline (infra.astro) before astroplan is imported.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np

from infra.config import load_config
from tasks.scheduling.night_times import Night, compute_night, night_for, night_grid
from tasks.scheduling.objective import compare, evaluate, weighted_time
from tasks.scheduling.problem import Candidate
from tasks.scheduling.tonight import add_sequence, plan_night
from tests.benchmarks.common import emit, machine

NIGHT_LABEL = "2026-11-24"
SEED = 20261124
#: More n = 30 instances for the optimality ratio.
EXTRA_SEEDS = 5
LATITUDE_REACH_DEG = 30.0


def generate(count: int, night: Night, latitude_deg: float, seed: int) -> list[Candidate]:
    """``count`` sequences as described in the module docstring (deterministic per seed)."""
    rng = np.random.default_rng(seed + count)
    lowest_dec = np.radians(latitude_deg - (90.0 - LATITUDE_REACH_DEG))
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(lowest_dec), 1.0, count)))
    ra = rng.uniform(0.0, 360.0, count)
    night_s = night.duration_s
    opens = rng.uniform(-3600.0, night_s - 3600.0, count)
    lengths = rng.uniform(3600.0, 8 * 3600.0, count)
    durations = rng.uniform(300.0, 1800.0, count)
    priorities = rng.integers(1, 6, count)
    return [
        Candidate(
            id=i + 1,
            priority=int(priorities[i]),
            duration_s=float(durations[i]),
            window_start=night.start + timedelta(seconds=float(opens[i])),
            window_end=night.start + timedelta(seconds=float(opens[i] + lengths[i])),
            ra_deg=float(ra[i]),
            dec_deg=float(dec[i]),
            min_altitude_deg=LATITUDE_REACH_DEG,
            name=f"bench{i + 1:05d}",
        )
        for i in range(count)
    ]


def _timed_plan(candidates, config, night, repeats: int):
    best, outcome = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        outcome = plan_night(candidates, config, night.start, night=night)
        best = min(best, time.perf_counter() - started)
    return best, outcome


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


def _cold_seconds(candidates, config) -> float:
    from tasks.scheduling import night_times as night_module

    night_module._nights.clear()
    night_module._grids.clear()
    started = time.perf_counter()
    night = compute_night(NIGHT_LABEL, config)
    night_grid(night, config)
    plan_night(candidates, config, night.start, night=night)
    return time.perf_counter() - started


def side_by_side(count: int, config, night: Night) -> None:
    from tests.benchmarks.scheduler_reference import astroplan_schedule, milp_optimum

    candidates = generate(count, night, config.site.latitude_deg, SEED)
    seconds, outcome = _timed_plan(candidates, config, night, repeats=3)
    cold = _cold_seconds(candidates, config)
    night = night_for(NIGHT_LABEL, config)
    night_grid(night, config)
    problem = outcome.plan.problem
    ours = [i for i, _, _ in outcome.plan.timeline]
    astro = astroplan_schedule(problem, candidates, night, config)
    figures = {
        "n": count,
        "seconds": round(seconds, 4),
        "cold_seconds": round(cold, 4),
        "astroplan_seconds": round(astro.seconds, 3),
        "speedup_vs_astroplan": round(astro.seconds / seconds, 1),
        # Unrounded: with B = 86401 a difference at priority 4 shows in the 6th decimal.
        "weighted_time_ratio_vs_astroplan": _weighted(problem, ours)
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
            optimality_other_seeds=optimality_over_seeds(count, config, night, EXTRA_SEEDS),
        )
    emit("scheduler", **figures, **machine())


def optimality_over_seeds(count: int, config, night: Night, seeds: int) -> dict:
    """The optimality ratio on ``seeds`` more generated instances (one instance proves little)."""
    from tests.benchmarks.scheduler_reference import milp_optimum

    ratios, verdicts = [], []
    for seed in range(1, seeds + 1):
        candidates = generate(count, night, config.site.latitude_deg, SEED + 7919 * seed)
        outcome = plan_night(candidates, config, night.start, night=night)
        problem = outcome.plan.problem
        ours = [i for i, _, _ in outcome.plan.timeline]
        exact = milp_optimum(problem)
        ratios.append(_weighted(problem, ours) / _weighted(problem, exact.starts))
        verdicts.append(_verdict(problem, ours, list(exact.starts)))
    return {
        "instances": seeds,
        "worst_ratio": min(ratios),
        "lexicographically_equal": verdicts.count("equal") + verdicts.count("better"),
    }


def scale(count: int, config, night: Night) -> None:
    candidates = generate(count, night, config.site.latitude_deg, SEED)
    seconds, outcome = _timed_plan(candidates, config, night, repeats=3 if count <= 1000 else 2)
    figures = {
        "n": count,
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
            ingest_request_bytes(xml, f"bench-{part}.xml", engine=engine, clock=clock)
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
    night = night_for(NIGHT_LABEL, config)
    night_grid(night, config)
    plan_night(generate(10, night, config.site.latitude_deg, SEED), config, night.start)  # warm
    for count in (30, 100):
        side_by_side(count, config, night)
        night = night_for(NIGHT_LABEL, config)
    for count in (1000, 10000):
        scale(count, config, night)
    database_round_trip(10000)


if __name__ == "__main__":
    main()
