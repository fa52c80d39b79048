"""A night on the system clock through the real stack with its devices on INDI's simulators.

:func:`dark_longitude` puts the test site where it is local midnight now;
:func:`write_indi_stack_site` writes the stack's site file (the bundled one, free ports) with the
mount, dome and both cameras (and their wheels) on ``indiserver``; :func:`indi_props` and
:class:`IndiWatch` read what INDI's simulators themselves say (Debian's ``indi_getprop``).
"""

from __future__ import annotations

import re
import subprocess
import threading
from datetime import datetime
from pathlib import Path

from astropy.coordinates import get_body, get_sun
from astropy.time import Time

from tests.support.stack_site import StackPorts, write_site_with_free_ports


def dark_longitude(now: datetime) -> float:
    """The east longitude (degrees, -180..180) where the Sun is at lower culmination at ``now``:
    local midnight, the middle of the dark night at any latitude with one."""
    when = Time(now)
    sun_ra = get_sun(when).ra.deg
    greenwich = when.sidereal_time("apparent", "greenwich").deg
    # Hour angle H = LST - RA = (GST + longitude) - RA; H = 180 degrees at local midnight.
    return float((180.0 + sun_ra - greenwich + 180.0) % 360.0 - 180.0)


def moon_azimuth(now: datetime, latitude_deg: float, longitude_deg: float) -> float:
    """The Moon's azimuth (degrees) at the site now: targets are chosen away from it."""
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation

    site = EarthLocation(lon=longitude_deg * u.deg, lat=latitude_deg * u.deg)
    moon = get_body("moon", Time(now), site).transform_to(AltAz(obstime=Time(now), location=site))
    return float(moon.az.deg)


def _indi_section(device: str, port: int, indi_device: str, extra: str = "") -> str:
    return (
        f'[devices.{device}]\nhost = "127.0.0.1"\nport = {port}\ndriver = "indi"\n'
        f'indi_device = "{indi_device}"\n{extra}'
    )


def write_indi_stack_site(
    path: Path, indi_port: int, nir_port: int, plc_port: int, longitude_deg: float
) -> StackPorts:
    """The bundled site file at ``path`` on free ports, the site moved to ``longitude_deg``, with
    mount, dome and visible camera (its wheel) on the INDI server at ``indi_port``, the infrared
    camera (its wheel) on a second one at ``nir_port`` (one server serves one "CCD Simulator"),
    and the PLC a PyROS PLC simulator at ``plc_port``.

    What else changes, and why: a short night on the system clock must not wait ten minutes of
    uninterrupted good weather before the dome may open (``hold_good_s``), nor take evening
    calibrations or twilight flats (it starts in the dark night), and looks again every 5 s.
    """
    ports = write_site_with_free_ports(path, frame_px=None)
    site = path.read_text(encoding="utf-8")
    site = re.sub(r"(?m)^longitude_deg = .*$", f"longitude_deg = {longitude_deg:.4f}", site)
    wheel = 'indi_wheel = "Filter Simulator"\nindi_binning = 2\n'
    sections = {
        "mount": _indi_section("mount", indi_port, "Telescope Simulator"),
        "dome": _indi_section("dome", indi_port, "Dome Simulator"),
        "camera_vis": _indi_section("camera_vis", indi_port, "CCD Simulator", wheel),
        "camera_nir": _indi_section("camera_nir", nir_port, "CCD Simulator", wheel),
        "plc": f'[devices.plc]\nhost = "127.0.0.1"\nport = {plc_port}\n',
    }
    for name, section in sections.items():
        old = f'[devices.{name}]\nhost = "127.0.0.1"\nport = {ports.devices[name]}\n'
        assert old in site, f"the bundled site file changed: no {old!r}"
        site = site.replace(old, section)
    site = re.sub(r"(?m)^hold_good_s = .*$", "hold_good_s = 5.0", site)
    site = site.replace(
        "[night]\n",
        "[night]\nevening_calibrations = false\ntwilight_flats = false\npoll_s = 5.0\n"
        "block_s = 600.0\n",
        1,
    )
    path.write_text(site, encoding="utf-8")
    return ports


def indi_props(port: int, *elements: str) -> dict[str, str]:
    """``indi_getprop`` of ``elements`` (``Device.PROPERTY.ELEMENT``, named in full: a wildcard
    waits for its whole timeout) on the server at ``port``: element -> value as the INDI drivers
    say it ({} when they do not answer in time)."""
    try:
        result = subprocess.run(
            ["indi_getprop", "-h", "127.0.0.1", "-p", str(port), "-t", "2", *elements],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {}
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


#: What :class:`IndiWatch` reads: the INDI telescope's pointing, the dome's shutter, the wheel.
WATCHED = (
    "Telescope Simulator.EQUATORIAL_EOD_COORD.RA",
    "Telescope Simulator.EQUATORIAL_EOD_COORD.DEC",
    "Dome Simulator.DOME_SHUTTER.SHUTTER_OPEN",
    "Filter Simulator.FILTER_SLOT.FILTER_SLOT_VALUE",
)


class IndiWatch(threading.Thread):
    """Samples what INDI's simulators themselves say (``WATCHED``) every ``period_s`` until
    stopped: the telescope's (RA, Dec) of date in degrees, the shutter (open or not) each time
    it answered, the wheel's slots."""

    def __init__(self, port: int, period_s: float = 0.25) -> None:
        super().__init__(daemon=True, name="indi-watch")
        self.port, self.period_s = port, period_s
        self.pointings: list[tuple[float, float]] = []
        self.shutter_open: list[bool] = []
        self.slots: set[float] = set()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.period_s):
            values = indi_props(self.port, *WATCHED)
            ra, dec = (values.get(f"{WATCHED[0][:-3]}.{n}") for n in ("RA", "DEC"))
            if ra is not None and dec is not None:
                self.pointings.append((float(ra) * 15.0, float(dec)))
            if WATCHED[2] in values:
                self.shutter_open.append(values[WATCHED[2]] == "On")
            if WATCHED[3] in values:
                self.slots.add(float(values[WATCHED[3]]))

    def stop(self) -> None:
        """Stop sampling (and wait for the last one)."""
        self._done.set()
        self.join(timeout=15)
