"""The dome-flat lamp: a light panel of its own (``[devices.lamp]``), or the PLC's switch.

:class:`Lamp` holds the typed state and the checks (the intensity in range, the lease);
:class:`GatewayLamp` is the driver that talks to the lamp's gateway. :class:`FlatLamp` is what
dome flats need of a lamp — claim it, switch it, let it go — and both the PLC
(:meth:`~devices.controllers.plc.Plc.calibration_lamp`) and a light panel satisfy it, so the
calibration acquisition does not ask which one the observatory has.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from devices.commands import MAX_LAMP_INTENSITY
from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.controllers.link import LeaseHandle
from devices.errors import BAD_ARGUMENT, CommandRefused, ProtocolError
from devices.lease import Priority


class LampLight(StrEnum):
    """What the lamp's light is doing."""

    ON = "on"
    OFF = "off"
    FAULT = "fault"


@dataclass(frozen=True)
class LampState:
    """The lamp's ``STATUS``: its light and its intensity (None: the panel has no dimmer)."""

    light: LampLight
    intensity: float | None
    gateway: GatewayView | None = None

    @property
    def on(self) -> bool:
        """Whether the light is on."""
        return self.light is LampLight.ON

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "lamp") -> LampState:
        try:
            light = LampLight(fields["state"])
        except (KeyError, ValueError):
            raise ProtocolError(
                f"{device}: STATUS has no valid state ({fields.get('state')!r})", device=device
            ) from None
        intensity = fields.get("intensity")
        return cls(
            light=light,
            intensity=float(intensity) if isinstance(intensity, int | float) else None,
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


class FlatLamp(Protocol):
    """What dome flats need of their lamp (the PLC's switch or a light panel)."""

    device: str

    def claim(
        self,
        owner: str,
        priority: Priority | str,
        *,
        wait_s: float | None = None,
        ttl_s: float | None = None,
    ) -> LeaseHandle:
        """Claim the lamp's device (a context manager that releases it)."""
        ...

    def calibration_lamp(self, on: bool) -> object:
        """Switch the flat-field lamp on or off (under the lease)."""
        ...

    def disconnect(self) -> None:
        """Release the lease and close the connection."""
        ...


class Lamp(Controller):
    """A flat-field light panel (checks here; the driver makes the calls)."""

    def switch(self, on: bool, intensity: float | None = None) -> LampState:
        """Turn the light on or off.

        Parameters
        ----------
        on : bool
            On or off.
        intensity : float, optional
            Brightness to set first (the panel's own scale; default: ``[devices.lamp]
            intensity`` when switching on, if configured, else the panel's current one).

        Raises
        ------
        CommandRefused
            An intensity that is not a number in [0, ``MAX_LAMP_INTENSITY``].
        Preempted, DeviceProblem
            As any command (a panel that refuses says why).
        """
        if intensity is not None and not (
            math.isfinite(intensity) and 0.0 <= intensity <= MAX_LAMP_INTENSITY
        ):
            raise CommandRefused(
                f"{self.device}: intensity {intensity!r} is not in [0, {MAX_LAMP_INTENSITY:g}]",
                device=self.device,
                code=BAD_ARGUMENT,
            )
        self._require_lease("LIGHT")
        return self._light(bool(on), intensity)

    def calibration_lamp(self, on: bool) -> LampState:
        """The flat-field lamp on or off (:class:`FlatLamp`)."""
        return self.switch(on)

    @abstractmethod
    def status(self) -> LampState:
        """The lamp's state (no lease needed)."""

    @abstractmethod
    def _light(self, on: bool, intensity: float | None) -> LampState: ...


class GatewayLamp(GatewayController, Lamp):
    """The light panel through its gateway."""

    def status(self) -> LampState:
        return LampState.from_fields(self._status_fields(), self.device)

    def _light(self, on: bool, intensity: float | None) -> LampState:
        args: dict[str, Any] = {"on": on}
        if intensity is not None:
            args["intensity"] = float(intensity)
        fields = self._control("LIGHT", args)
        return LampState.from_fields(fields, self.device) if "state" in fields else self.status()
