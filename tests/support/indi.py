"""A real INDI server with INDI's own simulators, for tests and benchmarks (Debian ``indi-bin``).

:class:`IndiServer` starts ``indiserver`` on a free port with the telescope, CCD, filter wheel,
dome and weather simulators, waits until it serves every device, and kills it (by its process
id, its drivers with it) at the end. :func:`indi_site` is the bundled site configuration with the
mount, dome, visible camera (and wheel) and PLC (weather) on that server; :func:`lamp_site`
adds the light panel as ``[devices.lamp]``, :func:`weather_site` the weather simulator as
``[devices.weather]`` (and :func:`set_rain` makes it rain there, as ``indi_setprop`` would).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.config import LampEndpoint, SiteConfig, WeatherEndpoint, get_config
from tests.support.ports import free_port

#: The INDI simulators and their device names.
SIMULATORS = {
    "indi_simulator_telescope": "Telescope Simulator",
    "indi_simulator_ccd": "CCD Simulator",
    "indi_simulator_wheel": "Filter Simulator",
    "indi_simulator_dome": "Dome Simulator",
    "indi_simulator_weather": "Weather Simulator",
}
#: INDI's light panel simulator (the dome-flat lamp) and its device name.
LIGHT_PANEL = ("indi_simulator_lightpanel", "Light Panel Simulator")
#: INDI's weather simulator (a weather station of its own) and its device name.
WEATHER = ("indi_simulator_weather", "Weather Simulator")


def indi_missing(programs: tuple[str, ...] = tuple(SIMULATORS)) -> str | None:
    """Why INDI's server or simulators (``programs``) cannot run here (None: they can)."""
    for program in ("indiserver", *programs):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian package indi-bin; .ci/run installs it)"
    return None


class _PortTaken(RuntimeError):
    pass


class IndiServer:
    """``indiserver`` with INDI's simulators on a free loopback port (a context manager)."""

    def __init__(self, drivers: tuple[str, ...] = tuple(SIMULATORS), port: int = 0) -> None:
        self.drivers = drivers
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # The simulators keep their configuration under $HOME/.indi: a temporary home keeps the
        # runs apart and leaves the user's alone.
        self.home = Path(tempfile.mkdtemp(prefix="pyros-indi-"))
        self.log = self.home / "indiserver.log"

    def start(self, timeout_s: float = 20.0, attempts: int = 5) -> IndiServer:
        """Start and wait until the port accepts connections; a port taken meanwhile (or held
        in TIME_WAIT by an earlier server: indiserver does not reuse addresses) means another."""
        for attempt in range(attempts):
            try:
                return self._start(timeout_s)
            except _PortTaken:
                if attempt == attempts - 1:
                    raise RuntimeError(f"indiserver: no free port in {attempts} tries") from None
                self.port = free_port()
        return self

    def _start(self, timeout_s: float) -> IndiServer:
        env = {**os.environ, "HOME": str(self.home)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                # -u: its own local (abstract) socket, or a second server cannot start.
                ["indiserver", "-p", str(self.port), "-u", str(self.home / "sock"), *self.drivers],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log.read_text(errors="replace")
                self.process = None
                if "Address already in use" in log:
                    self.log.write_text("")
                    raise _PortTaken(log)
                raise RuntimeError(f"indiserver exited: {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"indiserver did not listen on port {self.port} in {timeout_s:g} s")

    def stop(self) -> None:
        """Kill the server and its drivers (its process group), then remove the temporary home."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)

    def driver_pids(self, program: str) -> list[int]:
        """Process ids of ``program`` started by this server (its process group)."""
        if self.process is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if int(stat[2]) == self.process.pid and program.startswith(name):
                found.append(int(entry.name))
        return found

    def __enter__(self) -> IndiServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def indi_site(port: int, base: SiteConfig | None = None, **mount: Any) -> SiteConfig:
    """The site configuration with mount, dome, camera_vis (and its wheel) and plc on INDI."""
    base = base or get_config()
    devices = base.devices.model_copy(
        update={
            "mount": _indi(base.devices.mount, port, "Telescope Simulator"),
            "dome": _indi(base.devices.dome, port, "Dome Simulator"),
            "camera_vis": _indi(
                base.devices.camera_vis, port, "CCD Simulator", indi_wheel="Filter Simulator",
                indi_binning=2,
            ),
            "plc": _indi(base.devices.plc, port, "Weather Simulator"),
        }
    )  # fmt: skip
    return base.model_copy(update={"devices": devices})


def _indi(endpoint: Any, port: int, device: str, **extra: Any) -> Any:
    return endpoint.model_validate(
        {
            **endpoint.model_dump(),
            "host": "127.0.0.1",
            "port": port,
            "driver": "indi",
            "indi_device": device,
            **extra,
        }
    )


def lamp_site(port: int, base: SiteConfig | None = None, **lamp: Any) -> SiteConfig:
    """The site configuration with INDI's light panel simulator as ``[devices.lamp]``."""
    base = base or get_config()
    endpoint = LampEndpoint.model_validate(
        {"host": "127.0.0.1", "port": port, "driver": "indi", "indi_device": LIGHT_PANEL[1],
         **lamp}
    )  # fmt: skip
    return base.model_copy(update={"devices": base.devices.model_copy(update={"lamp": endpoint})})


def weather_site(port: int, base: SiteConfig | None = None, **station: Any) -> SiteConfig:
    """The site configuration with INDI's weather simulator as ``[devices.weather]``."""
    base = base or get_config()
    endpoint = WeatherEndpoint.model_validate(
        {"host": "127.0.0.1", "port": port, "driver": "indi", "indi_device": WEATHER[1],
         **station}
    )  # fmt: skip
    devices = base.devices.model_copy(update={"weather": endpoint})
    return base.model_copy(update={"devices": devices})


def set_rain(port: int, mm_h: float) -> None:
    """Make it rain ``mm_h`` at INDI's weather simulator (``WEATHER_CONTROL`` Precip, then
    ``WEATHER_REFRESH``: the simulator otherwise updates once a minute). Any rain is beyond its
    ``WEATHER_RAIN_HOUR`` range (0..0): its ``WEATHER_STATUS`` turns Alert."""
    device = WEATHER[1]
    for assignment in (f"{device}.WEATHER_CONTROL.Precip={mm_h:g}",
                       f"{device}.WEATHER_REFRESH.REFRESH=On"):  # fmt: skip
        subprocess.run(
            ["indi_setprop", "-h", "127.0.0.1", "-p", str(port), "-t", "2", assignment],
            capture_output=True,
            timeout=10,
            check=True,
        )
