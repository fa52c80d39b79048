"""Local improvement of a plan, and incremental insertion of one new sequence.

- :func:`evict_lower_priorities`: a sequence left out takes time held by lower-priority ones when
  the higher-or-equal-priority part of the timeline leaves it a place; the evicted ones are
  re-placed elsewhere if they fit. Each such move strictly improves the lexicographic objective,
  and repeating it until nothing changes guarantees that no left-out sequence could have used
  time occupied by lower priorities.
- :func:`fill_gaps`: try every left-out sequence again (moves may have opened room).
- :func:`prefer`: slide sequences towards their preferred start inside the room they have.
- :func:`insert_at_head` (alerts) and :func:`insert_one` (anything else): one new sequence into
  an existing plan in O(planned sequences), not a full re-plan.
"""

from __future__ import annotations

import numpy as np

from tasks.scheduling.draft import (
    ScheduleDraft,
    candidates_of,
    insertion_order,
    place,
    start_bounds,
)
from tasks.scheduling.objective import PRIORITY_BASE
from tasks.scheduling.timeline import EPS, Slot

#: Improvement rounds at most (each round that changes something improves the objective).
MAX_ROUNDS = 8


def improve_plan(plan: ScheduleDraft) -> None:
    """Slide towards preferred times, then evict lower priorities and fill gaps, until a round
    changes nothing (sliding can open room, so the eviction check comes last)."""
    for _ in range(MAX_ROUNDS):
        prefer(plan)
        changed = evict_lower_priorities(plan)
        changed = fill_gaps(plan) or changed
        if not changed:
            break


def left_out(plan: ScheduleDraft) -> list[int]:
    """Plannable items not on the timeline, in insertion order."""
    timeline = plan.timeline
    return insertion_order(
        plan.problem, [i for i in candidates_of(plan.problem) if i not in timeline]
    )


def fill_gaps(plan: ScheduleDraft) -> bool:
    """Place every left-out item that now fits; True if any did."""
    changed = False
    for item in left_out(plan):
        if plan.timeline.free_s + EPS < plan.problem.duration[item]:
            continue
        changed = place(plan, item) or changed
    return changed


def _could_fit(plan: ScheduleDraft, items: list[int], gaps: list[tuple[float, float]]) -> list[int]:
    """The items that have a start inside one of ``gaps`` (vectorised pre-filter)."""
    if not items or not gaps:
        return []
    problem = plan.problem
    owner, first, last, length = [], [], [], []
    for item in items:
        for a, b in problem.feasible[item]:
            owner.append(item)
            first.append(a)
            last.append(b)
            length.append(problem.duration[item])
    gap = np.asarray(gaps)
    lo = np.maximum(np.asarray(first)[:, None], gap[None, :, 0])
    hi = np.minimum(np.asarray(last)[:, None], gap[None, :, 1] - np.asarray(length)[:, None])
    hit = (lo <= hi + EPS).any(axis=1)
    found = {o for o, h in zip(owner, hit.tolist(), strict=True) if h}
    return [item for item in items if item in found]


def _eviction_cost(plan: ScheduleDraft, start: float, end: float, level: int) -> tuple[int, float]:
    """(highest evicted priority, evicted weight) if a block took ``[start, end]``."""
    problem = plan.problem
    top, weight = -1, 0.0
    for other in plan.timeline.overlapping(start, end):
        priority = problem.priority[other]
        top = max(top, priority)
        exponent = priority - level
        if exponent > -60:
            weight += problem.duration[other] * PRIORITY_BASE**exponent
    return top, weight


def _best_eviction(plan: ScheduleDraft, item: int, gaps: list[tuple[float, float]]) -> float | None:
    """The start inside a gap of the higher-or-equal timeline evicting the least (or None)."""
    problem, timeline = plan.problem, plan.timeline
    duration, level = problem.duration[item], problem.priority[item]
    best: tuple[int, float, float] | None = None
    for first, last in problem.feasible[item]:
        for gap_start, gap_end in gaps:
            lo, hi = max(first, gap_start), min(last, gap_end - duration)
            if lo > hi + EPS:
                continue
            hi = max(lo, hi)
            points = {lo, hi}
            for other in timeline.overlapping(lo, hi + duration):
                start, end = timeline.span(other)
                points.update(p for p in (end, start - duration) if lo <= p <= hi)
            for start in sorted(points):
                key = (*_eviction_cost(plan, start, start + duration, level), start)
                if best is None or key < best:
                    best = key
    return None if best is None else best[-1]


def _put_at(plan: ScheduleDraft, item: int, start: float, *, pinned: bool = False) -> None:
    """Insert ``item`` at ``start`` (the caller made the room); ``pinned``: it may not slide."""
    problem, timeline = plan.problem, plan.timeline
    duration = problem.duration[item]
    bounds = None if pinned else start_bounds(problem.feasible[item], start, duration, timeline)
    lo, hi = bounds or (start, start)
    timeline.insert(Slot(timeline.position_for(start), start, 0.0), item, duration, lo, hi)
    plan.displaced_by.pop(item, None)


