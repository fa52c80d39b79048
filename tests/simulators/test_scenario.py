"""Scenario files: the seed's files parse unchanged, the new keys parse, and every mistake is an
error naming the file, the item and the field."""

from __future__ import annotations

import json

import pytest

from simulators import DATA_DIR
from simulators.scenario import (
    AfterglowAction,
    AlertAction,
    FaultAction,
    PlcAction,
    ScenarioError,
    SubmitAction,
    load_scenario,
    parse_scenario,
)


def test_the_seed_scenarios_parse_unchanged(seed_dir):
    plc = load_scenario(seed_dir / "scenario_plc.json")
    assert plc.length_s == 10.0
    assert [(i.time_s, i.action) for i in plc.items] == [
        (3.0, PlcAction("WXT520", "RainRate", 12.0)),
        (3.0, PlcAction("VantagePro", "RainRate", 12.0)),
        (7.0, PlcAction("WXT520", "RainRate", 0.0)),
        (7.0, PlcAction("VantagePro", "RainRate", 0.0)),
    ]
    # conf.json next to the seed's only request file: the others come from the bundled ones.
    conf = load_scenario(seed_dir / "conf.json")
    submits = conf.of("userSimulator")
    assert [i.time_s for i in submits] == [1, 2, 4, 5, 10, 11, 15, 16, 18, 33]
    assert submits[0].action.file == (seed_dir / "routine_request_01.xml").resolve()
    assert [i.action.file.name for i in submits] == [
        f"routine_request_{n:02d}.xml" for n in range(1, 11)
    ]
    assert all(isinstance(i.action, SubmitAction) for i in submits)
    assert len(conf.of("plcSimulator")) == 4


def test_the_bundled_scenarios_parse():
    for path in sorted((DATA_DIR / "scenarios").glob("*.json")):
        scenario = load_scenario(path)
        assert scenario.length_s > 0 and scenario.items, path.name


def test_new_keys_parse(tmp_path):
    (tmp_path / "grb.xml").write_text("<voe/>", encoding="utf-8")
    scenario = parse_scenario(
        [
            600,
            {"time": 5, "faultSimulator": {"device": "mount", "kind": "stop", "duration": 30}},
            {
                "time": 6,
                "faultSimulator": {
                    "device": "plc",
                    "kind": "slow",
                    "duration_s": 9,
                    "delay_s": 0.5,
                },
            },
            {"time": 10, "alertSimulator": "grb.xml"},
            {"time": 11, "alertSimulator": {"file": "grb.xml", "host": "127.0.0.1", "port": 9}},
            {
                "time": 12,
                "afterglowSimulator": {
                    "ra_deg": 370.0,
                    "dec_deg": -20.5,
                    "magnitude": 15.0,
                    "decay_index": 1.3,
                },
            },
            {"time": 13, "plcSimulator": {"device_name": "VantagePro", "valid": "yes"}},
            {"time": 14, "userSimulator": {"file": "routine_request_02.xml", "user": "pyros"}},
        ],
        "new.json",
        tmp_path,
    )
    actions = [i.action for i in scenario.items]
    assert actions[0] == FaultAction("mount", "silent", 30.0)
    assert actions[1] == FaultAction("plc", "slow", 9.0, 0.5)
    assert actions[2] == AlertAction((tmp_path / "grb.xml").resolve())
    assert actions[3] == AlertAction((tmp_path / "grb.xml").resolve(), "127.0.0.1", 9)
    assert actions[4] == AfterglowAction(10.0, -20.5, 15.0, 1.3)
    assert actions[5] == PlcAction("VantagePro", valid=True)
    assert actions[6].user == "pyros" and actions[6].file.name == "routine_request_02.xml"


def test_a_device_stops_at_a_time_and_is_back_at_another():
    """#24: ``back`` is the run's time the device answers again (the fault lasts until then)."""
    scenario = parse_scenario(
        [
            600,
            {"time": 100, "faultSimulator": {"device": "camera_vis", "kind": "drop", "back": 250}},
        ]
    )
    assert scenario.items[0].action == FaultAction("camera_vis", "disconnect", 150.0)


