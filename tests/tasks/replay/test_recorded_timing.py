"""What the record says of time is an input of a replay: calibration sets and complete executions
take their recorded time (what the record lacks takes no time or its planned duration, with a
warning for a calibration set), and plan-night plans when it did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from infra.config import get_config
from infra.db import session_scope
from infra.db.bootstrap import init_database
from infra.db.engine import create_pyros_engine
from infra.db.models import Schedule, SequenceTransition
from infra.db.sequence_state import SequenceState
from infra.journal import entries, forget_nights_cache, night_label, record
from tasks.night.timing_journal import (
    KIND_CALIBRATION,
    calibration_durations,
    journal_calibration,
    journal_loop_start,
    loop_starts,
)
from tasks.night.vocabulary import PLAN_NIGHT, CalibrationSet
from tasks.replay.decisions import DOME, TRANSITIONS, night_decisions
from tasks.replay.engine import replay_night
from tasks.replay.inputs import load_inputs
from tests.support.replay_night import NIGHT, record_inputs

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # evening of 2026-11-24 at the site (west)


@pytest.fixture
def journal(tmp_path):
    """The inputs of a 1-hour night (4 requests, PLC readings with rain)."""
    forget_nights_cache()
    engine = create_pyros_engine(f"sqlite:///{tmp_path / 'inputs.db'}")
    record_inputs(engine, get_config(), hours=1.0, requests=4)
    yield engine
    engine.dispose()


def _replayed(tmp_path, name, inputs):
    engine = create_pyros_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
    run = replay_night(inputs, get_config(), engine)
    return engine, run


def test_the_calibration_record_gives_each_set_s_durations_in_order(tmp_path):
    engine = create_pyros_engine(f"sqlite:///{tmp_path / 'night.db'}")
    init_database(engine, get_config())
    for started, seconds in ((T0, 1500), (T0 + timedelta(hours=1), 20)):
        ended = started + timedelta(seconds=seconds)
        journal_calibration("evening", started, ended, "", source="night", into=engine)
    damaged = {"set": "dusk_flats", "started": T0.isoformat()}  # no end: skipped
    record(KIND_CALIBRATION, "night", damaged, sim_time=T0, into=engine)
    with session_scope(engine) as session:
        assert calibration_durations(session, NIGHT) == {"evening": [1500.0, 20.0]}
    engine.dispose()


def test_calibrations_take_their_recorded_time_and_a_missing_one_is_warned(journal, tmp_path):
    inputs = load_inputs(journal, NIGHT)
    assert inputs.calibrations == {}  # the inputs alone: nothing taken yet
    inputs.calibrations = {CalibrationSet.EVENING: [1234.0]}
    engine, run = _replayed(tmp_path, "replay", inputs)
    with session_scope(engine) as session:
        taken = calibration_durations(session, NIGHT)
    assert taken[CalibrationSet.EVENING] == [1234.0]
    assert all(seconds == 0.0 for seconds in taken.get(CalibrationSet.DUSK_FLATS, []))
    missing = [w for w in run.warnings if "not in the journal" in w]
    assert len(missing) == len(taken.get(CalibrationSet.DUSK_FLATS, [])), run.warnings
    engine.dispose()


def test_a_complete_execution_takes_its_recorded_time_an_interrupted_one_its_plan(
    journal, tmp_path
):
    baseline, _ = _replayed(tmp_path, "baseline", load_inputs(journal, NIGHT))
    recorded = load_inputs(baseline, NIGHT, get_config().site.longitude_deg)
    complete = [(sid, runs) for sid, runs in recorded.executions.items() if runs[-1] is not None]
    assert complete, recorded.executions
    # The last sequence the baseline completed takes 61 s more: nothing before it changes.
    with session_scope(baseline) as session:
        last = session.scalars(
            select(SequenceTransition)
            .where(SequenceTransition.to_state == SequenceState.EXECUTED)
            .order_by(SequenceTransition.at.desc())
        ).first()
        assert last is not None
        sequence_id = last.sequence_id
    took = recorded.executions[sequence_id]
    assert took[-1] is not None
    inputs = load_inputs(journal, NIGHT)
    inputs.calibrations = recorded.calibrations
    inputs.executions = {**recorded.executions, sequence_id: [*took[:-1], took[-1] + 61.0]}
    engine, _ = _replayed(tmp_path, "longer", inputs)
    again = load_inputs(engine, NIGHT, get_config().site.longitude_deg)
    assert again.executions[sequence_id][-1] == took[-1] + 61.0
    # An execution the record did not complete (None) takes its planned duration.
    interrupted = {sid: [None] * len(runs) for sid, runs in recorded.executions.items()}
    inputs.executions = interrupted
    engine2, _ = _replayed(tmp_path, "planned", inputs)
    planned = load_inputs(engine2, NIGHT, get_config().site.longitude_deg)
    assert planned.executions == recorded.executions  # the baseline took planned durations
    for engine_ in (baseline, engine, engine2):
        engine_.dispose()


def test_plan_night_plans_when_it_did_in_the_record_and_nothing_plans_before(journal, tmp_path):
    baseline, run = _replayed(tmp_path, "baseline", load_inputs(journal, NIGHT))
    recorded = load_inputs(baseline, NIGHT)
    assert recorded.plan_nights == [run.start]  # no record of it: at the start
    inputs = load_inputs(journal, NIGHT)
    later = run.start + timedelta(minutes=47)
    inputs.plan_nights = [run.start - timedelta(hours=1), later]  # the first one is before
    engine, _ = _replayed(tmp_path, "later", inputs)
    with session_scope(engine) as session:
        schedules = session.execute(
            select(Schedule.created_at, Schedule.reason).order_by(Schedule.id)
        ).all()
    assert schedules[0] == (later, PLAN_NIGHT), schedules
    assert load_inputs(engine, NIGHT).plan_nights == [later]
    for engine_ in (baseline, engine):
        engine_.dispose()


def test_the_loop_begins_when_the_recorded_night_s_first_loop_did(journal, tmp_path):
    baseline, run = _replayed(tmp_path, "baseline", load_inputs(journal, NIGHT))
    with session_scope(baseline) as session:
        first_set = min(calibration_starts(session))
    assert first_set == run.start  # no loop recorded: right after plan-night, at the start
    inputs = load_inputs(journal, NIGHT)
    began = run.start + timedelta(minutes=9)
    inputs.loop_starts = [run.start - timedelta(minutes=1), began]  # one before plan-night
    engine, _ = _replayed(tmp_path, "late", inputs)
    with session_scope(engine) as session:
        assert min(calibration_starts(session)) == began
    for engine_ in (baseline, engine):
        engine_.dispose()


def calibration_starts(session) -> list[datetime]:
    """When the replay's calibration sets began (its journal)."""
    rows = entries(session, night=NIGHT, kinds=[KIND_CALIBRATION])
    return [datetime.fromisoformat(row.payload["started"]) for row in rows]


