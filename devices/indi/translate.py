"""What INDI properties mean in PyROS's device protocol, as pure functions (no sockets).

Each function takes copies of INDI properties (:class:`~devices.indi.link.Vector`, or None when
the driver does not define the property) and returns the fields of the PyROS ``STATUS`` reply the
simulators give (docs/protocol.md), so nothing above the gateway can tell an INDI device from a
simulated one. Property states: ``Busy`` is motion in progress, ``Alert`` is a fault (the
simulators' ``fault`` state), ``Ok``/``Idle`` is at rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devices.astrometry import altaz_deg, icrs_to_jnow, jnow_to_icrs
from devices.controllers.camera import CameraActivity
from devices.controllers.dome import ShutterState
from devices.controllers.lamp import LampLight
from devices.controllers.mount import MountMotion
from devices.controllers.weather import WeatherLight, worst
from devices.indi.link import Vector
from infra.config import SiteSection

#: The shortest exposure INDI's CCD drivers take (a PyROS bias is 0 s).
MIN_EXPOSURE_S = 0.001
#: INDI frame types for PyROS image types.
FRAME_TYPES = {
    "light": "FRAME_LIGHT",
    "bias": "FRAME_BIAS",
    "dark": "FRAME_DARK",
    "flat": "FRAME_FLAT",
}
#: The member of ``FLAT_LIGHT_INTENSITY`` (INDI's light box interface).
INTENSITY_MEMBER = "FLAT_LIGHT_INTENSITY_VALUE"
#: Kilometres per hour in one metre per second (INDI weather reports wind in km/h).
KPH_PER_M_S = 3.6


def _state(vector: Vector | None) -> str:
    return vector.state if vector is not None else "Idle"


# ---------------------------------------------------------------------- mount
def goto_members(ra_deg: float, dec_deg: float, when: datetime) -> dict[str, float]:
    """``EQUATORIAL_EOD_COORD`` members (RA hours, Dec degrees, of date) for an ICRS target."""
    ra, dec = icrs_to_jnow(ra_deg, dec_deg, when)
    return {"RA": ra / 15.0, "DEC": dec}


def mount_motion(
    park: Vector | None, coords: Vector | None, track: Vector | None, stopped: bool = False
) -> MountMotion:
    """The mount's motion from ``TELESCOPE_PARK``, ``EQUATORIAL_EOD_COORD`` and
    ``TELESCOPE_TRACK_STATE`` (``stopped``: aborted since the last motion command).

    Precedence: a property in Alert (fault), parking (park Busy), parked, slewing (coordinates
    Busy), tracking (not since an abort), idle.
    """
    if _state(coords) == "Alert" or _state(park) == "Alert":
        return MountMotion.FAULT
    if park is not None and park.state == "Busy" and park.on("PARK"):
        return MountMotion.PARKING
    if park is not None and park.on("PARK"):
        return MountMotion.PARKED
    if _state(coords) == "Busy":
        return MountMotion.SLEWING
    if track is not None and track.on("TRACK_ON") and not stopped:
        return MountMotion.TRACKING
    return MountMotion.IDLE


def mount_status(
    vectors: dict[str, Vector],
    when: datetime,
    site: SiteSection,
    target: tuple[float, float] | None,
    stopped: bool = False,
) -> dict[str, Any]:
    """The mount ``STATUS`` fields (ICRS position, alt/az, tracking, target) of an INDI mount."""
    coords = vectors.get("EQUATORIAL_EOD_COORD")
    motion = mount_motion(
        vectors.get("TELESCOPE_PARK"), coords, vectors.get("TELESCOPE_TRACK_STATE"), stopped
    )
    ra = dec = alt = az = None
    if coords is not None:
        ra_h, dec_now = coords.number("RA"), coords.number("DEC")
        if ra_h is not None and dec_now is not None:
            ra, dec = jnow_to_icrs(ra_h * 15.0, dec_now, when)
            alt, az = altaz_deg(ra, dec, when, site)
    shown = target if motion in (MountMotion.SLEWING, MountMotion.TRACKING) else None
    return {
        "state": motion,
        "ra_deg": None if ra is None else round(ra, 7),
        "dec_deg": None if dec is None else round(dec, 7),
        "alt_deg": None if alt is None else round(alt, 5),
        "az_deg": None if az is None else round(az, 5),
        "tracking": motion == MountMotion.TRACKING,
        "target": None if shown is None else {"ra_deg": shown[0], "dec_deg": shown[1]},
    }


# ---------------------------------------------------------------------- dome
def dome_status(vectors: dict[str, Vector], stopped: bool = False) -> dict[str, Any]:
    """The dome ``STATUS`` fields from ``DOME_SHUTTER`` (``stopped``: aborted mid-travel)."""
    shutter = vectors.get("DOME_SHUTTER")
    if shutter is None or shutter.state == "Alert":
        state = ShutterState.FAULT
    elif shutter.state == "Busy":
        state = ShutterState.OPENING if shutter.on("SHUTTER_OPEN") else ShutterState.CLOSING
    elif stopped:
        state = ShutterState.STOPPED
    else:
        state = ShutterState.OPEN if shutter.on("SHUTTER_OPEN") else ShutterState.CLOSED
    percent = {ShutterState.OPEN: 100.0, ShutterState.CLOSED: 0.0}.get(state)
    park = vectors.get("DOME_PARK")
    return {
        "state": state,
        "open_percent": percent,
        "parked": None if park is None else park.on("PARK"),
    }


# ---------------------------------------------------------------------- camera
def filter_slot(filters: Sequence[str], name: str) -> int:
    """The wheel slot (1-based) of filter ``name``: the configuration's order.

    Raises
    ------
    ValueError
        When the instrument has no such filter.
    """
    try:
        return list(filters).index(name) + 1
    except ValueError:
        raise ValueError(f"no filter {name!r} in the wheel ({', '.join(filters)})") from None


def filter_name(filters: Sequence[str], slot: float | None) -> str | None:
    """The configured filter in ``slot`` (None: no slot reported, or a slot past the list)."""
    if slot is None:
        return None
    index = round(slot) - 1
    return filters[index] if 0 <= index < len(filters) else None


def camera_activity(
    exposure: Vector | None, wheel: Vector | None, waiting_for_frame: bool
) -> CameraActivity:
    """The camera's activity from ``CCD_EXPOSURE``, ``FILTER_SLOT`` and whether PyROS still
    waits for the frame of an exposure it started."""
    if _state(exposure) == "Alert" and waiting_for_frame:
        return CameraActivity.FAULT
    if _state(exposure) == "Busy":
        remaining = exposure.number("CCD_EXPOSURE_VALUE") if exposure is not None else None
        return CameraActivity.EXPOSING if remaining else CameraActivity.READING_OUT
    if waiting_for_frame:
        return CameraActivity.READING_OUT
    if _state(wheel) == "Busy":
        return CameraActivity.MOVING_FILTER
    return CameraActivity.IDLE


# ---------------------------------------------------------------------- weather
def weather_status(
    vectors: dict[str, Vector], station: str, site: str, date: str
) -> dict[str, Any]:
    """The PLC ``STATUS`` (the seed's format) of an INDI weather station.

    One PLC device named ``station``: ``RainRate`` (mm/h), ``WindSpeed``/``WindGust`` (m/s),
    ``OutsideTemp`` (C) and the INDI states: ``WeatherStatus`` (``OK``, ``WARNING`` or ``ALERT``,
    the worst parameter) and one ``<PARAMETER>_status`` per parameter. The readings are ``valid``
    only while ``WEATHER_PARAMETERS`` is not in Alert.
    """
    parameters = vectors.get("WEATHER_PARAMETERS")
    status = vectors.get("WEATHER_STATUS")
    values: list[dict[str, Any]] = []

    def add(name: str, value: Any, unit: str, comment: str = "") -> None:
        values.append({"name": name, "value": value, "unit": unit, "comment": comment})

    if parameters is not None:
        rain = parameters.number("WEATHER_RAIN_HOUR")
        wind = parameters.number("WEATHER_WIND_SPEED")
        gust = parameters.number("WEATHER_WIND_GUST")
        temperature = parameters.number("WEATHER_TEMPERATURE")
        if rain is not None:
            add("RainRate", rain, "mm/h", "INDI WEATHER_RAIN_HOUR")
        if wind is not None:
            add("WindSpeed", round(wind / KPH_PER_M_S, 3), "m/s", "INDI WEATHER_WIND_SPEED")
        if gust is not None:
            add("WindGust", round(gust / KPH_PER_M_S, 3), "m/s", "INDI WEATHER_WIND_GUST")
        if temperature is not None:
            add("OutsideTemp", temperature, "Celcius", "INDI WEATHER_TEMPERATURE")
    states = dict(status.values) if status is not None else {}
    worst = (
        "ALERT" if "Alert" in states.values() else "WARNING" if "Busy" in states.values() else "OK"
    )
    add("WeatherStatus", worst if status is not None else "UNKNOWN", "", "INDI WEATHER_STATUS")
    for name, light in sorted(states.items()):
        add(
            f"{name}_status",
            {"Ok": "OK", "Busy": "WARNING", "Alert": "ALERT"}.get(light, "IDLE"),
            "",
        )
    valid = parameters is not None and parameters.state != "Alert"
    return {
        "from": "INDI",
        "site": site,
        "date": date,
        "device": [
            {"name": station, "type": "meteo", "valid": "yes" if valid else "no", "values": values}
        ],
    }


# ---------------------------------------------------------------------- weather station
#: INDI light states as the station's judgement of a parameter.
WEATHER_LIGHTS = {
    "Idle": WeatherLight.IDLE,
    "Ok": WeatherLight.OK,
    "Busy": WeatherLight.WARNING,
    "Alert": WeatherLight.ALERT,
}


def station_status(vectors: dict[str, Vector], station: str, date: datetime) -> dict[str, Any]:
    """The weather ``STATUS`` fields of an INDI weather station (``[devices.weather]``).

    One entry per parameter of ``WEATHER_PARAMETERS`` (its number, INDI's units) with its light
    in ``WEATHER_STATUS`` (``IDLE`` when the station does not judge it), then the lights without
    a number. A ``WEATHER_PARAMETERS`` in Alert (the station could not read its sensors) is one
    more parameter of that name in ``ALERT``. ``date`` is when the station answered (the PyROS
    clock), ``light`` the worst light.
    """
    numbers = vectors.get("WEATHER_PARAMETERS")
    status = vectors.get("WEATHER_STATUS")
    lights = {
        name: WEATHER_LIGHTS.get(str(value), WeatherLight.IDLE)
        for name, value in (status.values.items() if status is not None else ())
    }
    parameters: list[dict[str, Any]] = []
    if numbers is not None:
        for name in numbers.values:
            light = lights.pop(name, WeatherLight.IDLE)
            parameters.append({"name": name, "value": numbers.number(name), "light": light})
        if numbers.state == "Alert":
            parameters.append(
                {"name": "WEATHER_PARAMETERS", "value": None, "light": WeatherLight.ALERT}
            )
    parameters += [{"name": n, "value": None, "light": light} for n, light in lights.items()]
    return {
        "station": station,
        "date": date.isoformat(),
        "light": worst([p["light"] for p in parameters]),
        "parameters": parameters,
    }


# ---------------------------------------------------------------------- light panel
def lamp_status(vectors: dict[str, Vector]) -> dict[str, Any]:
    """The lamp ``STATUS`` fields of an INDI light panel: ``state`` from ``FLAT_LIGHT_CONTROL``
    (``fault`` when it is in Alert or not defined), ``intensity`` from ``FLAT_LIGHT_INTENSITY``
    (None: the panel has no dimmer)."""
    control = vectors.get("FLAT_LIGHT_CONTROL")
    if control is None or control.state == "Alert":
        light = LampLight.FAULT
    else:
        light = LampLight.ON if control.on("FLAT_LIGHT_ON") else LampLight.OFF
    intensity = vectors.get("FLAT_LIGHT_INTENSITY")
    return {
        "state": light,
        "intensity": None if intensity is None else intensity.number(INTENSITY_MEMBER),
    }
