"""The lamp controller (a light panel, ``[devices.lamp]``) through a real gateway in front of a
fake lamp: typed state, the lease, the intensity checked before anything is sent; and the choice
of the dome-flat lamp (the panel when configured, the PLC otherwise)."""

from __future__ import annotations

import pytest

from devices.controllers import (
    GatewayLamp,
    GatewayPlc,
    LampLight,
    connect_flat_lamp,
    connect_lamp,
    link_to,
)
from devices.errors import CommandRefused
from infra.config import get_config, parse_config


@pytest.fixture
def lamp_setup(fake_device, gateway_for, controller_for):
    fake = fake_device("lamp")
    return fake, controller_for(gateway_for("lamp", fake))


def _lights(fake) -> list[dict]:
    return [r.line["command"][0] for r in fake.received("LIGHT")]


def test_status_is_typed(lamp_setup):
    _, lamp = lamp_setup
    state = lamp.status()
    assert state.light is LampLight.OFF and not state.on
    assert state.intensity == 0.0
    assert state.gateway.health.connected


def test_switching_needs_the_lease_and_sends_the_intensity_asked(lamp_setup):
    fake, lamp = lamp_setup
    with pytest.raises(CommandRefused, match="LIGHT needs the lease"):
        lamp.switch(True)
    with lamp.claim("calibrate", "routine"):
        state = lamp.switch(True, intensity=80)
        assert state.on and state.intensity == 80.0
        assert lamp.calibration_lamp(False).light is LampLight.OFF
    assert _lights(fake) == [
        {"name": "LIGHT", "on": True, "intensity": 80.0},
        {"name": "LIGHT", "on": False},
    ]
    assert [r.line["owner"] for r in fake.received("LIGHT")] == ["calibrate"] * 2


@pytest.mark.parametrize("intensity", [-1.0, 1e9, float("nan")])
def test_a_bad_intensity_is_refused_before_anything_is_sent(lamp_setup, intensity):
    fake, lamp = lamp_setup
    with (
        lamp.claim("operator", "operator"),
        pytest.raises(CommandRefused, match=r"intensity .* is not in"),
    ):
        lamp.switch(True, intensity=intensity)
    assert _lights(fake) == []


def _with_lamp() -> object:
    data = get_config().model_dump(mode="json")
    data["devices"]["lamp"] = {
        "host": "127.0.0.1",
        "port": 7624,
        "driver": "indi",
        "indi_device": "Light Panel Simulator",
    }
    return parse_config(data)


def test_the_flat_lamp_is_the_panel_when_configured_and_the_plc_otherwise():
    plain = get_config()
    plc = connect_flat_lamp(plain)
    panel = connect_flat_lamp(_with_lamp())
    try:
        assert isinstance(plc, GatewayPlc) and plc.device == "plc"
        assert isinstance(panel, GatewayLamp) and panel.device == "lamp"
    finally:
        plc.disconnect()
        panel.disconnect()
    with pytest.raises(ValueError, match=r"no device 'lamp' is configured \(\[devices\.lamp\]\)"):
        connect_lamp(plain)
    with pytest.raises(ValueError, match="no device 'lamp'"):
        link_to("lamp", plain)
