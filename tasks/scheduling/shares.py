"""Time allocation the planner respects: each program's share against what it has used (#23).

A program's **share** is its quota over the period divided by the quotas of the programs
competing tonight (those with a candidate). Its **use** is the hours already charged to it
(``used_hours``, charged when a sequence executes). Among sequences of **equal priority** the
planner takes them in order of a *fair-share key*: the program's use, plus the planned hours of
this sequence and of that program's sequences before it, divided by its share -- the virtual
finish time of weighted fair queueing (the way LCO's and ACP's schedulers balance partners). The
program furthest below its share comes first, and the night is shared in proportion to the
shares. Priority stays first (an alert is never held back by a quota: its priority is above
every routine one, and the GRB program may overdraw).

Pure: the database side gives :class:`ProgramUse` rows (``load.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tasks.scheduling.draft import insertion_order
from tasks.scheduling.problem import Candidate, Problem

#: The key of a sequence without a program, or of a program with no quota: after the others.
NO_SHARE = math.inf


@dataclass(frozen=True)
class ProgramUse:
    """A program's quota over the period and what it has used (hours)."""

    quota_hours: float
    used_hours: float


def shares_of(uses: Mapping[str, ProgramUse], programs: set[str]) -> dict[str, float]:
    """Each program's share (0-1) among ``programs`` (those with a candidate tonight)."""
    total = sum(max(0.0, uses[p].quota_hours) for p in programs if p in uses)
    if total <= 0.0:
        return {}
    return {p: max(0.0, uses[p].quota_hours) / total for p in programs if p in uses}


def fair_keys(
    problem: Problem, candidates: Sequence[Candidate], uses: Mapping[str, ProgramUse]
) -> dict[int, float]:
    """The fair-share key of every plannable item of ``problem`` (lower: served first).

    Parameters
    ----------
    problem : Problem
        The night's problem (items with no feasible start are left out: they take no time).
    candidates : sequence of Candidate
        The candidates it was built from (their ``program``).
    uses : mapping
        Program name -> its quota and use.
    """
    program_of = {c.id: c.program for c in candidates}
    items = [i for i in range(len(problem)) if problem.feasible[i] and i not in problem.fixed]
    shares = shares_of(uses, {program_of.get(problem.ids[i], "") for i in items})
    # Within a program, the order the planner would use anyway (the keys then keep it).
    items = insertion_order(replace(problem, fair_key={}), items)
    taken: dict[str, float] = {}
    keys: dict[int, float] = {}
    for item in items:
        program = program_of.get(problem.ids[item], "")
        share = shares.get(program, 0.0)
        if share <= 0.0:
            keys[item] = NO_SHARE
            continue
        taken[program] = taken.get(program, 0.0) + problem.duration[item] / 3600.0
        keys[item] = (uses[program].used_hours + taken[program]) / share
    return keys


def time_by_program(
    hours: Mapping[str, float], uses: Mapping[str, ProgramUse]
) -> dict[str, dict[str, float]]:
    """Per program: its share of all quotas, its fraction of the hours given, both in percent
    (the night report's "time per program against its share")."""
    total_quota = sum(max(0.0, u.quota_hours) for u in uses.values())
    total_hours = sum(hours.values())
    return {
        name: {
            "share_pct": 100.0 * max(0.0, use.quota_hours) / total_quota if total_quota else 0.0,
            "hours": hours.get(name, 0.0),
            "used_pct": 100.0 * hours.get(name, 0.0) / total_hours if total_hours else 0.0,
        }
        for name, use in sorted(uses.items())
    }
