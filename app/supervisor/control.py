"""The supervisor's control protocol: newline-delimited JSON on a loopback TCP port.

The port, the supervisor's pid and a random token are written to ``<run dir>/supervisor.json``
(mode 0600); every request carries the token. Commands: ``status``, ``restart`` (``name``),
``stop``.
"""

from __future__ import annotations

import json
import os
import secrets
import socketserver
import threading
from pathlib import Path
from typing import Any

from app.supervisor.core import ProcessHeld, Supervisor
from infra.supervisorctl import STATE_FILE, SupervisorUnavailable, call

__all__ = ["STATE_FILE", "ControlServer", "SupervisorUnavailable", "call"]


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: ControlServer = self.server  # type: ignore[assignment]
        for line in self.rfile:
            try:
                request = json.loads(line)
                reply = server.dispatch(request)
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self.wfile.write((json.dumps(reply) + "\n").encode())
            self.wfile.flush()


class ControlServer(socketserver.ThreadingTCPServer):
    """Serves the control protocol for one :class:`Supervisor`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, supervisor: Supervisor, run_dir: Path, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.supervisor = supervisor
        self.token = secrets.token_hex(16)
        self.extra = extra or {}
        self.state_path = Path(run_dir) / STATE_FILE
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    "pid": os.getpid(),
                    "port": self.server_address[1],
                    "token": self.token,
                    **self.extra,
                },
                handle,
            )
        self._thread = threading.Thread(
            target=self.serve_forever, daemon=True, name="supervisor-control"
        )

    def start(self) -> ControlServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one request."""
        if request.get("token") != self.token:
            return {"ok": False, "error": "bad token"}
        command = request.get("command")
        if command == "status":
            return {
                "ok": True,
                "phase": self.supervisor.phase,
                "error": self.supervisor.error,
                "processes": self.supervisor.status(),
                **self.extra,
            }
        if command == "restart":
            name = request.get("name")
            if name not in self.supervisor.children:
                known = ", ".join(self.supervisor.children)
                return {"ok": False, "error": f"no process {name!r} (known: {known})"}
            try:
                return {"ok": True, "process": self.supervisor.restart(name)}
            except ProcessHeld as exc:
                return {"ok": False, "error": str(exc), "held": True}
        if command == "stop":
            self.supervisor.request_stop()
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {command!r}"}

    def close(self) -> None:
        """Stop serving and remove the state file."""
        self.shutdown()
        self.server_close()
        self.state_path.unlink(missing_ok=True)
