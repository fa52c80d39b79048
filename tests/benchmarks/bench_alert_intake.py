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


def _wall(value: object) -> float:
    instant = datetime.fromisoformat(str(value))
    return instant.replace(tzinfo=instant.tzinfo or UTC).timestamp()


def _received_decided(rig: IntakeRig, ivorn: str) -> tuple[float, float]:
    """The wall instants (epoch s) the listener spooled the packet and stored its decision."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = rig.row(ivorn)
        if row is not None:
            return _wall(row["wall_received_at"]), _wall(row["wall_decided_at"])
        time.sleep(0.005)
    raise RuntimeError(f"{ivorn} not decided within 60 s")


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def _road(rig: IntakeRig, road: str, first_trigger: int) -> dict[str, list[float]]:
    """Per notice (ms): sent -> decided, sent -> spooled (transport), spooled -> decided."""
    split: dict[str, list[float]] = {"total": [], "transport": [], "decision": []}
    producer = rig.producer() if road == "kafka" else None
    for i in range(N):
        raw, ivorn = _packet(first_trigger + i)
        if producer is not None:
            sent = time.time()
            producer.produce("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK", raw)
            producer.flush(10)
        else:
            sent = rig.send_comet([raw])["times"]["000000.xml"]
        received, decided = _received_decided(rig, ivorn)
        split["total"].append((decided - sent) * 1e3)
        split["transport"].append((received - sent) * 1e3)
        split["decision"].append((decided - received) * 1e3)
    return split


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
                split = _road(rig, road, first)
                values = split["total"]
                figures[f"{road}_to_decision_p50_ms"] = _q(values, 0.50)
                figures[f"{road}_to_decision_p95_ms"] = _q(values, 0.95)
                figures[f"{road}_to_decision_max_ms"] = round(max(values), 1)
                figures[f"{road}_mean_ms"] = round(statistics.fmean(values), 1)
                for part in ("transport", "decision"):
                    figures[f"{road}_{part}_p50_ms"] = _q(split[part], 0.50)
                    figures[f"{road}_{part}_p95_ms"] = _q(split[part], 0.95)
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
