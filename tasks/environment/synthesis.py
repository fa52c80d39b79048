"""The environment synthesis: element records, the global statuses of the original weatherwatch
and sitewatch tables, and whether the dome must close.

Stale data (the PLC's own ``date`` or the reception older than ``safety.stale_after_s``), an
unreachable PLC or a malformed reply give ``error`` records, which count as unsafe. A weather
station of its own (``[devices.weather]``) adds its records (:mod:`tasks.environment.station`,
same staleness rule) to the weather's: either source saying unsafe closes. Operator
overrides are always visible: forcing the dome closed adds a record; ignoring a faulty sensor keeps
its record, marked, without letting it close the dome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from infra.config import SafetySection
from tasks.environment.elements import (
    ElementRecord,
    ElementState,
    site_records,
    stale_reason,
    weather_records,
)
from tasks.environment.plc import PlcReading
from tasks.environment.station import STATION


class GlobalStatus(StrEnum):
    """The global status of the weather or of the site (the original tables' ``global_status``
    values, stored in WeatherWatch and SiteWatch rows)."""

    OK = "OK"
    ERROR = "ERROR"
    OVERRIDE = "OVERRIDE"
    RAINING = "RAINING"
    WINDY = "WINDY"
    HUMID = "HUMID"
    DEW = "DEW"
    TEMPERATURE = "TEMPERATURE"
    CLOUDY = "CLOUDY"
    INTRUSION = "INTRUSION"
    DOOR_OPEN = "DOOR_OPEN"
    LIGHTS_ON = "LIGHTS_ON"


#: Weather global status of the first closing element, in this order (original table values).
WEATHER_STATUS = {
    "override": GlobalStatus.OVERRIDE,
    "rain": GlobalStatus.RAINING,
    "wind": GlobalStatus.WINDY,
    "humidity": GlobalStatus.HUMID,
    "dew point margin": GlobalStatus.DEW,
    "outside temperature": GlobalStatus.TEMPERATURE,
    "sky temperature": GlobalStatus.CLOUDY,
    # A weather station of its own (tasks/environment/station.py), after the PLC's elements.
    "station rain": GlobalStatus.RAINING,
    "station wind": GlobalStatus.WINDY,
    "station humidity": GlobalStatus.HUMID,
    "station dew point": GlobalStatus.DEW,
    "station temperature": GlobalStatus.TEMPERATURE,
    "station clouds": GlobalStatus.CLOUDY,
    STATION: GlobalStatus.ERROR,  # an alert on a parameter of no known group
}
SITE_STATUS = {
    "intrusion": GlobalStatus.INTRUSION,
    "doors": GlobalStatus.DOOR_OPEN,
    "lights": GlobalStatus.LIGHTS_ON,
}
#: Site statuses that alert the operator.
SITE_ALARMS = frozenset({GlobalStatus.INTRUSION, GlobalStatus.DOOR_OPEN, GlobalStatus.LIGHTS_ON})
#: The override element that forces the dome closed (any other names an element to ignore).
FORCE_CLOSED = "*"
WEATHER_ELEMENT_NAMES = (
    "rain",
    "wind",
    "humidity",
    "dew point margin",
    "sky temperature",
    "outside temperature",
    "pressure",
)


@dataclass(frozen=True)
class Override:
    """An operator's override, valid until ``until``.

    ``element`` is :data:`FORCE_CLOSED` (``"*"``) to force the dome closed, or an element name to
    ignore (a faulty sensor): its record is kept and marked, but it no longer closes the dome.
    """

    element: str
    until: datetime
    by: str
    reason: str

    def describe(self) -> str:
        """One line for operators."""
        what = "dome forced closed" if self.element == FORCE_CLOSED else f"{self.element} ignored"
        return f"{what} by {self.by} until {self.until:%Y-%m-%d %H:%M:%S}Z: {self.reason}"


@dataclass(frozen=True)
class Synthesis:
    """Everything the monitor concludes from one poll."""

    at: datetime
    weather: tuple[ElementRecord, ...]
    site: tuple[ElementRecord, ...]
    weather_status: GlobalStatus
    site_status: GlobalStatus
    should_close: bool
    reasons: tuple[str, ...]
    overrides: tuple[str, ...] = field(default_factory=tuple)
    plc_date: datetime | None = None

    def record(self, element: str) -> ElementRecord | None:
        """The record of one element (weather or site)."""
        return next((r for r in (*self.weather, *self.site) if r.element == element), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (stored with WeatherWatch/SiteWatch, shown in the artifact)."""

        def records(items: Iterable[ElementRecord]) -> list[dict[str, Any]]:
            return [
                {
                    "element": r.element,
                    "value": r.value,
                    "unit": r.unit,
                    "interpretation": r.interpretation,
                    "state": r.state.value,
                    "should_close": r.should_close,
                    "sources": list(r.sources),
                    "line": r.line(),
                }
                for r in items
            ]

        return {
            "at": self.at,
            "plc_date": self.plc_date,
            "weather_status": self.weather_status,
            "site_status": self.site_status,
            "should_close": self.should_close,
            "reasons": list(self.reasons),
            "overrides": list(self.overrides),
            "weather": records(self.weather),
            "site": records(self.site),
        }


