"""The database's device rows follow the configured devices: the five of the default site, and
the light panel too when ``[devices.lamp]`` is configured."""

from __future__ import annotations

from sqlalchemy import select

from infra.config import load_config, parse_config
from infra.db import session_scope
from infra.db.bootstrap import init_database
from infra.db.models import Device


def _devices(engine) -> dict[str, tuple[str, int]]:
    with session_scope(engine) as session:
        return {d.name: (d.kind, d.port) for d in session.scalars(select(Device))}


def test_the_lamp_gets_a_device_row_only_when_configured(engine):
    init_database(engine, load_config())
    assert set(_devices(engine)) == {"mount", "dome", "plc", "camera_vis", "camera_nir"}
    data = load_config().model_dump(mode="json")
    data["devices"]["lamp"] = {
        "host": "127.0.0.1",
        "port": 7624,
        "driver": "indi",
        "indi_device": "Light Panel Simulator",
    }
    report = init_database(engine, parse_config(data))
    assert "device lamp" in report.created
    assert _devices(engine)["lamp"] == ("lamp", 7624)
