"""``make bench B=alert_decisions``: how fast alert packets are decided.

- ``pure``: 10,000 mutated real notices with 100 valid fresh copies mixed in, through the pure
  path (safe parse, identity, policy with real sky computations, in-memory history), in-process:
  ``packets_per_second`` and the per-packet p50/p99/max; the valid packets that reach the sky
  computation (follow-up, not-observable) are also reported alone.
- ``stored``: 500 mutants + 20 valid copies through ``handle_packet`` on SQLite (journal first,
  Alert rows, follow-up requests, events journaled): packets per second and p99.
- ``cli``: ``ingest_cli_seconds``, the wall time of one ``pyros alert ingest`` process (median
  and max of 5), for a follow-up (Swift BAT, each time on a fresh database) and an ignored notice.

Needs the real notices (../shared/data/voevents); prints a skip line without them.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time

from tests.benchmarks.common import emit, isolated_home, machine
from tests.support.cli import pyros_command
from tests.support.voevents import (
    FERMI_LONG,
    SWIFT,
    VOEVENT_DIR,
    packet_stream,
    read_voevents,
)

IGNORED = "SVOM__sb25030804-GRM_TRIGGER.xml"


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3, 3)


def bench_pure(voevents: dict[str, bytes]) -> None:
    from infra.config import load_config
    from tasks.alerts.evaluate import evaluate
    from tasks.alerts.identity import InMemoryHistory
    from tasks.alerts.parse import issued_at_hint

    config = load_config()
    items = packet_stream(voevents, 10_000, 10, seed=20261124)
    # The first sky computations load astropy's tables and ephemerides: not a per-packet cost.
    started = time.perf_counter()
    for name in (SWIFT, FERMI_LONG):
        evaluate(voevents[name], issued_at_hint(voevents[name]), InMemoryHistory(), config)
    warm_up = time.perf_counter() - started
    history = InMemoryHistory(config.alerts.match_window_s)
    timings, sky_bound, decisions = [], [], {}
    began = time.perf_counter()
    for packet, when, name in items:
        started = time.perf_counter()
        decision = evaluate(packet, when, history, config)
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        decisions[str(decision.decision)] = decisions.get(str(decision.decision), 0) + 1
        if name is not None and decision.decision in ("follow-up", "not-observable"):
            sky_bound.append(elapsed)
    total = time.perf_counter() - began
    emit(
        "alert_decisions",
        path="pure",
        packets=len(items),
        packets_per_second=round(len(items) / total, 1),
        p50_ms=_ms(timings, 0.50),
        p99_ms=_ms(timings, 0.99),
        max_ms=_ms(timings, 1.0),
        sky_bound_valid_packets=len(sky_bound),
        sky_bound_p50_ms=_ms(sky_bound, 0.50),
        sky_bound_max_ms=_ms(sky_bound, 1.0),
        warm_up_ms=round(warm_up * 1e3, 1),
        load_average=round(os.getloadavg()[0], 2),
        decisions=decisions,
        **machine(),
    )


def bench_stored(voevents: dict[str, bytes]) -> None:
    from infra.config import load_config
    from infra.db import get_engine
    from infra.db.bootstrap import init_database
    from tasks.alerts.handle import handle_packet

    config = load_config()
    with isolated_home():
        engine = get_engine()
        init_database(engine, config)
        items = packet_stream(voevents, 500, 2, seed=7)
        handle_packet(voevents[SWIFT], items[0][1], engine=engine, config=config)  # warm-up
        timings = []
        began = time.perf_counter()
        for packet, when, _ in items:
            started = time.perf_counter()
            handle_packet(packet, when, engine=engine, config=config)
            timings.append(time.perf_counter() - started)
        total = time.perf_counter() - began
        engine.dispose()
    emit(
        "alert_decisions",
        path="stored",
        backend="sqlite",
        packets=len(items),
        packets_per_second=round(len(items) / total, 1),
        p50_ms=_ms(timings, 0.50),
        p99_ms=_ms(timings, 0.99),
        **machine(),
    )


def bench_cli() -> None:
    pyros = pyros_command(installed=True)  # the console script, as typed
    for label, name in (("follow-up", SWIFT), ("ignored", IGNORED)):
        timings, cpu = [], []
        for _ in range(5):
            with isolated_home():
                subprocess.run([*pyros, "db", "init"], check=True, capture_output=True)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run(
                    [*pyros, "alert", "ingest", "--json", str(VOEVENT_DIR / name)],
                    check=True,
                    capture_output=True,
                )
                timings.append(time.perf_counter() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        emit(
            "alert_decisions",
            path="cli",
            notice=name,
            decision=label,
            ingest_cli_seconds=round(statistics.median(timings), 3),
            max_seconds=round(max(timings), 3),
            cpu_seconds=round(statistics.median(cpu), 3),
            load_average=round(os.getloadavg()[0], 2),
            **machine(),
        )


def main() -> None:
    voevents = read_voevents()
    if not voevents:
        emit("alert_decisions", skipped=f"real VOEvents absent: {VOEVENT_DIR}")
        return
    bench_pure(voevents)
    bench_stored(voevents)
    bench_cli()


if __name__ == "__main__":
    main()
