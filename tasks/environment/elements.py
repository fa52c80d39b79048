"""One record per environment element: {value, interpretation in words, good/bad/error, close?}.

Sensors are combined per DESIGN §5: only ``valid`` devices count; for rain, DRD11's digital
channel is authoritative (0 = rain) and its analog voltage informative only, and a valid
WXT520 or VantagePro ``RainRate`` above the threshold also means rain (safety first: either says
rain, it rains). A missing reading of an element that guards the dome is an ``error`` and closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from infra.config import SafetySection
from tasks.environment.plc import PlcDevice, PlcReading

WEATHER_STATIONS = ("WXT520", "VantagePro")
RAIN_DETECTOR = "DRD11"
SKY_SENSOR = "MLX90614-1"
SITE_DEVICE = "SITE"


class ElementState(StrEnum):
    """How an element is."""

    GOOD = "good"
    BAD = "bad"
    ERROR = "error"


@dataclass(frozen=True)
class ElementRecord:
    """What one element says, like the original "Rain = 5; it rains hard; close = YES"."""

    element: str
    value: float | str | None
    unit: str
    interpretation: str
    state: ElementState
    should_close: bool
    sources: tuple[str, ...] = ()

    def line(self) -> str:
        """The record in the original one-line form."""
        value = (
            "n/a"
            if self.value is None
            else f"{self.value:g}"
            if isinstance(self.value, float)
            else str(self.value)
        )
        unit = f" {self.unit}" if self.unit and self.value is not None else ""
        close = "YES" if self.should_close else "NO"
        return (
            f"{self.element.capitalize()} = {value}{unit}; {self.interpretation}; close = {close}"
        )


def stale_reason(
    dated: datetime,
    received_at: datetime | None,
    now: datetime,
    limit_s: float,
    *,
    names: tuple[str, str] = ("the PLC's date", "last reply"),
) -> str | None:
    """Why a reading is stale at ``now`` (None: it is not): its own date (``dated``) older than
    ``limit_s``, else its reception. The one staleness rule of the PLC and of a weather station;
    ``names`` say whose date and whose reply, as the reason reads them.
    """
    age_own = (now - dated).total_seconds()
    age_rx = (now - received_at).total_seconds() if received_at is not None else 0.0
    if age_own > limit_s:
        return f"stale: {names[0]} is {age_own:.0f} s old"
    if age_rx > limit_s:
        return f"stale: {names[1]} received {age_rx:.0f} s ago"
    return None


def _numbers(
    devices: dict[str, PlcDevice], names: Iterable[str], value: str
) -> list[tuple[str, float]]:
    found = []
    for name in names:
        device = devices.get(name)
        if device is not None:
            number = device.number(value)
            if number is not None:
                found.append((name, number))
    return found


def _missing(element: str, unit: str, what: str, closes: bool) -> ElementRecord:
    return ElementRecord(
        element, None, unit, f"no valid {what} reading", ElementState.ERROR, closes
    )


def rain(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """Rain from DRD11's digital channel (authoritative) and the stations' rain rates."""
    rates = _numbers(devices, WEATHER_STATIONS, "RainRate")
    detector = devices.get(RAIN_DETECTOR)
    digital = detector.number("digital") if detector is not None else None
    sources = tuple(name for name, _ in rates) + ((RAIN_DETECTOR,) if digital is not None else ())
    if not sources:
        return _missing("rain", "mm/h", "rain detector or rain rate", closes=True)
    rate = max((r for _, r in rates), default=0.0)
    detected = digital == 0 or rate > safety.rain_rate_threshold_mm_h
    if not detected:
        words = "it is dry"
    elif rate >= 7.6:
        words = "it rains hard"
    elif rate >= 2.5:
        words = "it rains"
    elif rate > safety.rain_rate_threshold_mm_h:
        words = "it rains lightly"
    else:
        words = "the rain detector sees rain"
    state = ElementState.BAD if detected else ElementState.GOOD
    return ElementRecord("rain", rate, "mm/h", words, state, detected, sources)


def _threshold_record(
    element: str,
    unit: str,
    readings: list[tuple[str, float]],
    pick: Callable[[Iterable[float]], float],
    bad: Callable[[float], bool],
    good_words: str,
    bad_words: str,
    closes: bool,
) -> ElementRecord:
    value = pick(v for _, v in readings)
    is_bad = bad(value)
    return ElementRecord(
        element,
        round(value, 3),
        unit,
        bad_words if is_bad else good_words,
        ElementState.BAD if is_bad else ElementState.GOOD,
        is_bad and closes,
        tuple(name for name, _ in readings),
    )


def wind(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """The strongest wind reported by a valid station."""
    readings = _numbers(devices, WEATHER_STATIONS, "WindSpeed")
    if not readings:
        return _missing("wind", "m/s", "wind speed", closes=True)
    limit = safety.wind_max_m_s
    return _threshold_record(
        "wind",
        "m/s",
        readings,
        max,
        lambda v: v > limit,
        f"wind below {limit:g} m/s",
        f"too windy (limit {limit:g} m/s)",
        True,
    )


def humidity(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """The highest outside humidity reported by a valid station."""
    readings = _numbers(devices, WEATHER_STATIONS, "OutsideHumidity")
    if not readings:
        return _missing("humidity", "%", "outside humidity", closes=True)
    limit = safety.humidity_max_percent
    return _threshold_record(
        "humidity",
        "%",
        readings,
        max,
        lambda v: v > limit,
        f"humidity below {limit:g} %",
        f"too humid (limit {limit:g} %)",
        True,
    )


def dew_point_margin(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """Outside temperature minus dew point, the smallest over valid stations."""
    margins = []
    for name in WEATHER_STATIONS:
        device = devices.get(name)
        if device is None:
            continue
        temperature, dew = device.number("OutsideTemp"), device.number("DewPoint")
        if temperature is not None and dew is not None:
            margins.append((name, temperature - dew))
    if not margins:
        return _missing("dew point margin", "C", "temperature and dew point", closes=True)
    limit = safety.dew_point_margin_min_c
    return _threshold_record(
        "dew point margin",
        "C",
        margins,
        min,
        lambda v: v < limit,
        f"{limit:g} C or more above the dew point",
        f"condensation risk (margin below {limit:g} C)",
        True,
    )


def sky_temperature(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """Clouds from the infrared sky temperature: bad for observing, no reason to close."""
    readings = _numbers(devices, (SKY_SENSOR,), "SkyTemperature")
    if not readings:
        return _missing("sky temperature", "C", "sky temperature", closes=False)
    limit = safety.sky_temperature_cloudy_c
    return _threshold_record(
        "sky temperature",
        "C",
        readings,
        max,
        lambda v: v > limit,
        "clear sky",
        f"cloudy (sky warmer than {limit:g} C)",
        False,
    )


def outside_temperature(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """Outside temperature within the operating range of the telescope."""
    readings = _numbers(devices, WEATHER_STATIONS, "OutsideTemp")
    if not readings:
        return _missing("outside temperature", "C", "outside temperature", closes=True)
    low, high = safety.outside_temperature_min_c, safety.outside_temperature_max_c
    return _threshold_record(
        "outside temperature",
        "C",
        readings,
        lambda v: sum(v) / len(readings),
        lambda v: not low <= v <= high,
        f"within {low:g}..{high:g} C",
        f"outside the operating range {low:g}..{high:g} C",
        True,
    )


def pressure(devices: dict[str, PlcDevice], safety: SafetySection) -> ElementRecord:
    """Barometric pressure: a sanity check of the stations, never a reason to close."""
    readings = _numbers(devices, WEATHER_STATIONS, "Pressure")
    if not readings:
        return _missing("pressure", "mbar", "pressure", closes=False)
    low, high = safety.pressure_min_mbar, safety.pressure_max_mbar
    return _threshold_record(
        "pressure",
        "mbar",
        readings,
        lambda v: sum(v) / len(readings),
        lambda v: not low <= v <= high,
        "plausible",
        f"implausible (expected {low:g}..{high:g} mbar): check the stations",
        False,
    )


WEATHER_ELEMENTS = (
    rain,
    wind,
    humidity,
    dew_point_margin,
    sky_temperature,
    outside_temperature,
    pressure,
)


def weather_records(reading: PlcReading, safety: SafetySection) -> list[ElementRecord]:
    """Every weather element of a reading (valid devices only)."""
    devices = reading.valid_devices()
    return [evaluate(devices, safety) for evaluate in WEATHER_ELEMENTS]


def _site_text(site: PlcDevice | None, name: str) -> str | None:
    return site.text(name) if site is not None else None


def site_records(
    reading: PlcReading, safety: SafetySection, *, is_night: bool
) -> list[ElementRecord]:
    """Dome shutter, doors, intrusion, lights and inside conditions.

    The site values come from the PLC device ``SITE`` (``Shutter``, ``Door``, ``Intrusion``,
    ``Lights``, ``InsideTemp``, ``InsideHumidity``); inside conditions fall back to a valid
    VantagePro. A door open at night or an intrusion closes and alerts the operator; lights on at
    night spoil images and alert the operator without closing.
    """
    devices = reading.valid_devices()
    site = devices.get(SITE_DEVICE)
    return [
        _shutter(_site_text(site, "Shutter")),
        _doors(_site_text(site, "Door"), is_night),
        _intrusion(_site_text(site, "Intrusion")),
        _lights(_site_text(site, "Lights"), is_night),
        *_inside(devices, safety),
    ]


def _shutter(shutter: str | None) -> ElementRecord:
    return ElementRecord(
        "shutter",
        shutter,
        "",
        f"shutter {shutter}" if shutter else "no shutter reading",
        ElementState.GOOD if shutter else ElementState.ERROR,
        False,
        (SITE_DEVICE,) if shutter else (),
    )


def _doors(door: str | None, is_night: bool) -> ElementRecord:
    """A door open at night closes the dome and alerts the operator; by day it is only said."""
    if door is None:
        return _missing("doors", "", "door", closes=False)
    bad = door == "open" and is_night
    words = (
        "a door is open at night: alarm"
        if bad
        else "doors closed"
        if door != "open"
        else "a door is open (daytime)"
    )
    return ElementRecord(
        "doors",
        door,
        "",
        words,
        ElementState.BAD if bad else ElementState.GOOD,
        bad,
        (SITE_DEVICE,),
    )


def _intrusion(intrusion: str | None) -> ElementRecord:
    """An intrusion closes the dome and alerts the operator, day or night."""
    if intrusion is None:
        return _missing("intrusion", "", "intrusion sensor", closes=False)
    alarm = intrusion in ("1", "yes", "true", "on", "1.0")
    return ElementRecord(
        "intrusion",
        "yes" if alarm else "no",
        "",
        "intrusion detected: alarm" if alarm else "no intrusion",
        ElementState.BAD if alarm else ElementState.GOOD,
        alarm,
        (SITE_DEVICE,),
    )


def _lights(lights: str | None, is_night: bool) -> ElementRecord:
    """Lights on at night spoil images: bad, but no reason to close."""
    if lights is None:
        return _missing("lights", "", "lights", closes=False)
    bad = lights == "on" and is_night
    return ElementRecord(
        "lights",
        lights,
        "",
        "lights on at night: tell the operator" if bad else f"lights {lights}",
        ElementState.BAD if bad else ElementState.GOOD,
        False,
        (SITE_DEVICE,),
    )


def _inside(devices: dict[str, PlcDevice], safety: SafetySection) -> list[ElementRecord]:
    """Inside temperature and humidity (SITE, else a valid VantagePro); never a reason to close."""
    inside_sources = tuple(n for n in (SITE_DEVICE, "VantagePro") if n in devices)
    records = []
    for element, value_name, unit in (
        ("inside temperature", "InsideTemp", "C"),
        ("inside humidity", "InsideHumidity", "%"),
    ):
        readings = _numbers(devices, inside_sources, value_name)
        if not readings:
            records.append(_missing(element, unit, element, closes=False))
            continue
        source, value = readings[0]
        too_humid = element == "inside humidity" and value > safety.humidity_max_percent
        records.append(
            ElementRecord(
                element,
                round(value, 3),
                unit,
                "condensation risk inside the dome" if too_humid else "normal",
                ElementState.BAD if too_humid else ElementState.GOOD,
                False,
                (source,),
            )
        )
    return records
