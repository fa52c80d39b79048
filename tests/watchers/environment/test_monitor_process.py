"""The monitor as a supervised process: killed, it is back within five seconds, and there is
only ever one instance (a second one refuses to start)."""

from __future__ import annotations

import os
import signal
import time

from app.supervisor.core import Supervisor
from app.supervisor.spec import ProcessSpec
from infra.oslock import holder_pid
from tests.support.cli import pyros_command, run_pyros
from tests.support.waiting import wait_until


def test_a_killed_monitor_is_restarted_within_five_seconds_and_stays_single(engine, tmp_path):
    env = {**os.environ}  # the test's PYROS_HOME and database; gateways absent: PLC errors
    lock = tmp_path / "home" / "run" / "environment-monitor.lock"
    spec = ProcessSpec(
        "environment-monitor",
        pyros_command("monitor", "run"),
        env=env,
        stop_timeout_s=10,
    )
    supervisor = Supervisor([spec], tmp_path / "logs")
    try:
        supervisor.start_all()
        child = supervisor.children["environment-monitor"]
        assert wait_until(lambda: holder_pid(lock) == child.pid, 60, step_s=0.05)
        os.kill(child.pid, signal.SIGKILL)
        killed = time.monotonic()
        while time.monotonic() - killed < 5.0:
            supervisor.watch_once()
            if child.restarts == 1 and holder_pid(lock) == child.pid:
                break
            time.sleep(0.05)
        # Back (holding its lock, i.e. running its loop) within five seconds of the kill.
        assert child.restarts == 1 and holder_pid(lock) == child.pid
        second = run_pyros("monitor", "run", env=env)
        assert second.returncode == 3
        assert f"environment-monitor is already running (pid {child.pid})" in second.stderr
    finally:
        supervisor.stop_all()
    assert holder_pid(lock) is None
