"""``make bench B=back_to_night``: what the night pays to go back to its schedule after an alert
(#18 item 4): the full re-plan it did before against the incremental insertion it does now.

The default night's load: the 30 submissions of ``simulators/data/scenarios/night/night.json``
(the ten night requests, three times, each at its scenario instant after a start 30 minutes
before sunset, as ``pyros night --simulate``), planned at the start of the dark night. Two
hours into the dark night the first planned sequence is executing when the operator drill's
Swift notice (:func:`tasks.alerts.drill.drill_notice`, the notice of the default scenario's
GRB) is decided ``follow-up`` through :func:`tasks.alerts.handle.handle_packet`: the routine
sequence ends ``interrupted``. From that same database (a copy per measure, SQLite), the wall
seconds of:

- ``full_replan_s``: :func:`~tasks.scheduling.schedule_rows.plan_and_save` (what the night did:
  load every candidate, plan the rest of the night, save);
- ``insert_s``: :func:`~tasks.scheduling.schedule_rows.insert_all_and_save` of the alert's
  sequence then the interrupted one (what it does now);

each the best of 3 in a process that has planned once (astropy's first use is not counted).
One JSON line, with ``sequences`` (the routine sequences stored before the alert), the planned
counts after each, the ids inserted (the alert's first) and ``speedup`` (full / insert).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from infra.clock import DiscreteEventClock
from infra.config import SiteConfig, load_config
from infra.db import session_scope
from infra.db.bootstrap import init_database
from infra.db.engine import create_pyros_engine
from infra.db.models import Sequence
from infra.db.sequence_state import SequenceState, transition
from tasks.alerts.drill import drill_notice
from tasks.alerts.handle import handle_packet
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for
from tasks.scheduling.schedule_rows import insert_all_and_save, plan_and_save
from tests.benchmarks.common import emit, isolated_home, machine

SCENARIO = Path(__file__).resolve().parents[2] / "simulators/data/scenarios/night"
NIGHT_LABEL = "2026-11-24"
#: The alert comes this long after the start of the dark night.
ALERT_AFTER_S = 2 * 3600.0
REPEATS = 3


def _load_the_night(path: Path, config: SiteConfig) -> dict[str, Any]:
    """Store the default night's submissions, plan it, interrupt the executing sequence with the
    drill alert; returns what is to be inserted."""
    night = night_for(NIGHT_LABEL, config)
    assert night.sunset is not None and night.start is not None
    start = night.sunset - timedelta(minutes=30)
    clock = DiscreteEventClock(start)
    engine = create_pyros_engine(f"sqlite:///{path}")
    init_database(engine, config)
    items = json.loads((SCENARIO / "night.json").read_text())[1:]
    for item in sorted((i for i in items if "userSimulator" in i), key=lambda i: i["time"]):
        clock.advance(max(0.0, (start - clock.now()).total_seconds() + item["time"]))
        raw = (SCENARIO / item["userSimulator"]).read_bytes()
        ingest_request_bytes(raw, item["userSimulator"], engine=engine, clock=clock, again=True)
    clock.advance(max(0.0, (night.start - clock.now()).total_seconds()))
    plan_and_save(engine=engine, config=config, clock=clock, reason="plan-night")
    clock.advance(ALERT_AFTER_S)
    plan_and_save(engine=engine, config=config, clock=clock, reason="warm")
    now = clock.now()
    with session_scope(engine) as session:
        sequence = session.scalars(
            select(Sequence).where(Sequence.state == SequenceState.PLANNED).order_by(Sequence.id)
        ).first()
        assert sequence is not None, "the default night plans something"
        interrupted = sequence.id
        transition(session, sequence, SequenceState.EXECUTING, "started", now)
        transition(session, sequence, SequenceState.INTERRUPTED, "preempted: alert", now)
        count = session.query(Sequence).count()
    decision = handle_packet(drill_notice(config, now).raw, now, engine=engine, clock=clock)
    assert decision.request_id is not None, decision.reason
    with session_scope(engine) as session:
        alert = session.scalar(
            select(Sequence.id).where(Sequence.request_id == decision.request_id)
        )
    engine.dispose()
    return {"now": now, "ids": (alert, interrupted), "sequences": count}


def _timed(source: Path, work: Any) -> tuple[float, dict[str, Any]]:
    """Best wall seconds of ``work(engine)`` over :data:`REPEATS` fresh copies of ``source``."""
    best, result = float("inf"), {}
    for attempt in range(REPEATS):
        copy = source.with_name(f"copy-{attempt}-{time.monotonic_ns()}.db")
        shutil.copyfile(source, copy)
        engine = create_pyros_engine(f"sqlite:///{copy}")
        started = time.perf_counter()
        result = work(engine)
        best = min(best, time.perf_counter() - started)
        engine.dispose()
    return best, result


def main() -> None:
    config = load_config()
    with isolated_home() as home:
        source = home / "night.db"
        loaded = _load_the_night(source, config)
        ids, now = loaded["ids"], loaded["now"]

        def full(engine: Any) -> dict[str, Any]:
            clock = DiscreteEventClock(now)
            return plan_and_save(engine=engine, config=config, clock=clock, reason="full")

        def insert(engine: Any) -> dict[str, Any]:
            clock = DiscreteEventClock(now)
            return insert_all_and_save(ids, engine=engine, config=config, clock=clock)

        full_s, planned = _timed(source, full)
        insert_s, inserted = _timed(source, insert)
    emit(
        "back_to_night",
        night=NIGHT_LABEL,
        sequences=loaded["sequences"],
        planned_full=planned["planned"],
        planned_after_insertion=inserted["planned"],
        inserted=inserted["inserted"],
        skipped=inserted["skipped"],
        full_replan_s=round(full_s, 4),
        insert_s=round(insert_s, 4),
        speedup=round(full_s / insert_s, 1) if insert_s > 0 else None,
        **machine(),
    )


if __name__ == "__main__":
    main()
