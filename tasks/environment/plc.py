"""Reading the PLC's STATUS reply (the seed's ``plc_status_reply.json`` format).

The reply is a JSON list whose ``STATUS`` item carries the PLC's ``date`` (UTC) and its devices,
each with a ``valid`` flag and named values with units. Sensors flagged ``"valid": "no"`` are kept
(stored) but excluded from decisions. Anything malformed raises :class:`PlcReplyError`, which the
monitor turns into an ``error`` synthesis (unsafe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class PlcReplyError(ValueError):
    """The PLC's reply does not have the STATUS format."""


@dataclass(frozen=True)
class SensorValue:
    """One named value of a PLC device."""

    name: str
    value: Any
    unit: str
    comment: str = ""


@dataclass(frozen=True)
class PlcDevice:
    """One device in the STATUS reply (a weather station, a rain detector, a lamp, the site)."""

    name: str
    type: str
    valid: bool
    values: dict[str, SensorValue] = field(default_factory=dict)

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
    """A parsed STATUS reply."""

    date: datetime
    site: str
    source: str
    devices: dict[str, PlcDevice]

    def valid_devices(self) -> dict[str, PlcDevice]:
        """Devices whose readings may be used for decisions."""
        return {name: device for name, device in self.devices.items() if device.valid}


def _parse_date(text: Any) -> datetime:
    if not isinstance(text, str):
        raise PlcReplyError(f"date: expected an ISO 8601 string, got {type(text).__name__}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PlcReplyError(f"date: {text!r} is not an ISO 8601 instant") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_status_reply(reply: Any) -> PlcReading:
    """Parse a decoded STATUS reply.

    Parameters
    ----------
    reply : list or dict
        The decoded JSON: a list holding the ``STATUS`` object (as the seed), or that object.

    Raises
    ------
    PlcReplyError
        Naming what is missing or malformed.
    """
    items = reply if isinstance(reply, list) else [reply]
    status = next((i for i in items if isinstance(i, dict) and i.get("name") == "STATUS"), None)
    if status is None:
        raise PlcReplyError("no STATUS object in the reply")
    raw_devices = status.get("device")
    if not isinstance(raw_devices, list):
        raise PlcReplyError("device: expected a list of devices")
    devices: dict[str, PlcDevice] = {}
    for index, raw in enumerate(raw_devices):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise PlcReplyError(f"device[{index}]: expected an object with a name")
        values = raw.get("values", [])
        if not isinstance(values, list):
            raise PlcReplyError(f"device[{index}].values: expected a list")
        parsed: dict[str, SensorValue] = {}
        for v_index, item in enumerate(values):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise PlcReplyError(f"device[{index}].values[{v_index}]: expected a named value")
            parsed[item["name"]] = SensorValue(
                item["name"],
                item.get("value"),
                str(item.get("unit", "")),
                str(item.get("comment", "")),
            )
        valid = str(raw.get("valid", "no")).strip().lower() in ("yes", "true", "1")
        devices[raw["name"]] = PlcDevice(raw["name"], str(raw.get("type", "")), valid, parsed)
    return PlcReading(
        date=_parse_date(status.get("date")),
        site=str(status.get("site", "")),
        source=str(status.get("from", "")),
        devices=devices,
    )
