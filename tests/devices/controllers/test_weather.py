"""The weather station controller (``[devices.weather]``) through a real gateway in front of a
fake station: typed state with every parameter's light, read without a lease, a malformed reply
refused; and ``connect_weather_station`` only for a site that has one."""

from __future__ import annotations

import pytest

from devices.controllers import (
    GatewayWeatherStation,
    WeatherLight,
    connect_weather_station,
    link_to,
)
from devices.errors import ProtocolError
from infra.config import get_config, parse_config


@pytest.fixture
def station_setup(fake_device, gateway_for, controller_for):
    fake = fake_device("weather")
    return fake, controller_for(gateway_for("weather", fake))


def test_status_is_typed_and_needs_no_lease(station_setup):
    fake, station = station_setup
    state = station.status()
    assert state.station == "Fake Station" and state.light is WeatherLight.OK
    assert state.parameter("WEATHER_RAIN_HOUR").value == 0.0
    assert state.gateway.health.connected
    fake.state["parameters"] = [
        {"name": "WEATHER_RAIN_HOUR", "value": 12.0, "light": "ALERT"},
        {"name": "WEATHER_WIND_SPEED", "value": 30.0, "light": "WARNING"},
    ]
    state = station.status()
    assert state.light is WeatherLight.ALERT
    assert [(p.name, p.value) for p in state.alerts] == [("WEATHER_RAIN_HOUR", 12.0)]
    assert [r.owner for r in fake.received("STATUS")] == [None, None]


def test_a_malformed_station_reply_is_a_protocol_error(station_setup):
    fake, station = station_setup
    fake.state["parameters"] = [{"name": "WEATHER_RAIN_HOUR", "value": 1.0, "light": "PURPLE"}]
    with pytest.raises(ProtocolError, match="weather: malformed weather STATUS"):
        station.status()


def test_connect_weather_station_needs_the_section():
    plain = get_config()
    with pytest.raises(ValueError, match=r"no device 'weather' is configured \(\[devices\.weather"):
        connect_weather_station(plain)
    with pytest.raises(ValueError, match="no device 'weather'"):
        link_to("weather", plain)
    data = plain.model_dump(mode="json")
    data["devices"]["weather"] = {"host": "127.0.0.1", "port": 7624, "driver": "indi",
                                  "indi_device": "Weather Simulator"}  # fmt: skip
    station = connect_weather_station(parse_config(data))
    try:
        assert isinstance(station, GatewayWeatherStation) and station.device == "weather"
    finally:
        station.disconnect()
