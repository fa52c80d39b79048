"""A schedule being made: the timeline over a problem, and putting one sequence on it.

:class:`ScheduleDraft` is what :mod:`~tasks.scheduling.planner` builds and
:mod:`~tasks.scheduling.improve` reworks (both place items with :func:`place`); it becomes
:class:`Entry` rows when it is saved as a :class:`~infra.db.models.Schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tasks.scheduling import reasons as why
from tasks.scheduling.objective import Objective, evaluate
from tasks.scheduling.problem import Problem
from tasks.scheduling.timeline import EPS, Timeline


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

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain data."""
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
class ScheduleDraft:
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
    """Priority first (highest), then the program furthest below its share (the fair-share
    key, when time allocation is on), then longest, then least flexible, then id."""

    def flexibility(item: int) -> float:
        return sum(last - first for first, last in problem.feasible[item])

    return sorted(
        items,
        key=lambda i: (
            -problem.priority[i],
            problem.fair_key.get(i, 0.0),
            -problem.duration[i],
            flexibility(i),
            problem.ids[i],
        ),
    )


def place(draft: ScheduleDraft, item: int, *, shift: bool = True) -> bool:
    """Put ``item`` where it fits (gap first, else by sliding others); False if nowhere."""
    problem, timeline = draft.problem, draft.timeline
    duration = problem.duration[item]
    slot = timeline.find(problem.feasible[item], duration, problem.preferred[item], shift=shift)
    if slot is None:
        return False
    bounds = start_bounds(problem.feasible[item], slot.start, duration, timeline)
    lo, hi = bounds if bounds is not None else (slot.start, slot.start)
    timeline.insert(slot, item, duration, lo, hi)
    draft.displaced_by.pop(item, None)
    return True


def candidates_of(problem: Problem) -> list[int]:
    """Items that may be planned (feasible somewhere, not fixed)."""
    return [i for i in range(len(problem)) if problem.feasible[i] and i not in problem.fixed]


def new_draft(problem: Problem) -> ScheduleDraft:
    """An empty draft holding only the fixed (executing) blocks."""
    timeline = Timeline(problem.begin, problem.end)
    for item, (start, end) in sorted(problem.fixed.items(), key=lambda kv: kv[1]):
        timeline.add_fixed(item, start, end)
    return ScheduleDraft(problem, timeline)
