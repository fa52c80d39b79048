"""An INDI light panel as the dome-flat lamp (``[devices.lamp] driver = "indi"``).

INDI's light box interface (``indi_simulator_lightpanel``, flat panels of every make): the switch
``FLAT_LIGHT_CONTROL`` (``FLAT_LIGHT_ON`` / ``FLAT_LIGHT_OFF``) and, on a panel that dims, the
number ``FLAT_LIGHT_INTENSITY`` (``FLAT_LIGHT_INTENSITY_VALUE``, in the panel's own scale). Each
command is a round trip on the gateway's :class:`~devices.indi.link.IndiLink`, acknowledged by the
driver's next update of the property (``Alert``: refused, with the driver's message).
"""

from __future__ import annotations

from typing import Any

from devices.errors import DeviceError
from devices.indi import translate
from devices.indi.drivers import IndiDriver


class LampDriver(IndiDriver):
    """An INDI light panel: ``LIGHT on [intensity]`` and ``STATUS``."""

    main = "FLAT_LIGHT_CONTROL"

    def status(self) -> dict[str, Any]:
        return translate.lamp_status(self.vectors())

    def cmd_light(self, on: bool, intensity: float | None = None) -> dict[str, Any]:
        """Switch the panel; when switching on, set the intensity asked, or the configured one
        (``[devices.lamp] intensity``), first."""
        if on:
            wanted = (
                intensity if intensity is not None else getattr(self.endpoint, "intensity", None)
            )
            if wanted is not None:
                self._set_intensity(float(wanted))
        elif intensity is not None:
            self._set_intensity(float(intensity))
        member = "FLAT_LIGHT_ON" if on else "FLAT_LIGHT_OFF"
        self.round_trip("FLAT_LIGHT_CONTROL", {member: "On"})
        return self.status()

    def _set_intensity(self, value: float) -> None:
        if self.link.vector(self.indi, "FLAT_LIGHT_INTENSITY") is None:
            raise DeviceError(
                f"{self.device}: INDI {self.indi!r} has no FLAT_LIGHT_INTENSITY (a panel that "
                "does not dim): leave the intensity out",
                device=self.device,
            )
        self.round_trip("FLAT_LIGHT_INTENSITY", {translate.INTENSITY_MEMBER: value})
