"""A weather station of its own (``[devices.weather]``): a gateway driving INDI's
``indi_simulator_weather`` on a real ``indiserver`` (free port, temporary home): its parameters
and lights as PyROS reads them, the rain parameter turned to ALERT and back as ``indi_setprop``
sets it, and a dead server reported ``lost`` as for any device."""

from __future__ import annotations

import pytest

from devices.controllers import GatewayWeatherStation, WeatherLight
from devices.gateway.fleet import build_gateway
from tests.support.indi import WEATHER, IndiServer, indi_missing, set_rain, weather_site
from tests.support.indi_gateways import assert_lost_when_the_server_stops, indi_devices
from tests.support.waiting import wait_until

PROGRAM, DEVICE = WEATHER
MISSING = indi_missing((PROGRAM,))
needs_indi = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def test_the_fleet_builds_an_indi_gateway_for_a_configured_station():
    gateway = build_gateway("weather", weather_site(7624))
    assert type(gateway._upstream).__name__ == "IndiUpstream"
    assert type(gateway._upstream.driver).__name__ == "StationDriver"


@needs_indi
def test_the_station_parameters_and_its_alert_as_indi_sets_them(tmp_path):
    with IndiServer((PROGRAM,)) as server:
        config = weather_site(server.port)
        with indi_devices(config, tmp_path, ("weather",)) as (gateways, controller):
            station: GatewayWeatherStation = controller("weather")
            state = station.status()
            assert state.station == DEVICE and state.light is WeatherLight.OK, state
            rain = state.parameter("WEATHER_RAIN_HOUR")
            assert rain is not None and rain.value == 0.0 and rain.light is WeatherLight.OK
            assert state.parameter("WEATHER_WIND_SPEED") is not None
            assert gateways["weather"].health.snapshot()["state"] == "up"

            set_rain(server.port, 10.0)
            assert wait_until(lambda: station.status().light is WeatherLight.ALERT, 5, 0.05)
            state = station.status()
            assert [(p.name, p.value) for p in state.alerts] == [("WEATHER_RAIN_HOUR", 10.0)]

            set_rain(server.port, 0.0)
            assert wait_until(lambda: station.status().light is WeatherLight.OK, 5, 0.05)


@needs_indi
def test_a_dead_indi_server_is_reported_lost(tmp_path):
    with IndiServer((PROGRAM,)) as server:
        config = weather_site(server.port)
        with indi_devices(config, tmp_path, ("weather",)) as (gateways, controller):
            station = controller("weather")
            assert station.status().light in set(WeatherLight)
            assert_lost_when_the_server_stops(server, gateways["weather"], station.status)
