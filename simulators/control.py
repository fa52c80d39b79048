"""The simulators' control channel: inject faults and afterglows into running simulators.

Newline-delimited JSON on a loopback port chosen at start (served by ``devices.server.LineServer``,
like the devices). The port, the process id and a random token are written to
``<run dir>/simulators.json`` (mode 0600, as the supervisor's ``supervisor.json``); every request
carries the token, so only someone who can read the instance's run directory can steer it.

Requests ``{"token": ..., "command": ..., <arguments>}``; replies ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``:

Commands (arguments):

- ``status``: devices, faults, afterglows, the scenario's progress and outcomes;
- ``fault`` (``device``, ``kind``, ``duration_s`` — null: until cleared —, ``delay_s``): inject;
- ``clear`` (``device``): end a device's fault now;
- ``afterglow`` (``ra_deg``, ``dec_deg``, ``magnitude``, ``decay_index``, ``t0_s``, ``name``): add
  an afterglow triggered now;
- ``stop``: stop the simulators (as SIGTERM).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.framing import OversizedLine, encode
from devices.server import Connection, LineServer

STATE_FILE = "simulators.json"

Dispatcher = Callable[[dict[str, Any]], dict[str, Any]]


class SimulatorsUnavailable(RuntimeError):
    """No simulators answer (not running, or a stale state file)."""


class ControlChannel:
    """Serve the control protocol for a running set of simulators.

    Parameters
    ----------
    dispatch : callable
        ``dispatch(request) -> reply`` for a request whose token was checked.
    run_dir : Path
        Where the state file goes.
    extra : dict, optional
        More members for the state file (the device addresses).
    """

    def __init__(
        self, dispatch: Dispatcher, run_dir: Path, extra: dict[str, Any] | None = None
    ) -> None:
        self._dispatch = dispatch
        self.token = secrets.token_hex(16)
        self.state_path = Path(run_dir) / STATE_FILE
        self._extra = extra or {}
        self._server = LineServer("127.0.0.1", 0, self._handle, name="sim-control", workers=4)

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> ControlChannel:
        """Listen, then write the state file (mode 0600)."""
        self._server.start()
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {"pid": os.getpid(), "port": self.port, "token": self.token, **self._extra},
                handle,
            )
        os.replace(temporary, self.state_path)
        return self

    def close(self) -> None:
        """Stop serving and remove the state file."""
        self._server.stop()
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("token") == self.token:
                self.state_path.unlink(missing_ok=True)
        except (OSError, ValueError):
            pass

    def _handle(self, connection: Connection, line: bytes | OversizedLine) -> bytes:
        try:
            if isinstance(line, OversizedLine):
                raise ValueError("request line too long")
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            if not secrets.compare_digest(str(request.get("token", "")), self.token):
                reply = {"ok": False, "error": "bad token"}
            else:
                reply = self._dispatch(request)
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return encode(reply)


def read_state(run_dir: Path) -> dict[str, Any]:
    """The state file of the simulators of ``run_dir``.

    Raises
    ------
    SimulatorsUnavailable
        When there is none (no simulators running for this PYROS_HOME).
    """
    path = Path(run_dir) / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return state
    except (OSError, ValueError):
        raise SimulatorsUnavailable(
            f"no simulators running (no {path}): start them with `pyros simulators start` "
            "or `pyros up`"
        ) from None


def call(run_dir: Path, command: str, timeout_s: float = 10.0, **arguments: Any) -> dict[str, Any]:
    """Send one command to the simulators of ``run_dir``; returns the reply.

    Raises
    ------
    SimulatorsUnavailable
        When no simulators answer.
    """
    state = read_state(run_dir)
    request = {"token": state["token"], "command": command, **arguments}
    try:
        with socket.create_connection(("127.0.0.1", state["port"]), timeout=timeout_s) as sock:
            sock.sendall(encode(request))
            reply = sock.makefile("rb").readline()
    except OSError as exc:
        raise SimulatorsUnavailable(
            f"the simulators do not answer on port {state.get('port')} ({exc}); a stale state file?"
        ) from None
    if not reply:
        raise SimulatorsUnavailable("the simulators closed the connection")
    answer: dict[str, Any] = json.loads(reply)
    return answer
