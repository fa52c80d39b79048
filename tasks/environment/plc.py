"""The PLC's STATUS reply (the seed's ``plc_status_reply.json`` format) as the synthesis reads it.

Parsing is the PLC controller's (:class:`devices.controllers.plc.PlcStatus`, one parser for the
whole project); this module groups its readings by PLC device and adds what the synthesis needs:
numbers and words by name, and the valid devices only. Sensors flagged ``"valid": "no"`` are kept
(stored) but excluded from decisions. A reply without a ``STATUS`` object, a device list or a
date raises :class:`PlcReplyError`, which the monitor turns into an ``error`` synthesis (unsafe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devices.controllers.plc import PlcStatus, Reading
from devices.errors import ProtocolError


class PlcReplyError(ValueError):
    """The PLC's reply does not have the STATUS format."""


@dataclass(frozen=True)
class PlcDevice:
    """One device in the STATUS reply (a weather station, a rain detector, a lamp, the site)."""

    name: str
    type: str
    valid: bool
    values: dict[str, Reading] = field(default_factory=dict)

    def number(self, name: str) -> float | None:
        """The value called ``name`` as a finite float, or None when absent or not numeric."""
        item = self.values.get(name)
        if item is None or isinstance(item.value, bool):
            return None
        try:
            number = float(item.value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    def text(self, name: str) -> str | None:
        """The value called ``name`` as lowercase text, or None when absent."""
        item = self.values.get(name)
        return None if item is None else str(item.value).strip().lower()


@dataclass(frozen=True)
class PlcReading:
    """A STATUS reply, by PLC device."""

    date: datetime
    site: str
    source: str
    devices: dict[str, PlcDevice]

    def valid_devices(self) -> dict[str, PlcDevice]:
        """Devices whose readings may be used for decisions."""
        return {name: device for name, device in self.devices.items() if device.valid}


def reading_from_status(status: PlcStatus) -> PlcReading:
    """Group a parsed STATUS by device.

    Raises
    ------
    PlcReplyError
        When the reply has no date (staleness could not be judged).
    """
    if status.date is None:
        raise PlcReplyError("date: missing (the PLC's time is needed to judge staleness)")
    devices: dict[str, PlcDevice] = {}
    for unit in status.raw.get("device") or []:
        name = str(unit["name"])
        values = {r.name: r for r in status.readings if r.device == name}
        valid = str(unit.get("valid", "no")).strip().lower() == "yes"
        devices[name] = PlcDevice(name, str(unit.get("type", "")), valid, values)
    return PlcReading(date=status.date, site=status.site, source=status.station, devices=devices)


def parse_status_reply(reply: Any) -> PlcReading:
    """Parse a decoded STATUS reply (a list holding the ``STATUS`` object, as the seed, or it).

    Raises
    ------
    PlcReplyError
        Naming what is missing or malformed.
    """
    items = reply if isinstance(reply, list) else [reply]
    status = next((i for i in items if isinstance(i, dict) and i.get("name") == "STATUS"), None)
    if status is None:
        raise PlcReplyError("no STATUS object in the reply")
    if not isinstance(status.get("device"), list):
        raise PlcReplyError("device: expected a list of devices")
    for index, unit in enumerate(status["device"]):
        if not isinstance(unit, dict) or not isinstance(unit.get("name"), str):
            raise PlcReplyError(f"device[{index}]: expected an object with a name")
    try:
        return reading_from_status(PlcStatus.from_fields(status))
    except ProtocolError as error:
        raise PlcReplyError(str(error)) from None
