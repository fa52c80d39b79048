"""The supervisor process: ``python -m app.supervisor.main STACK_FILE``.

The stack file (JSON) holds ``run_dir``, ``log_dir``, ``processes`` (ProcessSpec dicts) and free
``info`` shown by ``status`` (e.g. the Prefect UI address). One supervisor per PYROS_HOME (an OS
lock); SIGTERM or SIGINT stop the stack cleanly.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from app.supervisor.control import ControlServer
from app.supervisor.core import EventHook, StackPhase, StartupError, Supervisor
from app.supervisor.spec import ProcessSpec
from infra.db import get_engine
from infra.db.migrate import ensure_ready
from infra.journal import record
from infra.oslock import AlreadyRunning, InstanceLock
from infra.secrets import adopt_client_auth
from infra.stackrun import SUPERVISOR_LOCK
from infra.writebehind import WriteBehindQueue

log = logging.getLogger("pyros.supervisor")


def _journal_hook() -> tuple[EventHook | None, WriteBehindQueue | None]:
    """Journal process events through a write-behind queue (never blocks supervision)."""
    try:
        ensure_ready(get_engine())
        queue = WriteBehindQueue(get_engine, name="supervisor-journal").start()
    except Exception as exc:
        log.warning("process events will not be journaled: %s", exc)
        return None, None

    def hook(event: str, name: str, details: dict[str, Any]) -> None:
        record("process", f"supervisor:{name}", {"event": event, **details}, into=queue)

    return hook, queue


def main(argv: list[str]) -> int:
    """Run the stack described by ``argv[0]`` until stopped; returns the exit code."""
    adopt_client_auth()  # before the base environment is taken: every child is a client
    stack = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    run_dir, log_dir = Path(stack["run_dir"]), Path(stack["log_dir"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        lock = InstanceLock(run_dir / SUPERVISOR_LOCK).acquire()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return 3
    hook, queue = _journal_hook()
    supervisor = Supervisor(
        [ProcessSpec.from_dict(p) for p in stack["processes"]],
        log_dir,
        on_event=hook,
        hold_dir=run_dir,
    )
    control = ControlServer(supervisor, run_dir, extra={"info": stack.get("info", {})}).start()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping the stack", signum)
        supervisor.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    try:
        supervisor.start_all()
        supervisor.phase = StackPhase.RUNNING
        log.info("stack running: %s", ", ".join(supervisor.children))
        supervisor.run()
    except StartupError as exc:
        supervisor.phase, supervisor.error = StackPhase.FAILED, str(exc)
        log.error("start-up failed: %s", exc)
        supervisor.stop_all()
        # Let `pyros up` read the failure before the control port closes.
        supervisor.wait_stop(3.0)
        code = 1
    finally:
        supervisor.phase = StackPhase.STOPPING
        supervisor.stop_all()
        control.close()
        if queue is not None:
            queue.stop(2.0)
        lock.release()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
