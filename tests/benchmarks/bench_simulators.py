"""``make bench B=simulators``: the simulators under load, with random faults, for 2 simulated
hours at 60× (about two wall minutes), and a device's round trip.

Keys (one JSON line each):

- ``simulators_soak``: ``crashed`` (goal false), ``leaks`` (goal {}: file descriptors, TCP
  connections and threads of the simulators' process after the run minus after warm-up),
  ``baseline``/``final`` counts, faults injected (``scenario_faults``, ``live_faults``), commands
  that succeeded and errors seen per device (by exception class), frames written,
  ``gateways_connected_at_end`` (goal 5);
- ``simulator_status``: ``roundtrip_p50_ms``, ``roundtrip_p99_ms`` of a mount ``STATUS`` straight
  to the simulator (no gateway).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from devices.client import NdjsonClient
from infra.clock import SimulatedClock
from infra.config import load_config
from simulators.observatory import Observatory
from tests.benchmarks.common import emit, isolated_home, machine
from tests.simulators.soak import DEVICES, run_soak

ROUNDTRIPS = 3000


def _roundtrip() -> dict:
    clock = SimulatedClock(datetime(2026, 12, 9, 7, tzinfo=UTC), 60.0, time.time())
    ports = dict.fromkeys(DEVICES, 0)
    with (
        tempfile.TemporaryDirectory() as frames,
        Observatory(
            load_config(), clock=clock, frames_dir=Path(frames), ports=ports
        ) as observatory,
        NdjsonClient(*observatory.mount.address, name="mount") as client,
    ):
        for _ in range(100):
            client.call("STATUS")
        samples = []
        for _ in range(ROUNDTRIPS):
            started = time.perf_counter()
            client.call("STATUS")
            samples.append((time.perf_counter() - started) * 1000.0)
    return {
        "roundtrip_p50_ms": round(float(np.percentile(samples, 50)), 3),
        "roundtrip_p99_ms": round(float(np.percentile(samples, 99)), 3),
        "samples": ROUNDTRIPS,
    }


def main() -> None:
    with isolated_home():
        emit("simulator_status", **_roundtrip(), **machine())
        with tempfile.TemporaryDirectory(prefix="pyros-soak-") as work:
            emit(
                "simulators_soak",
                **run_soak(hours=2.0, speed=60.0, work_dir=Path(work)),
                **machine(),
            )


if __name__ == "__main__":
    main()
