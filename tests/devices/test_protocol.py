"""Command lines, reply items and every command's argument checks."""

from __future__ import annotations

import json

import pytest

from devices.commands import (
    ABORT_COMMAND,
    DEVICE_COMMANDS,
    GATEWAY_COMMANDS,
    Access,
    DeviceKind,
    kind_of,
    validate,
)
from devices.errors import (
    BAD_ARGUMENT,
    DeviceError,
    DeviceTimeout,
    LeaseRefused,
    Preempted,
    ProtocolError,
    exception_for,
)
from devices.protocol import parse_command_line, parse_reply, reply_id


def test_the_seed_plc_command_parses(seed_dir):
    data = json.loads((seed_dir / "plc_status_command.json").read_text())
    line = parse_command_line(data)
    assert line.items == [{"name": "STATUS"}] and line.id is None
    assert validate(DeviceKind.PLC, line.items[0]).access is Access.READ


def test_the_seed_plc_reply_parses(seed_dir):
    data = json.loads((seed_dir / "plc_status_reply.json").read_text())
    items = parse_reply(data)
    assert items[0]["name"] == "STATUS" and reply_id(items) is None


def test_an_envelope_carries_id_owner_and_epoch():
    line = parse_command_line(
        {"id": 7, "command": {"name": "ABORT"}, "owner": "alert", "epoch": 3, "note": "x"}
    )
    assert (line.id, line.owner, line.epoch, line.extra) == (7, "alert", 3, {"note": "x"})
    assert line.items == [{"name": "ABORT"}]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "must be a JSON object"),
        ({}, '"command"'),
        ({"command": []}, "non-empty list"),
        ({"command": [{"name": "STATUS"}] * 17}, "at most 16"),
        ({"command": ["STATUS"]}, "must be an object"),
        ({"command": [{"nom": "STATUS"}]}, '"name"'),
        ({"command": [{"name": "STATUS"}], "id": True}, '"id"'),
        ({"command": [{"name": "STATUS"}], "epoch": -1}, '"epoch"'),
        ({"command": [{"name": "STATUS"}], "owner": ""}, '"owner"'),
    ],
)
def test_bad_envelopes_are_named(data, problem):
    with pytest.raises(ProtocolError) as caught:
        parse_command_line(data)
    assert caught.value.code == "bad_command" and problem in caught.value.message


def test_every_device_kind_has_status_and_control_commands_need_the_lease():
    for kind, commands in DEVICE_COMMANDS.items():
        assert commands["STATUS"].access is Access.READ
        for spec in commands.values():
            assert spec.needs_lease == (spec.access is Access.CONTROL)
        assert not set(commands) & set(GATEWAY_COMMANDS), kind


@pytest.mark.parametrize(
    ("kind", "item"),
    [
        ("mount", {"name": "GOTO", "ra_deg": 10, "dec_deg": -5.5}),
        ("mount", {"name": "PARK"}),
        ("mount", {"name": "ABORT"}),
        ("mount", {"name": "TRACKING", "on": False}),
        ("dome", {"name": "OPEN"}),
        ("dome", {"name": "CLOSE"}),
        ("camera", {"name": "SET_FILTER", "filter": "r"}),
        ("camera", {"name": "EXPOSE", "exposure_s": 30, "image_type": "flat", "path": "/a/b"}),
        ("plc", {"name": "SWITCH", "switch": "calibration_lamp", "on": True}),
        ("plc", {"name": "SWITCHES"}),
        ("plc", {"name": "CLAIM", "owner": "op", "priority": "operator", "wait_s": 1}),
        ("lamp", {"name": "LIGHT", "on": True}),
        ("lamp", {"name": "LIGHT", "on": False, "intensity": 128}),
        ("weather", {"name": "STATUS"}),
        ("weather", {"name": "HEALTH"}),
    ],
)
def test_valid_commands_pass(kind, item):
    validate(DeviceKind(kind), item)


@pytest.mark.parametrize(
    ("kind", "item", "problem"),
    [
        ("mount", {"name": "GOTO", "ra_deg": 360, "dec_deg": 0}, "ra_deg must be < 360"),
        ("mount", {"name": "GOTO", "ra_deg": 1, "dec_deg": 91}, "dec_deg must be <= 90"),
        ("mount", {"name": "GOTO", "ra_deg": "1", "dec_deg": 0}, "finite number"),
        ("mount", {"name": "GOTO", "ra_deg": True, "dec_deg": 0}, "finite number"),
        ("mount", {"name": "GOTO", "ra_deg": 1}, "missing argument dec_deg"),
        ("mount", {"name": "PARK", "now": 1}, "unknown argument(s) now"),
        ("mount", {"name": "TRACKING", "on": 1}, "true or false"),
        ("camera", {"name": "EXPOSE", "exposure_s": -1, "image_type": "light"}, ">= 0"),
        ("camera", {"name": "EXPOSE", "exposure_s": 1, "image_type": "sky"}, "not one of"),
        ("plc", {"name": "SWITCH", "switch": "heater", "on": True}, "not one of"),
        ("lamp", {"name": "LIGHT", "on": True, "intensity": -1}, "intensity must be >= 0"),
        ("lamp", {"name": "LIGHT", "on": "yes"}, "true or false"),
        ("plc", {"name": "CLAIM", "owner": "x", "priority": "urgent"}, "not one of"),
    ],
)
def test_bad_arguments_are_named(kind, item, problem):
    with pytest.raises(DeviceError) as caught:
        validate(DeviceKind(kind), item)
    assert caught.value.code == BAD_ARGUMENT and problem in caught.value.message


def test_unknown_commands_list_the_known_ones():
    with pytest.raises(ProtocolError) as caught:
        validate(DeviceKind.DOME, {"name": "GOTO"})
    assert caught.value.code == "unknown_command" and "OPEN" in caught.value.message
    with pytest.raises(ProtocolError):
        validate(DeviceKind.DOME, {"name": "CLAIM", "owner": "x", "priority": "safety"},
                 gateway=False)  # fmt: skip


def test_device_names_map_to_kinds():
    assert kind_of("camera_nir") is DeviceKind.CAMERA and kind_of("plc") is DeviceKind.PLC
    with pytest.raises(ValueError, match="unknown device"):
        kind_of("toaster")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("preempted", Preempted),
        ("lease_refused", LeaseRefused),
        ("device_timeout", DeviceTimeout),
        ("bad_json", ProtocolError),
        ("busy", DeviceError),
    ],
)
def test_error_codes_map_back_to_exceptions(code, kind):
    problem = exception_for({"code": code, "message": "m", "holder": "h"}, device="mount")
    assert type(problem) is kind and problem.detail == {"holder": "h"}
    assert problem.as_error() == {"code": code, "message": "m", "holder": "h"}


def test_a_weather_station_is_only_read():
    assert kind_of("weather") is DeviceKind.WEATHER
    assert [spec.access.value for spec in DEVICE_COMMANDS[DeviceKind.WEATHER].values()] == ["read"]
    assert ABORT_COMMAND[DeviceKind.WEATHER] is None
    with pytest.raises(ProtocolError, match="unknown command 'SWITCH' for a weather"):
        validate(DeviceKind.WEATHER, {"name": "SWITCH", "switch": "lights", "on": True})
