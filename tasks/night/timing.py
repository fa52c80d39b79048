"""How well the orchestration kept up with a night: figures that can fail (issue 25).

The simulated clock runs ``speed`` times faster than the wall whether or not the flows keep up, so
its speed read back says nothing. These figures look at what the telescope did instead:

- **lateness** of each execution (simulated seconds): its start minus the instant it could have
  started, that is the later of the instant the telescope was free (the previous execution's end,
  or the dome re-opening after bad weather) and the sequence's planned start (less the allowed
  early start) in the plan in force at that instant;
- **orchestration loss**: the dark time lost that way, over the dark time of the span;
- **Prefect overhead per sequence** (wall seconds): an execution's wall time not spent waiting
  on devices (slew, filter, exposure and read-out, timed by the execution itself).

The database queries that feed these functions are in :mod:`tasks.night.timing_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Execution:
    """One execution of a sequence, as the night recorded it.

    Attributes
    ----------
    sequence_id : int
        The sequence.
    start, end : datetime
        Simulated instants of its ``executing`` transition and of its end.
    wall_start, wall_end : datetime
        The same transitions in wall time.
    planned_starts : tuple of (datetime, datetime)
        ``(schedule created at, planned start)`` of every schedule that planned it, oldest first.
    device_wall_s : float or None
        Wall seconds spent waiting on devices (None: not recorded).
    """

    sequence_id: int
    start: datetime
    end: datetime
    wall_start: datetime
    wall_end: datetime
    planned_starts: tuple[tuple[datetime, datetime], ...]
    device_wall_s: float | None = None


def could_start(execution: Execution, free_at: datetime | None, early_start_s: float) -> datetime:
    """The instant ``execution`` could have started.

    The later of ``free_at`` (when the telescope was free; None: the first of the night) and the
    sequence's planned start, less ``early_start_s``, in the latest schedule made by ``free_at``.
    A sequence that no schedule had planned by then (inserted later: an alert, a re-plan after
    the weather) takes the latest schedule made before it started: whatever delayed that
    schedule is not counted.
    """
    reference = free_at if free_at is not None else execution.start
    known = [planned for made, planned in execution.planned_starts if made <= reference]
    if not known:
        known = [planned for made, planned in execution.planned_starts if made <= execution.start]
    earliest = known[-1] - timedelta(seconds=early_start_s) if known else execution.start
    return max(earliest, free_at) if free_at is not None else earliest


def lateness_s(
    executions: Sequence[Execution], reopened: Sequence[datetime], early_start_s: float
) -> list[float]:
    """Each execution's lateness in simulated seconds (0 when it started as soon as it could).

    ``reopened``: the instants the dome re-opened after bad weather (the telescope free again).
    """
    ordered = sorted(executions, key=lambda e: e.start)
    late = []
    previous_end: datetime | None = None
    for execution in ordered:
        free_at = previous_end
        openings = [
            t for t in reopened if t <= execution.start and (free_at is None or t > free_at)
        ]
        if openings:
            free_at = openings[-1]
        delay = (execution.start - could_start(execution, free_at, early_start_s)).total_seconds()
        late.append(max(0.0, delay))
        previous_end = execution.end
    return late


def overhead_wall_s(executions: Sequence[Execution]) -> list[float]:
    """Each execution's wall seconds not spent on devices (executions that recorded theirs)."""
    return [
        (e.wall_end - e.wall_start).total_seconds() - e.device_wall_s
        for e in executions
        if e.device_wall_s is not None
    ]


def timing_figures(
    executions: Sequence[Execution],
    reopened: Sequence[datetime],
    *,
    early_start_s: float,
    dark_s: float,
) -> dict[str, Any]:
    """The night's orchestration figures.

    Returns
    -------
    dict
        ``executions``, ``lateness_p95_sim_s``, ``lateness_max_sim_s``,
        ``orchestration_loss_fraction`` (lateness summed over ``dark_s``; goal <= 0.01 at speed
        100), ``prefect_overhead_per_sequence_s`` and ``prefect_overhead_p95_s`` (wall; goal
        <= 0.2 both). Figures of an empty night are None.
    """
    late = lateness_s(executions, reopened, early_start_s)
    overhead = overhead_wall_s(executions)
    return {
        "executions": len(executions),
        "lateness_p95_sim_s": _round(np.percentile(late, 95)) if late else None,
        "lateness_max_sim_s": _round(max(late)) if late else None,
        "orchestration_loss_fraction": round(sum(late) / dark_s, 5) if late and dark_s else None,
        "prefect_overhead_per_sequence_s": _round(np.mean(overhead)) if overhead else None,
        "prefect_overhead_p95_s": _round(np.percentile(overhead, 95)) if overhead else None,
    }


def _round(value: Any) -> float:
    return round(float(value), 3)
