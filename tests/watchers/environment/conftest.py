"""Fixtures of the monitor tests: the real simulators behind real gateways (the simulators'
``rig``), and a monitor wired to them, writing through a real write-behind queue."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from devices.controllers import GatewayDome, GatewayMount, GatewayPlc
from infra.writebehind import WriteBehindQueue
from tests.support.rig import site_config, start_rig
from watchers.environment.monitor import EnvironmentMonitor
from watchers.environment.process import ControlReader, NightTeller

GATEWAYS = ("plc", "dome", "mount")


@dataclass
class MonitorRig:
    """A monitor on simulators, polled by the test (``poll``) or by its own thread (``start``)."""

    bench: object
    monitor: EnvironmentMonitor
    queue: WriteBehindQueue
    control: ControlReader
    _stop: threading.Event
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.monitor.run, args=(self._stop,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.control.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def safety(**changes) -> dict:
    """A ``[safety]`` section for tests: defaults with ``changes``."""
    base = {"poll_interval_s": 0.5, "stale_after_s": 10.0, "hold_good_s": 60.0}
    return {**base, **changes}


@pytest.fixture
def monitor_rig(tmp_path) -> Iterator[Callable[..., MonitorRig]]:
    """``monitor_rig(engine_factory, speed=..., safety={...}, dome={...}, scenario=...)``."""
    made: list[MonitorRig] = []

    def make(
        engine_factory,
        *,
        speed: float = 20.0,
        scenario=None,
        safety_changes=None,
        dome=None,
        start=None,
    ) -> MonitorRig:
        sections = {
            "safety": safety(**(safety_changes or {})),
            "dome": dome or {"open_s": 4.0, "close_s": 4.0},
        }
        config = site_config(sections=sections)
        kwargs = {"start": start} if start is not None else {}
        bench = start_rig(
            tmp_path, speed=speed, config=config, scenario=scenario, gateways=GATEWAYS, **kwargs
        )
        queue = WriteBehindQueue(engine_factory, retry_initial_s=0.05, retry_max_s=0.3).start()
        control = ControlReader(engine_factory, refresh_wall_s=0.05).start()
        control.refresh()
        clock = bench.clock
        monitor = EnvironmentMonitor(
            config,
            clock,
            GatewayPlc(bench.link("plc"), config=config, clock=clock),
            GatewayDome(bench.link("dome"), config=config, clock=clock),
            GatewayMount(bench.link("mount"), config=config, clock=clock),
            queue,
            control,
            NightTeller(config),
        )
        made_rig = MonitorRig(bench, monitor, queue, control, threading.Event())
        made.append(made_rig)
        return made_rig

    yield make
    for made_rig in made:
        made_rig.stop()
        made_rig.queue.stop(2.0)
        made_rig.bench.close()
