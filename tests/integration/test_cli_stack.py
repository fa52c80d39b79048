"""A plain shell reaches the running stack: with the stack up on a simulated clock, commands run
without PREFECT_API_URL, PYROS_CLOCK, PYROS_MODE or PYROS_DATABASE_URL take them from the stack's
run file: the request is dated by the stack's clock, stored in its database, its event is in its
Prefect server's feed, and the schedule shown is the one planned there."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from infra.db import session_scope
from infra.db.models import Request
from tests.support.cli import run_pyros
from tests.support.databases import only_on
from tests.support.voevents import SYNTHETIC

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
REQUEST = REPO / "simulators" / "data" / "requests" / "routine_request_01.xml"
#: The stack's simulated start: an evening at San Pedro Mártir, days away from the wall clock.
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
STACK_ONLY = ("PREFECT_API_URL", "PYROS_CLOCK", "PYROS_MODE", "PYROS_DATABASE_URL")


def _events(api: str, name: str) -> list[dict]:
    reply = httpx.post(
        f"{api}/events/filter",
        json={"filter": {"event": {"name": [name]}}, "limit": 50},
        timeout=10,
    )
    reply.raise_for_status()
    events: list[dict] = reply.json()["events"]
    return events


def _wait_for_event(api: str, name: str, resource: str, within_s: float = 60) -> dict:
    deadline = time.monotonic() + within_s
    while True:
        found = [e for e in _events(api, name) if e["resource"]["prefect.resource.id"] == resource]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{name} for {resource} never reached Prefect"
        time.sleep(1)


# PostgreSQL: a shell's commands and the stack's processes share the production database.
@only_on("postgresql")
def test_request_submit_and_schedule_show_act_on_the_running_stack(instance, engine, tmp_path):
    clock = f"sim:{START.isoformat().replace('+00:00', 'Z')}@1@{time.time():.3f}"
    instance.env["PYROS_CLOCK"] = clock
    instance.pyros("up", "--json", timeout=300)
    api = f"http://127.0.0.1:{instance.prefect_port}/api"
    shell = {k: v for k, v in instance.env.items() if k not in STACK_ONLY}

    status = run_pyros("status", "--json", env=shell, check=True)
    connection = json.loads(status.stdout)["connection"]
    assert connection["running"] and connection["clock"] == clock
    assert (connection["api"], connection["api_from"]) == (api, "stack")
    assert (connection["mode"], connection["database_from"]) == ("sim", "stack")

    submitted = run_pyros("request", "submit", str(REQUEST), "--json", env=shell, check=True)
    assert submitted.stderr == ""  # one JSON document, nothing from Prefect's event worker
    request_id = json.loads(submitted.stdout)["request_id"]
    with session_scope(engine) as session:  # the stack's database
        request = session.get(Request, request_id)
        assert request is not None
        submitted_at, (sequence_id,) = request.submitted_at, [s.id for s in request.sequences]
    assert START <= submitted_at < START + timedelta(minutes=10)  # the stack's clock

    event = _wait_for_event(api, "pyros.request.submitted", f"pyros.request.{request_id}")
    assert event["resource"]["pyros.mode"] == "sim"
    assert event["resource"]["pyros.sim_time"].startswith("2026-11-25T02:")

    planned = json.loads(run_pyros("schedule", "plan", "--json", env=shell, check=True).stdout)
    shown = json.loads(run_pyros("schedule", "show", "--json", env=shell, check=True).stdout)
    assert shown["id"] == planned["schedule_id"] and shown["night"] == "2026-11-24"
    assert sequence_id in {entry["sequence_id"] for entry in shown["entries"]}

    again = run_pyros("request", "submit", str(REQUEST), env=shell)
    assert again.returncode == 2 and f"as request {request_id} " in again.stderr

    # An alert's events (received, and more) are delivered before exit, without Prefect's
    # "Still processing items" lines after the one JSON document.
    packet = tmp_path / "swift.xml"
    packet.write_bytes(SYNTHETIC)
    ingested = run_pyros("alert", "ingest", str(packet), "--json", env=shell)
    assert ingested.stderr == "" and ingested.stdout.count("\n") == 1, ingested
    decision = json.loads(ingested.stdout)
    assert _wait_for_event(api, "pyros.alert.received", f"pyros.alert.{decision['ivorn']}")
