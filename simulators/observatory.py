"""All the simulators of one observatory, sharing one model, in one process.

Why one process and one model: the simulators are not independent. A camera's frame shows where
the mount points, whether the dome is open, whether the calibration lamp is on and how cloudy the
PLC says it is; the dome's interlock reads the PLC's rain; the PLC's ``SITE.Shutter`` reads the
dome. Sharing memory gives every one of them the others' state at the same simulated instant with
no polling delay and no extra protocol, which a hardware wiring diagram would also give (the
interlock is hard-wired, the camera looks through the telescope). Each device still has its own
TCP server on its own port, its own faults, and speaks only the device protocol to the outside.
One process is also one thing for the supervisor to start, watch and restart.

:class:`Observatory` builds the five simulators from the site configuration (ports from
``[devices.*]``), the fault board, and the afterglows the cameras render.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.clock import MIN_WALL_SLEEP_S, Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.settings import load_settings
from simulators.camera import CameraSimulator
from simulators.device import SimulatedDevice
from simulators.dome import DomeSimulator
from simulators.faults import Fault, FaultBoard
from simulators.mount import MountSimulator
from simulators.plc import PlcSimulator
from simulators.sky import Afterglow

log = logging.getLogger(__name__)

#: Sky temperature (°C) at and below which the sky is clear, and at and above which it is overcast
#: (the seed's comment on MLX90614-1: "Clear<-10 VeryCloudy>4").
CLEAR_SKY_C, OVERCAST_SKY_C = -10.0, 4.0
#: Fraction of starlight an overcast sky lets through.
OVERCAST_TRANSPARENCY = 0.05
#: Longest wall wait of the housekeeping thread between two looks at the faults.
_HOUSEKEEPING_STEP_S = 0.05


class SimulatorStartError(RuntimeError):
    """A simulator could not start (a port in use); the message says which."""


class Observatory:
    """The five simulators and what they share.

    Parameters
    ----------
    config : SiteConfig, optional
        Default: the process configuration.
    clock : Clock, optional
        Default: the process clock.
    frames_dir : Path, optional
        Default: ``$PYROS_HOME/frames``.
    ports : dict, optional
        Device name -> port, overriding ``[devices.*]`` (0: a free port; tests).
    """

    def __init__(
        self,
        config: SiteConfig | None = None,
        *,
        clock: Clock | None = None,
        frames_dir: Path | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.config = config or get_config()
        self.clock = clock or get_clock()
        self.frames_dir = Path(frames_dir) if frames_dir else load_settings().frames_dir
        self.lock = threading.RLock()
        self._afterglows: list[Afterglow] = []
        ports = ports or {}
        devices = self.config.devices

        def where(name: str) -> tuple[str, int]:
            endpoint = getattr(devices, name)
            return endpoint.host, ports.get(name, endpoint.port)

        clock, lock = self.clock, self.lock
        self.mount = MountSimulator(
            "mount", *where("mount"), clock=clock, config=self.config, lock=lock
        )
        self.plc = PlcSimulator(
            "plc",
            *where("plc"),
            clock=clock,
            shutter=lambda: self.dome.shutter()[0],
            interlock_rain_rate_mm_h=self.config.simulators.interlock_rain_rate_mm_h,
            lock=lock,
        )
        self.dome = DomeSimulator(
            "dome",
            *where("dome"),
            clock=clock,
            config=self.config,
            rain_reason=self.plc.rain_reason,
            lock=lock,
        )
        self.cameras: dict[str, CameraSimulator] = {}
        for instrument in self.config.instruments:
            self.cameras[instrument.device] = CameraSimulator(
                instrument.device,
                *where(instrument.device),
                clock=clock,
                config=self.config,
                sky=self,
                frames_dir=self.frames_dir,
                lock=lock,
            )
        self.devices: dict[str, SimulatedDevice] = {
            "mount": self.mount,
            **self.cameras,
            "plc": self.plc,
            "dome": self.dome,
        }
        for device in self.devices.values():
            device.allow_peers(self.config.security.peer_networks())
        self.faults = FaultBoard(
            self.clock,
            list(self.devices),
            default_delay_s=lambda name: getattr(devices, name).timeout_s + 1.0,
        )
        for name, device in self.devices.items():
            self.faults.subscribe(name, device.fault_started, device.fault_ended)
        self._stop = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._started: list[SimulatedDevice] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Observatory:
        """Start every simulator (all or none) and the fault housekeeping.

        Raises
        ------
        SimulatorStartError
            When a device port cannot be bound (nothing is left running).
        """
        try:
            for device in self.devices.values():
                device.start()
                self._started.append(device)
        except OSError as exc:
            self.stop()
            raise SimulatorStartError(str(exc.strerror or exc)) from None
        self._housekeeper = threading.Thread(
            target=self._housekeeping, name="sim-faults", daemon=True
        )
        self._housekeeper.start()
        return self

    def stop(self) -> None:
        """Stop every simulator (connections closed, renders cancelled)."""
        self._stop.set()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=2.0)
        for device in reversed(self._started):
            try:
                device.stop()
            except Exception:
                log.exception("%s: stop failed", device.name)
        self._started.clear()

    def __enter__(self) -> Observatory:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def addresses(self) -> dict[str, tuple[str, int]]:
        """Device name -> (host, port) listened on."""
        return {name: device.address for name, device in self.devices.items()}

    def _housekeeping(self) -> None:
        # Faults end on the simulated clock; a disconnected device must start listening again
        # even if nobody talks to it, so expiry is also watched here.
        while not self._stop.is_set():
            self.faults.expire()
            step = _HOUSEKEEPING_STEP_S
            upcoming = self.faults.next_expiry()
            if upcoming is not None:
                remaining = (upcoming - self.clock.now()).total_seconds()
                step = min(step, max(MIN_WALL_SLEEP_S, self.clock.wall_seconds(remaining)))
            self._stop.wait(step)

    # ------------------------------------------------------------------ faults and transients
    def inject_fault(
        self,
        device: str,
        kind: str,
        duration_s: float | None = None,
        *,
        delay_s: float | None = None,
        source: str = "command",
    ) -> Fault:
        """Put ``device`` in fault (see :mod:`simulators.faults`)."""
        return self.faults.inject(device, kind, duration_s, delay_s=delay_s, source=source)

    def add_afterglow(self, afterglow: Afterglow) -> None:
        """Render ``afterglow`` in every light frame that covers it from now on."""
        with self.lock:
            self._afterglows.append(afterglow)

    def clear_afterglows(self) -> None:
        """Forget every afterglow."""
        with self.lock:
            self._afterglows.clear()

    # ------------------------------------------------------------------ what the cameras see
    def pointing(self) -> tuple[float, float]:
        return self.mount.pointing()

    def dome_open(self) -> bool:
        return self.dome.is_open()

    def lamp_on(self) -> bool:
        return self.plc.lamp_on()

    def transparency(self) -> float:
        """Clouds from the PLC's sky temperature: 1 when clear, falling linearly to overcast."""
        sky = self.plc.sky_temperature_c()
        if sky is None or sky <= CLEAR_SKY_C:
            return 1.0
        if sky >= OVERCAST_SKY_C:
            return OVERCAST_TRANSPARENCY
        fraction = (sky - CLEAR_SKY_C) / (OVERCAST_SKY_C - CLEAR_SKY_C)
        return 1.0 - fraction * (1.0 - OVERCAST_TRANSPARENCY)

    def afterglows(self) -> tuple[Afterglow, ...]:
        with self.lock:
            return tuple(self._afterglows)

    # ------------------------------------------------------------------ status
    def describe(self) -> dict[str, Any]:
        """Every device's address, clients and counters, the faults and the afterglows."""
        now: datetime = self.clock.now()
        devices = {}
        for name, device in self.devices.items():
            host, port = device.address
            devices[name] = {
                "address": f"{host}:{port}",
                "listening": device.listening,
                "clients": device.client_count,
                "commands": device.commands_answered,
            }
        devices["mount"]["state"] = self.mount.state()
        devices["dome"]["state"] = self.dome.shutter()[0]
        for name, camera in self.cameras.items():
            devices[name]["frames"] = camera.frames_written
        return {
            "now": now.isoformat(),
            "devices": devices,
            "faults": self.faults.describe(),
            "afterglows": [
                {"name": a.name, "ra_deg": a.ra_deg, "dec_deg": a.dec_deg, "mag_t0": a.mag_t0}
                for a in self.afterglows()
            ],
        }
