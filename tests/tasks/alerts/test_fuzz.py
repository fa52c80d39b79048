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

import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import Alert, JournalEntry
from tasks.alerts.evaluate import evaluate
from tasks.alerts.handle import handle_packet
from tasks.alerts.identity import InMemoryHistory
from tasks.alerts.parse import issued_at_hint
from tests.support.voevents import mutate, variant
from tests.tasks.alerts.test_decision_table import table_rows

MUTANTS, VALID_COPIES = 10_000, 10
TRIGGER_PARAMS = ("TrigID", "Trigger_Number", "Burst_Id", "GraceID", "AMON_ID")


def valid_packets(voevents: dict[str, bytes], copies: int) -> list[tuple[bytes, object, str]]:
    """``copies`` fresh copies of every real notice (own IVORN and trigger id), with the time
    to judge them at and their documented decision."""
    expected = {name: decision for name, decision, _, _ in table_rows()}
    packets = []
    for index, (name, raw) in enumerate(sorted(voevents.items())):
        for copy in range(copies):
            text = raw.decode()
            params = {
                p: f"9{index:02d}{copy:05d}" if p != "Burst_Id" else f"sb9{index:02d}{copy:05d}"
                for p in TRIGGER_PARAMS
                if f'name="{p}"' in text
            }
            ivorn = text.split('ivorn="', 1)[1].split('"', 1)[0] + f"-fuzz{copy}"
            packets.append(
                (variant(raw, ivorn=ivorn, params=params), issued_at_hint(raw), expected[name])
            )
    return packets


def stream(voevents, mutants: int, copies: int, seed: int):
    rng = random.Random(seed)
    bases = [(raw, issued_at_hint(raw)) for _, raw in sorted(voevents.items())]
    items = [
        (mutate(raw, rng), when, None) for raw, when in (rng.choice(bases) for _ in range(mutants))
    ]
    for packet in valid_packets(voevents, copies):
        items.insert(rng.randrange(len(items) + 1), packet)
    return items


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
