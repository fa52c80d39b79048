"""Independent checks of a plan, shared by the scheduler's tests (they re-derive every rule
from the problem instead of trusting the planner's own bookkeeping)."""

from __future__ import annotations

import itertools

from tasks.scheduling.draft import ScheduleDraft
from tasks.scheduling.problem import Problem

#: Sub-millisecond room is floating-point noise, not time a sequence could use.
NOISE_S = 1e-3


def make_problem(items: list[dict], begin: float = 0.0, end: float = 10_000.0) -> Problem:
    """A problem without astronomy: each item gives id, priority, duration, feasible starts and
    optionally preferred, fixed (start, end) and name."""
    problem = Problem(begin=begin, end=end)
    for spec in items:
        index = problem.add(
            spec["id"],
            spec.get("priority", 1),
            spec["duration"],
            name=spec.get("name", f"s{spec['id']}"),
            preferred=spec.get("preferred"),
            feasible=[tuple(f) for f in spec.get("feasible", [])],
            reason=spec.get("reason", ""),
        )
        if "fixed" in spec:
            problem.fixed[index] = tuple(spec["fixed"])
    return problem


def free_stretches(plan: ScheduleDraft, level: int) -> list[tuple[float, float]]:
    """Free time when only blocks of priority >= level (and fixed ones) count."""
    problem = plan.problem
    busy = sorted(
        (s, e)
        for item, s, e in plan.timeline
        if problem.priority[item] >= level or item in problem.fixed
    )
    free, cursor = [], problem.begin
    for s, e in busy:
        if s > cursor:
            free.append((cursor, min(s, problem.end)))
        cursor = max(cursor, e)
    if problem.end > cursor:
        free.append((cursor, problem.end))
    return free


def assert_valid(plan: ScheduleDraft) -> None:
    """No overlap; every block lasts its duration, inside the horizon and one of its feasible
    start intervals; fixed blocks where they were; everything else left out with a reason."""
    problem = plan.problem
    blocks = sorted(plan.timeline, key=lambda b: b[1])
    for (a, _, end_a), (b, start_b, _) in itertools.pairwise(blocks):
        assert end_a <= start_b + 1e-6, f"items {a} and {b} overlap"
    for item, start, end in blocks:
        if item in problem.fixed:
            assert (start, end) == problem.fixed[item], "a fixed block moved"
            continue
        assert abs((end - start) - problem.duration[item]) < 1e-6
        assert problem.begin - 1e-6 <= start and end <= problem.end + 1e-6
        assert any(a - 1e-6 <= start <= b + 1e-6 for a, b in problem.feasible[item]), (
            f"item {item} starts at {start}, outside its feasible starts {problem.feasible[item]}"
        )
    for item in problem.fixed:
        assert item in plan.timeline, "the executing sequence left the timeline"
    planned = {item for item, _, _ in blocks}
    for item in range(len(problem)):
        if item not in planned:
            assert plan.reason(item), f"item {item} left out without a reason"


def assert_no_priority_inversion(plan: ScheduleDraft) -> None:
    """No left-out sequence could have used time that only lower priorities occupy."""
    problem = plan.problem
    for item in range(len(problem)):
        if item in plan.timeline or item in problem.fixed or not problem.feasible[item]:
            continue
        duration = problem.duration[item]
        for gap_start, gap_end in free_stretches(plan, problem.priority[item]):
            for first, last in problem.feasible[item]:
                lo, hi = max(first, gap_start), min(last, gap_end - duration)
                assert lo > hi - NOISE_S, (
                    f"item {item} (priority {problem.priority[item]}) left out, but it fits at "
                    f"{lo} in time held by lower priorities"
                )


def signature(plan: ScheduleDraft) -> list[tuple]:
    """The plan by sequence ids (comparable across problems built in different orders)."""
    problem = plan.problem
    return (
        [(e.sequence_id, e.planned, e.start, e.end, e.reason) for e in plan.entries()]
        + [("free", round(plan.timeline.free_s, 6))]
        + [("ids", sorted(problem.ids[i] for i, _, _ in plan.timeline))]
    )
