"""The light panel as the dome-flat lamp: a gateway driving INDI's ``indi_simulator_lightpanel``
on a real ``indiserver`` (free port, temporary home): on, off and the intensity as the INDI
property itself says (``indi_getprop``), and a dead server reported ``lost`` as for any device."""

from __future__ import annotations

import pytest

from devices.controllers import GatewayLamp, LampLight
from devices.gateway.fleet import build_gateway
from tests.support.indi import LIGHT_PANEL, IndiServer, indi_missing, lamp_site
from tests.support.indi_gateways import assert_lost_when_the_server_stops, indi_devices
from tests.support.indi_night import indi_props

PROGRAM, DEVICE = LIGHT_PANEL
MISSING = indi_missing((PROGRAM,))
needs_indi = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _panel(port: int) -> dict[str, str]:
    """What the INDI simulator itself says of its light and intensity."""
    return indi_props(
        port,
        f"{DEVICE}.FLAT_LIGHT_CONTROL.FLAT_LIGHT_ON",
        f"{DEVICE}.FLAT_LIGHT_INTENSITY.FLAT_LIGHT_INTENSITY_VALUE",
    )


def test_the_fleet_builds_an_indi_gateway_for_a_configured_lamp():
    gateway = build_gateway("lamp", lamp_site(7624))
    assert type(gateway._upstream).__name__ == "IndiUpstream"
    assert type(gateway._upstream.driver).__name__ == "LampDriver"


@needs_indi
def test_the_panel_switches_on_and_off_as_the_indi_property_says(tmp_path):
    with IndiServer((PROGRAM,)) as server:
        config = lamp_site(server.port, intensity=40)
        with indi_devices(config, tmp_path, ("lamp",)) as (gateways, controller):
            lamp: GatewayLamp = controller("lamp")
            assert lamp.status().light is LampLight.OFF
            assert gateways["lamp"].health.snapshot()["state"] == "up"
            with lamp.claim("calibrate", "routine"):
                state = lamp.calibration_lamp(True)  # the configured intensity first
                assert state.light is LampLight.ON and state.intensity == pytest.approx(40)
                seen = _panel(server.port)
                assert seen[f"{DEVICE}.FLAT_LIGHT_CONTROL.FLAT_LIGHT_ON"] == "On"
                assert float(
                    seen[f"{DEVICE}.FLAT_LIGHT_INTENSITY.FLAT_LIGHT_INTENSITY_VALUE"]
                ) == pytest.approx(40)
                assert lamp.switch(True, intensity=120).intensity == pytest.approx(120)
                assert lamp.calibration_lamp(False).light is LampLight.OFF
            assert _panel(server.port)[f"{DEVICE}.FLAT_LIGHT_CONTROL.FLAT_LIGHT_ON"] == "Off"
            assert lamp.status().light is LampLight.OFF


@needs_indi
def test_a_dead_indi_server_is_reported_lost(tmp_path):
    with IndiServer((PROGRAM,)) as server:
        config = lamp_site(server.port)
        with indi_devices(config, tmp_path, ("lamp",)) as (gateways, controller):
            lamp = controller("lamp")
            assert lamp.status().light in set(LampLight)
            assert_lost_when_the_server_stops(server, gateways["lamp"], lamp.status)
