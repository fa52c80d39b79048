"""Loopback ports for tests (never the stack's fixed ports): a free one, is one listening, wait
until one listens."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
