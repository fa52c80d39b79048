"""The ``[gateways]`` section: defaults, and every bad value named."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def _data() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def test_the_defaults_avoid_prefect_and_the_device_ports():
    config = load_config()
    ports = config.gateways.ports.model_dump()
    assert ports == {"mount": 5100, "camera_vis": 5101, "camera_nir": 5102, "plc": 5103,
                     "dome": 5104, "lamp": 5105, "weather": 5106}  # fmt: skip
    device_ports = {endpoint.port for endpoint in config.devices.configured().values()}
    assert not set(ports.values()) & (device_ports | {4200})
    assert config.gateways.heartbeat_s * 2 <= config.gateways.lease_ttl_s


def test_a_site_file_without_the_section_gets_the_defaults():
    data = _data()
    del data["gateways"]
    assert parse_config(data).gateways == load_config().gateways


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"heartbeat_s": 6.0}, "heartbeat_s (6.0) must be at most half of lease_ttl_s (10.0)"),
        ({"lease_ttl_s": 0}, "gateways.lease_ttl_s: Input should be greater than 0"),
        ({"reconnect_initial_s": 3.0}, "reconnect_max_s must be >= reconnect_initial_s"),
        ({"ports": {"mount": 4200}}, "ports.mount: 4200 is Prefect's API port"),
        ({"ports": {"dome": 5100}}, "ports.dome and ports.mount share port 5100"),
        (
            {"ports": {"plc": 5003}},
            "gateways.ports.plc: 127.0.0.1:5003 is the endpoint of device plc",
        ),
        ({"ports": {"plc": 70000}}, "gateways.ports.plc: Input should be less than or equal"),
        ({"heartbeat": 1}, "gateways.heartbeat: unknown key"),
    ],
)
def test_bad_values_are_named(change, problem):
    data = _data()
    for key, value in change.items():
        if isinstance(value, dict):
            data["gateways"][key].update(value)
        else:
            data["gateways"][key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "site.toml")
    assert problem in str(caught.value)


def _weather_station(data: dict, **keys: object) -> dict:
    data["devices"]["weather"] = {"host": "127.0.0.1", "port": 7624, "driver": "indi",
                                  "indi_device": "Weather Simulator", **keys}  # fmt: skip
    return data


def test_a_configured_weather_station_gets_the_gateway_port_5106():
    config = parse_config(_weather_station(_data()))
    assert config.gateways.ports.weather == 5106
    assert list(config.devices.configured())[-1] == "weather"
    assert load_config().devices.weather is None  # optional: absent from the bundled site


def test_a_weather_station_on_a_gateway_port_is_named():
    with pytest.raises(ConfigError) as caught:
        parse_config(_weather_station(_data(), port=5106), "site.toml")
    assert "gateways.ports.weather: 127.0.0.1:5106 is the endpoint of device weather" in str(
        caught.value
    )