def take_place(plan: ScheduleDraft, item: int, gaps: list[tuple[float, float]]) -> bool:
    """Put ``item`` in one of ``gaps`` (of the higher-or-equal timeline), evicting the lower
    priorities in the way and re-placing them where they fit; False if no gap holds it."""
    start = _best_eviction(plan, item, gaps)
    if start is None:
        return False
    duration = plan.problem.duration[item]
    evicted = plan.timeline.overlapping(start, start + duration)
    for other in evicted:
        plan.timeline.remove(other)
    _put_at(plan, item, start)
    for other in insertion_order(plan.problem, evicted):
        if not place(plan, other):
            plan.displaced_by[other] = item
    return True


def _gaps_at_or_above(plan: ScheduleDraft, level: int) -> list[tuple[float, float]]:
    problem = plan.problem
    return plan.timeline.gaps(
        keep=lambda other: problem.priority[other] >= level or other in problem.fixed
    )


def evict_lower_priorities(plan: ScheduleDraft) -> bool:
    """Let left-out sequences take time held by lower priorities; True if any did."""
    problem = plan.problem
    changed = False
    pending = left_out(plan)
    for level in sorted({problem.priority[i] for i in pending}, reverse=True):
        items = [i for i in pending if problem.priority[i] == level]
        gaps = _gaps_at_or_above(plan, level)
        for item in _could_fit(plan, items, gaps):
            if item in plan.timeline:
                continue
            if take_place(plan, item, gaps):
                changed = True
                gaps = _gaps_at_or_above(plan, level)
    return changed


def prefer(plan: ScheduleDraft, passes: int = 2) -> None:
    """Slide sequences with a preferred start towards it, inside their room (set unchanged)."""
    problem, timeline = plan.problem, plan.timeline
    for _ in range(passes):
        for index, item in enumerate(timeline.items):
            wanted = problem.preferred[item]
            if wanted is None or item in problem.fixed:
                continue
            length = timeline.ends[index] - timeline.starts[index]
            left = timeline.ends[index - 1] if index else timeline.begin
            right = (
                timeline.starts[index + 1] if index + 1 < len(timeline) else timeline.end
            ) - length
            lo, hi = max(timeline.lo[index], left), min(timeline.hi[index], right)
            if lo > hi + EPS:
                continue
            target = min(max(wanted, lo), hi)
            if abs(target - timeline.starts[index]) > EPS:
                timeline.move(item, target)


def insert_one(plan: ScheduleDraft, item: int) -> bool:
    """Insert one new item: where it fits (sliding others), else in place of lower priorities.

    Incremental: touches only the timeline (tens of blocks), whatever the number of sequences.
    """
    if not plan.problem.feasible[item]:
        return False
    if place(plan, item):
        return True
    return take_place(plan, item, _gaps_at_or_above(plan, plan.problem.priority[item]))


def insert_at_head(plan: ScheduleDraft, item: int) -> bool:
    """Insert an alert sequence as early as it can be observed.

    It starts at the earliest feasible instant that does not overlap a fixed block; the planned
    sequences after it slide right inside their windows, and those that cannot are displaced
    (re-placed elsewhere if they fit, else left out with the reason). False when the alert
    cannot be observed tonight.
    """
    problem, timeline = plan.problem, plan.timeline
    duration = problem.duration[item]
    fixed = [timeline.span(i) for i in problem.fixed if i in timeline]
    start = _earliest_clear(problem.feasible[item], duration, fixed, timeline.begin, timeline.end)
    if start is None:
        return False
    moved = [
        (other, s, e - s, *timeline.bounds(other))
        for other, s, e in list(timeline)
        if other not in problem.fixed and e > start + EPS
    ]
    for other, *_ in moved:
        timeline.remove(other)
    # Pinned: re-placing what it displaced must not push the alert back.
    _put_at(plan, item, start, pinned=True)
    cursor = start + duration
    displaced = []
    for other, old_start, length, lo, hi in moved:
        new_start = _clear_of(max(old_start, cursor), length, fixed)
        if new_start > hi + EPS:
            displaced.append(other)
            continue
        timeline.insert(
            Slot(timeline.position_for(new_start), new_start, 0.0), other, length, lo, hi
        )
        cursor = new_start + length
    for other in insertion_order(problem, displaced):
        if not place(plan, other):
            plan.displaced_by[other] = item
    # Unpinned afterwards: a later alert may slide this one right inside its window.
    bounds = start_bounds(problem.feasible[item], start, duration, timeline)
    if bounds is not None:
        timeline.set_bounds(item, *bounds)
    return True


def _clear_of(start: float, length: float, fixed: list[tuple[float, float]]) -> float:
    """The first instant at or after ``start`` where ``length`` seconds miss every fixed block."""
    for fixed_start, fixed_end in sorted(fixed):
        if start < fixed_end - EPS and start + length > fixed_start + EPS:
            start = fixed_end
    return start


def _earliest_clear(
    feasible: list[tuple[float, float]],
    duration: float,
    fixed: list[tuple[float, float]],
    begin: float,
    end: float,
) -> float | None:
    for first, last in feasible:
        start = _clear_of(max(first, begin), duration, fixed)
        if start <= min(last, end - duration) + EPS:
            return start
    return None
