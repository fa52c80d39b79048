"""What the planner works on: the candidates, and where in tonight each one may start.

:func:`build_problem` turns sequences (:class:`Candidate`) into a :class:`Problem`: for each, the
intervals of start times at which it fits entirely inside its window, its observability and the
part of the night still to plan — or the reason it cannot be planned tonight. The checks that need
no astronomy run first, on arrays; the astronomy (one transform for every target) only for what
is left. Bad input (empty windows, windows in daytime, durations longer than the night, targets
never above the limit...) becomes a reason, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from infra.config import SiteConfig
from tasks.scheduling import reasons as why
from tasks.scheduling.intervals import Intervals
from tasks.scheduling.night_times import Night, NightGrid, to_unix
from tasks.scheduling.observability import effective_limits, observability


@dataclass(frozen=True)
class Candidate:
    """One sequence as the planner sees it (built from the database, or by tests).

    ``duration_s`` is the planned duration (DESIGN §5: the larger of the declared and the computed
    duration, slew included). Constraints left None take the site's defaults.
    """

    id: int
    priority: int
    duration_s: float
    window_start: datetime
    window_end: datetime
    ra_deg: float | None = None
    dec_deg: float | None = None
    target_type: str = "sidereal"
    preferred: datetime | None = None
    min_altitude_deg: float | None = None
    max_airmass: float | None = None
    min_moon_distance_deg: float | None = None
    name: str = ""
    #: Set when the sequence cannot be planned for a reason found before planning (a stored
    #: reason, ``"<code>: <explanation>"``); it is then reported as is.
    refusal: str = ""
    #: The scientific program it is charged to (its share orders equal priorities, #23).
    program: str = ""


@dataclass(frozen=True)
class Executing:
    """The sequence on the telescope now: it never moves, it ends at ``end``."""

    id: int
    priority: int
    end: datetime
    name: str = ""


@dataclass
class Problem:
    """Items (candidates and the executing sequence) with their feasible start intervals.

    Times are Unix seconds. ``feasible[i]`` lists the ``(earliest, latest)`` start times of item
    ``i``; it is empty, and ``reasons[i]`` says why, when the item cannot be planned tonight.
    """

    begin: float
    end: float
    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    duration: list[float] = field(default_factory=list)
    preferred: list[float | None] = field(default_factory=list)
    feasible: list[list[tuple[float, float]]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: Items that never move (the executing sequence): index -> (start, end).
    fixed: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: Fair-share keys (:mod:`tasks.scheduling.shares`): index -> key; lower goes first among
    #: equal priorities. Empty: no time allocation (every key 0).
    fair_key: dict[int, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        id: int,
        priority: int,
        duration: float,
        *,
        name: str = "",
        preferred: float | None = None,
        feasible: list[tuple[float, float]] | None = None,
        reason: str = "",
    ) -> int:
        """Append an item; returns its index."""
        self.ids.append(id)
        self.names.append(name)
        self.priority.append(int(priority))
        self.duration.append(float(duration))
        self.preferred.append(preferred)
        self.feasible.append(feasible or [])
        self.reasons.append(reason)
        return len(self.ids) - 1


FloatArray = npt.NDArray[np.float64]


def _column(candidates: Sequence[Candidate], getter: Callable[[Candidate], object]) -> FloatArray:
    return np.array([getter(c) for c in candidates], dtype=float)


def _optional(value: float | None) -> float:
    return math.nan if value is None else float(value)


def build_problem(
    candidates: Sequence[Candidate],
    night: Night,
    grid: NightGrid | None,
    config: SiteConfig,
    now: datetime,
    executing: Sequence[Executing] = (),
) -> Problem:
    """Where each candidate may start tonight, or why it may not.

    Parameters
    ----------
    candidates : sequence of Candidate
        Sequences to plan.
    night : Night
        Tonight (:func:`~tasks.scheduling.night_times.night_to_plan`).
    grid : NightGrid or None
        Tonight's grid (:func:`~tasks.scheduling.night_times.night_grid`); None when there is no
        dark time.
    config : SiteConfig
        The site (limits).
    now : datetime
        Planning instant: only the rest of the night is planned.
    executing : sequence of Executing
        What is on the telescope now (kept in place, never moved).

    Returns
    -------
    Problem
        Items in the order given (candidates, then the executing ones).
    """
    now_u = to_unix(now)
    span = night.dark_span
    if span is not None:
        begin, end = max(now_u, to_unix(span[0])), to_unix(span[1])
    else:
        begin = end = now_u
    problem = Problem(begin=begin, end=end)
    if candidates:
        add_candidates(problem, candidates, night, grid, config, now)
    for item in executing:
        index = problem.add(item.id, item.priority, max(0.0, to_unix(item.end) - now_u))
        problem.names[index] = item.name
        problem.fixed[index] = (now_u, max(now_u, to_unix(item.end)))
    return problem


@dataclass(frozen=True)
class _Columns:
    """The candidates as arrays (Unix seconds, degrees; NaN where a value is missing)."""

    start: FloatArray
    stop: FloatArray
    duration: FloatArray
    ra: FloatArray
    dec: FloatArray
    needs_position: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> _Columns:
        def sky(value: float | None, candidate: Candidate) -> float:
            return _optional(value) if candidate.target_type != "test" else math.nan

        return cls(
            start=_column(candidates, lambda c: to_unix(c.window_start)),
            stop=_column(candidates, lambda c: to_unix(c.window_end)),
            duration=_column(candidates, lambda c: c.duration_s),
            ra=_column(candidates, lambda c: sky(c.ra_deg, c)),
            dec=_column(candidates, lambda c: sky(c.dec_deg, c)),
            needs_position=np.array([c.target_type != "test" for c in candidates], dtype=bool),
        )


class _Verdicts:
    """The reason of each candidate; the first check that refuses a candidate gives it."""

    def __init__(self, count: int) -> None:
        self.reasons = [""] * count
        self.decided = np.zeros(count, bool)

    def decide(self, mask: npt.NDArray[np.bool_], explain: Callable[[int], str]) -> None:
        """Refuse the candidates of ``mask`` not refused yet, with ``explain(index)``."""
        for index in np.flatnonzero(mask & ~self.decided):
            self.reasons[index] = explain(int(index))
        self.decided[mask] = True


def add_candidates(
    problem: Problem,
    candidates: Sequence[Candidate],
    night: Night,
    grid: NightGrid | None,
    config: SiteConfig,
    now: datetime,
) -> list[int]:
    """Append ``candidates`` to ``problem`` (same night and planning instant); returns their
    indices. Used by :func:`build_problem` and to add one alert to an existing plan."""
    first_index = len(problem)
    columns = _Columns.of(candidates)
    verdicts = _Verdicts(len(candidates))
    verdicts.decide(
        np.array([bool(c.refusal) for c in candidates], dtype=bool),
        lambda i: candidates[i].refusal,
    )
    with np.errstate(invalid="ignore"):
        _check_windows(verdicts, columns, night, problem, to_unix(now))
        low = np.maximum(columns.start, problem.begin)
        high = np.minimum(columns.stop, problem.end)
        _check_lengths(verdicts, columns, night, problem, (low, high))
    feasible: list[list[tuple[float, float]]] = [[] for _ in candidates]
    todo = np.flatnonzero(~verdicts.decided)
    if todo.size and grid is not None:
        runs = _observable_runs(verdicts, candidates, columns, grid, config, todo, (low, high))
        _feasible_starts(runs, todo, columns.duration, feasible)
    for index, candidate in enumerate(candidates):
        duration = columns.duration[index]
        problem.add(
            candidate.id,
            candidate.priority,
            duration if np.isfinite(duration) else 0.0,
            name=candidate.name,
            preferred=None if candidate.preferred is None else to_unix(candidate.preferred),
            feasible=feasible[index],
            reason=verdicts.reasons[index],
        )
    return list(range(first_index, len(problem)))


def _check_windows(
    verdicts: _Verdicts, columns: _Columns, night: Night, problem: Problem, now_u: float
) -> None:
    """The checks on the numbers alone: duration, window, dark time left, position."""
    start, stop, duration = columns.start, columns.stop, columns.duration
    begin, end = problem.begin, problem.end
    count = len(verdicts.reasons)
    verdicts.decide(
        ~np.isfinite(duration) | (duration <= 0),
        lambda i: why.make(why.BAD_DURATION, f"duration {duration[i]:g} s is not positive"),
    )
    verdicts.decide(
        ~(stop > start),
        lambda i: why.make(
            why.EMPTY_WINDOW, f"its window {why.hhmm(start[i])} -> {why.hhmm(stop[i])} is empty"
        ),
    )
    if not night.has_dark_time or end - begin <= 0:
        verdicts.decide(
            np.ones(count, bool),
            lambda i: why.make(
                why.NO_DARK_TIME,
                f"night {night.label} has no dark time left (sun below "
                f"{night.sun_altitude_deg:g} deg)",
            ),
        )
    verdicts.decide(
        stop <= now_u,
        lambda i: why.make(why.WINDOW_PASSED, f"its window ended at {why.hhmm(stop[i])}"),
    )
    verdicts.decide(
        stop <= begin,
        lambda i: why.make(
            why.WINDOW_IN_DAYTIME,
            f"its window ends at {why.hhmm(stop[i])}, before the night starts at {why.hhmm(begin)}",
        ),
    )
    verdicts.decide(
        start >= end,
        lambda i: why.make(
            why.LATER_NIGHT,
            f"its window opens at {why.hhmm(start[i])}, after this night ends at {why.hhmm(end)}",
        ),
    )
    verdicts.decide(
        columns.needs_position & (np.isnan(columns.ra) | np.isnan(columns.dec)),
        lambda i: why.make(why.NO_POSITION, "sidereal target without coordinates"),
    )


def _check_lengths(
    verdicts: _Verdicts,
    columns: _Columns,
    night: Night,
    problem: Problem,
    dark_window: tuple[FloatArray, FloatArray],
) -> None:
    """Durations longer than the night left, or than the dark part of the window."""
    duration = columns.duration
    night_s = night.duration_s
    left_s = max(0.0, problem.end - problem.begin)
    low, high = dark_window
    verdicts.decide(
        duration > left_s,
        lambda i: why.make(
            why.LONGER_THAN_NIGHT,
            f"it lasts {why.minutes(duration[i])}, longer than the "
            + (
                f"whole night ({why.minutes(night_s)})"
                if duration[i] > night_s
                else f"rest of the night ({why.minutes(left_s)})"
            ),
        ),
    )
    verdicts.decide(
        duration > high - low,
        lambda i: why.make(
            why.LONGER_THAN_WINDOW,
            f"it lasts {why.minutes(duration[i])} but its window holds only "
            f"{why.minutes(high[i] - low[i])} of dark time",
        ),
    )


def _observable_runs(
    verdicts: _Verdicts,
    candidates: Sequence[Candidate],
    columns: _Columns,
    grid: NightGrid,
    config: SiteConfig,
    todo: npt.NDArray[np.intp],
    dark_window: tuple[FloatArray, FloatArray],
) -> Intervals:
    """The astronomy, for the candidates left (``todo``): their observable stretches inside
    their window's dark part, and the reason of those never observable long enough."""
    low, high = dark_window
    min_alt, min_moon = effective_limits(
        _column(candidates, lambda c: _optional(c.min_altitude_deg))[todo],
        _column(candidates, lambda c: _optional(c.max_airmass))[todo],
        _column(candidates, lambda c: _optional(c.min_moon_distance_deg))[todo],
        config.limits,
    )
    seen = observability(columns.ra[todo], columns.dec[todo], min_alt, min_moon, grid, config)
    runs = seen.intervals.clip(low[todo], high[todo])
    longest = runs.longest(todo.size)
    start, stop, duration = columns.start, columns.stop, columns.duration
    for local, index in enumerate(todo.tolist()):
        if seen.never[local]:
            code = seen.never[local]
            verdicts.reasons[index] = why.make(code, _never_text(code, local, min_alt, min_moon))
        elif longest[local] <= 0.0:
            verdicts.reasons[index] = why.make(
                why.NOT_OBSERVABLE_IN_WINDOW,
                f"observable tonight only outside its window {why.hhmm(start[index])} -> "
                f"{why.hhmm(stop[index])}",
            )
        elif longest[local] < duration[index]:
            verdicts.reasons[index] = why.make(
                why.OBSERVABLE_TOO_BRIEFLY,
                f"observable for at most {why.minutes(longest[local])} at a time in its "
                f"window, it needs {why.minutes(duration[index])}",
            )
    return runs


def _never_text(code: str, local: int, min_alt: FloatArray, min_moon: FloatArray) -> str:
    if code == why.NEVER_HIGH_ENOUGH:
        return f"never above {min_alt[local]:g} deg during the night"
    if code == why.TOO_CLOSE_TO_MOON:
        return f"always within {min_moon[local]:g} deg of the moon during the night"
    return (
        f"never both above {min_alt[local]:g} deg and {min_moon[local]:g} deg from the moon "
        "during the night"
    )


def _feasible_starts(
    runs: Intervals,
    todo: npt.NDArray[np.intp],
    duration: FloatArray,
    feasible: list[list[tuple[float, float]]],
) -> None:
    """Start intervals ``[a, b - d]`` of every observable stretch ``[a, b]`` long enough."""
    needed = duration[todo][runs.row]
    keep = runs.end - runs.start >= needed
    rows = todo[runs.row[keep]].tolist()
    starts = runs.start[keep].tolist()
    latest = (runs.end[keep] - needed[keep]).tolist()
    for row, first, last in zip(rows, starts, latest, strict=True):
        feasible[row].append((first, last))
