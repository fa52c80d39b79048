"""Kill the device process behind a gateway and restart it, 20 times.

Clients must see DeviceDisconnected within 5 s of the kill and get service back within 5 s of the
restart; the gateway's (and the client's) open file descriptors and threads must stay flat. The
deadlines are requirements checked as deadlines; the measured times are printed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import psutil

from devices.errors import DeviceDisconnected
from tests.support.ports import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
CYCLES = 20


def _start_device(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_device", "--kind", "mount", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().split() == ["ready", str(port)]
    return process


def _kill(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()
    process.stdout.close()


def _threads() -> Counter:
    """Live threads by name, without the gateway's worker pool (bounded, grows on demand)."""
    return Counter(t.name for t in threading.enumerate() if "-work_" not in t.name)


def _disconnected(mount) -> bool:
    try:
        mount.status()
    except DeviceDisconnected:
        return True
    return False


def test_kill_and_restart_the_device_twenty_times(gateway_for, controller_for):
    port = free_port()
    device = _start_device(port)
    gateway = gateway_for("mount", SimpleNamespace(port=port))
    mount = controller_for(gateway)
    me = psutil.Process()
    try:
        eventually(mount.status, within_s=5, what="first connection")
        fds, threads = me.num_fds(), _threads()
        lost_s, back_s = [], []
        for _ in range(CYCLES):
            _kill(device)
            killed = time.monotonic()
            eventually(lambda: _disconnected(mount), within_s=5, what="DeviceDisconnected")
            lost_s.append(time.monotonic() - killed)
            device = _start_device(port)
            restarted = time.monotonic()
            eventually(mount.status, within_s=5, what="service back")
            back_s.append(time.monotonic() - restarted)
        eventually(lambda: not _threads() - threads, within_s=2, what="threads flat")
        assert me.num_fds() <= fds, f"file descriptors grew from {fds} to {me.num_fds()}"
        # A dying process may accept one last connection and reset it: at least one loss each.
        assert gateway.health.losses >= CYCLES
    finally:
        _kill(device)
    print(
        f"{CYCLES} restarts: DeviceDisconnected after max {max(lost_s) * 1000:.0f} ms, "
        f"service back after max {max(back_s) * 1000:.0f} ms; fds {fds} -> {me.num_fds()}"
    )
