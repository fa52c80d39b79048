"""The automations on a real stack (``pyros up``: Prefect server, worker, supervisor, monitor):
applied once however often the stack is bootstrapped, a silent environment monitor noticed and
its restart asked of the supervisor, a crashed night block followed by a new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.automations import HEARTBEAT_WATCHERS, PREFIX
from infra.db import session_scope
from infra.db.models import JournalEntry
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
#: A dark hour at San Pedro Mártir (simulated clock at speed 1).
START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
MONITOR = "environment-monitor"


@contextmanager
def _client(instance) -> Iterator:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = f"http://127.0.0.1:{instance.prefect_port}/api"
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as c:
        yield c


def _api_env(instance) -> dict[str, str]:
    return {**instance.env, "PREFECT_API_URL": f"http://127.0.0.1:{instance.prefect_port}/api"}


APPLY_9_TIMES = """
from prefect.client.orchestration import get_client
from app.prefect_bootstrap import apply_automations
with get_client(sync_client=True) as client:
    for _ in range(9):
        apply_automations(client)
"""


def _journal(engine, kind: str) -> list[JournalEntry]:
    with session_scope(engine) as session:
        rows = list(session.scalars(select(JournalEntry).where(JournalEntry.kind == kind)))
        session.expunge_all()
        return rows


def _beats(engine) -> list[JournalEntry]:
    return [
        e
        for e in _journal(engine, "event")
        if e.payload["event"] == "pyros.watcher.heartbeat"
        and e.payload["resource"]["prefect.resource.id"] == f"pyros.watcher.{MONITOR}"
    ]


def _ten_bootstraps_leave_each_automation_once(instance) -> None:
    from prefect.events.actions import DoNothing
    from prefect.events.schemas.automations import AutomationCore, EventTrigger

    def stray(name: str) -> AutomationCore:
        return AutomationCore(
            name=name, trigger=EventTrigger(expect={"pyros.nothing"}), actions=[DoNothing()]
        )

    with _client(instance) as client:
        client.create_automation(stray(f"{PREFIX}no longer declared"))
        client.create_automation(stray("an operator's own"))
        declared = {a.name for a in client.read_automations() if a.name.startswith(PREFIX)}
    # `pyros up` bootstrapped once; nine more applications, then a whole bootstrap again.
    env = _api_env(instance)
    subprocess.run(
        [sys.executable, "-c", APPLY_9_TIMES], env=env, check=True, capture_output=True, timeout=300
    )
    subprocess.run(
        [sys.executable, "-m", "app.prefect_bootstrap"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "prefect", "automation", "ls"],
        env={**env, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    with _client(instance) as client:
        names = [a.name for a in client.read_automations()]
    expected = {f"{PREFIX}{w.name} silent" for w in HEARTBEAT_WATCHERS}
    expected |= {f"{PREFIX}night block silent", f"{PREFIX}night block crashed"}
    expected |= {f"{PREFIX}device lost", f"{PREFIX}device back"}
    expected |= {f"{PREFIX}weather unsafe", f"{PREFIX}weather safe"}
    assert sorted(n for n in names if n.startswith(PREFIX)) == sorted(expected)
    assert names.count("an operator's own") == 1
    assert f"{PREFIX}no longer declared" in declared - expected
    for name in expected:
        assert listing.count(name) == 1, (name, listing)


def _monitor(instance) -> dict:
    status = json.loads(instance.pyros("status", "--json").stdout)
    (monitor,) = [p for p in status["processes"] if p["name"] == MONITOR]
    return dict(monitor)


def _silent_monitor_is_noticed_and_its_restart_asked(instance, engine) -> None:
    eventually(lambda: len(_beats(engine)) >= 2, within_s=60, what="two monitor heartbeats")
    (instance.home / "run" / f"hold-{MONITOR}").touch()
    os.kill(int(_monitor(instance)["pid"]), signal.SIGKILL)
    killed = time.monotonic()

    def notice() -> JournalEntry | None:
        found = [n for n in _journal(engine, "notice") if n.payload.get("subject")]
        return found[0] if found else None

    found = eventually(notice, within_s=120, what="the operator notice", every_s=0.5)
    print(f"\nmonitor killed -> notice journaled: {time.monotonic() - killed:.1f} s wall")
    assert found.payload["subject"] == f"{MONITOR} silent"
    assert "no heartbeat from the environment monitor for 15 s" in found.payload["message"]
    assert found.source == f"automation:{MONITOR}-silent"

    def answered() -> dict | None:
        steps = [
            n.payload
            for n in _journal(engine, "notice")
            if n.payload.get("step") == "answered" and n.payload.get("watcher") == MONITOR
        ]
        return steps[0] if steps else None

    answer = eventually(answered, within_s=120, what="the supervisor's answer", every_s=0.5)
    print(f"monitor killed -> restart asked and answered: {time.monotonic() - killed:.1f} s wall")
    assert answer["ok"] is False and answer["held"] is True
    assert _monitor(instance)["state"] == "held"


def _crashed_block_is_followed_by_a_new_one(instance) -> None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.states import Crashed, Scheduled

    with _client(instance) as client:
        deployment = client.read_deployment_by_name("execute-night/execute-night")
        later = datetime.now(UTC) + timedelta(days=1)
        doomed = client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=later)
        )
        client.set_flow_run_state(doomed.id, Crashed(message="test: worker killed"), force=True)
        crashed_at = time.monotonic()

        def new_block():
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["execute-night"])
                )
            )
            return [r for r in runs if r.id != doomed.id]

        (rerun,) = eventually(new_block, within_s=60, what="a new execute-night run", every_s=0.5)
        print(f"crash -> new block created: {time.monotonic() - crashed_at:.1f} s wall")
        assert rerun.created_by is not None and rerun.created_by.type == "AUTOMATION"

        def started():
            state = client.read_flow_run(rerun.id).state
            return state if state is not None and state.type.value == "RUNNING" else None

        eventually(started, within_s=90, what="the new block running", every_s=0.5)
        print(f"crash -> new block running: {time.monotonic() - crashed_at:.1f} s wall")


@pytest.mark.timeout(900)
def test_automations_once_a_silent_monitor_noticed_and_a_crashed_block_followed(instance, engine):
    start = START.isoformat().replace("+00:00", "Z")
    instance.env["PYROS_CLOCK"] = f"sim:{start}@1@{time.time():.3f}"
    instance.pyros("up", "--json", timeout=300)
    _ten_bootstraps_leave_each_automation_once(instance)
    _silent_monitor_is_noticed_and_its_restart_asked(instance, engine)
    _crashed_block_is_followed_by_a_new_one(instance)
