"""Tonight's windows for the night policy, and when the night's flow runs start."""

from __future__ import annotations

from datetime import datetime, timedelta

from infra.config import SiteConfig
from tasks.night.policy import NightWindows
from tasks.scheduling.night_times import Night

START_OF_NIGHT = "start-of-night"
EXECUTE_NIGHT = "execute-night"
END_OF_NIGHT = "end-of-night"


def windows_of(night: Night) -> NightWindows:
    """The policy's view of a night."""
    return NightWindows(
        sunset=night.sunset,
        start=night.start,
        end=night.end,
        sunrise=night.sunrise,
        dusk_flats=night.dusk_flats,
        dawn_flats=night.dawn_flats,
    )


def night_run_times(night: Night, config: SiteConfig) -> dict[str, datetime]:
    """When each run of the night starts (simulated instants): the evening before sunset, the
    first block at the start of the dark night, the end at its end. Empty without dark time."""
    span = night.dark_span
    if span is None:
        return {}
    start, end = span
    evening = (night.sunset or start) - timedelta(seconds=config.night.evening_lead_s)
    return {START_OF_NIGHT: evening, EXECUTE_NIGHT: start, END_OF_NIGHT: end}


def block_end(start: datetime, night: Night, config: SiteConfig) -> datetime:
    """The end of the block starting at ``start``: ``[night] block_s`` later, at most dawn."""
    end = start + timedelta(seconds=config.night.block_s)
    return min(end, night.end) if night.end is not None else end
