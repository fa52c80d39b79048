"""prefect.yaml declares deployments whose entrypoints are real flows."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_entrypoint_is_a_flow_on_the_pyros_pool():
    from prefect import Flow

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    names = [d["name"] for d in spec["deployments"]]
    assert len(names) == len(set(names)) and "submit-request" in names
    for deployment in spec["deployments"]:
        module_path, function = deployment["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, function), Flow), deployment["name"]
        assert deployment["work_pool"]["name"] == "pyros"


def test_the_alert_follow_up_is_triggered_once_per_burst_by_a_live_new_follow_up():
    """The deployment trigger matches ``pyros.alert.follow-up`` events of a new follow-up from a
    live or simulated stack only; the event id is the burst's (one run per burst)."""
    import uuid
    from datetime import UTC, datetime

    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.server.events.schemas.automations import EventTrigger
    from prefect.server.events.schemas.events import ReceivedEvent

    from tasks.alerts.decision import AlertDecision, DecisionKind, FollowUpAction
    from tasks.alerts.handle import follow_up_labels

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = [d for d in spec["deployments"] if d["name"] == "alert-follow-up"]
    (declared,) = deployment["triggers"]
    trigger = DeploymentEventTrigger(**declared)
    assert trigger.parameters == {
        "burst_key": "{{ event.payload.burst_key }}",
        "ivorn": "{{ event.payload.ivorn }}",
    }
    server = EventTrigger(**trigger.model_dump(include=set(EventTrigger.model_fields)))
    decision = AlertDecision("ivo://x#1", DecisionKind.FOLLOW_UP, "ok", burst_key="swift:1")

    def event(decision: AlertDecision, mode: str = "sim") -> ReceivedEvent:
        labels = follow_up_labels(decision)
        resource = {"prefect.resource.id": "pyros.alert.ivo://x#1", "pyros.mode": mode, **labels}
        return ReceivedEvent(event="pyros.alert.follow-up", resource=resource,
                             occurred=datetime.now(UTC), id=uuid.uuid4())  # fmt: skip

    assert server.covers(event(decision)) and server.covers(event(decision, "live"))
    assert not server.covers(event(decision, "replay"))
    repointed = AlertDecision("ivo://x#2", DecisionKind.FOLLOW_UP, "ok", burst_key="swift:1",
                              action=FollowUpAction.REPOINT)  # fmt: skip
    assert not server.covers(event(repointed))
    again = AlertDecision("ivo://x#3", DecisionKind.FOLLOW_UP, "ok", burst_key="swift:1")
    assert follow_up_labels(again)["pyros.event.id"] == follow_up_labels(decision)["pyros.event.id"]


def _deployment(name: str) -> dict:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = [d for d in spec["deployments"] if d["name"] == name]
    return deployment


def _flow(deployment: dict):
    module_path, function = deployment["entrypoint"].split(":")
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    return getattr(module, function)


def test_the_request_deployments_have_typed_forms_and_valid_defaults():
    """Issue #23: cancel and images are deployments whose parameters the UI renders as a form
    (typed: request_id an integer, required) and whose defaults name real parameters."""
    for name, required, form in [
        ("cancel-request", ["request_id"], {"request_id": "integer", "reason": "string"}),
        ("request-images", ["request_id"], {"request_id": "integer"}),
        ("submit-request", ["xml"], {"xml": "string", "again": "boolean"}),
        ("replay-night", ["night"], {"night": "string", "tolerance_s": "number"}),
    ]:
        deployment = _deployment(name)
        flow = _flow(deployment)
        assert flow.name == name
        schema = flow.parameters.model_dump()
        assert schema["required"] == required, name
        for parameter, kind in form.items():
            assert schema["properties"][parameter]["type"] == kind, (name, parameter)
        assert set(deployment["parameters"]) <= set(schema["properties"]), name
        assert not set(required) & set(deployment["parameters"]), name


MANUAL_CONTROL = {
    "park": ["reason"],
    "goto": ["ra_deg", "dec_deg", "reason"],
    "manual-exposure": ["camera", "exposure_s", "reason"],
    "dome": ["request", "reason"],
    "lights": ["on", "reason"],
    "power": ["outlet", "on", "reason"],
    "calibration-lamp": ["on", "reason"],
    "pause-night": ["reason"],
    "resume-night": ["reason"],
    "cancel-follow-up": ["burst", "reason"],
    "cancel-sequence": ["sequence_id", "reason"],
}


def test_each_manual_control_deployment_has_a_described_form_from_its_entrypoint():
    """Issue #21: the manual-control deployments exist with a description; the form the server
    builds from the entrypoint (as `prefect deploy` does) requires the action's parameters and a
    reason, and describes every parameter."""
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    for name, required in MANUAL_CONTROL.items():
        deployment = _deployment(name)
        assert deployment["description"].strip(), name
        assert "operator" in deployment["tags"], name
        flow = _flow(deployment)
        assert flow.name == name
        schema = parameter_schema_from_entrypoint(str(ROOT / deployment["entrypoint"])).model_dump()
        assert schema["required"] == required, name
        for parameter, field in schema["properties"].items():
            assert field.get("description"), (name, parameter)
        assert "user" in schema["properties"], name
        assert set(deployment["parameters"]) <= set(schema["properties"]) - set(required), name
