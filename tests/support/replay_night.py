"""A short recorded night for replay tests: the night scenario's requests and a PLC reading a
minute, with rain (12 mm/h) for half an hour from 12 minutes into the dark night."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from infra.clock import DiscreteEventClock
from infra.config import SiteConfig
from infra.db.bootstrap import init_database
from infra.db.engine import create_pyros_engine
from infra.journal import KIND_PLC, record
from tasks.replay.engine import replay_night
from tasks.replay.inputs import load_inputs
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling.night_times import night_for

NIGHT = "2026-11-24"
SCENARIO = Path(__file__).resolve().parents[2] / "simulators" / "data" / "scenarios" / "night"
SEED_REPLY = Path(__file__).resolve().parents[2] / "simulators" / "data" / "plc_status_reply.json"
RAIN_MM_H = 12.0


def plc_reply(at: datetime, rain_mm_h: float) -> list[dict[str, Any]]:
    """The seed's STATUS reply dated ``at``, its rain rate set, the flat lamp off."""
    reply = copy.deepcopy(json.loads(SEED_REPLY.read_text(encoding="utf-8")))
    status = reply[0]
    status["date"] = at.strftime("%Y-%m-%dT%H:%M:%S")
    for device in status["device"]:
        for value in device["values"]:
            if value["name"] == "RainRate":
                value["value"] = rain_mm_h
            if device["name"].startswith("LAMP") and value["name"] == "status":
                value["value"] = "off"
    return reply


def record_inputs(
    engine: Engine,
    config: SiteConfig,
    *,
    hours: float = 2.0,
    requests: int = 10,
    plc_every_s: float = 60.0,
) -> tuple[datetime, datetime]:
    """Journal a night's inputs in ``engine``: ``requests`` submissions every 5 minutes from the
    evening (the scenario's ten requests in turn), a PLC reading every ``plc_every_s`` until
    ``hours`` into the dark night, rain from 12 to 42 minutes into it.

    Returns the first and the last instant journaled.
    """
    night = night_for(NIGHT, config)
    assert night.sunset is not None and night.start is not None
    start = night.sunset - timedelta(seconds=config.night.evening_lead_s)
    end = night.start + timedelta(hours=hours)
    rain = (night.start + timedelta(minutes=12), night.start + timedelta(minutes=42))
    init_database(engine, config)
    clock = DiscreteEventClock(start)
    files = sorted(SCENARIO.glob("night_request_*.xml"))
    for index in range(requests):
        path = files[index % len(files)]
        at = start + timedelta(seconds=60 + 300 * index)
        clock.sleep_until(at)
        ingest_request_bytes(
            path.read_bytes(), path.name, engine=engine, config=config, clock=clock, again=True
        )
    at = start
    while at <= end:
        rate = RAIN_MM_H if rain[0] <= at < rain[1] else 0.0
        record(KIND_PLC, "plc", plc_reply(at, rate), sim_time=at, into=engine)
        at += timedelta(seconds=plc_every_s)
    return start, end


def recorded_night_database(directory: Path, config: SiteConfig, hours: float = 1.0) -> str:
    """A database holding a night *as recorded*: the inputs of :func:`record_inputs` run once
    through the replay engine into ``directory/night.db``; returns its URL."""
    inputs = create_pyros_engine(f"sqlite:///{directory / 'inputs.db'}")
    record_inputs(inputs, config, hours=hours, requests=4)
    url = f"sqlite:///{directory / 'night.db'}"
    night = create_pyros_engine(url)
    replay_night(load_inputs(inputs, NIGHT), config, night)
    inputs.dispose()
    night.dispose()
    return url
