"""The automations PyROS declares (app/automations.py): pure specifications, no server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from prefect.events.actions import ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import Posture
from prefect.events.schemas.events import RelatedResource, Resource

from app.automations import (
    DEPLOYMENTS,
    FLOW_HEARTBEAT_S,
    FLOW_SILENCE_S,
    HEARTBEAT_WATCHERS,
    LIVE_MODES,
    PREFIX,
    declared_automations,
    undeclared,
)
from app.stack import prefect_env
from infra.config import get_config
from infra.events import ALL_EVENTS, WATCHER_HEARTBEAT
from infra.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
IDS = {name: uuid.uuid4() for name in DEPLOYMENTS}


def _by_name() -> dict:
    return {a.name: a for a in declared_automations(IDS)}


def test_names_are_unique_prefixed_and_the_same_on_every_call():
    first = declared_automations(IDS)
    names = [a.name for a in first]
    assert len(names) == len(set(names)) and all(n.startswith(PREFIX) for n in names)
    again = declared_automations(IDS)
    assert [a.model_dump(mode="json") for a in again] == [a.model_dump(mode="json") for a in first]


def test_a_missing_deployment_is_named():
    ids = {k: v for k, v in IDS.items() if k != "restart-watcher"}
    with pytest.raises(KeyError, match="deployment 'restart-watcher' is not applied"):
        declared_automations(ids)


def test_only_undeclared_pyros_automations_are_removed():
    declared = declared_automations(IDS)
    existing = [declared[0].name, "pyros: old reaction", "operator's own", "pyrosish"]
    assert undeclared(existing, declared) == ["pyros: old reaction"]


@pytest.mark.parametrize("watcher", HEARTBEAT_WATCHERS, ids=lambda w: w.name)
def test_a_silent_watcher_is_noticed_and_restarted_live_events_only(watcher):
    automation = _by_name()[f"{PREFIX}{watcher.name} silent"]
    trigger = automation.trigger
    assert trigger.posture == Posture.Proactive and trigger.threshold == 1
    assert trigger.after == trigger.expect == {WATCHER_HEARTBEAT} <= ALL_EVENTS
    assert trigger.for_each == {"prefect.resource.id"}
    assert 10 <= trigger.within.total_seconds() <= 30
    for mode, matches in (("live", True), ("sim", True), ("replay", False)):
        beat = Resource({"prefect.resource.id": watcher.resource_id, "pyros.mode": mode})
        assert trigger.match.matches(beat) is matches, mode
    other = Resource({"prefect.resource.id": "pyros.watcher.someone-else", "pyros.mode": "sim"})
    assert not trigger.match.matches(other)
    notice, restart = automation.actions
    assert isinstance(notice, RunDeployment) and notice.deployment_id == IDS["operator-notice"]
    assert notice.parameters["severity"] == "error"
    assert isinstance(restart, RunDeployment) and restart.deployment_id == IDS["restart-watcher"]
    assert restart.parameters["name"] == watcher.name


def test_the_monitor_beats_well_within_the_silence_window():
    beat = get_config().safety.heartbeat_wall_s
    assert all(w.silence_s >= 3 * beat for w in HEARTBEAT_WATCHERS)
    assert set(LIVE_MODES) == {"live", "sim"}


def _flow_run_event_resources(deployment_id):
    run = Resource({"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"})
    related = RelatedResource(
        {
            "prefect.resource.id": f"prefect.deployment.{deployment_id}",
            "prefect.resource.role": "deployment",
        }
    )
    return run, related


def test_a_crashed_night_block_starts_a_new_block_and_tells_the_operator():
    automation = _by_name()[f"{PREFIX}night block crashed"]
    trigger = automation.trigger
    assert trigger.posture == Posture.Reactive and trigger.expect == {"prefect.flow-run.Crashed"}
    run, related = _flow_run_event_resources(IDS["execute-night"])
    assert trigger.match.matches(run) and trigger.match_related.includes([related])
    _, other = _flow_run_event_resources(IDS["operator-notice"])
    assert not trigger.match_related.includes([other])
    rerun, notice = automation.actions
    assert rerun.deployment_id == IDS["execute-night"]
    assert rerun.parameters == {"trigger": "a crashed block"}
    assert notice.deployment_id == IDS["operator-notice"]


def test_a_silent_night_block_is_marked_crashed_after_two_missed_heartbeats():
    automation = _by_name()[f"{PREFIX}night block silent"]
    trigger = automation.trigger
    assert trigger.posture == Posture.Proactive
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.Completed", "prefect.flow-run.Crashed"} < trigger.expect
    assert trigger.within.total_seconds() == FLOW_SILENCE_S >= 2 * FLOW_HEARTBEAT_S
    (action,) = automation.actions
    assert isinstance(action, ChangeFlowRunState) and action.state.value == "CRASHED"
    env, _ = prefect_env(load_settings(), get_config())
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(FLOW_HEARTBEAT_S)


def test_every_deployment_the_automations_need_is_in_prefect_yaml():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert set(DEPLOYMENTS) <= {d["name"] for d in spec["deployments"]}


def test_a_lost_device_is_told_to_the_operator_live_events_only():
    automations = _by_name()
    lost, back = automations[f"{PREFIX}device lost"], automations[f"{PREFIX}device back"]
    assert lost.trigger.expect == {"pyros.device.lost"} and back.trigger.expect == {
        "pyros.device.back"
    }
    for mode, matches in (("sim", True), ("replay", False)):
        device = Resource({"prefect.resource.id": "pyros.device.dome", "pyros.mode": mode})
        assert lost.trigger.match.matches(device) is matches
    (notice,) = lost.actions
    assert notice.deployment_id == IDS["operator-notice"]
    assert "{{ event.payload.reason }}" in notice.parameters["message"]


def test_weather_safe_starts_a_block_and_unsafe_tells_the_operator_live_only():
    automations = _by_name()
    safe, unsafe = automations[f"{PREFIX}weather safe"], automations[f"{PREFIX}weather unsafe"]
    assert safe.trigger.expect == {"pyros.weather.safe"}
    assert unsafe.trigger.expect == {"pyros.weather.unsafe"}
    for mode, matches in (("live", True), ("sim", True), ("replay", False)):
        site = Resource({"prefect.resource.id": "pyros.site.colibri", "pyros.mode": mode})
        assert safe.trigger.match.matches(site) is matches
        assert unsafe.trigger.match.matches(site) is matches
    (start,) = safe.actions
    assert start.deployment_id == IDS["execute-night"]
    assert start.parameters == {
        "trigger": "weather safe",
        "block_start": "{{ event.payload.sim_time }}",
    }
    (notice,) = unsafe.actions
    assert notice.deployment_id == IDS["operator-notice"]


def test_a_stuck_dome_calls_the_operator_as_an_emergency_live_events_only():
    stuck = _by_name()[f"{PREFIX}dome stuck"]
    assert stuck.trigger.expect == {"pyros.dome.stuck"}
    for mode, matches in (("live", True), ("sim", True), ("replay", False)):
        site = Resource({"prefect.resource.id": "pyros.site.colibri", "pyros.mode": mode})
        assert stuck.trigger.match.matches(site) is matches
    (notice,) = stuck.actions
    assert notice.deployment_id == IDS["operator-notice"]
    assert notice.parameters["severity"] == "emergency"
    assert "{{ event.payload.reason }}" in notice.parameters["message"]
