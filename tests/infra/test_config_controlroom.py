"""The ``[controlroom]`` section: loopback by default, a remote address only when ``[security]
bind_hosts`` lists it (one rule for every listener)."""

from __future__ import annotations

import tomllib

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from infra.config_controlroom import ControlRoomSection
from infra.config_security import is_loopback


def _data(**section) -> dict:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["controlroom"].update(section)
    return data


def test_the_defaults_serve_previews_on_loopback():
    room = load_config(DEFAULT_CONFIG_PATH).controlroom
    assert room.previews_enabled and room.previews_host == "127.0.0.1"
    assert room.previews_base_url() == f"http://127.0.0.1:{room.previews_port}"
    assert room == ControlRoomSection()  # the bundled file says what the code defaults to


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"previews_host": "0.0.0.0"}, "controlroom.previews_host: '0.0.0.0' is not a loopback"),
        ({"previews_allow_remote": True}, "previews_allow_remote"),  # gone: [security] rules
        ({"previews_port": 0}, "controlroom.previews_port"),
        ({"preview_stretch": "log"}, "controlroom.preview_stretch"),
        ({"previews_keep": 0}, "controlroom.previews_keep"),
        ({"nrt_artifact_frames": 0}, "controlroom.nrt_artifact_frames"),
    ],
)
def test_invalid_settings_are_refused_naming_key_and_problem(section, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(_data(**section), "site.toml")
    assert expected in str(error.value)


def test_a_remote_address_is_accepted_when_security_lists_it():
    data = _data(previews_host="0.0.0.0")
    data["security"] = {"bind_hosts": ["0.0.0.0"]}
    room = parse_config(data).controlroom
    assert room.previews_base_url() == f"http://127.0.0.1:{room.previews_port}"
    room = parse_config(_data(previews_host="::1")).controlroom
    assert room.previews_base_url() == f"http://[::1]:{room.previews_port}"


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("10.0.0.5", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback
