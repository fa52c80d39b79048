"""Tonight at the site: sunset, twilights, the dark night, the flat windows and the moon.

A night runs from one local-solar noon to the next (its label is the date of its evening, as in
the journal). The sun is sampled every 10 minutes over those 24 hours in one astropy call; every
crossing of the altitudes we care about is bracketed on that grid and refined by two rounds of
regula falsi, each one vectorised call for all crossings at once (about a second of accuracy,
five astropy calls in all instead of a search per event). Nights are cached per site and label.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from astropy.time import Time

from infra.config import SiteConfig
from infra.journal import night_label, night_start_date
from tasks.scheduling.intervals import nonnegative_runs
from tasks.sky import (
    moon_altitude_deg,
    moon_illumination,
    moon_radec_deg,
    sun_altitude_deg,
)

#: Sun altitude at sunset and sunrise (refraction and the solar radius).
SUNSET_ALTITUDE_DEG = -0.833
CIVIL_DEG, NAUTICAL_DEG, ASTRONOMICAL_DEG = -6.0, -12.0, -18.0
#: Sampling step of the sun over the 24 hours of a night.
SEARCH_STEP_S = 600.0
REFINE_ROUNDS = 2
#: Sampling step of the planner's grid over the dark night (altitudes are interpolated between).
GRID_STEP_S = 600.0
_CACHE_SIZE = 16


def _from_unix(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def to_unix(instant: datetime) -> float:
    """An aware datetime as Unix seconds (the planner's time axis)."""
    return instant.timestamp()


@dataclass(frozen=True)
class Night:
    """One night at the site. Instants are aware UTC datetimes, None when the event does not
    happen (the sun never reaches that altitude, the moon does not rise...)."""

    label: str
    noon: datetime
    sun_altitude_deg: float
    start: datetime | None
    end: datetime | None
    sunset: datetime | None
    sunrise: datetime | None
    civil_dusk: datetime | None
    civil_dawn: datetime | None
    nautical_dusk: datetime | None
    nautical_dawn: datetime | None
    astronomical_dusk: datetime | None
    astronomical_dawn: datetime | None
    dusk_flats: tuple[datetime, datetime] | None
    dawn_flats: tuple[datetime, datetime] | None
    moonrise: datetime | None
    moonset: datetime | None
    moon_illumination: float

    @property
    def dark_span(self) -> tuple[datetime, datetime] | None:
        """The dark night's (start, end); None when the sun never goes below the night
        altitude."""
        if self.start is None or self.end is None or self.end <= self.start:
            return None
        return self.start, self.end

    @property
    def has_dark_time(self) -> bool:
        """Whether the sun goes below the night altitude at all."""
        return self.dark_span is not None

    @property
    def duration_s(self) -> float:
        """Length of the dark night (0 when there is none)."""
        span = self.dark_span
        if span is None:
            return 0.0
        return (span[1] - span[0]).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (journal, schedule details, CLI)."""
        return {
            "label": self.label,
            "sun_altitude_deg": self.sun_altitude_deg,
            "start": self.start,
            "end": self.end,
            "duration_h": round(self.duration_s / 3600.0, 3),
            "sunset": self.sunset,
            "sunrise": self.sunrise,
            "civil": [self.civil_dusk, self.civil_dawn],
            "nautical": [self.nautical_dusk, self.nautical_dawn],
            "astronomical": [self.astronomical_dusk, self.astronomical_dawn],
            "dusk_flats": list(self.dusk_flats) if self.dusk_flats else None,
            "dawn_flats": list(self.dawn_flats) if self.dawn_flats else None,
            "moonrise": self.moonrise,
            "moonset": self.moonset,
            "moon_illumination": round(self.moon_illumination, 3),
        }


@dataclass(frozen=True)
class NightGrid:
    """The planner's time grid over the dark night, with the moon's position at each instant."""

    times_unix: npt.NDArray[np.float64]
    times: Time
    moon_ra_deg: npt.NDArray[np.float64]
    moon_dec_deg: npt.NDArray[np.float64]

    @property
    def begin(self) -> float:
        """First instant of the grid (Unix seconds)."""
        return float(self.times_unix[0])

    @property
    def end(self) -> float:
        """Last instant of the grid (Unix seconds)."""
        return float(self.times_unix[-1])


def solar_noon(label: str, longitude_deg: float) -> datetime:
    """Local-solar noon opening the night ``label`` (UTC)."""
    day = night_start_date(label)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return noon - timedelta(hours=longitude_deg / 15.0)


def _refine(
    bracket_t0: npt.NDArray[np.float64],
    bracket_t1: npt.NDArray[np.float64],
    value0: npt.NDArray[np.float64],
    value1: npt.NDArray[np.float64],
    threshold: npt.NDArray[np.float64],
    config: SiteConfig,
) -> npt.NDArray[np.float64]:
    """Regula falsi on the sun's altitude minus ``threshold`` inside each bracket (vectorised)."""
    t0, t1 = bracket_t0.copy(), bracket_t1.copy()
    f0, f1 = value0 - threshold, value1 - threshold
    for round_index in range(REFINE_ROUNDS + 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(f0 != f1, f0 / (f0 - f1), 0.5)
        estimate: npt.NDArray[np.float64] = t0 + np.clip(fraction, 0.0, 1.0) * (t1 - t0)
        if round_index == REFINE_ROUNDS:
            break
        f = sun_altitude_deg(unix_time(estimate), config) - threshold
        same_side = np.sign(f) == np.sign(f0)
        t0 = np.where(same_side, estimate, t0)
        f0 = np.where(same_side, f, f0)
        t1 = np.where(same_side, t1, estimate)
        f1 = np.where(same_side, f1, f)
    return estimate


def unix_time(seconds: npt.ArrayLike) -> Time:
    """Unix seconds (UTC, as ``datetime.timestamp``) as an astropy ``Time``."""
    return Time(np.asarray(seconds, dtype=float), format="unix", scale="utc")


def _dark_runs(
    times: npt.NDArray[np.float64],
    sun: npt.NDArray[np.float64],
    altitudes: list[float],
    middle: float,
) -> list[tuple[float | None, float | None]]:
    """For each altitude, the (dusk, dawn) of the run of the sun below it around ``middle``."""
    margin = np.asarray(altitudes)[:, np.newaxis] - sun[np.newaxis, :]
    runs = nonnegative_runs(times, margin)
    result: list[tuple[float | None, float | None]] = [(None, None)] * len(altitudes)
    for row, start, end in zip(runs.row, runs.start, runs.end, strict=True):
        if start <= middle <= end or result[row] == (None, None):
            result[row] = (float(start), float(end))
    return result


def compute_night(label: str, config: SiteConfig) -> Night:
    """The night ``label`` (``YYYY-MM-DD``, the date of its evening) at the configured site."""
    noon = solar_noon(label, config.site.longitude_deg)
    begin = to_unix(noon)
    times = begin + np.arange(0.0, 86400.0 + SEARCH_STEP_S, SEARCH_STEP_S)
    astro_times = unix_time(times)
    sun = sun_altitude_deg(astro_times, config)
    night_cfg = config.night
    altitudes = [
        night_cfg.sun_altitude_deg,
        SUNSET_ALTITUDE_DEG,
        CIVIL_DEG,
        NAUTICAL_DEG,
        ASTRONOMICAL_DEG,
        night_cfg.flat_sun_altitude_high_deg,
        night_cfg.flat_sun_altitude_low_deg,
    ]
    middle = begin + 43200.0
    runs = _dark_runs(times, sun, altitudes, middle)
    # Refine every crossing that lies inside the grid, all at once.
    crossings: list[tuple[int, int, float, float]] = []  # (altitude index, 0 dusk/1 dawn, t)
    for index, (dusk, dawn) in enumerate(runs):
        for side, instant in ((0, dusk), (1, dawn)):
            if instant is not None and times[0] < instant < times[-1]:
                crossings.append((index, side, instant, altitudes[index]))
    refined = [list(run) for run in runs]
    if crossings:
        instants = np.array([c[2] for c in crossings])
        left = np.clip(((instants - times[0]) // SEARCH_STEP_S).astype(int), 0, times.size - 2)
        estimates = _refine(
            times[left],
            times[left + 1],
            sun[left],
            sun[left + 1],
            np.array([c[3] for c in crossings]),
            config,
        )
        for (index, side, _, _), value in zip(crossings, estimates, strict=True):
            refined[index][side] = float(value)
    night, sunset, civil, nautical, astronomical, flat_high, flat_low = (
        (_from_unix(a), _from_unix(b)) for a, b in refined
    )
    dusk_flats = (flat_high[0], flat_low[0]) if flat_high[0] and flat_low[0] else None
    dawn_flats = (flat_low[1], flat_high[1]) if flat_high[1] and flat_low[1] else None
    moon_alt = moon_altitude_deg(astro_times, config)
    moon_up = nonnegative_runs(times, moon_alt[np.newaxis, :])
    rises = [s for s in moon_up.start if s > times[0]]
    sets = [e for e in moon_up.end if e < times[-1]]
    mid = middle
    if night[0] and night[1]:
        mid = (to_unix(night[0]) + to_unix(night[1])) / 2.0
    illumination = float(moon_illumination(unix_time(np.array([mid])))[0])
    return Night(
        label=label,
        noon=noon,
        sun_altitude_deg=night_cfg.sun_altitude_deg,
        start=night[0],
        end=night[1],
        sunset=sunset[0],
        sunrise=sunset[1],
        civil_dusk=civil[0],
        civil_dawn=civil[1],
        nautical_dusk=nautical[0],
        nautical_dawn=nautical[1],
        astronomical_dusk=astronomical[0],
        astronomical_dawn=astronomical[1],
        dusk_flats=dusk_flats,
        dawn_flats=dawn_flats,
        moonrise=_from_unix(float(rises[0])) if rises else None,
        moonset=_from_unix(float(sets[0])) if sets else None,
        moon_illumination=illumination,
    )


_Cached = TypeVar("_Cached")
_CacheKey = tuple[object, ...]
_nights: OrderedDict[_CacheKey, Night] = OrderedDict()
_grids: OrderedDict[_CacheKey, NightGrid] = OrderedDict()


def _remember(cache: OrderedDict[_CacheKey, _Cached], key: _CacheKey, value: _Cached) -> _Cached:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


def night_for(label: str, config: SiteConfig) -> Night:
    """The night ``label`` at the site (cached per site, night settings and label)."""
    key = (label, config.site, config.night)
    if key in _nights:
        _nights.move_to_end(key)
        return _nights[key]
    return _remember(_nights, key, compute_night(label, config))


def night_to_plan(instant: datetime, config: SiteConfig) -> Night:
    """The night a planner running at ``instant`` works on: the current one, or the next one when
    the current night's dark time is over (or there is none)."""
    label = night_label(instant, config.site.longitude_deg)
    night = night_for(label, config)
    if night.end is None or instant >= night.end:
        following = (night_start_date(label) + timedelta(days=1)).isoformat()
        night = night_for(following, config)
    return night


def night_grid(night: Night, config: SiteConfig, step_s: float = GRID_STEP_S) -> NightGrid | None:
    """Evenly spaced instants over the dark night (about ``step_s`` apart, both ends included)
    and the moon's topocentric position at each; None when the night has no dark time."""
    span = night.dark_span
    if span is None:
        return None
    key = (night.label, config.site, config.night, step_s)
    if key in _grids:
        _grids.move_to_end(key)
        return _grids[key]
    begin, end = to_unix(span[0]), to_unix(span[1])
    count = max(2, int(np.ceil((end - begin) / step_s)) + 1)
    times_unix = np.linspace(begin, end, count)
    times = unix_time(times_unix)
    moon_ra, moon_dec = moon_radec_deg(times, config)
    return _remember(_grids, key, NightGrid(times_unix, times, moon_ra, moon_dec))
