"""Replay of a recorded night: identical to its recording, byte-identical twice, what-ifs
that change the night and one that does not, a damaged journal replayed with warnings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.config import ConfigError, get_config
from infra.db.engine import create_pyros_engine
from infra.journal import KIND_ALERT, KIND_PLC, forget_nights_cache, record
from tasks.night.report import KIND_NIGHT_RUN
from tasks.replay.decisions import DOME, TRANSITIONS
from tasks.replay.engine import replay_night
from tasks.replay.inputs import load_inputs
from tasks.replay.run import ReplayError, replay_and_compare
from tests.support.replay_night import NIGHT, RAIN_MM_H, record_inputs


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    """A night with rain (the evening and 1.5 h of dark night), recorded by the in-process
    simulation from its inputs (once for the module: replays only read it)."""
    forget_nights_cache()
    config = get_config()
    tmp_path = tmp_path_factory.mktemp("recorded")
    inputs = create_pyros_engine(f"sqlite:///{tmp_path / 'inputs.db'}")
    record_inputs(inputs, config, hours=1.5)
    night = create_pyros_engine(f"sqlite:///{tmp_path / 'night.db'}")
    replay_night(load_inputs(inputs, NIGHT), config, night)
    inputs.dispose()
    yield night
    night.dispose()


def test_a_replayed_night_has_the_decisions_of_its_recording(recorded, tmp_path):
    told: list[tuple[float, float]] = []
    outcome = replay_and_compare(
        recorded,
        NIGHT,
        get_config(),
        tmp_path / "replay",
        progress=lambda d, t: told.append((d, t)),
    )
    # The progress bar's feed: the replayed span (one total), in order, to its end.
    totals = {t for _, t in told}
    (total,) = totals
    assert 0 < total <= (outcome.run.end - outcome.run.start).total_seconds()
    assert len(told) > 10 and [d for d, _ in told] == sorted(d for d, _ in told)
    assert told[-1][0] > 0.9 * total
    assert outcome.comparison.identical, outcome.comparison.differences
    compared = outcome.comparison.compared
    assert compared[DOME] == 3  # opened in the evening, closed in the rain, opened again
    assert compared[TRANSITIONS] > 20 and outcome.comparison.decisions_compared > 25
    assert outcome.run.warnings == []
    summary = outcome.summary()
    assert summary["identical"] is True and summary["differences"] == []
    assert summary["speed_factor"] > 100  # hours in seconds
    assert outcome.report_path.read_text(encoding="utf-8") == outcome.report


def test_two_replays_give_byte_identical_reports(recorded, tmp_path):
    first = replay_and_compare(recorded, NIGHT, get_config(), tmp_path / "one")
    second = replay_and_compare(recorded, NIGHT, get_config(), tmp_path / "two")
    assert first.report_path.read_bytes() == second.report_path.read_bytes()
    assert "**identical**" in first.report


def test_a_rain_threshold_above_the_rain_keeps_the_dome_open(recorded, tmp_path):
    what_if = f"safety.rain_rate_threshold_mm_h={RAIN_MM_H + 8}"
    outcome = replay_and_compare(
        recorded, NIGHT, get_config(), tmp_path / "dry", overrides=[what_if]
    )
    assert not outcome.comparison.identical
    differences = "\n".join(outcome.comparison.differences)
    assert "dome actions #2" in differences and "'dome close'" in differences
    assert "sequence transitions" in differences
    assert what_if in outcome.report and "**different**" in outcome.report


def test_an_unrelated_key_replays_identical(recorded, tmp_path):
    outcome = replay_and_compare(
        recorded, NIGHT, get_config(), tmp_path / "same", overrides=["nrt.detect_threshold_sigma=3"]
    )
    assert outcome.comparison.identical, outcome.comparison.differences


def test_a_bad_what_if_is_a_clear_error(recorded, tmp_path):
    with pytest.raises(ConfigError, match=r"safety\.no_such_key: no such configuration key"):
        replay_and_compare(
            recorded, NIGHT, get_config(), tmp_path / "x", overrides=["safety.no_such_key=1"]
        )
    with pytest.raises(ConfigError, match="rain_rate_threshold_mm_h"):
        replay_and_compare(
            recorded,
            NIGHT,
            get_config(),
            tmp_path / "x",
            overrides=["safety.rain_rate_threshold_mm_h=wet"],
        )
    with pytest.raises(ReplayError, match="nothing journaled"):
        replay_and_compare(recorded, "2026-01-01", get_config(), tmp_path / "x")


def test_a_journal_with_pieces_missing_replays_with_warnings(tmp_path):
    forget_nights_cache()
    config = get_config()
    engine = create_pyros_engine(f"sqlite:///{tmp_path / 'damaged.db'}")
    _start, end = record_inputs(engine, config, hours=0.5, requests=3)
    # A truncated alert packet, and no PLC reading for 20 minutes (the journal refuses deletes:
    # the gap is what a deleted run of readings leaves).
    record(
        KIND_ALERT,
        "comet",
        b"<?xml version='1.0'?><voe:VOEvent ivorn='ivo://x",
        sim_time=end,
        into=engine,
    )
    record(KIND_PLC, "plc", {"name": "STATUS"}, sim_time=end + timedelta(minutes=20), into=engine)
    # A run cut short journals its span's end: the replay stops there.
    span_end = end - timedelta(minutes=10)
    payload = {"night": NIGHT, "span_end": span_end.isoformat()}
    record(KIND_NIGHT_RUN, "pyros night", payload, sim_time=end, into=engine)
    outcome = replay_and_compare(engine, NIGHT, config, tmp_path / "replay")
    assert outcome.run.end == span_end
    warnings = "\n".join(outcome.run.warnings)
    assert "PLC readings missing from" in warnings
    assert "1 alert(s) in the journal are not replayed yet" in warnings
    assert "## Warnings" in outcome.report
    engine.dispose()
