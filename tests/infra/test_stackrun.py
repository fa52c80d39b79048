"""How a command finds the running stack of its PYROS_HOME: the run file, read only while the
supervisor's lock is held; explicit variables win."""

from __future__ import annotations

import json
import os
import time

import pytest

from app.cli.main import main
from infra.clock import set_clock
from infra.oslock import InstanceLock
from infra.stackrun import (
    STACK_VARIABLES,
    adopt_stack_environment,
    running_stack,
    stack_environment,
    write_run_file,
)

SIM = f"sim:2026-11-25T02:00:00Z@1@{time.time():.3f}"
STACK_ENV = {
    "PYROS_CLOCK": SIM,
    "PYROS_MODE": "sim",
    "PREFECT_API_URL": "http://127.0.0.1:49999/api",
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "stack-home"
    monkeypatch.setenv("PYROS_HOME", str(home))
    for name in STACK_VARIABLES:  # restored by monkeypatch, whatever a command sets
        monkeypatch.setenv(name, "recorded")
        monkeypatch.delenv(name)
    write_run_file(
        home / "run",
        {
            "info": {"ui": "http://127.0.0.1:49999"},
            "started_at": "2026-12-03T22:00:00Z",
            "environment": stack_environment([{"PYROS_HOME": str(home), **STACK_ENV}]),
        },
    )
    return home


def test_a_stale_run_file_is_ignored(home):
    assert running_stack(home / "run") is None
    environ = {"PYROS_HOME": str(home)}
    assert adopt_stack_environment(environ) == (None, [])
    assert environ == {"PYROS_HOME": str(home)}


def test_a_live_stack_gives_its_variables_and_explicit_ones_win(home):
    assert oct((home / "run" / "stack.json").stat().st_mode & 0o777) == "0o600"
    with InstanceLock(home / "run" / "supervisor.lock"):
        stack = running_stack(home / "run")
        assert stack is not None and stack.supervisor_pid == os.getpid()
        assert stack.started_at == "2026-12-03T22:00:00Z" and stack.environment == STACK_ENV
        environ = {"PYROS_HOME": str(home), "PYROS_MODE": "live"}
        _, adopted = adopt_stack_environment(environ)
    assert sorted(adopted) == ["PREFECT_API_URL", "PYROS_CLOCK"]
    assert environ["PYROS_CLOCK"] == SIM and environ["PYROS_MODE"] == "live"


def test_status_says_which_stack_clock_and_api_a_command_uses(home, capsys):
    set_clock(None)
    try:
        with InstanceLock(home / "run" / "supervisor.lock"):
            # The lock is held but no supervisor answers: exit 3, and still the connection.
            assert main(["status", "--json"]) == 3
            status = json.loads(capsys.readouterr().out)
            assert main(["status"]) == 3
            text = capsys.readouterr()
    finally:
        set_clock(None)
    connection = status["connection"]
    assert connection["running"] and connection["supervisor_pid"] == os.getpid()
    assert (connection["clock"], connection["clock_from"]) == (SIM, "stack")
    assert connection["api"] == STACK_ENV["PREFECT_API_URL"] and connection["mode"] == "sim"
    assert connection["clock_now"].startswith("2026-11-25T02:0")  # the stack's simulated time
    assert status["ok"] is False and "supervisor" in status["error"]
    assert f"stack: running in {home} (supervisor pid {os.getpid()}" in text.out
    assert f"clock: {SIM} [stack]" in text.out and text.err.count("\n") == 1


def test_status_without_a_stack_says_so_and_names_the_defaults(home, capsys):
    assert main(["status"]) == 3
    text = capsys.readouterr()
    assert f"stack: none running in {home}" in text.out
    assert "clock: system [default]" in text.out
    assert "Prefect API: none (events are journaled only) [default]" in text.out
    assert text.err == f"pyros: no stack running in {home}\n"
