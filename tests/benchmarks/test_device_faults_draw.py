"""The device-fault night's draw and its zero figures (``make bench B=device_faults``, #24)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from simulators import DATA_DIR
from simulators.scenario import load_scenario
from tests.benchmarks.device_faults_draw import (
    FAULT_KINDS,
    DrawnFault,
    ImageRecord,
    draw_faults,
    excused_instants,
    fault_scenario,
    fault_seconds,
    integrity_figures,
    kinds_count,
)

SPAN = (5400.0, 5400.0 + 36000.0)


@pytest.mark.parametrize("seed", [1, 2, 3, 17, 2024])
def test_twenty_faults_every_kind_inside_the_span_never_two_at_once_on_a_device(seed):
    faults = draw_faults(random.Random(seed), 20, SPAN)
    assert len(faults) == 20 and set(kinds_count(faults)) == set(FAULT_KINDS)
    assert [f.start_s for f in faults] == sorted(f.start_s for f in faults)
    for fault in faults:
        devices, kind, (shortest, longest) = FAULT_KINDS[fault.kind]
        assert fault.device in devices and fault.fault == kind
        assert SPAN[0] <= fault.start_s < fault.end_s <= SPAN[1] + 1
        assert shortest - 1 <= fault.end_s - fault.start_s <= longest + 1
    for a in faults:
        for b in faults:
            if a is not b and a.device == b.device:
                assert a.end_s <= b.start_s or b.end_s <= a.start_s, (a, b)
    assert draw_faults(random.Random(seed), 20, SPAN) == faults  # the seed draws it again


def test_a_span_too_short_for_the_faults_is_refused_by_name():
    with pytest.raises(ValueError, match="no room for a"):
        draw_faults(random.Random(1), 20, (0.0, 2500.0))


def test_the_scenario_keeps_the_requests_and_carries_the_faults(tmp_path):
    faults = draw_faults(random.Random(5), 20, SPAN)
    base = DATA_DIR / "scenarios" / "night" / "camera_mount_faults.json"
    out = fault_scenario(base, faults, tmp_path / "faults.json")
    items = json.loads(out.read_text())
    requests = [i for i in items[1:] if "userSimulator" in i]
    injected = [i["faultSimulator"] for i in items[1:] if "faultSimulator" in i]
    assert len(requests) == sum("userSimulator" in i for i in json.loads(base.read_text())[1:])
    assert [(f["device"], f["kind"], f["back"]) for f in injected] == [
        (f.device, f.fault, f.end_s) for f in faults
    ]  # the base scenario's own two faults are gone
    load_scenario(out)  # a scenario the simulators accept, request files found from anywhere


def test_only_faults_that_stop_the_telescope_are_excused():
    faults = [
        DrawnFault("camera_lost", "camera_vis", "disconnect", 100, 900),
        DrawnFault("mount_fault", "mount", "fault", 1000, 1600),
        DrawnFault("dome_stuck", "dome", "fault", 1500, 2000),
    ]
    start = datetime(2026, 12, 5, 18, tzinfo=UTC)
    assert excused_instants(faults, start) == [
        start + timedelta(seconds=1600),
        start + timedelta(seconds=2000),
    ]
    assert fault_seconds(faults) == 1000.0  # 1000-2000, the overlap once, the camera not


def test_lost_duplicated_and_unexplained_are_counted():
    whole = [ImageRecord((1, 1, i), True) for i in range(3)]
    assert integrity_figures(whole, {}, 0) == {
        "images": 3,
        "images_lost": 0,
        "images_duplicated": 0,
        "frames_awaiting_adoption": 0,
        "interruptions_without_reason": 0,
    }
    figures = integrity_figures(
        [*whole, ImageRecord((1, 1, 2), True), ImageRecord((2, 1, 0), False)],
        {"S0000003-P0000001-I0001": "executed", "S0000004-P0000001-I0000": "interrupted"},
        2,
    )
    assert figures["images_lost"] == 2  # a damaged file, a finished sequence's frame unrowed
    assert figures["images_duplicated"] == 1
    assert figures["frames_awaiting_adoption"] == 1
    assert figures["interruptions_without_reason"] == 2
