"""``make bench B=devices``: latency through a device gateway, to the mount simulator.

The real path: the gateway runs as it does in production, a ``pyros gateways start --device
mount`` process (with its write-behind records going to an SQLite database), in front of PyROS's
mount simulator (:class:`simulators.mount.MountSimulator`, slewing at the site's rate on the wall
clock, on a loopback socket); the simulator and the two controllers run in this process (the
simulator's own record of when each command arrived is read here). Keys:

- ``roundtrip_p50_ms``, ``roundtrip_p99_ms``: a mount ``STATUS`` through the gateway, as a
  controller sees it (goal: p99 <= 20 ms);
- ``preempt_to_abort_p50_ms``, ``preempt_to_abort_p95_ms``: from an alert claim being sent to the
  ``ABORT`` of the routine holder's slew reaching the simulator (goal: p95 <= 50 ms);
- ``preempted_notice_p95_ms``: from the alert's grant to the routine holder's next command
  failing with Preempted.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from devices.controllers import GatewayMount
from devices.controllers.link import GatewayLink, LinkSettings
from devices.errors import Preempted
from infra.clock import SystemClock
from infra.config import load_config
from simulators.mount import MountSimulator
from tests.benchmarks.common import emit, isolated_home, machine, percentile_ms
from tests.devices.helpers import site_toml, sky_position
from tests.support.cli import pyros_command
from tests.support.ports import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
ROUNDTRIPS = 3000
PREEMPTIONS = 200
SETTINGS = LinkSettings(timeout_s=5.0, claim_wait_s=2.0, heartbeat_s=1.0, poll_interval_s=0.01)


def main() -> None:
    with isolated_home() as home:
        mount_port, gateway_port = free_port(), free_port()
        site = home / "site.toml"
        site.write_text(site_toml({"mount": mount_port}, {"mount": gateway_port}), encoding="utf-8")
        config = load_config(site)
        mount = MountSimulator("mount", "127.0.0.1", mount_port, SystemClock(), config).start()
        env = {**os.environ, "PYROS_SITE_CONFIG": str(site)}
        pyros = pyros_command()
        subprocess.run([*pyros, "db", "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        gateway = subprocess.Popen(
            [*pyros, "gateways", "start", "--device", "mount"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        links = [GatewayLink("mount", "127.0.0.1", gateway_port, SETTINGS) for _ in range(2)]
        routine, alert = (GatewayMount(link, config=config, clock=SystemClock()) for link in links)
        try:
            eventually(routine.status, within_s=30, what="the gateway", every_s=0.05)
            for _ in range(200):
                routine.status()
            roundtrips = []
            for _ in range(ROUNDTRIPS):
                started = time.perf_counter()
                routine.status()
                roundtrips.append(time.perf_counter() - started)

            to_abort, notice = [], []
            targets = (sky_position(60.0, 120.0), sky_position(60.0, 240.0))
            for turn in range(PREEMPTIONS):
                routine.claim("flow-routine", "routine")
                # Alternate between two far-apart positions: every goto is a long slew in flight.
                routine.goto(*targets[turn % 2])
                mount.last_received.pop("ABORT", None)
                asked = time.time()
                lease = alert.claim("alert-listener", "alert")
                granted = time.perf_counter()
                try:
                    routine.goto(*targets[turn % 2])
                except Preempted:
                    notice.append(time.perf_counter() - granted)
                eventually(
                    lambda: "ABORT" in mount.last_received,
                    within_s=5,
                    what="the ABORT",
                    every_s=0.001,
                )
                to_abort.append(mount.last_received["ABORT"][1] - asked)
                lease.release()
            emit(
                "devices",
                roundtrip_p50_ms=percentile_ms(roundtrips, 50),
                roundtrip_p99_ms=percentile_ms(roundtrips, 99),
                preempt_to_abort_p50_ms=percentile_ms(to_abort, 50),
                preempt_to_abort_p95_ms=percentile_ms(to_abort, 95),
                preempted_notice_p95_ms=percentile_ms(notice, 95),
                roundtrips=ROUNDTRIPS,
                preemptions=PREEMPTIONS,
                aborts_seen=len(to_abort),
                preempted_notices=len(notice),
                **machine(),
            )
        finally:
            for controller in (routine, alert):
                controller.disconnect()
            gateway.terminate()
            gateway.wait(15)
            mount.stop()


if __name__ == "__main__":
    main()