def test_a_loop_start_is_journaled_and_read_back_in_order(engine, sim_clock):
    later = sim_clock.now() + timedelta(hours=2)
    journal_loop_start("execute-night:block", sim_clock)
    first = sim_clock.now()
    sim_clock.sleep_until(later)
    journal_loop_start("start-of-night:again", sim_clock)
    label = night_label(first, get_config().site.longitude_deg)
    with session_scope(engine) as session:
        assert loop_starts(session, label) == [first, later]


def test_a_block_ends_in_the_rain_and_the_next_begins_when_the_recorded_one_did(tmp_path):
    longitude = get_config().site.longitude_deg
    forget_nights_cache()
    journal = create_pyros_engine(f"sqlite:///{tmp_path / 'long.db'}")
    record_inputs(journal, get_config(), hours=1.5)  # sequences left to execute after the rain
    baseline, run = _replayed(tmp_path, "baseline", load_inputs(journal, NIGHT))
    dome = night_decisions(baseline, NIGHT, longitude)[DOME]
    closed = next(d.at for d in dome if d.what == "dome close")
    reopened = next(d.at for d in dome if d.what == "dome open" and d.at > closed)
    with session_scope(baseline) as session:
        created = session.scalars(select(Schedule.created_at)).all()
    # The block ends when the weather closes the night (flows/night.py): the interrupted
    # sequence's re-plan, then none while the night waits (a loop that waited re-planned at
    # every slot it missed: docs/replay.md, the stack night of 2026-12-07).
    assert len([at for at in created if closed < at < reopened]) <= 1, created
    inputs = load_inputs(journal, NIGHT)
    resumed = reopened + timedelta(minutes=3)  # the next block's latency, as recorded
    inputs.loop_starts = [run.start, resumed]
    engine, _ = _replayed(tmp_path, "resumed", inputs)
    executing = [
        d.at
        for d in night_decisions(engine, NIGHT, longitude)[TRANSITIONS]
        if d.what.endswith("-> executing") and d.at > closed
    ]
    assert executing and min(executing) >= resumed, (executing, resumed)
    first_after = [
        d.at
        for d in night_decisions(baseline, NIGHT, longitude)[TRANSITIONS]
        if d.what.endswith("-> executing") and d.at > closed
    ]
    assert min(first_after) < resumed  # without the record, the night resumed sooner
    for engine_ in (journal, baseline, engine):
        engine_.dispose()


def test_the_first_block_begins_when_the_recorded_one_did(journal, tmp_path):
    longitude = get_config().site.longitude_deg
    baseline, run = _replayed(tmp_path, "baseline", load_inputs(journal, NIGHT))
    first = _first_execution(baseline, longitude)
    inputs = load_inputs(journal, NIGHT)
    late = first + timedelta(minutes=4)  # the first execute-night run's latency, as recorded
    inputs.loop_starts = [run.start, late]
    engine, _ = _replayed(tmp_path, "late", inputs)
    assert _first_execution(engine, longitude) == late
    for engine_ in (baseline, engine):
        engine_.dispose()


def _first_execution(engine, longitude: float) -> datetime:
    transitions = night_decisions(engine, NIGHT, longitude)[TRANSITIONS]
    return min(d.at for d in transitions if d.what.endswith("-> executing"))
