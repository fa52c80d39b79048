"""How long a sequence takes (DESIGN §5), shared by ingestion (quota) and the planner.

Albums run in parallel on their cameras; each album lasts the sum of its exposures, readouts and
filter moves; the sequence lasts its longest album plus the slew. The planner uses the larger of
this and the requester's declared duration.

The slew is planned as a fixed worst case (:func:`worst_case_slew_s`: half a turn at the mount's
slew rate, plus settling) rather than per pair of consecutive targets: it is a few percent of a
5-30 minute sequence, it keeps a sequence's duration independent of its neighbours (so the planner
can move and swap sequences freely), and a planned sequence can never overrun into the next one
whatever comes before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The largest angle the mount may have to travel between two targets (degrees, either axis).
WORST_CASE_SLEW_DEG = 180.0


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


def slew_s(angle_deg: float, slew_rate_deg_s: float, settle_s: float) -> float:
    """Time to slew ``angle_deg`` at ``slew_rate_deg_s`` and settle (seconds).

    Raises
    ------
    ValueError
        When the slew rate is not positive or the angle is negative.
    """
    if slew_rate_deg_s <= 0:
        raise ValueError(f"slew rate must be positive (got {slew_rate_deg_s:g} deg/s)")
    if angle_deg < 0:
        raise ValueError(f"slew angle must not be negative (got {angle_deg:g} deg)")
    return angle_deg / slew_rate_deg_s + settle_s


def worst_case_slew_s(slew_rate_deg_s: float, settle_s: float) -> float:
    """The slew the planner adds to every sequence: :data:`WORST_CASE_SLEW_DEG` plus settling."""
    return slew_s(WORST_CASE_SLEW_DEG, slew_rate_deg_s, settle_s)


def remaining_plans(plans: Iterable[tuple[str, float, int, int]]) -> list[PlanTiming]:
    """Plans still to take, from ``(filter, exposure_s, nb_images, images_done)`` rows.

    An interrupted sequence resumes with what is left (DESIGN §4): finished plans drop out and a
    started one keeps its remaining images.
    """
    return [
        PlanTiming(filter_name, exposure_s, nb_images - done)
        for filter_name, exposure_s, nb_images, done in plans
        if nb_images - done > 0
    ]