def test_the_bundled_fault_night_loses_a_camera_then_faults_the_mount():
    scenario = load_scenario(DATA_DIR / "scenarios" / "night" / "camera_mount_faults.json")
    faults = [(i.time_s, i.action) for i in scenario.of("faultSimulator")]
    assert faults == [
        (6300.0, FaultAction("camera_nir", "disconnect", 2100.0)),
        (9600.0, FaultAction("mount", "fault", 900.0)),
    ]
    assert len(scenario.of("userSimulator")) >= 10


def test_items_play_in_time_order_file_order_for_ties():
    scenario = parse_scenario(
        [
            10,
            {"time": 5, "plcSimulator": {"device_name": "A", "value_name": "x", "value": 1}},
            {"time": 2, "plcSimulator": {"device_name": "B", "value_name": "x", "value": 1}},
            {"time": 5, "plcSimulator": {"device_name": "C", "value_name": "x", "value": 1}},
        ]
    )
    assert [i.action.device_name for i in scenario.items] == ["B", "A", "C"]


PLC_ITEM = {"device_name": "WXT520", "value_name": "RainRate", "value": 1.0}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"length": 10}, "a scenario is a JSON list"),
        ([], "a scenario is a JSON list"),
        (["ten"], "the first item (the run length, seconds): must be a finite number"),
        ([-1], "must be >= 0"),
        ([10, [1, 2]], "item 1: must be an object"),
        ([10, {"plcSimulator": PLC_ITEM}], "item 1: missing time"),
        ([10, {"time": "3", "plcSimulator": PLC_ITEM}], "item 1.time: must be a finite number"),
        ([10, {"time": 11, "plcSimulator": PLC_ITEM}], "time 11 is after the end of the run (10)"),
        ([10, {"time": 1, "plcSimulater": PLC_ITEM}], "needs exactly one simulator key of"),
        (
            [10, {"time": 1, "plcSimulator": PLC_ITEM, "userSimulator": "x.xml"}],
            "(got plcSimulator, userSimulator)",
        ),
        ([10, {"time": 1, "plcSimulator": {"device_name": "WXT520"}}], "missing value, value_name"),
        (
            [10, {"time": 1, "plcSimulator": {**PLC_ITEM, "unit": "mm"}}],
            "unknown field(s) unit",
        ),
        ([10, {"time": 1, "plcSimulator": {**PLC_ITEM, "value": [1]}}], "value: must be a finite"),
        ([10, {"time": 1, "userSimulator": "nowhere.xml"}], "file 'nowhere.xml' not found"),
        (
            [10, {"time": 1, "faultSimulator": {"device": "mount", "kind": "melt", "duration": 1}}],
            "unknown fault kind 'melt'",
        ),
        (
            [10, {"time": 1, "faultSimulator": {"device": "mount", "kind": "silent"}}],
            "missing duration",
        ),
        (
            [
                10,
                {"time": 1, "faultSimulator": {"device": "mount", "kind": "silent", "duration": 0}},
            ],
            "duration: must be > 0",
        ),
        (
            [10, {"time": 5, "faultSimulator": {"device": "mount", "kind": "fault", "back": 5}}],
            "back: 5 must be after the item's time (5)",
        ),
        (
            [
                10,
                {
                    "time": 1,
                    "faultSimulator": {
                        "device": "mount",
                        "kind": "fault",
                        "back": 5,
                        "duration": 4,
                    },
                },
            ],
            "give one of duration, duration_s or back",
        ),
        ([10, {"time": 1, "alertSimulator": {"file": "a.xml", "port": 0}}], "port: must be a TCP"),
        (
            [10, {"time": 1, "afterglowSimulator": {"ra_deg": 1, "dec_deg": 95, "magnitude": 15}}],
            "dec_deg: must be within ±90",
        ),
        ([10, {"time": 1, "afterglowSimulator": {"ra_deg": 1, "dec_deg": 5}}], "missing magnitude"),
    ],
)
def test_mistakes_are_named(data, words):
    with pytest.raises(ScenarioError) as error:
        parse_scenario(data, "bad.json")
    assert words in str(error.value) and str(error.value).startswith("bad.json")


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[10, {", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not JSON"):
        load_scenario(bad)
    bad.write_text(json.dumps([10, {"time": 1, "userSimulator": "x.xml"}]), encoding="utf-8")
    with pytest.raises(ScenarioError, match=str(tmp_path)):
        load_scenario(bad)
