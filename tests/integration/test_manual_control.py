"""Manual-control deployments through a real stack (``pyros up``): run by the worker from the
Prefect API against the simulators, refused naming the holder while safety holds the mount."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from devices.client import NdjsonClient
from infra.db import session_scope
from infra.db.models import JournalEntry
from tests.support.databases import only_on
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

RUN = """
import json
from prefect.deployments import run_deployment
run = run_deployment({name!r}, parameters={parameters!r}, timeout=300)
print(json.dumps({{"state": run.state.type.value, "message": run.state.message or ""}}))
"""


def _run(instance, name: str, **parameters) -> dict:
    env = {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}
    code = RUN.format(name=f"{name}/{name}", parameters=parameters)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _gateway(instance, device: str, command: str) -> dict:
    with NdjsonClient(
        "127.0.0.1", instance.gateway_ports[device], name=device, timeout_s=10
    ) as gateway:
        return gateway.call(command)


# One backend (SQLite, the embedded default): the deployments act on devices, not on the rows.
@only_on("sqlite")
def test_manual_deployments_act_on_the_simulators_and_refuse_while_safety_holds(instance, engine):
    instance.pyros("up", "--json", timeout=300)
    lights = _run(instance, "lights", on=True, reason="stack test", user="tess")
    assert lights["state"] == "COMPLETED", lights
    assert _gateway(instance, "plc", "SWITCHES")["switches"]["lights"] is True

    # A drill makes the monitor take the mount at safety priority: park is then refused, the
    # run Failed with a message naming the holder.
    assert _run(instance, "fake-alarm", minutes=30.0, by="tess")["state"] == "COMPLETED"
    eventually(
        lambda: _gateway(instance, "mount", "LEASE")["lease"]["owner"] == "environment-monitor",
        within_s=120,
        what="the monitor holding the mount",
    )
    park = _run(instance, "park", reason="stack test", user="tess")
    assert park["state"] == "FAILED", park
    assert "held by environment-monitor (safety)" in park["message"], park

    with session_scope(engine) as session:
        rows = session.scalars(select(JournalEntry).where(JournalEntry.kind == "operator"))
        manual = [r.payload for r in rows if r.payload.get("user") == "tess"]
    assert [(p["command"], p["outcome"], p["reason"]) for p in manual] == [
        ("switch", "done", "stack test"),
        ("park", "refused", "stack test"),
    ]
