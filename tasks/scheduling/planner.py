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
total (ties end on the sequence id) and nothing depends on hashing or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tasks.scheduling import reasons as why
from tasks.scheduling.objective import Objective, evaluate
from tasks.scheduling.problem import Problem
from tasks.scheduling.timeline import EPS, Slot, Timeline


@dataclass(frozen=True)
class Entry:
    """One sequence of a plan: planned with its start and end, or left out with the reason."""

    sequence_id: int
    name: str
    priority: int
    planned: bool
    start: datetime | None
    end: datetime | None
    reason: str
    executing: bool = False

    def as_dict(self) -> dict:
        return {
            "sequence_id": self.sequence_id,
            "name": self.name,
            "priority": self.priority,
            "planned": self.planned,
            "executing": self.executing,
            "start": self.start,
            "end": self.end,
            "reason": self.reason,
        }


@dataclass
class Plan:
    """A timeline over a problem; items not on it are left out (see :meth:`reason`)."""

    problem: Problem
    timeline: Timeline
    #: Items pushed out by an incremental insertion: item -> the item that displaced it.
    displaced_by: dict[int, int] = field(default_factory=dict)

    def planned_items(self) -> list[int]:
        """Items on the timeline, in start order (the executing one included)."""
        return list(self.timeline.items)

    def reason(self, item: int) -> str:
        """Why ``item`` is not planned ("" when it is)."""
        if item in self.timeline:
            return ""
        if self.problem.reasons[item]:
            return self.problem.reasons[item]
        if item in self.displaced_by:
            other = self.displaced_by[item]
            return why.make(
                why.DISPLACED,
                f"pushed out by sequence {self.problem.ids[other]} (priority "
                f"{self.problem.priority[other]}) and no other room in its window",
            )
        # Kept free of figures that change from plan to plan (free time left...): an unchanged
        # outcome must give an unchanged reason, or every re-plan would record a transition.
        return why.make(
            why.NO_ROOM,
            "observable in its window, but that time is taken by sequences of equal or higher "
            "priority",
        )

    def objective(self) -> Objective:
        """The objective of this plan (the executing sequence excluded: it is not planned)."""
        problem = self.problem
        chosen = [(i, s) for i, s, _ in self.timeline if i not in problem.fixed]
        return evaluate(
            [problem.priority[i] for i, _ in chosen],
            [problem.duration[i] for i, _ in chosen],
            [s for _, s in chosen],
            [problem.preferred[i] for i, _ in chosen],
        )

    def entries(self) -> list[Entry]:
        """Planned sequences by start, then the others by priority (highest first) and id."""
        problem = self.problem
        result = [
            Entry(
                problem.ids[item],
                problem.names[item],
                problem.priority[item],
                True,
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
                "",
                executing=item in problem.fixed,
            )
            for item, start, end in self.timeline
        ]
        left_out = sorted(
            (i for i in range(len(problem)) if i not in self.timeline),
            key=lambda i: (-problem.priority[i], problem.ids[i]),
        )
        result.extend(
            Entry(
                problem.ids[i],
                problem.names[i],
                problem.priority[i],
                False,
                None,
                None,
                self.reason(i),
            )
            for i in left_out
        )
        return result


def start_bounds(
    feasible: list[tuple[float, float]], start: float, duration: float, timeline: Timeline
) -> tuple[float, float] | None:
    """The ``(lo, hi)`` sliding range of a block starting at ``start``: the feasible interval that
    contains it, clipped to the timeline; None when ``start`` is in none of them."""
    for first, last in feasible:
        if first - EPS <= start <= last + EPS:
            return max(first, timeline.begin), min(last, timeline.end - duration)
    return None


def insertion_order(problem: Problem, items: list[int]) -> list[int]:
    """Priority first (highest), then longest, then least flexible, then id."""

    def flexibility(item: int) -> float:
        return sum(last - first for first, last in problem.feasible[item])

    return sorted(
        items,
        key=lambda i: (-problem.priority[i], -problem.duration[i], flexibility(i), problem.ids[i]),
    )


def place(plan: Plan, item: int, *, shift: bool = True) -> bool:
    """Put ``item`` where it fits (gap first, else by sliding others); False if nowhere."""
    problem, timeline = plan.problem, plan.timeline
    duration = problem.duration[item]
    slot = timeline.find(problem.feasible[item], duration, problem.preferred[item], shift=shift)
    if slot is None:
        return False
    bounds = start_bounds(problem.feasible[item], slot.start, duration, timeline)
    lo, hi = bounds if bounds is not None else (slot.start, slot.start)
    timeline.insert(slot, item, duration, lo, hi)
    plan.displaced_by.pop(item, None)
    return True


def candidates_of(problem: Problem) -> list[int]:
    """Items that may be planned (feasible somewhere, not fixed)."""
    return [i for i in range(len(problem)) if problem.feasible[i] and i not in problem.fixed]


def new_plan(problem: Problem) -> Plan:
    """An empty plan holding only the fixed (executing) blocks."""
    timeline = Timeline(problem.begin, problem.end)
    for item, (start, end) in sorted(problem.fixed.items(), key=lambda kv: kv[1]):
        timeline.add_fixed(item, start, end)
    return Plan(problem, timeline)


def plan(problem: Problem, *, improve: bool = True) -> Plan:
    """Plan ``problem``: priority-first insertion, then local improvement.

    Parameters
    ----------
    problem : Problem
        From :func:`~tasks.scheduling.problem.build_problem`.
    improve : bool
        Run the improvement steps (eviction of lower priorities, gap filling, preferred times).

    Returns
    -------
    Plan
        Deterministic for the same problem.
    """
    from tasks.scheduling.improve import improve_plan

    result = new_plan(problem)
    for item in insertion_order(problem, candidates_of(problem)):
        place(result, item)
    if improve:
        improve_plan(result)
    return result


def restore(problem: Problem, blocks: list[tuple[int, float]]) -> Plan:
    """A plan with ``blocks`` (item, start) put back where a previous plan had them.

    Blocks that no longer fit there (their start has passed, their window changed) are placed
    again like new ones.
    """
    result = new_plan(problem)
    again = []
    for item, start in sorted(blocks, key=lambda b: (b[1], problem.ids[b[0]])):
        if item in problem.fixed or item in result.timeline:
            continue
        duration = problem.duration[item]
        bounds = start_bounds(problem.feasible[item], start, duration, result.timeline)
        free = not result.timeline.overlapping(start, start + duration)
        inside = bounds is not None and bounds[0] - EPS <= start <= bounds[1] + EPS
        if not inside or not free:
            again.append(item)
            continue
        slot = Slot(result.timeline.position_for(start), start, 0.0)
        result.timeline.insert(slot, item, duration, *bounds)
    for item in insertion_order(problem, again):
        place(result, item)
    return result
