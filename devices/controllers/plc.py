"""The PLC: weather and site sensors (``STATUS``, the seed's format) and switches.

``STATUS`` needs no lease (the environment monitor polls it); switching lights, power outlets or
the calibration lamp does. :class:`PlcStatus` keeps the reply exactly as received (``raw``, the
seed's ``plc_status_reply.json`` item) beside a flat list of readings.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devices.commands import SWITCH_NAMES
from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.errors import BAD_ARGUMENT, CommandRefused, ProtocolError


@dataclass(frozen=True)
class Reading:
    """One value of one PLC device (``valid`` False: stored, excluded from decisions)."""

    device: str
    type: str
    name: str
    value: Any
    unit: str
    valid: bool
    comment: str = ""


@dataclass(frozen=True)
class PlcStatus:
    """The PLC's ``STATUS``.

    Attributes
    ----------
    raw : dict
        The reply item as the PLC sent it (seed format; without the gateway's additions).
    date : datetime or None
        The PLC's own time (UTC; staleness is judged on it).
    readings : list of Reading
        Every value of every device.
    """

    raw: dict[str, Any]
    station: str
    site: str
    date: datetime | None
    readings: list[Reading] = field(default_factory=list)
    gateway: GatewayView | None = None

    def value(self, device: str, name: str) -> Reading | None:
        """The reading ``name`` of PLC device ``device`` (e.g. ``"DRD11"``, ``"digital"``)."""
        for reading in self.readings:
            if reading.device == device and reading.name == name:
                return reading
        return None

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "plc") -> PlcStatus:
        raw = {"name": "STATUS", **{k: v for k, v in fields.items() if k not in ("gateway", "id")}}
        readings: list[Reading] = []
        try:
            for unit in fields.get("device") or []:
                valid = str(unit.get("valid", "no")).lower() == "yes"
                for value in unit.get("values") or []:
                    readings.append(
                        Reading(
                            device=str(unit["name"]),
                            type=str(unit.get("type", "")),
                            name=str(value["name"]),
                            value=value.get("value"),
                            unit=str(value.get("unit", "")),
                            valid=valid,
                            comment=str(value.get("comment", "")),
                        )
                    )
            date = fields.get("date")
            parsed = datetime.fromisoformat(str(date).replace("Z", "+00:00")) if date else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"{device}: malformed PLC STATUS: {exc}", device=device) from None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # the PLC's date is UTC (DESIGN §5)
        return cls(
            raw=raw,
            station=str(fields.get("from", "")),
            site=str(fields.get("site", "")),
            date=parsed,
            readings=readings,
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


class Plc(Controller):
    """The site PLC (checks switch names; the driver makes the calls)."""

    def switch(self, name: str, on: bool) -> dict[str, bool]:
        """Turn switch ``name`` on or off; returns every switch's state.

        Raises
        ------
        CommandRefused
            An unknown switch.
        """
        if name not in SWITCH_NAMES:
            raise CommandRefused(
                f"{self.device}: unknown switch {name!r} (known: {', '.join(SWITCH_NAMES)})",
                device=self.device,
                code=BAD_ARGUMENT,
            )
        self._require_lease("SWITCH")
        return self._switch(name, bool(on))

    def lights(self, on: bool) -> dict[str, bool]:
        """Dome lights."""
        return self.switch("lights", on)

    def calibration_lamp(self, on: bool) -> dict[str, bool]:
        """The flat-field calibration lamp."""
        return self.switch("calibration_lamp", on)

    def outlet(self, number: int, on: bool) -> dict[str, bool]:
        """Power outlet ``number`` (1 to 8)."""
        return self.switch(f"outlet_{number}", on)

    @abstractmethod
    def status(self) -> PlcStatus:
        """Sensors and devices, in the seed's format (no lease needed)."""

    @abstractmethod
    def switches(self) -> dict[str, bool]:
        """Every switch's state (no lease needed)."""

    @abstractmethod
    def _switch(self, name: str, on: bool) -> dict[str, bool]: ...


def _switch_states(fields: dict[str, Any], device: str) -> dict[str, bool]:
    states = fields.get("switches")
    if not isinstance(states, dict):
        raise ProtocolError(f"{device}: reply has no switches object", device=device)
    return {str(k): bool(v) for k, v in states.items()}


class GatewayPlc(GatewayController, Plc):
    """The PLC through its gateway."""

    def status(self) -> PlcStatus:
        return PlcStatus.from_fields(self._status_fields(), self.device)

    def switches(self) -> dict[str, bool]:
        return _switch_states(self._link.call("SWITCHES"), self.device)

    def _switch(self, name: str, on: bool) -> dict[str, bool]:
        return _switch_states(self._control("SWITCH", {"switch": name, "on": on}), self.device)
