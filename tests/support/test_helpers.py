"""The shared test helpers themselves: waiting, ports, the ``pyros`` command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.support.cli import pyros_command
from tests.support.ports import free_port, listening, wait_port
from tests.support.waiting import eventually, wait_until


def test_wait_until_is_true_once_the_predicate_is_and_false_after_the_timeout():
    calls = iter([False, False, True])
    assert wait_until(lambda: next(calls), 5, step_s=0.001)
    started = time.monotonic()
    assert not wait_until(lambda: False, 0.05, step_s=0.01)
    assert time.monotonic() - started >= 0.05


def test_eventually_returns_the_value_retries_on_errors_and_names_what_it_waited_for():
    replies = iter([ValueError("not yet"), None, {"state": "idle"}])

    def check():
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    assert eventually(check, within_s=5, what="idle", every_s=0.001) == {"state": "idle"}
    with pytest.raises(AssertionError, match=r"^dome open: not within 0.05 s \(last: ''\)$"):
        eventually(lambda: "", within_s=0.05, what="dome open")
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: 1 / 0, within_s=5, what="never", retry_on=())


def test_wait_port_waits_for_a_listener_and_says_when_the_process_died():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert listening(port)
        wait_port(port, 5)
    closed = free_port()
    assert not listening(closed)
    with pytest.raises(AssertionError, match=rf"the process did not listen on {closed} within"):
        wait_port(closed, 0.2, step_s=0.05)
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    dead.wait()
    with pytest.raises(AssertionError, match=r"^the broker exited with 4$"):
        wait_port(closed, 5, dead, what="the broker")


def test_the_pyros_command_runs_the_cli_module_with_this_interpreter():
    assert pyros_command("db", "init") == [sys.executable, "-m", "app.cli.main", "db", "init"]
    installed = pyros_command("--help", installed=True)
    assert installed[-1] == "--help" and installed[0].endswith(("pyros", sys.executable))


def test_free_ports_are_below_the_ephemeral_range_and_never_given_twice():
    from tests.support.ports import _ephemeral_low

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    # Outgoing connections draw from the ephemeral range: a port there could be taken meanwhile.
    assert all(10000 <= port < _ephemeral_low() for port in ports)
