"""Two simulated hours at 60× with random faults (from the scenario and live from the control
channel) while every device is driven through real gateways: no simulator crash, no leaked
descriptor or socket, every device back at the end. About two wall minutes; the figures are also
``make bench B=simulators`` (docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from tests.simulators.soak import DEVICES, run_soak

pytestmark = pytest.mark.integration


def test_two_hours_at_60x_with_random_faults(tmp_path):
    figures = run_soak(hours=2.0, speed=60.0, work_dir=tmp_path)
    print(json.dumps(figures))
    assert figures["crashed"] is False and figures["exit_code"] == 0
    assert figures["simulated_seconds"] >= 7200.0
    assert figures["scenario_faults"] >= 10 and figures["live_faults"] >= 5
    assert figures["live_faults_refused"] == 0
    assert figures["faults_in_force_at_end"] == 0
    assert figures["gateways_connected_at_end"] == len(DEVICES)
    # No leaked descriptor or connection (threads are reported, pools grow on first use).
    assert "fds" not in figures["leaks"] and "tcp" not in figures["leaks"], figures["leaks"]
    assert all(count > 0 for count in figures["commands_ok"].values()), figures["commands_ok"]
    seen = {kind for errors in figures["errors_seen"].values() for kind in errors}
    assert not any(kind.startswith("unexpected") for kind in seen), seen
    assert len(seen & {"DeviceTimeout", "ProtocolError", "DeviceDisconnected", "DeviceError"}) >= 3
    assert all(count > 0 for count in figures["frames"].values())
