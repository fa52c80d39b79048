"""PyROS device commands carried out on INDI devices, one class per kind of device (the camera's
in :mod:`devices.indi.camera_driver`).

Each command is a sequence of INDI round trips on :class:`~devices.indi.link.IndiLink`: send new
property values, wait for the driver to take them (its next update of that property, ``Busy`` or
``Ok``), fail with the driver's message when it answers ``Alert``. Replies are the same fields the
simulators give (:mod:`devices.indi.translate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from devices.errors import DeviceError, DeviceTimeout
from devices.indi import translate
from devices.indi.link import IndiLink, Vector
from infra.clock import Clock
from infra.config import Endpoint, SiteConfig

log = logging.getLogger(__name__)

#: Property states that show a driver took new values.
TAKEN = ("Busy", "Ok", "Alert")


def _switched(member: str) -> Callable[[Vector], bool]:
    """An answer is the update that shows ``member`` On (the one the command asked for)."""
    return lambda vector: vector.on(member)


class IndiDriver:
    """The common part: one INDI device, connected on demand, and its round trips.

    ``main`` is the property a connected device defines that the driver cannot do without.

    Parameters
    ----------
    device : str
        PyROS device name.
    endpoint : Endpoint
        ``[devices.<device>]`` (``indi_device`` and the camera options).
    link : IndiLink
        The INDI connection.
    config : SiteConfig
        The site.
    clock : Clock
        For timestamps.
    timeout_s : float
        Wall seconds a driver has to answer one round trip.
    """

    def __init__(
        self,
        device: str,
        endpoint: Endpoint,
        link: IndiLink,
        config: SiteConfig,
        clock: Clock,
        timeout_s: float,
    ) -> None:
        self.device = device
        self.indi = str(endpoint.indi_device)
        self.endpoint = endpoint
        self.link = link
        self.config = config
        self.clock = clock
        self.timeout_s = timeout_s
        self._ready_generation = -1  # the server connection the device was set up on

    main = "CONNECTION"

    def indi_devices(self) -> list[str]:
        """The INDI devices this driver uses."""
        return [self.indi]

    # ------------------------------------------------------------------ round trips
    def round_trip(
        self,
        name: str,
        members: dict[str, Any],
        *,
        device: str | None = None,
        answered: Callable[[Vector], bool] | None = None,
    ) -> Vector:
        """Send ``members`` of property ``name`` and return the driver's answer.

        ``answered`` tells the answer from an update already on its way (a shutter's "closed"
        from the park before): by default any Busy, Ok or Alert update is the answer.

        Raises
        ------
        DeviceError
            The driver answered Alert (its message says why).
        DeviceTimeout, DeviceDisconnected
            No answer in time, or no server.
        """
        target = device or self.indi
        before = self.link.send(target, name, members)
        accepted = answered or (lambda _vector: True)
        answer = self.link.wait_update(
            target,
            name,
            before,
            self.timeout_s,
            lambda v: v.state == "Alert" or (v.state in TAKEN and accepted(v)),
        )
        if answer.state == "Alert":
            why = answer.message or "no message"
            raise DeviceError(f"{self.device}: INDI {target!r} refused {name}: {why}")
        return answer

    def wait_rest(self, name: str, timeout: float, *, device: str | None = None) -> Vector:
        """Wait until property ``name`` is no longer Busy."""
        target = device or self.indi
        current = self.link.require(target, name)
        if current.state != "Busy":
            return current
        return self.link.wait_update(
            target, name, current.seq, timeout, lambda v: v.state != "Busy"
        )

    def ping(self) -> None:
        """One round trip to the driver (``CONNECTION``: CONNECT again, a no-op that it answers)."""
        self.ready()
        self.round_trip("CONNECTION", {"CONNECT": "On"})

    def ready(self) -> None:
        """Connect the INDI device(s) when they are not (after each server connection, or after
        a driver restart), then :meth:`configure` them."""
        generation = self.link.generation
        connected = True
        for device in self.indi_devices():
            connection = self._defined(device)
            if connection.on("CONNECT") and connection.state != "Alert":
                continue
            connected = False
            self.round_trip("CONNECTION", {"CONNECT": "On"}, device=device)
            self.link.wait_update(
                device, "CONNECTION", 0, self.timeout_s,
                lambda v: v.on("CONNECT") and v.state != "Busy",
            )  # fmt: skip
        if connected and self._ready_generation == generation:
            return
        for device, name in self.needs():
            if self.link.vector(device, name) is None:  # defined once the device is connected
                self.link.wait_update(device, name, 0, self.timeout_s)
        self.configure()
        self._ready_generation = generation

    def needs(self) -> list[tuple[str, str]]:
        """The (device, property) pairs PyROS uses, that a connected device defines."""
        return [(self.indi, self.main)]

    def _defined(self, device: str) -> Vector:
        """The device's ``CONNECTION``, waiting for the server to define it (just connected)."""
        connection = self.link.vector(device, "CONNECTION")
        if connection is not None:
            return connection
        self.link.require_server()
        try:
            return self.link.wait_update(device, "CONNECTION", 0, self.timeout_s)
        except DeviceTimeout:
            raise DeviceError(
                f"{self.device}: the INDI server {self.link.host}:{self.link.port} has no device "
                f"{device!r} (not defined within {self.timeout_s:g} s)",
                device=self.device,
            ) from None

    def configure(self) -> None:
        """Set what PyROS needs on the device once connected (nothing by default)."""

    def vectors(self) -> dict[str, Vector]:
        return self.link.vectors(self.indi)

    # ------------------------------------------------------------------ commands
    def execute(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Carry out PyROS command ``name``; returns the reply fields."""
        self.ready()
        if name == "STATUS":
            self.round_trip("CONNECTION", {"CONNECT": "On"})
            return self.status()
        handler = getattr(self, f"cmd_{name.lower()}", None)
        if handler is None:
            raise DeviceError(f"{self.device}: {name} is not available on an INDI device")
        result: dict[str, Any] = handler(**args)
        return result

    def status(self) -> dict[str, Any]:
        raise NotImplementedError


class MountDriver(IndiDriver):
    """An INDI telescope: unpark, goto (track), abort, park, tracking."""

    main = "EQUATORIAL_EOD_COORD"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._target: tuple[float, float] | None = None
        self._stopped = False  # aborted: not tracking until told to move again

    def status(self) -> dict[str, Any]:
        return translate.mount_status(
            self.vectors(), self.clock.now(), self.config.site, self._target, self._stopped
        )

    def _unpark(self) -> None:
        park = self.link.vector(self.indi, "TELESCOPE_PARK")
        if park is not None and park.on("PARK"):
            self.wait_rest("TELESCOPE_PARK", self.timeout_s * 10)
            self.round_trip("TELESCOPE_PARK", {"UNPARK": "On"})
            self.wait_rest("TELESCOPE_PARK", self.timeout_s)

    def cmd_goto(self, ra_deg: float, dec_deg: float) -> dict[str, Any]:
        self._stopped = False
        self._unpark()
        mode = self.link.vector(self.indi, "ON_COORD_SET")
        if mode is not None and not mode.on("TRACK"):
            self.round_trip("ON_COORD_SET", {"TRACK": "On"})
        members = translate.goto_members(ra_deg, dec_deg, self.clock.now())
        self._target = (ra_deg % 360.0, dec_deg)
        self.round_trip("EQUATORIAL_EOD_COORD", members)
        return self.status()

    def cmd_park(self) -> dict[str, Any]:
        self._stopped = False
        self._target = None
        self.round_trip("TELESCOPE_PARK", {"PARK": "On"})
        return self.status()

    def cmd_abort(self) -> dict[str, Any]:
        # PyROS's abort stops tracking too, as INDI's does (INDI's telescope simulator updates
        # TELESCOPE_TRACK_STATE a moment later, or not at all): a still-tracking state is told to
        # stop, without waiting for an answer it may never send, and shown idle meanwhile.
        self.round_trip("TELESCOPE_ABORT_MOTION", {"ABORT": "On"})
        track = self.link.vector(self.indi, "TELESCOPE_TRACK_STATE")
        if track is not None and track.on("TRACK_ON"):
            self.link.send(self.indi, "TELESCOPE_TRACK_STATE", {"TRACK_OFF": "On"})
        self._stopped = True
        self._target = None
        return self.status()

    def cmd_tracking(self, on: bool) -> dict[str, Any]:
        self._stopped = False
        self._unpark()
        self.round_trip("TELESCOPE_TRACK_STATE", {"TRACK_ON" if on else "TRACK_OFF": "On"})
        return self.status()


class DomeDriver(IndiDriver):
    """An INDI dome: the shutter opens (unparking first), closes (then parks), aborts."""

    main = "DOME_SHUTTER"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopped = False

    def status(self) -> dict[str, Any]:
        return translate.dome_status(self.vectors(), self._stopped)

    def cmd_open(self) -> dict[str, Any]:
        park = self.link.vector(self.indi, "DOME_PARK")
        if park is not None and park.on("PARK"):
            self.wait_rest("DOME_PARK", self.timeout_s * 10)
            self.round_trip("DOME_PARK", {"UNPARK": "On"})
        self._stopped = False
        opening = _switched("SHUTTER_OPEN")
        self.round_trip("DOME_SHUTTER", {"SHUTTER_OPEN": "On"}, answered=opening)
        return self.status()

    def cmd_close(self) -> dict[str, Any]:
        self._stopped = False
        closing = _switched("SHUTTER_CLOSE")
        self.round_trip("DOME_SHUTTER", {"SHUTTER_CLOSE": "On"}, answered=closing)
        park = self.link.vector(self.indi, "DOME_PARK")
        if park is not None and not park.on("PARK"):
            self.round_trip("DOME_PARK", {"PARK": "On"})
        return self.status()

    def cmd_abort(self) -> dict[str, Any]:
        shutter = self.link.vector(self.indi, "DOME_SHUTTER")
        moving = shutter is not None and shutter.state == "Busy"
        self.round_trip("DOME_ABORT_MOTION", {"ABORT": "On"})
        self._stopped = self._stopped or moving
        return self.status()


class WeatherDriver(IndiDriver):
    """An INDI weather station answering as the PLC: ``STATUS`` in the seed's format."""

    main = "WEATHER_PARAMETERS"

    def status(self) -> dict[str, Any]:
        return translate.weather_status(
            self.vectors(),
            self.endpoint.indi_station,
            self.config.site.name,
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%S"),
        )
