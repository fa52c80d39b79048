"""The follow-up flow's policy (pure): precedence of its steps, when an exposure stops, the
artifact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tasks.alerts.followup_policy import (
    FollowUpRecord,
    FollowUpView,
    StepKind,
    next_step,
    render_markdown,
    should_stop,
)
from tasks.alerts.followup_rows import FollowUp

NOW = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
FU = FollowUp("swift:1", "ivo://x#1", 7, 10.0, 20.0, 0.05, NOW + timedelta(hours=1), (3, 4))


def step(follow_up=FU, *, now=NOW, safe=True, dome=True, asked=False):
    return next_step(FollowUpView(follow_up, now, safe, dome, asked))


@pytest.mark.parametrize(
    ("kwargs", "kind", "reason"),
    [
        ({"follow_up": None}, StepKind.END, "no follow-up"),
        ({"follow_up": replace(FU, withdrawn="retracted"), "safe": False}, StepKind.END,
         "withdrawn: retracted"),
        ({"now": NOW + timedelta(hours=2), "safe": False}, StepKind.END, "validity is over"),
        ({"follow_up": replace(FU, sequences=()), "safe": False}, StepKind.END, "done"),
        ({"safe": False, "dome": False}, StepKind.WAIT, "weather unsafe"),
        ({"dome": False}, StepKind.WAIT, "dome is not open"),
        ({}, StepKind.EXECUTE, "sequence 3"),
    ],
)  # fmt: skip
def test_precedence(kwargs, kind, reason):
    result = step(**kwargs)
    assert result.kind is kind and reason in result.reason


def test_the_dome_is_asked_once():
    assert step(dome=False).request_dome and not step(dome=False, asked=True).request_dome
    assert not step(safe=False, dome=False).request_dome  # unsafe: nothing opens


def test_an_exposure_stops_when_withdrawn_or_re_pointed():
    assert should_stop(FU, 3) is None
    assert should_stop(replace(FU, withdrawn="lost lock"), 3) == "withdrawn: lost lock"
    assert should_stop(replace(FU, sequences=(9,)), 3).startswith("re-pointed")
    assert should_stop(None, 3) == "the follow-up is gone"


def test_the_artifact_shows_the_position_found_and_the_light_curve():
    record = FollowUpRecord("swift:1", "follow-up", "ivo://x#1", (10.0, 20.0, 0.05))
    assert "position found: none yet" in render_markdown(record)
    record.candidates = [
        {"ra": 10.001, "dec": 20.0, "snr": 9.0, "mag": 17.0, "alert_ivorn": "ivo://x#1",
         "alert_distance_arcsec": 3.6},
        {"ra": 10.2, "dec": 20.1, "snr": 50.0, "mag": 12.0},  # not in the alert's circle
    ]  # fmt: skip
    record.light_curve = [{"track_id": 1, "kind": "alert", "ra": 10.001, "dec": 20.0,
                           "points": [{"time": "t1", "image_id": "i1", "mag": 17.0}]}]  # fmt: skip
    text = render_markdown(record)
    assert "RA 10.001000°" in text and "radius 3.00′" in text and "| t1 | i1 | 17.0 |" in text


def test_the_artifact_of_a_tiled_box_shows_the_tiles_done_and_candidates_per_tile():
    record = FollowUpRecord("fermi:1", "follow-up", "ivo://x#2", (10.0, 20.0, 3.0))
    for sequence_id in (7, 8, 9):
        record.tile(sequence_id)
    record.tile(7).state, record.tile(7).images, record.tile(7).analysed = "executed", 2, 2
    record.tile(8).state = "executing"
    record.tile(8).candidates = [
        {"ra": 10.4, "dec": 20.3, "snr": 8.0, "mag": 18.2, "kind": "new", "method": "difference"},
        {"ra": 10.5, "dec": 20.2, "snr": 31.0, "mag": 16.9, "kind": "brightened",
         "method": "difference"},
    ]  # fmt: skip
    assert record.tile(9).index == 3 and len(record.tiles) == 3
    text = render_markdown(record)
    assert "## Tiles (1 of 3 observed)" in text
    assert "| 1/3 | 7 | executed | 2 | 2 | 0 |  |" in text
    assert (
        "| 2/3 | 8 | executing | 0 | 0 | 2 | RA 10.50000°, Dec +20.20000°, mag 16.9, SNR 31.0"
        in text
    )
    assert "| 3/3 | 9 | waiting | 0 | 0 | 0 |  |" in text
    single = FollowUpRecord("swift:1", "follow-up", "ivo://x#1", (10.0, 20.0, 0.05))
    single.tile(1)
    assert "## Tiles" not in render_markdown(single)
