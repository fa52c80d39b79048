"""Misbehaviour on demand: each fault kind, injected by a scenario and by the ``pyros simulators
fault`` command, is seen by a real gateway as the right error, and the device comes back when the
fault ends."""

from __future__ import annotations

import time

import pytest

from app.cli.main import main as pyros
from devices.astrometry import radec_deg
from devices.errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceProblem,
    DeviceTimeout,
    ProtocolError,
)
from simulators.faults import FaultError, fault_kind
from simulators.scenario import parse_scenario
from tests.support.waiting import eventually

SPEED = 20.0
FAULT_S = 20.0  # simulated: one wall second at SPEED
#: A slow reply is cut short when its fault ends: a slow fault outlasts the gateway's timeout.
SLOW_FAULT_S = 50.0
#: kind -> (device, what the gateway's client sees)
CASES = {
    "silent": ("mount", DeviceTimeout),
    "garbage": ("plc", ProtocolError),
    "disconnect": ("dome", DeviceDisconnected),
    "slow": ("camera_nir", DeviceTimeout),
    "fault": ("mount", DeviceError),
}


def _eventually(check, within_s: float, what: str):
    """``check()`` truthy within ``within_s`` (polled every 20 ms; a device problem: not yet)."""
    return eventually(check, within_s=within_s, what=what, every_s=0.02, retry_on=DeviceProblem)


def _control_command(bench, device: str) -> tuple[str, dict]:
    if device == "mount":
        ra, dec = radec_deg(60.0, 180.0, bench.clock.now(), bench.config.site)
        return "GOTO", {"ra_deg": ra, "dec_deg": dec}
    return "OPEN", {}


@pytest.mark.parametrize("via", ["scenario", "command"])
@pytest.mark.parametrize("kind", list(CASES))
def test_each_fault_is_the_right_error_at_the_gateway_and_ends(rig, kind, via):
    device, expected = CASES[kind]
    duration = SLOW_FAULT_S if kind == "slow" else FAULT_S
    scenario = None
    if via == "scenario":
        item = {"device": device, "kind": kind, "duration": duration}
        scenario = parse_scenario([120, {"time": 2.0, "faultSimulator": item}], "faults.json")
    bench = rig(speed=SPEED, scenario=scenario, gateways=(device,))
    gateway = bench.gateway(device)
    assert gateway.call("STATUS").get("state") != "fault"
    lease = gateway.call("CLAIM", {"owner": "fault-test", "priority": "operator"})
    envelope = {"owner": "fault-test", "epoch": lease["epoch"]}
    if via == "command":
        assert pyros(["simulators", "fault", device, kind, "--for", str(duration)]) == 0
    board = bench.observatory.faults
    _eventually(lambda: board.active(device), 5.0, f"{kind} fault on {device}")

    if kind == "fault":
        status = gateway.call("STATUS")
        assert status["state"] == "fault"
        name, args = _control_command(bench, device)
        with pytest.raises(DeviceError) as refused:
            gateway.call(name, args, **envelope)
        assert refused.value.code == "fault" and "hardware fault" in refused.value.message
    else:
        with pytest.raises(expected) as seen:
            gateway.call("STATUS")
        assert type(seen.value) is expected, seen.value
        assert seen.value.message.startswith(device)

    # The fault ends on the simulated clock, and the device is back.
    _eventually(lambda: board.active(device) is None, 10.0, f"end of the {kind} fault")
    status = _eventually(lambda: gateway.call("STATUS"), 10.0, f"{device} back after {kind}")
    assert status.get("state") != "fault"
    assert status["gateway"]["health"]["connected"] is True
    if device in ("mount", "dome"):
        name, args = _control_command(bench, device)
        assert "error" not in gateway.call(name, args, **envelope)
    history = [(h["event"], h["kind"], h["source"]) for h in board.history]
    assert history == [("start", kind, via), ("end", kind, via)]


def test_a_fault_until_cleared_and_the_clear_command(rig):
    bench = rig(speed=SPEED, gateways=("plc",))
    gateway = bench.gateway("plc")
    assert pyros(["simulators", "fault", "plc", "garbage"]) == 0
    with pytest.raises(ProtocolError):
        gateway.call("STATUS")
    bench.clock.sleep(20.0)
    assert bench.observatory.faults.active("plc") is not None  # no duration: until cleared
    assert pyros(["simulators", "fault", "plc", "clear"]) == 0
    assert gateway.call("STATUS")["from"] == "Beckhoff"


def test_bad_fault_requests_are_refused_with_their_reason(rig, capsys):
    rig(speed=SPEED)
    assert pyros(["simulators", "fault", "telescope", "silent"]) == 2
    assert "unknown device 'telescope'" in capsys.readouterr().err
    assert pyros(["simulators", "fault", "mount", "explode"]) == 2
    assert "unknown fault kind 'explode'" in capsys.readouterr().err
    assert pyros(["simulators", "fault", "mount", "silent", "--for", "0"]) == 2
    assert fault_kind("hardware failure") == "fault" and fault_kind("Stop-Answering") == "silent"
    with pytest.raises(FaultError):
        fault_kind("melt")


def test_the_fault_command_without_simulators_says_so(tmp_path, capsys):
    assert pyros(["simulators", "fault", "mount", "silent"]) == 3
    assert "no simulators running" in capsys.readouterr().err


def test_a_slow_device_answers_late_but_within_a_long_enough_timeout(rig):
    bench = rig(speed=SPEED)
    direct = bench.device("mount", timeout_s=5.0)
    bench.observatory.inject_fault("mount", "slow", FAULT_S, delay_s=0.3)
    started = time.monotonic()
    assert direct.call("STATUS")["state"] == "parked"
    assert time.monotonic() - started >= 0.3  # a lower bound: the reply was held back
