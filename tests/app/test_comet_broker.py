"""The stack's Comet broker listens on loopback only (Comet has no listen-address option of its
own: app/comet_broker.py gives it ``[alert_intake.comet] host``)."""

from __future__ import annotations

import os
import signal
import subprocess
import tomllib
from collections.abc import Iterator

import pytest

from app.stack import comet_argv
from infra.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config
from infra.settings import load_settings
from tests.support.peers import own_address
from tests.support.ports import free_port, listening, wait_port
from watchers.alerts.paths import AlertDirs


def _data(**comet) -> dict:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["alert_intake"].setdefault("comet", {}).update(comet)
    return data


@pytest.fixture
def broker(tmp_path) -> Iterator[tuple[int, int]]:
    receive, broadcast = free_port(), free_port()
    config = parse_config(_data(receive_port=receive, broadcast_port=broadcast))
    dirs = AlertDirs.under(load_settings().home)
    for directory in (dirs.broker, dirs.saved, tmp_path / "run"):
        directory.mkdir(parents=True, exist_ok=True)
    log = (tmp_path / "comet.log").open("ab")
    process = subprocess.Popen(
        comet_argv(config, dirs, tmp_path / "run"),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(receive, 60, process, what="comet")
        wait_port(broadcast, 60, process, what="comet")
        yield receive, broadcast
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def test_the_broker_listens_on_loopback_only(broker):
    address = own_address()
    for port in broker:
        assert listening(port)
        assert not listening(port, host=address), f"port {port} answers on {address}"


def test_a_broker_host_off_loopback_must_be_listed():
    with pytest.raises(ConfigError) as caught:
        parse_config(_data(host="0.0.0.0"), "site.toml")
    assert "alert_intake.comet.host: '0.0.0.0' is not a loopback address" in str(caught.value)
    data = _data(host="0.0.0.0")
    data["security"] = {"bind_hosts": ["0.0.0.0"]}
    assert parse_config(data).alert_intake.comet.host == "0.0.0.0"
