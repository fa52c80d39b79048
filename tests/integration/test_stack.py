"""``pyros up`` on a real Prefect server and worker: deployments applied once, runs executed,
everything stopped by ``pyros down``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from devices.client import NdjsonClient
from infra.db import session_scope
from infra.db.models import Request
from tests.support.databases import only_on
from tests.support.ports import listening

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _prefect(instance, code: str) -> str:
    env = {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


COUNT = """
import json
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    print(json.dumps({
        "deployments": sorted(d.name for d in c.read_deployments()),
        "pools": [p.name for p in c.read_work_pools()],
        "telescope": c.read_global_concurrency_limit_by_name("telescope").limit,
        "automations": len(c.read_automations()),
    }))
"""


DELETE_SUBMIT_REQUEST = """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    c.delete_deployment(c.read_deployment_by_name("submit-request/submit-request").id)
print("deleted")
"""
DELETE_FOLLOW_UP_TRIGGER = """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    (trigger,) = c.read_automations_by_name("alert follow-up: one run per burst")
    c.delete_automation(trigger.id)
print("deleted")
"""


def _bootstrap_again(instance) -> str:
    """Run the bootstrap as ``pyros up`` does; returns what it did with the deployments."""
    result = subprocess.run(
        [sys.executable, "-m", "app.prefect_bootstrap"],
        env={**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"},
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return _deployments_done(result.stderr)


def _deployments_done(log: str) -> str:
    (line,) = [line for line in log.splitlines() if "prefect bootstrap done" in line]
    return line.split("'deployments': '")[1].split("'")[0]


# SQLite, `make run`'s embedded default: what `pyros up` applies to Prefect does not depend on
# PyROS's database, and eight PostgreSQL stack tests bring the stack up on PostgreSQL (CI of
# 2026-12-07: 110 s per backend, in a stack tier of 50 minutes). On an empty Prefect home, as
# the first `pyros up` of an observatory (the other stack tests start from a template).
@only_on("sqlite")
@pytest.mark.fresh_prefect
def test_up_applies_everything_once_runs_a_deployment_and_down_stops_all(instance, engine):
    status = json.loads(instance.pyros("up", "--json").stdout)
    log = (instance.home / "logs" / "prefect-bootstrap.log").read_text()
    assert _deployments_done(log) == "applied"
    assert status["phase"] == "running"
    names = {p["name"]: p for p in status["processes"]}
    assert names["prefect-bootstrap"]["last_exit"] == 0
    assert names["worker"]["state"] == "running"
    # The simulators, then the gateways in front of them, came up first and answer.
    order = [p["name"] for p in status["processes"]]
    assert order[:2] == ["simulators", "gateways"]
    assert names["simulators"]["ready"] and names["gateways"]["ready"]
    assert names["environment-monitor"]["state"] == "running"
    for name in ("mount", "dome", "plc"):
        with NdjsonClient(
            "127.0.0.1", instance.gateway_ports[name], name=name, timeout_s=10
        ) as gateway:
            reply = gateway.call("STATUS")
        assert reply["gateway"]["health"]["connected"] is True, reply
    assert reply["from"] == "Beckhoff" and reply["device"][-1]["name"] == "SITE"
    fault = instance.pyros("simulators", "fault", "dome", "garbage", "--for", "5")
    assert "dome: garbage until" in fault.stdout

    first = json.loads(_prefect(instance, COUNT))
    assert "submit-request" in first["deployments"] and first["telescope"] == 1
    assert first["pools"].count("pyros") == 1
    # Bootstrapping again (a restart of `pyros up`) duplicates nothing and does not apply the
    # unchanged deployments again; a deployment, or a deployment's trigger, deleted in the UI is
    # applied again.
    assert _bootstrap_again(instance) == "unchanged"
    assert json.loads(_prefect(instance, COUNT)) == first
    for delete in (DELETE_SUBMIT_REQUEST, DELETE_FOLLOW_UP_TRIGGER):
        assert _prefect(instance, delete) == "deleted"
        assert _bootstrap_again(instance) == "applied"
        assert json.loads(_prefect(instance, COUNT)) == first

    xml = (REPO / "simulators" / "data" / "requests" / "routine_request_01.xml").read_text(
        encoding="utf-8"
    )
    state = _prefect(
        instance,
        f"""
from prefect.deployments import run_deployment
run = run_deployment("submit-request/submit-request", parameters={{"xml": {xml!r}}}, timeout=240)
print(run.state.type.value)
""",
    )
    assert state == "COMPLETED"
    with session_scope(engine) as session:
        ((request_id, source),) = session.execute(select(Request.id, Request.source)).all()
    assert source == "prefect-ui"
    # The request deployments (issue #23) run from their forms' parameters through the worker.
    states = _prefect(
        instance,
        f"""
from prefect.deployments import run_deployment
states = []
for name, parameters in [
    ("cancel-request", {{"request_id": {request_id}, "reason": "stack test"}}),
    ("request-images", {{"request_id": {request_id}}}),
]:
    run = run_deployment(f"{{name}}/{{name}}", parameters=parameters, timeout=240)
    states.append(run.state.type.value)
print(" ".join(states))
""",
    )
    assert states.split() == ["COMPLETED", "COMPLETED"]
    with session_scope(engine) as session:
        assert session.get(Request, request_id).cancel_reason == "cancelled by pyros: stack test"

    pids = [p["pid"] for p in status["processes"] if p["state"] == "running"]
    instance.pyros("down")
    assert not [
        pid
        for pid in pids
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert instance.pyros("status", check=False).returncode == 3
    ports = [*instance.device_ports.values(), *instance.gateway_ports.values()]
    assert not [port for port in ports if listening(port)]
    assert instance.pyros("simulators", "status", check=False).returncode == 3


# The refusals come before any database is touched: one backend is enough.
@only_on("sqlite")
def test_up_refuses_a_taken_port(instance):
    import socket

    with socket.create_server(("127.0.0.1", instance.prefect_port)):
        result = instance.pyros("up", check=False)
    assert result.returncode == 3
    assert f"prefect-server port {instance.prefect_port}" in result.stderr


@only_on("sqlite")
def test_up_refuses_a_taken_device_port(instance):
    import socket

    with socket.create_server(("127.0.0.1", instance.device_ports["plc"])):
        result = instance.pyros("up", check=False)
    assert result.returncode == 3
    assert f"simulator plc port {instance.device_ports['plc']}" in result.stderr
