"""``pyros gateways start`` in the foreground (a real process) and ``pyros gateways status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from app.cli.main import main
from devices.client import NdjsonClient
from devices.gateway import run_gateways
from tests.devices.helpers import site_toml
from tests.support.cli import pyros_command
from tests.support.fake_device import FakeDevice
from tests.support.ports import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def site(tmp_path, monkeypatch):
    mount, plc = FakeDevice("mount").start(), FakeDevice("plc").start()
    ports = {"mount": free_port(), "plc": free_port(), "dome": free_port(),
             "camera_vis": free_port(), "camera_nir": free_port()}  # fmt: skip
    path = tmp_path / "site.toml"
    path.write_text(site_toml({"mount": mount.port, "plc": plc.port}, ports), encoding="utf-8")
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(path))
    monkeypatch.setenv("PYROS_DATABASE_URL", f"sqlite:///{tmp_path / 'pyros.db'}")
    yield path, ports
    mount.stop()
    plc.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_start_runs_until_a_signal_then_stops_cleanly(site, signum, capsys):
    _, ports = site
    assert main(["db", "init"]) == 0
    capsys.readouterr()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        pyros_command("gateways", "start", "-d", "mount", "-d", "plc"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"gateway mount: 127.0.0.1:{ports['mount']} -> device")
        assert lines[2].startswith("gateways running")
        with NdjsonClient("127.0.0.1", ports["plc"], name="plc", timeout_s=2) as client:
            eventually(lambda: client.call("STATUS"), within_s=5, what="PLC through its gateway")
        assert main(["gateways", "status", "--json"]) == 0
        rows = {row["device"]: row for row in json.loads(capsys.readouterr().out)}
        assert rows["mount"]["running"] and rows["plc"]["health"]["connected"]
        assert not rows["dome"]["running"] and rows["dome"]["error"] == "gateway not running"
        process.send_signal(signum)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "gateways stopped" in out and "Traceback" not in err
    assert "warning" not in out and "left unapplied" not in err


def test_start_warns_when_the_database_is_not_ready_and_serves_anyway(site):
    _, ports = site
    stop = threading.Event()
    lines: list[str] = []
    runner = threading.Thread(
        target=run_gateways, args=(["plc"],), kwargs={"stop": stop, "announce": lines.append}
    )
    runner.start()
    try:
        with NdjsonClient("127.0.0.1", ports["plc"], name="plc", timeout_s=2) as client:
            eventually(lambda: client.call("STATUS"), within_s=5, what="served without a database")
    finally:
        stop.set()
        runner.join(10)
    assert lines[0].startswith("warning: database") and "pyros db init" in lines[0]
    assert lines[-1] == "gateways stopped"


def test_an_unknown_device_is_one_line_and_exit_2(site, capsys):
    assert main(["gateways", "start", "--device", "telescope"]) == 2
    known = "mount, camera_vis, camera_nir, plc, dome"
    assert capsys.readouterr().err.strip() == (
        f"pyros: unknown device(s) telescope: configured are {known}"
    )
