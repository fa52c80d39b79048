"""The ``[security]`` section: loopback by default, another address only when listed."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from infra.config_security import is_loopback


def _data(**security) -> dict:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    if security:
        data["security"] = security
    return data


def test_the_defaults_listen_on_loopback_and_serve_loopback_only():
    config = load_config()
    assert config.security.bind_hosts == []
    assert config.security.peer_networks() == ()
    assert is_loopback(config.gateways.host)
    assert all(is_loopback(e.host) for e in config.devices.configured().values())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.53", True), ("localhost", True), ("::1", True),
     ("0.0.0.0", False), ("192.0.2.2", False), ("example.org", False), ("::", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_gateway_host_off_loopback_must_be_listed():
    data = _data()
    data["gateways"]["host"] = "0.0.0.0"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "site.toml")
    assert (
        "gateways.host: '0.0.0.0' is not a loopback address; list it in [security] bind_hosts"
        in str(caught.value)
    )
    data["security"] = {"bind_hosts": ["0.0.0.0"], "allowed_peers": ["192.0.2.0/24"]}
    config = parse_config(data, "site.toml")
    assert config.gateways.host == "0.0.0.0"
    assert [str(n) for n in config.security.peer_networks()] == ["192.0.2.0/24"]


@pytest.mark.parametrize(
    ("security", "problem"),
    [
        ({"bind_hosts": ["a.lan"]}, "security.bind_hosts: 'a.lan' is not an IP address"),
        ({"allowed_peers": ["10.0.0.0/33"]}, "'10.0.0.0/33' is not a network (CIDR, e.g. 10."),
        ({"allowed_peers": ["everyone"]}, "'everyone' is not a network"),
        ({"allow": True}, "security.allow: unknown key"),
    ],
)  # fmt: skip
def test_bad_values_are_named(security, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(_data(**security), "site.toml")
    assert problem in str(caught.value)


def test_an_observatory_weather_station_off_loopback_is_accepted_and_served_on_loopback():
    data = _data()
    data["devices"]["weather"] = {"host": "192.0.2.20", "port": 7624, "driver": "indi",
                                  "indi_device": "Vantage"}  # fmt: skip
    config = parse_config(data, "site.toml")
    assert config.devices.weather is not None and config.devices.weather.host == "192.0.2.20"
    assert is_loopback(config.gateways.host)  # its gateway still listens on loopback only
