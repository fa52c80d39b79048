"""What the supervisor runs: process specifications and how readiness is checked."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Readiness:
    """How to tell that a started process is ready: TCP ports accepting connections (``tcp_port``
    and every one of ``tcp_ports``) or an HTTP URL answering 2xx, within ``timeout_s`` wall
    seconds."""

    tcp_port: int | None = None
    http_url: str | None = None
    timeout_s: float = 60.0
    tcp_ports: tuple[int, ...] = ()

    def check(self) -> bool:
        """One non-blocking-ish probe (at most one second per port)."""
        ports = ([self.tcp_port] if self.tcp_port is not None else []) + list(self.tcp_ports)
        for port in ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                    pass
            except OSError:
                return False
        if self.http_url is not None:
            try:
                with urllib.request.urlopen(self.http_url, timeout=1.0) as response:
                    status: int = response.status
                    return 200 <= status < 300
            except (urllib.error.URLError, OSError, ValueError):
                return False
        return True


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack.

    Attributes
    ----------
    name : str
        Unique name (``prefect-server``, ``worker``, ``monitor``...).
    argv : list of str
        Command line.
    env : dict
        Environment added to the supervisor's own.
    ready : Readiness, optional
        How to tell it is ready (default: started is ready).
    restart : bool
        Restart it when it dies (watchers, servers); False for one-shot jobs.
    oneshot : bool
        A job that must finish successfully before the next process starts (bootstrap).
    stop_timeout_s : float
        Wall seconds between SIGTERM and SIGKILL when stopping.
    """

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: Readiness | None = None
    restart: bool = True
    oneshot: bool = False
    stop_timeout_s: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the stack file handed to the supervisor process)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessSpec:
        """Inverse of :meth:`to_dict`."""
        ready = data.get("ready")
        if ready:
            ready = Readiness(**{**ready, "tcp_ports": tuple(ready.get("tcp_ports") or ())})
        return cls(**{**data, "ready": ready or None})
