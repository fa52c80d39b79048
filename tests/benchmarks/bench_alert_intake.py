"""``make bench B=alert_intake``: wall latency from a packet sent to its decision stored, by road.

A real intake (``twistd comet``, a Tansu Kafka broker, ``pyros alert listen``; tests/support/
alert_intake.py) under a simulated clock at GRB 181213's notice. 200 Swift BAT position notices,
each of its own trigger (so each is a ``follow-up``: parse, identity, sky computation, request
stored), are sent one at a time — through Comet's own sender to the broker, then produced to a
Kafka topic — each after the previous one was decided. Latency = the Alert row's
``wall_decided_at`` minus the wall instant the sender started sending (both on this machine).
Figures: ``comet_to_decision_p50_ms`` / ``_p95_ms`` and ``kafka_to_decision_p50_ms`` / ``_p95_ms``
(goal: p95 <= 50 ms for both).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

from tests.benchmarks.common import emit, isolated_home, machine
from tests.support.alert_intake import IntakeRig
from tests.support.voevents import SWIFT, VOEVENT_DIR, read_voevents, variant

N = int(os.environ.get("PYROS_BENCH_ALERTS", "200"))


def _packet(trigger: int) -> tuple[bytes, str]:
    ivorn = f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{trigger}-475"
    raw = variant(read_voevents()[SWIFT], ivorn=ivorn, params={"TrigID": str(trigger)})
    return raw, ivorn


def _decided_at(rig: IntakeRig, ivorn: str) -> datetime:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for row in rig.rows()[-5:]:
            if row["ivorn"] == ivorn:
                decided = datetime.fromisoformat(str(row["wall_decided_at"]))
                return decided.replace(tzinfo=decided.tzinfo or UTC)
        time.sleep(0.002)
    raise RuntimeError(f"{ivorn} not decided within 60 s")


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def _road(rig: IntakeRig, road: str, first_trigger: int) -> list[float]:
    latencies = []
    producer = rig.producer() if road == "kafka" else None
    for i in range(N):
        raw, ivorn = _packet(first_trigger + i)
        if producer is not None:
            sent = time.time()
            producer.produce("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK", raw)
            producer.flush(10)
        else:
            sent = rig.send_comet([raw])["times"]["000000.xml"]
        decided = _decided_at(rig, ivorn)
        latencies.append((decided.timestamp() - sent) * 1e3)
    return latencies


def main() -> None:
    if not VOEVENT_DIR.is_dir():
        emit("alert_intake", skipped=f"needs {VOEVENT_DIR}")
        return
    with isolated_home() as home:
        rig = IntakeRig(home / "intake", clock="sim:2018-12-13T12:58:42Z@1")
        try:
            rig.start_brokers()
            rig.start_listener()
            load = os.getloadavg()[0]
            figures = {}
            for road, first in (("comet", 700000), ("kafka", 800000)):
                values = _road(rig, road, first)
                figures[f"{road}_to_decision_p50_ms"] = _q(values, 0.50)
                figures[f"{road}_to_decision_p95_ms"] = _q(values, 0.95)
                figures[f"{road}_to_decision_max_ms"] = round(max(values), 1)
                figures[f"{road}_mean_ms"] = round(statistics.fmean(values), 1)
            emit(
                "alert_intake",
                notices_per_road=N,
                **figures,
                goal_p95_ms=50,
                load_1min=round(load, 2),
                load_1min_after=round(os.getloadavg()[0], 2),
                **machine(),
            )
        finally:
            rig.close()


if __name__ == "__main__":
    main()
