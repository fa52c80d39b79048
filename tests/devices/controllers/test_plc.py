"""The PLC controller: the seed's STATUS as typed readings, and switches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devices.errors import CommandRefused


@pytest.fixture
def plc_setup(seed_dir, fake_device, gateway_for, controller_for):
    seed = json.loads((seed_dir / "plc_status_reply.json").read_text())[0]
    fake = fake_device("plc", plc_status=seed)
    return seed, fake, controller_for(gateway_for("plc", fake))


def test_status_keeps_the_seed_reply_and_gives_typed_readings(plc_setup):
    seed, _, plc = plc_setup
    status = plc.status()
    assert status.raw == seed
    assert (status.station, status.site) == ("Beckhoff", "OSM-Mexico")
    assert status.date == datetime(2017, 3, 3, 13, 45, tzinfo=UTC)
    rain = status.value("DRD11", "digital")
    assert (rain.value, rain.unit, rain.valid) == (1, "bool", True)
    assert status.value("VantagePro", "OutsideTemp").valid is False  # "valid": "no"
    assert status.value("LAMP_FLAT_CAGIRE", "status").value == "on"
    assert len(status.readings) == 7 + 2 + 10 + 2 + 2
    assert status.gateway.health.connected


def test_switches_need_the_lease_and_known_names(plc_setup):
    _, fake, plc = plc_setup
    assert plc.switches()["lights"] is False
    with pytest.raises(CommandRefused, match="SWITCH needs the lease"):
        plc.lights(True)
    with plc.claim("operator", "operator"):
        assert plc.lights(True)["lights"] is True
        assert plc.calibration_lamp(True)["calibration_lamp"] is True
        assert plc.outlet(3, True)["outlet_3"] is True
        with pytest.raises(CommandRefused, match="unknown switch 'outlet_9'"):
            plc.outlet(9, True)
    assert [r.line["command"][0]["switch"] for r in fake.received("SWITCH")] == [
        "lights", "calibration_lamp", "outlet_3",
    ]  # fmt: skip
