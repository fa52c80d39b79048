"""How long a sequence takes (DESIGN §5), shared by ingestion (quota) and the planner.

Albums run in parallel on their cameras; each album lasts the sum of its exposures, readouts and
filter moves; the sequence lasts its longest album plus the slew. The planner uses the larger of
this and the requester's declared duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanTiming:
    """What a plan needs to be timed."""

    filter: str
    exposure_s: float
    nb_images: int


@dataclass(frozen=True)
class CameraTiming:
    """What a camera contributes to a plan's duration."""

    readout_s: float
    filter_move_s: float


def album_duration_s(
    plans: Iterable[PlanTiming], camera: CameraTiming, initial_filter: str | None = None
) -> float:
    """Exposures + readouts + a filter move whenever the filter changes (first one included
    unless the wheel already holds ``initial_filter``)."""
    total = 0.0
    current = initial_filter
    for plan in plans:
        if plan.filter != current:
            total += camera.filter_move_s
            current = plan.filter
        total += plan.nb_images * (plan.exposure_s + camera.readout_s)
    return total


def sequence_duration_s(
    albums: Iterable[tuple[str, Iterable[PlanTiming]]],
    cameras: Mapping[str, CameraTiming],
    declared_s: float = 0.0,
    slew_s: float = 0.0,
) -> float:
    """The planned duration of a sequence.

    Parameters
    ----------
    albums : iterable of (camera name, plans)
        The sequence's albums.
    cameras : mapping
        Timing of each camera by name.
    declared_s : float
        The requester's estimate.
    slew_s : float
        Slew (and settle) time to reach the target.

    Returns
    -------
    float
        ``max(declared, longest album + slew)`` in seconds.

    Raises
    ------
    KeyError
        When an album names a camera missing from ``cameras``.
    """
    longest = max((album_duration_s(plans, cameras[name]) for name, plans in albums), default=0.0)
    return max(declared_s, longest + slew_s)
