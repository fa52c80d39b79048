"""The client side of the supervisor's control protocol (``app.supervisor.control`` serves it).

Newline-delimited JSON on a loopback TCP port whose number, with the supervisor's pid and a random
token, is in ``<run dir>/supervisor.json`` (mode 0600). It lives in ``infra`` so that flows (the
``restart-watcher`` deployment) can ask the supervisor of their stack to restart a process
without importing the application shell.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

STATE_FILE = "supervisor.json"


class SupervisorUnavailable(RuntimeError):
    """No supervisor answers (the stack is down, or its state file is stale)."""


def call(run_dir: Path, command: str, timeout_s: float = 10.0, **arguments: Any) -> dict[str, Any]:
    """Send one command to the supervisor of ``run_dir``.

    Parameters
    ----------
    run_dir : Path
        The stack's run directory (``$PYROS_HOME/run``).
    command : str
        ``status``, ``restart`` (with ``name=``) or ``stop``.
    timeout_s : float
        Wall seconds to wait for the connection and the answer.

    Returns
    -------
    dict
        The supervisor's answer (``ok`` and the rest).

    Raises
    ------
    SupervisorUnavailable
        When no supervisor answers.
    """
    path = Path(run_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SupervisorUnavailable(f"no running stack (no {path})") from None
    try:
        with socket.create_connection(("127.0.0.1", state["port"]), timeout=timeout_s) as sock:
            sock.sendall(
                (
                    json.dumps({"token": state["token"], "command": command, **arguments}) + "\n"
                ).encode()
            )
            reply = sock.makefile("rb").readline()
    except OSError as exc:
        raise SupervisorUnavailable(f"the stack's supervisor does not answer ({exc})") from None
    if not reply:
        raise SupervisorUnavailable("the stack's supervisor closed the connection")
    answer: dict[str, Any] = json.loads(reply)
    return answer
