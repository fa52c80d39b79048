"""``pyros simulators start`` as a process: runs until SIGTERM and stops cleanly (ports closed,
state file gone), one instance per home, clear errors for a taken port or a bad scenario."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import pyros_command, run_pyros
from tests.support.ports import listening
from tests.support.stack_site import write_site_with_free_ports


@pytest.fixture
def home(tmp_path) -> tuple[Path, dict[str, str], dict[str, int]]:
    """A PYROS_HOME whose site file puts the devices on free ports, small frames."""
    home = tmp_path / "home"
    home.mkdir()
    ports = write_site_with_free_ports(home / "site.toml", frame_px=64).devices
    env = {**os.environ, "PYROS_HOME": str(home)}
    env.pop("PYROS_SITE_CONFIG", None)
    return home, env, ports


def _start(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        pyros_command("simulators", "start", *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_running(process: subprocess.Popen) -> list[str]:
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "simulators running" in line:
            return lines
    process.kill()
    raise AssertionError("simulators did not start:\n" + "\n".join(lines))


def test_start_runs_until_sigterm_then_stops_cleanly(home):
    path, env, ports = home
    process = _start(env)
    try:
        lines = _wait_running(process)
        assert f"simulator mount: 127.0.0.1:{ports['mount']}" in lines
        assert all(listening(port) for port in ports.values())
        state = json.loads((path / "run" / "simulators.json").read_text())
        assert (
            state["pid"] == process.pid
            and oct((path / "run" / "simulators.json").stat().st_mode)[-3:] == "600"
        )
        second = run_pyros("simulators", "start", env=env)
        assert second.returncode == 3 and "already running" in second.stderr
        status = run_pyros("simulators", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["devices"]["dome"]["state"] == "closed"
        fault = run_pyros("simulators", "fault", "mount", "silent", "--for", "60", env=env)
        assert fault.returncode == 0 and "mount: silent until" in fault.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "simulators stopped" in process.stdout.read()
    assert not any(listening(port) for port in ports.values())
    assert not (path / "run" / "simulators.json").exists()
    after = run_pyros("simulators", "status", env=env)
    assert after.returncode == 3 and "no simulators running" in after.stderr


def test_stop_at_end_of_a_scenario(home, tmp_path):
    _, env, _ports = home
    scenario = tmp_path / "short.json"
    scenario.write_text(
        json.dumps(
            [
                1,
                {
                    "time": 0.2,
                    "plcSimulator": {"device_name": "DRD11", "value_name": "digital", "value": 0},
                },
            ]
        ),
        encoding="utf-8",
    )
    done = run_pyros("simulators", "start", "--scenario", str(scenario), "--stop-at-end", env=env)
    assert done.returncode == 0, done.stderr
    assert (
        "scenario t=0.2 plcSimulator: done: DRD11.digital = 0 (was 1)" in done.stdout + done.stderr
    )


def test_a_taken_port_and_a_bad_scenario_are_one_line_errors(home, tmp_path):
    _, env, ports = home
    with socket.create_server(("127.0.0.1", ports["plc"])):
        taken = run_pyros("simulators", "start", env=env)
    assert taken.returncode == 3
    assert f"cannot listen on 127.0.0.1:{ports['plc']}" in taken.stderr
    assert "Traceback" not in taken.stderr
    assert not any(listening(port) for name, port in ports.items() if name != "plc")
    bad = tmp_path / "bad.json"
    bad.write_text('[10, {"time": 1, "userSimulator": "nowhere.xml"}]', encoding="utf-8")
    refused = run_pyros("simulators", "start", "--scenario", str(bad), env=env)
    assert refused.returncode == 2
    assert "file 'nowhere.xml' not found" in refused.stderr
