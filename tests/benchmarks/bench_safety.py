"""``make bench B=safety``: from rain to the dome's close command, in wall seconds.

t0 = the rain value applied in the PLC simulator, t1 = the ``CLOSE`` received by the dome
simulator; the monitor polls the PLC through its gateway at the configured 0.5 s, at real speed
(1×). 50 trials, then the same with the database and Prefect unreachable (a database URL and a
Prefect API on closed ports: every write queues, every event fails in the background).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tests.benchmarks.common import emit, machine

TRIALS = 50


def _closed_port() -> int:
    from tests.support.ports import free_port

    return free_port()  # nothing listens there


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_trials(directory: Path, *, unreachable: bool) -> list[float]:
    from devices.controllers import GatewayDome, GatewayMount, GatewayPlc
    from infra.config import load_config
    from infra.db import session_scope
    from infra.db.bootstrap import init_database
    from infra.db.engine import create_pyros_engine
    from infra.writebehind import WriteBehindQueue
    from tasks.environment.observatory_state import request_dome
    from tests.support.rig import site_config, start_rig
    from tests.support.waiting import eventually
    from watchers.environment.monitor import EnvironmentMonitor
    from watchers.environment.process import ControlReader, NightTeller

    config = site_config(
        sections={
            "safety": {"poll_interval_s": 0.5, "hold_good_s": 0.5, "stale_after_s": 10.0},
            "dome": {"open_s": 0.5, "close_s": 0.5},
        }
    )
    engine = create_pyros_engine(f"sqlite:///{directory / 'bench.db'}")
    init_database(engine, load_config())
    current = {"engine": engine}
    rig = start_rig(directory, speed=1.0, config=config, gateways=("plc", "dome", "mount"))
    clock = rig.clock
    queue = WriteBehindQueue(
        lambda: current["engine"], retry_initial_s=0.05, retry_max_s=0.5
    ).start()
    control = ControlReader(lambda: current["engine"], refresh_wall_s=0.2)
    with session_scope(engine) as session:
        request_dome(session, "open", "bench", clock.now())
    control.refresh()
    if unreachable:
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{_closed_port()}/api"
        import prefect.events  # noqa: F401 - as the monitor does when Prefect is configured

        current["engine"] = create_pyros_engine(
            f"postgresql+psycopg2://pyros@127.0.0.1:{_closed_port()}/pyros", connect_timeout_s=1
        )
    control.start()
    monitor = EnvironmentMonitor(
        config,
        clock,
        GatewayPlc(rig.link("plc"), config=config, clock=clock),
        GatewayDome(rig.link("dome"), config=config, clock=clock),
        GatewayMount(rig.link("mount"), config=config, clock=clock),
        queue,
        control,
        NightTeller(config),
    )
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    thread.start()
    plc, dome = rig.observatory.plc, rig.observatory.dome
    latencies: list[float] = []
    # Rain comes at a random phase of the monitor's 0.5 s poll (a fixed phase would measure one
    # point of the distribution only).
    phases = random.Random(20261124)

    def shutter() -> str:
        return monitor.reflex.dome.status().shutter.value

    def wait(predicate, what: str) -> None:
        eventually(predicate, within_s=30.0, what=what, every_s=0.005, retry_on=())

    try:
        for _ in range(TRIALS):
            wait(lambda: shutter() == "open", "dome open")
            time.sleep(phases.uniform(0.0, 0.5))
            t0 = time.time()
            plc.set_value("WXT520", "RainRate", 12.0)
            wait(lambda t0=t0: dome.last_received.get("CLOSE", (None, 0.0))[1] >= t0, "CLOSE")
            latencies.append(dome.last_received["CLOSE"][1] - t0)
            plc.set_value("WXT520", "RainRate", 0.0)
    finally:
        stop.set()
        thread.join(10)
        control.stop()
        queue.stop(1.0)
        rig.close()
        os.environ.pop("PREFECT_API_URL", None)
    return latencies


def main() -> None:
    from tests.benchmarks.common import isolated_home

    for unreachable, prefix in ((False, "unsafe_to_close"), (True, "unsafe_to_close_no_prefect")):
        with isolated_home() as home, tempfile.TemporaryDirectory(dir=home) as directory:
            latencies = run_trials(Path(directory), unreachable=unreachable)
        emit(
            "safety",
            variant="database and Prefect unreachable" if unreachable else "normal",
            trials=len(latencies),
            **{
                f"{prefix}_p50_s": round(statistics.median(latencies), 3),
                f"{prefix}_p95_s": round(_percentile(latencies, 0.95), 3),
                f"{prefix}_max_s": round(max(latencies), 3),
            },
            load_average=round(os.getloadavg()[0], 2),
            **machine(),
        )


if __name__ == "__main__":
    main()
