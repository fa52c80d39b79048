"""The observatory part of ``pyros status``: gather (app.statusview), print once or ``--watch``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.statusview.model import ObservatoryStatus

# app.statusview brings SQLAlchemy, the devices' client and rich: imported at use, for
# `pyros --help` (the CLI's budget is 2 s a command).


def _engine() -> tuple[Any, str | None]:
    """The database engine, or None with why it is not there (never raises)."""
    from app.cli.common import ready_engine

    try:
        return ready_engine(), None
    except Exception as exc:  # any reason the database is not there is shown, not raised
        text = str(exc).strip().splitlines()
        return None, text[0] if text else type(exc).__name__


def supervisor_processes(run_dir: Path) -> list[dict[str, Any]] | None:
    """The supervisor's process list, or None when it does not answer."""
    from app.supervisor.control import SupervisorUnavailable, call

    try:
        processes = call(run_dir, "status").get("processes")
    except SupervisorUnavailable:
        return None
    return list(processes) if isinstance(processes, list) else None


def observatory_status(
    processes: list[dict[str, Any]] | None, timeout_s: float, engine: Any = None
) -> ObservatoryStatus:
    """Gather the state of the observatory of this PYROS_HOME's configuration."""
    from app.statusview.gather import gather_status, sources_from_config
    from infra.clock import get_clock
    from infra.config import get_config

    problem = None
    if engine is None:
        engine, problem = _engine()
    sources = sources_from_config(
        get_config(), engine, get_clock(), processes, timeout_s, database_problem=problem
    )
    return gather_status(sources)


def watch_status(run_dir: Path, every_s: float, timeout_s: float) -> None:
    """Redraw the status every ``every_s`` wall seconds until Ctrl-C (which ends it normally).

    Ctrl-C only asks (a flag seen between draws): a KeyboardInterrupt raised inside a draw's
    thread pool, while it joins its threads, can leave the interpreter waiting for them forever
    at exit (python/cpython#111358; CI, 2026-12-06: the watch did not end within 30 s).
    """
    import signal
    import threading

    from rich.console import Console
    from rich.live import Live

    from app.statusview.render import render_status

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda number, frame: stop.set())
    try:
        engine, _ = _engine()
        status = observatory_status(supervisor_processes(run_dir), timeout_s, engine)
        with Live(render_status(status), console=Console(), auto_refresh=False) as live:
            while not stop.wait(every_s):
                status = observatory_status(supervisor_processes(run_dir), timeout_s, engine)
                live.update(render_status(status), refresh=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def print_observatory(status: ObservatoryStatus) -> None:
    """Print the screen once."""
    from rich.console import Console

    from app.statusview.render import render_status

    Console().print(render_status(status))
