"""Planning: priority-first insertion with sliding, then local improvement.

1. **Insertion.** Sequences are taken by priority (highest first), then longest first (the
   objective counts time), then least flexible, then id. Each goes where it fits: in a gap if it
   can (closest to its preferred start, else the earliest), otherwise by sliding the planned
   sequences left and right inside their own observable windows to make room
   (:meth:`~tasks.scheduling.timeline.Timeline.find`).
2. **Improvement** (:mod:`tasks.scheduling.improve`): a sequence left out takes the place of
   lower-priority ones whose time it could use (they are re-placed elsewhere if they fit), gaps
   are filled again, and the sequences slide towards their preferred start times.

The executing sequence is a fixed block and never moves. Everything is deterministic: orders are
total (ties end on the sequence id) and nothing depends on hashing or the clock. The draft being
built and the placing of one item are in :mod:`tasks.scheduling.draft`.
"""

from __future__ import annotations

from tasks.scheduling.draft import (
    ScheduleDraft,
    candidates_of,
    insertion_order,
    new_draft,
    place,
    start_bounds,
)
from tasks.scheduling.improve import improve_plan
from tasks.scheduling.problem import Problem
from tasks.scheduling.timeline import EPS, Slot


def plan(problem: Problem, *, improve: bool = True) -> ScheduleDraft:
    """Plan ``problem``: priority-first insertion, then local improvement.

    Parameters
    ----------
    problem : Problem
        From :func:`~tasks.scheduling.problem.build_problem`.
    improve : bool
        Run the improvement steps (eviction of lower priorities, gap filling, preferred times).

    Returns
    -------
    ScheduleDraft
        Deterministic for the same problem.
    """
    result = new_draft(problem)
    for item in insertion_order(problem, candidates_of(problem)):
        place(result, item)
    if improve:
        improve_plan(result)
    return result


def restore(problem: Problem, blocks: list[tuple[int, float]]) -> ScheduleDraft:
    """A draft with ``blocks`` (item, start) put back where a previous plan had them.

    Blocks that no longer fit there (their start has passed, their window changed) are placed
    again like new ones.
    """
    result = new_draft(problem)
    again = []
    for item, start in sorted(blocks, key=lambda b: (b[1], problem.ids[b[0]])):
        if item in problem.fixed or item in result.timeline:
            continue
        duration = problem.duration[item]
        bounds = start_bounds(problem.feasible[item], start, duration, result.timeline)
        free = not result.timeline.overlapping(start, start + duration)
        if bounds is None or not bounds[0] - EPS <= start <= bounds[1] + EPS or not free:
            again.append(item)
            continue
        slot = Slot(result.timeline.position_for(start), start, 0.0)
        result.timeline.insert(slot, item, duration, *bounds)
    for item in insertion_order(problem, again):
        place(result, item)
    return result
