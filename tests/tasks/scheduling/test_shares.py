"""Time allocation (#23): a simulated week, three programs with shares 50/30/20 % and equal
demand, ends with each program's time within 5 points of its share; the same week without the
share term gives each a third (the test prints both)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import ScientificProgram
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.draft import insertion_order
from tasks.scheduling.load import load_candidates
from tasks.scheduling.night_times import night_for
from tasks.scheduling.shares import ProgramUse, fair_keys, shares_of, time_by_program
from tasks.scheduling.tonight import plan_night
from tests.support.requests import request_xml, sequence_xml
from tests.tasks.scheduling.conftest import CONFIG, candidate

QUOTAS = {"A": 500.0, "B": 300.0, "C": 200.0}  # hours over the period: shares 50/30/20 %
PER_NIGHT = 24  # each program asks for 24 x 30 min a night: together three times the night
LABELS = [f"2026-11-{day}" for day in range(24, 31)]  # 7 nights


def _week(with_shares: bool) -> dict[str, dict[str, float]]:
    used = dict.fromkeys(QUOTAS, 0.0)
    for n, label in enumerate(LABELS):
        night = night_for(label, CONFIG)
        window = {
            "window_start": night.start - timedelta(hours=1),
            "window_end": night.end + timedelta(hours=1),
        }
        # Equal demand, submitted interleaved (A, B, C, A, B, C...): ids give no program an edge.
        candidates = [
            candidate(
                10_000 * n + 3 * j + k,
                duration_s=1800.0,
                target_type="test",
                ra_deg=None,
                dec_deg=None,
                program=program,
                **window,
            )
            for j in range(PER_NIGHT)
            for k, program in enumerate(QUOTAS)
        ]
        uses = {p: ProgramUse(QUOTAS[p], used[p]) for p in QUOTAS} if with_shares else None
        outcome = plan_night(candidates, CONFIG, night.start - timedelta(hours=1), uses=uses)
        program_of = {c.id: c.program for c in candidates}
        for entry in outcome.entries():
            if entry.planned and entry.start is not None and entry.end is not None:
                hours = (entry.end - entry.start).total_seconds() / 3600.0
                used[program_of[entry.sequence_id]] += hours  # executed as planned
    return time_by_program(used, {p: ProgramUse(q, 0.0) for p, q in QUOTAS.items()})


def test_a_week_shares_the_time_as_the_quotas_say_and_not_without_the_share_term():
    balanced = _week(with_shares=True)
    plain = _week(with_shares=False)
    for name, result in (("with the share term", balanced), ("without it", plain)):
        print(
            f"week {name}: "
            + ", ".join(
                f"{p} {r['used_pct']:.1f} % of {r['hours']:.1f} h (share {r['share_pct']:.0f} %)"
                for p, r in result.items()
            )
        )
    for program, result in balanced.items():
        assert abs(result["used_pct"] - result["share_pct"]) <= 5.0, (program, balanced)
    worst = max(abs(r["used_pct"] - r["share_pct"]) for r in plain.values())
    assert worst > 10.0, plain  # equal demand, no share term: about a third each
    total = sum(r["hours"] for r in balanced.values())
    assert total == pytest.approx(sum(r["hours"] for r in plain.values()), rel=0.02)


def test_the_program_furthest_below_its_share_goes_first_among_equal_priorities():
    night = night_for(LABELS[0], CONFIG)
    window = {"window_start": night.start, "window_end": night.end}
    candidates = [
        candidate(1, program="A", target_type="test", ra_deg=None, dec_deg=None, **window),
        candidate(2, program="B", target_type="test", ra_deg=None, dec_deg=None, **window),
        candidate(
            3, program="B", priority=2, target_type="test", ra_deg=None, dec_deg=None, **window
        ),
    ]
    uses = {"A": ProgramUse(50.0, 40.0), "B": ProgramUse(50.0, 5.0)}
    assert shares_of(uses, {"A", "B"}) == {"A": 0.5, "B": 0.5}
    outcome = plan_night(candidates, CONFIG, night.start, uses=uses)
    keys = fair_keys(outcome.plan.problem, candidates, uses)
    ids = outcome.plan.problem.ids
    by_id = {ids[i]: k for i, k in keys.items()}
    assert by_id[2] < by_id[1]  # B used 5 h of its half, A 40 h
    # the order the planner inserts in: priority first, then the fair-share key
    order = [ids[i] for i in insertion_order(outcome.plan.problem, list(range(3)))]
    assert order == [3, 2, 1]


def test_candidates_carry_their_program_and_the_uses_come_from_the_database(engine, sim_clock):
    xml = request_xml([sequence_xml("a")], program="GRB")
    ingest_request_bytes(xml.encode(), "a.xml", engine=engine)
    with session_scope(engine) as session:
        program = session.scalar(select(ScientificProgram).where(ScientificProgram.name == "GRB"))
        program.used_hours = 12.5
    with session_scope(engine) as session:
        loaded = load_candidates(session, CONFIG, sim_clock.now())
    assert [c.program for c in loaded.candidates] == ["GRB"]
    assert loaded.uses["GRB"] == ProgramUse(10_000.0, 12.5)
