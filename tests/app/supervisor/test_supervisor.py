"""The supervisor: ordered start with readiness, restart of what dies, one instance, clean stop.
Real child processes (small Python servers on free ports)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from app.supervisor.control import call
from app.supervisor.core import ProcessHeld, StartupError, Supervisor
from app.supervisor.launch import StackAlreadyRunning, down, supervisor_pid, up
from app.supervisor.spec import ProcessSpec, Readiness
from infra.oslock import AlreadyRunning, InstanceLock
from tests.support.ports import free_port
from tests.support.waiting import wait_until

SERVER = (
    "import socket, sys, time\n"
    "s = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
    "while True:\n"
    "    c, _ = s.accept(); c.close()\n"
)


def server_spec(name: str, port: int, **extra) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", SERVER, str(port)],
        ready=Readiness(tcp_port=port, timeout_s=30),
        stop_timeout_s=5,
        **extra,
    )


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_processes_start_in_order_and_a_killed_one_is_back_within_five_seconds(tmp_path):
    events = []
    supervisor = Supervisor(
        [
            ProcessSpec(
                "job",
                [sys.executable, "-c", "print('bootstrap done')"],
                restart=False,
                oneshot=True,
            ),
            server_spec("a", free_port()),
            server_spec("b", free_port()),
        ],
        tmp_path,
        on_event=lambda event, name, details: events.append((event, name)),
    )
    try:
        supervisor.start_all()
        assert [e for e in events if e[0] in ("done", "ready")] == [
            ("done", "job"),
            ("ready", "a"),
            ("ready", "b"),
        ]
        victim = supervisor.children["b"]
        old_pid = victim.pid
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_until(
            lambda: (supervisor.watch_once(), victim.ready and victim.pid != old_pid)[1],
            timeout_s=5.0,
        )
        assert time.monotonic() - killed_at < 5.0
        assert victim.restarts == 1 and ("restarted", "b") in events
        assert "bootstrap done" in (tmp_path / "job.log").read_text()
    finally:
        supervisor.stop_all()
    assert not any(_alive(c.pid) for c in supervisor.children.values())


def test_a_process_that_cannot_start_is_named_with_its_log(tmp_path):
    crash = ProcessSpec(
        "broken",
        [sys.executable, "-c", "raise SystemExit('no config here')"],
        ready=Readiness(tcp_port=free_port(), timeout_s=10),
    )
    supervisor = Supervisor([crash], tmp_path)
    with pytest.raises(StartupError, match=r"broken exited with code 1 .*\n.*no config here"):
        supervisor.start_all()


def test_only_one_instance_holds_the_lock(tmp_path):
    first = InstanceLock(tmp_path / "monitor.lock").acquire()
    code = """
import sys
from infra.oslock import InstanceLock, AlreadyRunning
try:
    InstanceLock(__import__('pathlib').Path(sys.argv[1])).acquire()
except AlreadyRunning as exc:
    print(exc); sys.exit(3)
"""
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "monitor.lock")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert f"monitor is already running (pid {os.getpid()})" in result.stdout
    with pytest.raises(AlreadyRunning):
        InstanceLock(tmp_path / "monitor.lock").acquire()
    first.release()
    InstanceLock(tmp_path / "monitor.lock").acquire().release()


def test_up_status_restart_and_down_through_the_control_port(tmp_path):
    run_dir, log_dir = tmp_path / "run", tmp_path / "logs"
    port = free_port()
    status = up([server_spec("server", port)], run_dir, log_dir, info={"ui": "none"})
    try:
        assert status["phase"] == "running" and status["info"] == {"ui": "none"}
        (server,) = status["processes"]
        assert server["ready"] and _alive(server["pid"])
        with pytest.raises(StackAlreadyRunning):
            up([server_spec("server", free_port())], run_dir, log_dir)
        restarted = call(run_dir, "restart", name="server")["process"]
        assert restarted["pid"] != server["pid"] and restarted["restarts"] == 1
        assert call(run_dir, "restart", name="nobody")["ok"] is False
    finally:
        assert down(run_dir) is True
    assert supervisor_pid(run_dir) is None
    assert not _alive(restarted["pid"]) and not _alive(server["pid"])
    assert down(run_dir) is False


def test_up_reports_a_failed_start(tmp_path):
    broken = ProcessSpec(
        "broken",
        [sys.executable, "-c", "import sys; sys.exit(4)"],
        ready=Readiness(tcp_port=free_port(), timeout_s=10),
    )
    with pytest.raises(StartupError, match="broken exited with code 4"):
        up([broken], tmp_path / "run", tmp_path / "logs", timeout_s=60)
    assert wait_until(lambda: supervisor_pid(tmp_path / "run") is None, 15)


def test_a_held_process_stays_down_even_on_request_and_comes_back_when_released(tmp_path):
    events = []
    supervisor = Supervisor(
        [server_spec("watcher", free_port())],
        tmp_path / "logs",
        on_event=lambda event, name, details: events.append((event, name)),
        hold_dir=tmp_path,
    )
    try:
        supervisor.start_all()
        victim = supervisor.children["watcher"]
        (tmp_path / "hold-watcher").touch()
        old_pid = victim.pid
        os.kill(old_pid, signal.SIGKILL)
        assert wait_until(
            lambda: (supervisor.watch_once(), victim.state == "held")[1], timeout_s=10.0
        )
        for _ in range(5):
            supervisor.watch_once()
        assert victim.poll() is not None and victim.restarts == 0
        assert ("held", "watcher") in events
        with pytest.raises(ProcessHeld, match=r"watcher is held \(remove .*hold-watcher"):
            supervisor.restart("watcher")
        (tmp_path / "hold-watcher").unlink()
        assert wait_until(
            lambda: (supervisor.watch_once(), victim.ready and victim.pid != old_pid)[1],
            timeout_s=10.0,
        )
        assert victim.restarts == 1
    finally:
        supervisor.stop_all()
