"""Fuzzing: 10,000 mutated packets with 100 valid ones mixed in.

- The whole stream (10,100 packets) goes through the pure path (parse + identity + policy with an
  in-memory history, real sky computations): no exception, no internal error, every mutant gets
  a decision with a reason, and the 100 valid packets get exactly the decision of docs/alerts.md.
- A representative part (400 mutants + 20 valid) goes through the stored path
  (``handle_packet``) on SQLite and PostgreSQL: every packet journaled, the same guarantees.

Per-packet times are printed (``-s``), never asserted; ``make bench B=alert_decisions`` reports
them.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import Alert, JournalEntry
from tasks.alerts.evaluate import evaluate
from tasks.alerts.handle import handle_packet
from tasks.alerts.identity import InMemoryHistory
from tests.support.voevents import packet_stream
from tests.tasks.alerts.test_decision_table import table_rows

MUTANTS, VALID_COPIES = 10_000, 10


def stream(voevents, mutants: int, copies: int, seed: int):
    """The packets, each with its instant and its documented decision (None for a mutant)."""
    expected = {name: decision for name, decision, _, _ in table_rows()}
    return [
        (packet, when, expected[name] if name else None)
        for packet, when, name in packet_stream(voevents, mutants, copies, seed)
    ]


def _check(decision, expected) -> None:
    assert decision.error is None, decision
    assert decision.reason, decision
    assert decision.decision in ("follow-up", "not-observable", "ignored", "rejected", "duplicate")
    if expected is not None:
        assert decision.decision == expected, decision


def test_ten_thousand_mutants_and_a_hundred_valid_packets_on_the_pure_path(voevents, config):
    items = stream(voevents, MUTANTS, VALID_COPIES, seed=20261124)
    history = InMemoryHistory(config.alerts.match_window_s)
    timings, kinds, valid_ok = [], Counter(), 0
    for packet, when, expected in items:
        started = time.perf_counter()
        decision = evaluate(packet, when, history, config)
        timings.append(time.perf_counter() - started)
        _check(decision, expected)
        kinds[str(decision.decision)] += expected is None
        valid_ok += expected is not None
    assert valid_ok == 10 * VALID_COPIES == 100
    assert kinds["rejected"] > MUTANTS // 2 and kinds["rejected"] < MUTANTS  # some mutants parse
    timings.sort()
    print(
        f"\nfuzz pure path: {len(items)} packets, mutants {dict(kinds)}, "
        f"p50 {timings[len(timings) // 2] * 1e3:.2f} ms, "
        f"p99 {timings[int(len(timings) * 0.99)] * 1e3:.2f} ms, max {timings[-1] * 1e3:.1f} ms"
    )


@pytest.mark.parametrize("seed", [7])
def test_a_representative_part_through_the_stored_path(engine, voevents, config, seed):
    items = stream(voevents, 400, 2, seed=seed)
    decisions = []
    for packet, when, expected in items:
        decision = handle_packet(packet, when, engine=engine, config=config)
        _check(decision, expected)
        decisions.append(decision)
    kinds = Counter(str(d.decision) for d in decisions)
    with session_scope(engine) as session:
        journaled = session.scalar(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "alert")
        )
        rows = session.scalar(select(func.count()).select_from(Alert))
        unnamed = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.ivorn.is_(None))
        )
    assert journaled == len(items)  # durable first, every packet
    assert rows == len(items) - kinds["duplicate"]
    assert unnamed == kinds["rejected"]
