"""INDI benchmark: command round trips through a gateway to INDI's own simulators, and how fast an
alert claim aborts an INDI exposure in flight.

A real ``indiserver`` (Debian ``indi-bin``) runs the telescope, CCD and filter wheel simulators on
a free port; the gateways (in this process) speak INDI to them; the controllers are the night's.

- ``roundtrip_*``: a ``STATUS`` from a controller through the gateway and one INDI round trip to
  the driver (the gateway asks the driver, it does not answer from a cache);
- ``alert_claim_to_abort_*``: the alert claim's round trip, from an alert-priority ``CLAIM`` sent
  to its grant, which the gateway gives only after the INDI CCD driver acknowledged
  ``CCD_ABORT_EXPOSURE`` (the exposure in flight is stopped). An upper bound of the time from
  the claim to the abort's arrival at the driver: INDI keeps no sub-second record of an arrival
  to read (indiserver's and the drivers' timestamps are whole seconds in ``indi-bin`` 1.9.9),
  unlike ``bench_devices``'s ``preempt_to_abort_*``, which reads the simulator's own record.
"""

from __future__ import annotations

import time

from tests.benchmarks.common import emit, isolated_home, machine, percentile_ms
from tests.support.indi import IndiServer, indi_missing, indi_site
from tests.support.indi_gateways import indi_devices

ROUNDTRIPS = 300
PREEMPTIONS = 20


def _roundtrips(controller, count: int) -> list[float]:
    for _ in range(20):
        controller.status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        controller.status()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    missing = indi_missing()
    if missing:
        emit("indi", skipped=missing)
        return
    drivers = ("indi_simulator_telescope", "indi_simulator_ccd", "indi_simulator_wheel")
    with isolated_home() as home, IndiServer(drivers) as server:
        config = indi_site(server.port)
        names = ("mount", "camera_vis")
        with indi_devices(config, home / "frames", names) as (_, controller):
            mount, night, listener = (
                controller("mount"),
                controller("camera_vis"),
                controller("camera_vis"),
            )
            mount_rt = _roundtrips(mount, ROUNDTRIPS)
            camera_rt = _roundtrips(night, ROUNDTRIPS)
            to_abort, aborted = [], 0
            for index in range(PREEMPTIONS):
                night.claim("night", "routine")
                night.start_exposure(30.0, "light", frame_id=f"bench-{index}")
                time.sleep(0.3)  # the CCD is exposing
                started = time.perf_counter()
                lease = listener.claim("alert-listener", "alert")
                to_abort.append(time.perf_counter() - started)
                aborted += listener.status().activity.value == "idle"
                lease.release()
            emit(
                "indi",
                roundtrip_mount_p50_ms=percentile_ms(mount_rt, 50),
                roundtrip_mount_p95_ms=percentile_ms(mount_rt, 95),
                roundtrip_camera_p50_ms=percentile_ms(camera_rt, 50),
                roundtrip_camera_p95_ms=percentile_ms(camera_rt, 95),
                alert_claim_to_abort_p50_ms=percentile_ms(to_abort, 50),
                alert_claim_to_abort_p95_ms=percentile_ms(to_abort, 95),
                alert_claim_to_abort_max_ms=percentile_ms(to_abort, 100),
                exposures_stopped=f"{aborted}/{PREEMPTIONS}",
                roundtrips=ROUNDTRIPS,
                preemptions=PREEMPTIONS,
                **machine(),
            )


if __name__ == "__main__":
    main()
