"""The emit helper journals every event and only talks to Prefect when an API is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import JournalEntry
from infra.events import ALL_EVENTS, WEATHER_UNSAFE, emit


def test_required_event_names_exist():
    required = {
        "pyros.weather.unsafe",
        "pyros.weather.safe",
        "pyros.alert.received",
        "pyros.alert.follow-up",
        "pyros.image.acquired",
        "pyros.sequence.executed",
        "pyros.sequence.interrupted",
        "pyros.schedule.updated",
        "pyros.nrt.candidate",
        "pyros.device.lost",
        "pyros.device.back",
        "pyros.watcher.heartbeat",
    }
    assert required <= ALL_EVENTS


def test_emit_journals_the_event_with_mode_and_simulated_time(engine, sim_clock):
    message = emit(WEATHER_UNSAFE, "pyros.site.colibri", {"reason": "rain"}, source="monitor")
    assert message["resource"]["pyros.mode"] == "live"
    assert message["payload"]["sim_time"] == "2026-11-25T02:00:00Z"
    with session_scope(engine) as session:
        entry = session.scalars(select(JournalEntry)).one()
        assert (entry.kind, entry.source) == ("event", "monitor")
        assert entry.payload["event"] == WEATHER_UNSAFE
        assert entry.payload["payload"]["reason"] == "rain"
        assert entry.sim_time == sim_clock.now()


@pytest.mark.parametrize("name", ["weather.unsafe", "pyros.weather.unsafe "])
def test_bad_event_names_are_refused(name):
    with pytest.raises(ValueError, match=r"start with 'pyros\.'"):
        emit(name, "pyros.site.colibri")


def test_related_resources_need_a_role():
    with pytest.raises(ValueError, match=r"prefect\.resource\.role"):
        emit(
            WEATHER_UNSAFE,
            "pyros.site.colibri",
            related=[{"prefect.resource.id": "x"}],
        )


def test_without_prefect_api_url_emit_never_imports_prefect(engine, tmp_path):
    """No temporary Prefect server, not even the import: checked in a fresh process."""
    code = (
        "import sys, json\n"
        "from infra.events import emit\n"
        "emit('pyros.watcher.heartbeat', 'pyros.watcher.test', {'n': 1})\n"
        "print(json.dumps({'prefect_imported': 'prefect' in sys.modules}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"prefect_imported": False}
    with session_scope(engine) as session:
        assert session.scalars(select(JournalEntry.kind)).all() == ["event"]


@pytest.mark.prefect
@pytest.mark.xdist_group("prefect")
def test_with_prefect_configured_the_event_reaches_the_server(engine, prefect_harness):
    import asyncio

    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    async def scenario() -> dict:
        # This test's resource only: a monitor of an earlier test in this process may still
        # have heartbeats in Prefect's client queue, delivered after the subscription starts.
        event_filter = EventFilter(
            event=EventNameFilter(name=["pyros.watcher.heartbeat"]),
            resource=EventResourceFilter(id=["pyros.watcher.harness"]),
        )
        async with get_events_subscriber(filter=event_filter) as subscriber:
            await asyncio.sleep(0.5)
            emit("pyros.watcher.heartbeat", "pyros.watcher.harness", {"n": 42})
            received = await asyncio.wait_for(subscriber.__anext__(), timeout=30)
            return {
                "event": received.event,
                "resource": dict(received.resource),
                "payload": received.payload,
            }

    got = asyncio.run(scenario())
    assert got["event"] == "pyros.watcher.heartbeat"
    assert got["resource"]["prefect.resource.id"] == "pyros.watcher.harness"
    assert got["resource"]["pyros.mode"] == "live"
    assert got["payload"]["n"] == 42


def test_prefects_drain_progress_lines_are_kept_off_stderr():
    import logging

    from infra.events import _quiet_event_worker

    _quiet_event_worker()
    worker_log = logging.getLogger("EventsWorker")
    progress = worker_log.makeRecord(
        "EventsWorker", logging.WARNING, __file__, 1,
        "Still processing items: 2 items remaining...", (), None,
    )  # fmt: skip
    dropped = worker_log.makeRecord(
        "EventsWorker", logging.WARNING, __file__, 1, "queue is full, dropping item", (), None
    )
    assert not worker_log.filter(progress) and worker_log.filter(dropped)
