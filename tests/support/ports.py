"""Loopback ports for tests (never the stack's fixed ports): a free one, is one listening, wait
until one listens."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

#: Ports handed out by this process: never handed out twice.
_GIVEN: set[int] = set()
_RANDOM = random.Random()  # seeded from the OS: each xdist worker draws its own


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's default: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, drawn below the kernel's ephemeral range.

    A port from ``bind(0)`` is an ephemeral one: the outgoing connections of the tests' own
    clients (Prefect, the gateways, the database) draw from the same range, and one took a port
    before the stack bound it (CI of 2026-12-05: Comet could not listen, ``pyros up`` failed).
    """
    high = _ephemeral_low() - 1
    for _ in range(1000):
        port = _RANDOM.randint(10000, high)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free loopback port in 10000-{high}")


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port`` now (0.5 s to answer)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(
    port: int,
    within_s: float = 30.0,
    process: subprocess.Popen | None = None,
    *,
    what: str = "the process",
    step_s: float = 0.1,
) -> None:
    """Return once ``127.0.0.1:port`` accepts connections; fail (AssertionError) if ``process``
    (the one that should listen, called ``what``) exits first, or after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        if listening(port):
            return
        time.sleep(step_s)
    raise AssertionError(f"{what} did not listen on {port} within {within_s} s")
