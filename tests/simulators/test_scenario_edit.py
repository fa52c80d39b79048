"""Scenarios made from others (``simulators/scenario_edit.py``): written elsewhere, the base's
relative file names still resolve; items are left out or added in time order; a damaged base or
result is refused by name."""

from __future__ import annotations

import json

import pytest

from simulators import DATA_DIR
from simulators.scenario import ScenarioError, load_scenario
from simulators.scenario_edit import with_items

BASE = DATA_DIR / "scenarios" / "night" / "camera_mount_faults.json"


def test_written_elsewhere_the_requests_still_resolve_and_items_keep_their_order(tmp_path):
    extra = [{"time": 100, "faultSimulator": {"device": "dome", "kind": "fault", "duration": 60}}]
    out = with_items(
        BASE, extra, tmp_path / "edited.json", keep=lambda i: "faultSimulator" not in i
    )
    items = json.loads(out.read_text())[1:]
    times = [item["time"] for item in items]
    assert times == sorted(times)
    faults = [item for item in items if "faultSimulator" in item]
    assert faults == extra  # the base's two faults left out, ours in
    requests = [item["userSimulator"] for item in items if "userSimulator" in item]
    assert requests and all(r.startswith("/") and r.endswith(".xml") for r in requests), requests[
        :3
    ]
    scenario = load_scenario(out)  # resolves from anywhere
    assert len(scenario.items) == len(items)


def test_a_damaged_base_is_refused_naming_it(tmp_path):
    base = tmp_path / "base.json"
    base.write_text('[600, {"time": 10, "userSimulator": "no-such-request.xml"}]')
    with pytest.raises(ScenarioError, match=r"no-such-request\.xml"):
        with_items(base, [], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_a_bad_added_item_is_refused_naming_it(tmp_path):
    with pytest.raises(ScenarioError, match=r"bogusSimulator"):
        with_items(BASE, [{"time": 5, "bogusSimulator": {}}], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
