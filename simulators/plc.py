"""The PLC simulator: the seed's ``STATUS`` reply with live values, the ``SITE`` device, switches.

``STATUS`` answers exactly the seed's format (``simulators/data/plc_status_reply.json``, a copy of
the original ``plc_status_reply.json``): the same stations, devices, names, units, comments and
``valid`` flags, with ``date`` the clock's current instant in UTC (the seed's form,
``YYYY-MM-DDTHH:MM:SS``, no zone) and the values as the scenario set them. After the seed's devices
comes one more, ``SITE`` (what the environment synthesis reads for the site elements):

| value | unit | follows |
| --- | --- | --- |
| ``Shutter`` | string | the dome simulator's state (``open``, ``closed``, ``opening``...) |
| ``Door`` | string | ``closed`` / ``open`` (scenario) |
| ``Intrusion`` | bool | 0 / 1 (scenario) |
| ``Lights`` | string | the ``lights`` switch (``on`` / ``off``) |
| ``InsideTemp`` | Celcius | scenario (20.28) |
| ``InsideHumidity`` | percent | scenario (45.6) |

The calibration lamp ``LAMP_FLAT_CAGIRE`` follows the ``calibration_lamp`` switch (``status``
``on``/``off``, ``current`` 0.234 A when on, 0 when off). Values that follow a switch or the dome
cannot be set by a scenario (the error says what drives them).

Switches start as a night-ready observatory: lights and lamp off, the eight outlets on.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from devices.commands import SWITCH_NAMES, DeviceKind
from devices.controllers.dome import ShutterState
from infra.clock import Clock
from simulators import DATA_DIR
from simulators.device import SimulatedDevice

LAMP_DEVICE = "LAMP_FLAT_CAGIRE"
LAMP_CURRENT_A = 0.234
SITE_DEVICE = "SITE"
RAIN_DETECTOR = "DRD11"
WEATHER_STATIONS = ("WXT520", "VantagePro")
SKY_SENSOR = "MLX90614-1"
#: (device, value) pairs that follow the dome or a switch, not the scenario.
DERIVED = {
    (SITE_DEVICE, "Shutter"): "the dome simulator's shutter",
    (SITE_DEVICE, "Lights"): "the PLC's lights switch (SWITCH lights)",
    (LAMP_DEVICE, "status"): "the PLC's calibration_lamp switch (SWITCH calibration_lamp)",
    (LAMP_DEVICE, "current"): "the PLC's calibration_lamp switch (SWITCH calibration_lamp)",
}


class PlcValueError(ValueError):
    """A scenario names a PLC device or value that does not exist, or one it cannot set."""


def seed_reply() -> list[dict[str, Any]]:
    """The seed's ``plc_status_reply.json`` (bundled copy, unchanged)."""
    reply: list[dict[str, Any]] = json.loads(
        (DATA_DIR / "plc_status_reply.json").read_text(encoding="utf-8")
    )
    return reply


def site_device() -> dict[str, Any]:
    """The ``SITE`` device appended to the seed's devices (initial values)."""

    def value(name: str, val: Any, unit: str, comment: str = "") -> dict[str, Any]:
        return {"name": name, "value": val, "unit": unit, "comment": comment}

    return {
        "name": SITE_DEVICE,
        "type": "site",
        "serial_number": "SIM-SITE-1",
        "valid": "yes",
        "values": [
            value("Shutter", "closed", "string", "dome shutter: open closed opening closing"),
            value("Door", "closed", "string", "open or closed"),
            value("Intrusion", 0, "bool", "1=Intrusion 0=None"),
            value("Lights", "off", "string", "on or off"),
            value("InsideTemp", 20.28, "Celcius", ""),
            value("InsideHumidity", 45.6, "percent", ""),
        ],
    }


