"""The scenario player: the seed's conf.json submits the ten request files as a user would (each
stored at its time), items act at their simulated time, and a late start does not replay what was
already sent."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from infra.clock import SimulatedClock, parse_instant, set_clock
from infra.db import session_scope
from infra.db.models import JournalEntry, Request
from simulators import DATA_DIR
from simulators.scenario import load_scenario, parse_scenario
from simulators.simulator_run import SimulatorRun
from tests.simulators.conftest import DEVICES, NIGHT, site_config
from tests.support.waiting import wait_until

#: How late (simulated seconds) the player may apply an item at 10×: 0.2 s of wall time for a
#: thread to wake up.
LATENESS_S = 2.0


def _outcomes_done(player, count: int, within_s: float) -> list[dict]:
    outcomes: list[dict] = []

    def done() -> bool:
        nonlocal outcomes
        outcomes = player.describe()["outcomes"]
        return len(outcomes) >= count and all(o["status"] != "running" for o in outcomes)

    if not wait_until(done, within_s, step_s=0.05):
        raise AssertionError(f"scenario outcomes not done within {within_s} s: {outcomes}")
    return outcomes


def test_conf_json_submits_the_ten_requests_each_stored_at_its_time(rig, engine):
    scenario = load_scenario(DATA_DIR / "scenarios" / "conf.json")
    bench = rig(speed=10.0, scenario=scenario, journal=True)
    player = bench.run.player
    submits = _outcomes_done(player, 10, within_s=60.0)[:10]
    assert [o["key"] for o in submits] == ["userSimulator"] * 10
    assert [o["status"] for o in submits] == ["done"] * 10, [o["detail"] for o in submits]
    with session_scope(engine) as session:
        rows = {r.id: (r.name, r.submitted_at, r.source) for r in session.scalars(select(Request))}
    assert len(rows) == 10
    for outcome, number in zip(submits, range(1, 11), strict=True):
        assert outcome["action"] == f"routine_request_{number:02d}.xml"
        due, applied, finished = (
            parse_instant(outcome[k]) for k in ("due_at", "applied_at", "finished_at")
        )
        assert due == player.at(outcome["time_s"])
        assert due <= applied <= due + timedelta(seconds=LATENESS_S)
        _name, submitted, source = rows[outcome["result"]["request_id"]]
        submitted = submitted if submitted.tzinfo else submitted.replace(tzinfo=due.tzinfo)
        # Stored by the submitting process while it ran, under the simulators' clock.
        assert applied <= submitted <= finished, (number, applied, submitted, finished)
        assert source.endswith(f"routine_request_{number:02d}.xml")
    names = [rows[o["result"]["request_id"]][0] for o in submits]
    assert names[0] == "RequestSimulator" and names[1] == "RequestSimulator 02"
    # The rain at 80-90 s: each value set at its time (the submissions may still be running).
    bench.clock.sleep_until(player.at(91.0))
    rain = _outcomes_done(player, 14, within_s=30.0)[10:]
    assert [(o["time_s"], o["detail"]) for o in rain] == [
        (80.0, "WXT520.RainRate = 12.0 (was 0.0)"),
        (80.0, "VantagePro.RainRate = 12.0 (was 0.0)"),
        (90.0, "WXT520.RainRate = 0.0 (was 12.0)"),
        (90.0, "VantagePro.RainRate = 0.0 (was 12.0)"),
    ]
    for outcome in rain:
        due, applied = parse_instant(outcome["due_at"]), parse_instant(outcome["applied_at"])
        assert due <= applied <= due + timedelta(seconds=LATENESS_S)
    assert bench.observatory.plc.get_value("WXT520", "RainRate") == 0.0

    def journaled() -> list[str]:
        with session_scope(engine) as session:
            query = select(JournalEntry).where(JournalEntry.kind == "scenario")
            return [e.source for e in session.scalars(query)]

    # Every outcome is journaled (kind "scenario").
    wait_until(lambda: len(journaled()) >= 12, 10, step_s=0.1)
    kinds = journaled()
    assert kinds.count("simulators:userSimulator") == 10
    assert kinds.count("simulators:plcSimulator") >= 2


def test_a_refused_request_is_recorded_with_its_reason(rig, engine, tmp_path):
    bad = tmp_path / "bad_request.xml"
    text = (DATA_DIR / "requests" / "routine_request_02.xml").read_text(encoding="utf-8")
    bad.write_text(text.replace('filter="r"', 'filter="Halpha"'), encoding="utf-8")
    scenario = parse_scenario([5, {"time": 0.5, "userSimulator": "bad_request.xml"}], "s", tmp_path)
    bench = rig(speed=10.0, scenario=scenario)
    [outcome] = _outcomes_done(bench.run.player, 1, within_s=30.0)
    assert outcome["status"] == "failed" and "Halpha" in outcome["detail"]
    with session_scope(engine) as session:
        assert session.scalars(select(Request)).first() is None


def test_a_late_start_applies_state_and_skips_what_was_already_sent(tmp_path):
    speed = 10.0
    # The clock started 100 simulated seconds ago: the player starts at t ≈ 100.
    clock = SimulatedClock(NIGHT, speed, wall_epoch=time.time() - 100.0 / speed)
    set_clock(clock)
    scenario = parse_scenario(
        [
            300,
            {
                "time": 3,
                "plcSimulator": {"device_name": "WXT520", "value_name": "RainRate", "value": 12.0},
            },
            {"time": 5, "userSimulator": "routine_request_01.xml"},
            {"time": 10, "faultSimulator": {"device": "dome", "kind": "silent", "duration": 20}},
            {"time": 50, "faultSimulator": {"device": "mount", "kind": "garbage", "duration": 100}},
            {"time": 60, "afterglowSimulator": {"ra_deg": 10, "dec_deg": 20, "magnitude": 15}},
            {
                "time": 103,
                "plcSimulator": {"device_name": "DRD11", "value_name": "digital", "value": 0},
            },
        ],
        "late.json",
    )
    run = SimulatorRun(
        scenario,
        config=site_config(),
        clock=clock,
        run_dir=tmp_path / "run",
        frames_dir=tmp_path / "frames",
        ports=dict.fromkeys(DEVICES, 0),
        journal=False,
    ).start()
    try:
        outcomes = _outcomes_done(run.player, 5, within_s=10.0)
        by_time = {o["time_s"]: o for o in outcomes}
        assert by_time[3.0]["status"] == "done"
        assert run.observatory.plc.get_value("WXT520", "RainRate") == 12.0
        assert by_time[5.0]["status"] == "skipped" and "in the past" in by_time[5.0]["detail"]
        assert "already over" in by_time[10.0]["detail"]
        assert run.observatory.faults.active("dome") is None
        mount_fault = run.observatory.faults.active("mount")
        assert mount_fault is not None
        left = (mount_fault.until - clock.now()).total_seconds()
        assert 0 < left < 50.0  # what was left of it (t=150), not a fresh 100 s
        assert len(run.observatory.afterglows()) == 1
        # The next item, still ahead, comes at its time.
        outcomes = _outcomes_done(run.player, 6, within_s=10.0)
        assert run.observatory.plc.get_value("DRD11", "digital") == 0
        applied = parse_instant(outcomes[-1]["applied_at"])
        assert applied >= run.player.at(103.0)
    finally:
        run.stop()


def test_unknown_plc_names_and_devices_are_refused_before_anything_starts(rig):
    bad_value = parse_scenario(
        [
            10,
            {
                "time": 1,
                "plcSimulator": {"device_name": "WXT520", "value_name": "Rain", "value": 1},
            },
        ],
        "plc.json",
    )
    with pytest.raises(ValueError, match=r"plc.json: item 1 .*no value 'Rain'"):
        rig(scenario=bad_value)
    bad_device = parse_scenario(
        [
            10,
            {"time": 1, "faultSimulator": {"device": "telescope", "kind": "silent", "duration": 1}},
        ],
        "fault.json",
    )
    with pytest.raises(ValueError, match="unknown device 'telescope'"):
        rig(scenario=bad_device)


def test_time_zero_is_the_clock_start(rig):
    start = datetime(2026, 12, 9, 6, 0, tzinfo=NIGHT.tzinfo)
    bench = rig(
        speed=100.0,
        start=start,
        scenario=parse_scenario(
            [
                1,
                {
                    "time": 0.5,
                    "plcSimulator": {"device_name": "DRD11", "value_name": "digital", "value": 0},
                },
            ]
        ),
    )
    assert bench.run.player.at(0) == start