def _error_records(reason: str) -> list[ElementRecord]:
    closes = {"rain", "wind", "humidity", "dew point margin", "outside temperature"}
    return [
        ElementRecord(name, None, "", reason, ElementState.ERROR, name in closes)
        for name in WEATHER_ELEMENT_NAMES
    ]


def _apply_overrides(
    records: list[ElementRecord], overrides: list[Override], now: datetime
) -> tuple[list[ElementRecord], list[str]]:
    active = [o for o in overrides if o.until > now]
    result = []
    for record in records:
        ignored = next((o for o in active if o.element == record.element), None)
        if ignored is not None:
            record = replace(
                record,
                should_close=False,
                interpretation=f"{record.interpretation} [{ignored.describe()}]",
            )
        result.append(record)
    forced = next((o for o in active if o.element == FORCE_CLOSED), None)
    if forced is not None:
        result.insert(
            0,
            ElementRecord(
                "override", "closed", "", forced.describe(), ElementState.BAD, True, (forced.by,)
            ),
        )
    return result, [o.describe() for o in active]


def _status(records: list[ElementRecord], table: dict[str, GlobalStatus]) -> GlobalStatus:
    """The first closing element in table order; else ERROR for a closing error; else the first
    bad element that does not close (clouds, lights); else OK."""

    def first(match: Callable[[ElementRecord], bool]) -> GlobalStatus | None:
        for element, status in table.items():
            record = next((r for r in records if r.element == element), None)
            if record is not None and match(record):
                return status
        return None

    closing = first(lambda r: r.should_close and r.state is ElementState.BAD)
    if closing:
        return closing
    if any(r.should_close and r.state is ElementState.ERROR for r in records):
        return GlobalStatus.ERROR
    return first(lambda r: r.state is ElementState.BAD) or GlobalStatus.OK


#: Wall seconds a reading may be late before it is stale, whatever the clock's speed: processes
#: are scheduled in wall time, and at 60x a 0.25 s hiccup of a loaded machine is 15 simulated
#: seconds — stale by the site's 10 s rule, and the dome closed for a dry sky (issue 25's
#: simulated nights). At speed 1 the site's rule alone applies.
STALE_WALL_FLOOR_S = 1.0


def stale_after_for(safety: SafetySection, speed: float) -> float:
    """The staleness limit (simulated seconds) of a clock running ``speed`` times the wall."""
    return max(safety.stale_after_s, STALE_WALL_FLOOR_S * speed)


@dataclass(frozen=True)
class PlcPoll:
    """One poll of the PLC, as the synthesis sees it.

    Attributes
    ----------
    reading : PlcReading or None
        The parsed STATUS reply, or None when the PLC could not be read.
    received_at : datetime or None
        When the reply was received (the clock's).
    error : str or None
        Why there is no reading (unreachable PLC, malformed reply).
    """

    reading: PlcReading | None
    received_at: datetime | None = None
    error: str | None = None

    def staleness(self, now: datetime, limit_s: float) -> str | None:
        """Why the reading is stale at ``now`` (its own date or its reception older than
        ``limit_s``), or None."""
        if self.reading is None:
            return None
        return stale_reason(self.reading.date, self.received_at, now, limit_s)


def synthesize(
    plc: PlcPoll,
    *,
    now: datetime,
    safety: SafetySection,
    is_night: bool,
    overrides: list[Override] | None = None,
    stale_after_s: float | None = None,
    station: Sequence[ElementRecord] = (),
) -> Synthesis:
    """Turn one poll of the PLC (and of the weather station, if any) into a synthesis.

    Parameters
    ----------
    plc : PlcPoll
        The PLC's reading, when it was received, or why there is none.
    now : datetime
        Current instant (the clock's).
    safety : SafetySection
        Thresholds.
    is_night : bool
        Whether it is night (doors and lights are judged differently by day).
    overrides : list of Override, optional
        Operator overrides; expired ones are ignored.
    stale_after_s : float, optional
        Age (simulated seconds) past which a reading is stale; default ``safety.stale_after_s``
        (a faster clock passes a longer one: see :func:`stale_after_for`).
    station : sequence of ElementRecord, optional
        The weather station's records (:func:`tasks.environment.station.station_records`),
        added to the weather's: they close the dome as the PLC's own elements do.
    """
    reading = plc.reading
    stale = plc.staleness(now, safety.stale_after_s if stale_after_s is None else stale_after_s)
    if reading is None or stale is not None:
        why = stale or f"no PLC reading: {plc.error or 'unknown error'}"
        weather = _error_records(why)
        site = [ElementRecord("site", None, "", why, ElementState.ERROR, False)]
    else:
        weather = weather_records(reading, safety)
        site = site_records(reading, safety, is_night=is_night)
    weather = [*weather, *station]
    weather, active = _apply_overrides(weather, overrides or [], now)
    site, _ = _apply_overrides(site, overrides or [], now)
    reasons = [record.line() for record in (*weather, *site) if record.should_close]
    return Synthesis(
        at=now,
        weather=tuple(weather),
        site=tuple(site),
        weather_status=_status(weather, WEATHER_STATUS),
        site_status=_status(site, SITE_STATUS)
        if reading is not None and stale is None
        else GlobalStatus.ERROR,
        should_close=bool(reasons),
        reasons=tuple(reasons),
        overrides=tuple(active),
        plc_date=reading.date if reading is not None else None,
    )