class PlcSimulator(SimulatedDevice):
    """The PLC: weather and site sensors, switches.

    Parameters
    ----------
    name, host, port, clock :
        As :class:`~simulators.device.SimulatedDevice`.
    shutter : callable
        Returns the dome's shutter state word (``SITE.Shutter``).
    interlock_rain_rate_mm_h : float
        A valid station's ``RainRate`` above this is rain for the dome interlock.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        clock: Clock,
        *,
        shutter: Callable[[], str] = lambda: ShutterState.CLOSED,
        interlock_rain_rate_mm_h: float = 0.1,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(name, DeviceKind.PLC, host, port, clock, lock)
        status = next(item for item in seed_reply() if item.get("name") == "STATUS")
        self._header = {k: status[k] for k in ("from", "version_firmware", "site")}
        self._devices: list[dict[str, Any]] = [*copy.deepcopy(status["device"]), site_device()]
        self._shutter = shutter
        self.interlock_rain_rate_mm_h = interlock_rain_rate_mm_h
        self.switches: dict[str, bool] = {s: s.startswith("outlet_") for s in SWITCH_NAMES}

    # ------------------------------------------------------------------ the model
    def _device(self, device_name: str) -> dict[str, Any]:
        for device in self._devices:
            if device["name"] == device_name:
                return device
        known = ", ".join(d["name"] for d in self._devices)
        raise PlcValueError(f"PLC: no device {device_name!r} (known: {known})")

    def _value(self, device_name: str, value_name: str) -> dict[str, Any]:
        values: list[dict[str, Any]] = self._device(device_name)["values"]
        for item in values:
            if item["name"] == value_name:
                return item
        known = ", ".join(v["name"] for v in values)
        raise PlcValueError(
            f"PLC: device {device_name} has no value {value_name!r} (known: {known})"
        )

    def check_value(self, device_name: str, value_name: str) -> None:
        """Raise :class:`PlcValueError` unless a scenario may set this value."""
        with self._lock:
            self._value(device_name, value_name)
        if (device_name, value_name) in DERIVED:
            raise PlcValueError(
                f"PLC: {device_name}.{value_name} follows {DERIVED[(device_name, value_name)]}; "
                "a scenario cannot set it"
            )

    def check_device(self, device_name: str) -> None:
        """Raise :class:`PlcValueError` unless the device exists."""
        with self._lock:
            self._device(device_name)

    def set_value(self, device_name: str, value_name: str, value: Any) -> Any:
        """Set a sensor value (what ``plcSimulator`` scenario items do); returns the old value.

        Raises
        ------
        PlcValueError
            Unknown device or value, a derived value, or a value that is not a JSON scalar.
        """
        if value is not None and not isinstance(value, str | int | float | bool):
            raise PlcValueError(
                f"PLC: {device_name}.{value_name}: value must be a number, a string or a boolean"
            )
        if isinstance(value, float) and value != value:  # NaN is not JSON
            raise PlcValueError(f"PLC: {device_name}.{value_name}: value must not be NaN")
        self.check_value(device_name, value_name)
        with self._lock:
            item = self._value(device_name, value_name)
            old, item["value"] = item["value"], value
            return old

    def set_valid(self, device_name: str, valid: bool) -> None:
        """Flag a device's readings valid (``"yes"``) or not (``"no"``)."""
        with self._lock:
            self._device(device_name)["valid"] = "yes" if valid else "no"

    def get_value(self, device_name: str, value_name: str) -> Any:
        """The current value (derived ones included)."""
        with self._lock:
            for device in self._snapshot():
                if device["name"] == device_name:
                    for item in device["values"]:
                        if item["name"] == value_name:
                            return item["value"]
        raise PlcValueError(f"PLC: no value {device_name}.{value_name}")

    def _number(self, device_name: str, value_name: str, *, valid_only: bool) -> float | None:
        try:
            device = self._device(device_name)
        except PlcValueError:
            return None
        if valid_only and str(device.get("valid")).lower() != "yes":
            return None
        for item in device["values"]:
            if item["name"] == value_name:
                value = item["value"]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return None
                return float(value)
        return None

    def rain_reason(self) -> str | None:
        """Why the PLC says it rains (the dome interlock), or None when it is dry.

        DRD11's digital channel reading 0, or a valid station's ``RainRate`` above
        ``interlock_rain_rate_mm_h``.
        """
        with self._lock:
            digital = self._number(RAIN_DETECTOR, "digital", valid_only=True)
            if digital is not None and digital == 0:
                return f"{RAIN_DETECTOR} digital channel reads rain"
            for station in WEATHER_STATIONS:
                rate = self._number(station, "RainRate", valid_only=True)
                if rate is not None and rate > self.interlock_rain_rate_mm_h:
                    return f"{station} RainRate {rate:g} mm/h"
        return None

    def lamp_on(self) -> bool:
        """Whether the calibration lamp is on (the cameras take dome flats)."""
        with self._lock:
            return self.switches["calibration_lamp"]

    def sky_temperature_c(self) -> float | None:
        """The infrared sky temperature (clouds), when its sensor is valid."""
        with self._lock:
            return self._number(SKY_SENSOR, "SkyTemperature", valid_only=True)

    def _snapshot(self) -> list[dict[str, Any]]:
        devices = copy.deepcopy(self._devices)
        lamp = self.switches["calibration_lamp"]
        for device in devices:
            for item in device["values"]:
                key = (device["name"], item["name"])
                if key == (SITE_DEVICE, "Shutter"):
                    item["value"] = self._shutter()
                elif key == (SITE_DEVICE, "Lights"):
                    item["value"] = "on" if self.switches["lights"] else "off"
                elif key == (LAMP_DEVICE, "status"):
                    item["value"] = "on" if lamp else "off"
                elif key == (LAMP_DEVICE, "current"):
                    item["value"] = LAMP_CURRENT_A if lamp else 0.0
        return devices

    # ------------------------------------------------------------------ commands
    def cmd_status(self) -> dict[str, Any]:
        date = self.device_now().strftime("%Y-%m-%dT%H:%M:%S")
        return {**self._header, "date": date, "device": self._snapshot()}

    def cmd_switches(self) -> dict[str, Any]:
        return {"switches": dict(self.switches)}

    def cmd_switch(self, switch: str, on: bool) -> dict[str, Any]:
        self.switches[switch] = bool(on)
        return self.cmd_switches()
