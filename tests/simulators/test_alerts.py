"""GRB alerts from a scenario: the VOEvent goes to a real Comet broker (``twistd comet
--receive --save-event``, free ports, its own pid file) and is received and saved; with no broker
the outcome says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.outside import send_voevent
from simulators.scenario import parse_scenario
from tests.conftest import VOEVENT_DIR
from tests.simulators.conftest import site_config
from tests.support.ports import free_port, wait_port
from tests.support.waiting import wait_until

SWIFT = "Swift__876016-BAT_GRB_POS.xml"


@pytest.fixture
def voevent() -> Path:
    path = VOEVENT_DIR / SWIFT
    if not path.is_file():
        pytest.skip(f"real VOEvents absent: {VOEVENT_DIR}")
    return path


def _first_outcome(bench) -> dict:
    """The scenario's first outcome once it is no longer running (or still running after 30 s)."""
    player = bench.run.player

    def over() -> bool:
        outcomes = player.describe()["outcomes"]
        return bool(outcomes) and outcomes[0]["status"] != "running"

    wait_until(over, 30, step_s=0.05)
    return player.describe()["outcomes"][0]


@pytest.fixture
def broker(tmp_path) -> Iterator[tuple[int, Path]]:
    """A Comet broker receiving on a free port, saving events to a folder; stopped after."""
    port = free_port()
    saved = tmp_path / "saved"
    saved.mkdir()
    (tmp_path / "eventdb").mkdir()
    twistd = str(Path(sys.executable).with_name("twistd"))
    process = subprocess.Popen(
        [
            twistd,
            "-n",
            "--pidfile",
            str(tmp_path / "comet.pid"),
            "--logfile",
            str(tmp_path / "comet.log"),
            "comet",
            "--receive",
            "--receive-port",
            str(port),
            "--local-ivo",
            "ivo://pyros.test/broker",
            "--author-whitelist",
            "127.0.0.1/32",
            "--eventdb",
            str(tmp_path / "eventdb"),
            "--save-event",
            "--save-event-directory",
            str(saved),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 30.0, process, what="the broker")
        yield port, saved
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def test_an_alert_item_reaches_the_broker_and_is_saved(rig, broker, voevent):
    port, saved = broker
    config = site_config(sections={"simulators": {"alert_broker_port": port}})
    scenario = parse_scenario([20, {"time": 1.0, "alertSimulator": str(voevent)}], "grb.json")
    bench = rig(speed=10.0, config=config, scenario=scenario)
    outcome = _first_outcome(bench)
    assert outcome["status"] == "done", outcome["detail"]
    assert f"acknowledged by the broker at 127.0.0.1:{port}" in outcome["detail"]
    files = list(saved.iterdir())
    assert [f.name for f in files] == ["ivo__nasa.gsfc.gcn_SWIFTBAT_GRB_Pos_876016475"]
    assert files[0].read_bytes().strip() == voevent.read_bytes().strip()


def test_no_broker_is_a_clear_failure(tmp_path, voevent):
    port = free_port()
    outcome = send_voevent(voevent, host="127.0.0.1", port=port, timeout_s=20.0)
    assert not outcome.ok
    assert outcome.detail == f"VOEvent {SWIFT}: no VOEvent broker answers at 127.0.0.1:{port}"


def test_an_alert_scenario_item_without_a_broker_records_why(rig, voevent):
    port = free_port()
    config = site_config(sections={"simulators": {"alert_broker_port": port}})
    scenario = parse_scenario([20, {"time": 0.5, "alertSimulator": str(voevent)}], "grb.json")
    bench = rig(speed=10.0, config=config, scenario=scenario)
    outcome = _first_outcome(bench)
    assert outcome["status"] == "failed"
    assert "no VOEvent broker answers" in outcome["detail"]
