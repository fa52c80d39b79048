"""Can the burst be observed now, and if not, when next (through :mod:`tasks.sky`).

"Now" is :func:`tasks.sky.visibility_at` (night, altitude, moon distance at the site). The next
window is the first run of grid instants (``alerts.window_step_s`` apart, up to the alert's
deadline) where the same three conditions hold, computed with the vectorised functions of
:mod:`tasks.sky` in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from infra.config import SiteConfig

if TYPE_CHECKING:
    from tasks.sky import Visibility


@dataclass(frozen=True)
class Sky:
    """What the policy asks about the sky (a class so replays can substitute a recorded one)."""

    config: SiteConfig

    def now(self, ra_deg: float, dec_deg: float, when: datetime) -> Visibility:
        """:class:`tasks.sky.Visibility` of the position at ``when``."""
        # Import time: tasks.sky loads astropy.coordinates; a packet ignored before the sky
        # step must not pay for it (`pyros alert ingest` stays under 2 s).
        from tasks.sky import visibility_at

        return visibility_at(ra_deg, dec_deg, when, self.config)

    def next_window(
        self, ra_deg: float, dec_deg: float, start: datetime, end: datetime
    ) -> tuple[datetime, datetime] | None:
        """First observable window within ``[start, end]`` lasting at least
        ``alerts.min_window_s``, or None."""
        return next_window(ra_deg, dec_deg, start, end, self.config)


def next_window(
    ra_deg: float, dec_deg: float, start: datetime, end: datetime, config: SiteConfig
) -> tuple[datetime, datetime] | None:
    """See :meth:`Sky.next_window`."""
    # Import time: as in Sky.now.
    from tasks.sky import altitudes_deg, as_time, moon_separation_deg, sun_altitude_deg

    step = config.alerts.window_step_s
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    count = int(span // step) + 1
    instants = [start + timedelta(seconds=k * step) for k in range(count)]
    if instants[-1] < end:
        instants.append(end)
    times = as_time(instants)
    ra, dec = np.array([ra_deg]), np.array([dec_deg])
    good = (
        (sun_altitude_deg(times, config) <= config.night.sun_altitude_deg)
        & (altitudes_deg(ra, dec, times, config)[0] >= config.limits.min_altitude_deg)
        & (moon_separation_deg(ra, dec, times, config)[0] >= config.limits.min_moon_distance_deg)
    )
    index = 0
    while index < len(instants):
        if not good[index]:
            index += 1
            continue
        first = index
        while index + 1 < len(instants) and good[index + 1]:
            index += 1
        window = (instants[first], instants[index])
        if (window[1] - window[0]).total_seconds() >= max(config.alerts.min_window_s, 1.0):
            return window
        index += 1
    return None
