"""A real non-loopback peer: this machine's own address on its default route (a client that
connects to it is seen by the server as coming from that address, not from loopback)."""

from __future__ import annotations

import socket

import pytest

from infra.config_security import is_loopback


def own_address() -> str:
    """This machine's non-loopback IPv4 address (the test is skipped without one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
            address = str(probe.getsockname()[0])
        except OSError:
            pytest.skip("no non-loopback IPv4 address on this machine")
    if is_loopback(address):
        pytest.skip("no non-loopback IPv4 address on this machine")
    return address


def exchange(host: str, port: int, line: bytes = b"hello\n", timeout_s: float = 5.0) -> bytes:
    """Connect to ``host:port`` from whatever address the route gives, send ``line`` and return
    what comes back before the server answers a line or closes (b"" when refused)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        try:
            sock.sendall(line)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data
        except ConnectionResetError:
            return b""
