"""What a weather station of its own (``[devices.weather]``) contributes to the synthesis (pure).

The station is a second source beside the PLC (docs/environment.md). It judges its parameters
itself (INDI's ``WEATHER_STATUS``: OK, WARNING, ALERT): PyROS trusts its ALERT and does not
re-judge its numbers against ``[safety]``. Its parameters are grouped by what they measure, one
record each (``station rain``, ``station wind``...), so the weather's global status says RAINING
or WINDY as for the PLC's own elements:

- a parameter in ALERT closes (``bad``), its record names it: "Station rain = 10; Weather
  Simulator: WEATHER_RAIN_HOUR = 10 ALERT; close = YES"; WARNING is shown and does not close;
- parameters of no known group go to the record ``weather station`` (closing when in ALERT);
- no reading (an unreachable station, a malformed reply) or a stale one — the station's ``date``
  or the reception older than the same limit as the PLC's (``safety.stale_after_s``, or
  :func:`~tasks.environment.synthesis.stale_after_for` on a fast clock) — is one ``error`` record
  ``weather station`` that closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from devices.controllers.weather import WeatherLight, WeatherParameter, WeatherState, worst
from tasks.environment.elements import ElementRecord, ElementState, stale_reason

#: The station as a whole: no reading, a stale one, or parameters of no known group.
STATION = "weather station"
#: Station elements and the words of the parameter names they gather, first match wins (dew
#: point and sky temperature before temperature).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("station rain", ("RAIN", "PRECIP")),
    ("station wind", ("WIND", "GUST")),
    ("station humidity", ("HUMIDITY",)),
    ("station dew point", ("DEW",)),
    ("station clouds", ("CLOUD", "SKY")),
    ("station temperature", ("TEMP",)),
)
#: Every element a station may contribute (operators may ignore each: ``pyros monitor override``).
STATION_ELEMENT_NAMES = (*(name for name, _ in GROUPS), STATION)


def group_of(parameter: str) -> str:
    """The station element of an INDI parameter name (``WEATHER_RAIN_HOUR`` -> ``station rain``)."""
    upper = parameter.upper()
    for element, words in GROUPS:
        if any(word in upper for word in words):
            return element
    return STATION


def _describe(parameter: WeatherParameter) -> str:
    value = "" if parameter.value is None else f" = {parameter.value:g}"
    return f"{parameter.name}{value} {parameter.light.value}"


def _record(element: str, station: str, parameters: Sequence[WeatherParameter]) -> ElementRecord:
    light = worst([p.light for p in parameters])
    alerts = [p for p in parameters if p.light is WeatherLight.ALERT]
    shown = next((p for p in parameters if p.light is light), parameters[0])
    named = ", ".join(_describe(p) for p in (alerts or parameters))
    return ElementRecord(
        element,
        shown.value if shown.value is not None else light.value,
        "",
        f"{station}: {named}",
        ElementState.BAD if alerts else ElementState.GOOD,
        bool(alerts),
        (station,),
    )


def _error(why: str, station: str | None = None) -> tuple[ElementRecord, ...]:
    sources = (station,) if station else ()
    return (ElementRecord(STATION, None, "", why, ElementState.ERROR, True, sources),)


def station_records(
    reading: WeatherState | None,
    *,
    now: datetime,
    received_at: datetime | None,
    stale_after_s: float,
    error: str | None = None,
) -> tuple[ElementRecord, ...]:
    """The station's records for the synthesis (see the module for the rules).

    Parameters
    ----------
    reading : WeatherState or None
        The station's ``STATUS``, or None when it could not be read.
    now : datetime
        Current instant (the clock's).
    received_at : datetime or None
        When the reading was received (the clock's); its age is ``now - received_at``.
    stale_after_s : float
        Age (simulated seconds) past which the reading is stale: the PLC's limit.
    error : str, optional
        Why there is no reading.

    Returns
    -------
    tuple of ElementRecord
        One record per group of parameters the station reports (and ``weather station`` for
        the rest); a single closing ``error`` record without a fresh reading.
    """
    if reading is None:
        return _error(f"no station reading: {error or 'unknown error'}")
    names = ("the station's date", "last station reply")
    stale = stale_reason(reading.date, received_at, now, stale_after_s, names=names)
    if stale is not None:
        return _error(stale, reading.station)
    groups: dict[str, list[WeatherParameter]] = {}
    for parameter in reading.parameters:
        groups.setdefault(group_of(parameter.name), []).append(parameter)
    if not groups:
        return _error("the station reports no parameters", reading.station)
    order = [name for name in STATION_ELEMENT_NAMES if name in groups]
    return tuple(_record(name, reading.station, groups[name]) for name in order)
