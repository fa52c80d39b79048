"""``pyros up``, ``pyros down``, ``pyros status``: the whole stack on embedded defaults."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from app.cli.errors import EXIT_NOT_READY, CliError
from app.cli.output import print_json, print_table
from app.supervisor.control import SupervisorUnavailable, call
from app.supervisor.launch import down as stop
from app.supervisor.launch import supervisor_pid
from app.supervisor.launch import up as start
from infra.clock import get_clock
from infra.settings import load_settings, redact_url
from infra.stackrun import RunningStack, running_stack

# The stack plan, the database and the configuration are imported inside `up`: every command
# module is imported by `pyros --help`, and each command answers within the CLI's 2 s.


def up(json_output: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Start the stack (Prefect server unless PREFECT_API_URL is set, deployments, worker...)
    in the background and wait until every process is ready."""
    from app.stack import check_ports_free, plan_stack
    from infra.config import get_config
    from infra.db import get_engine
    from infra.db.bootstrap import init_database

    settings, config = load_settings(), get_config()
    init_database(get_engine(), config)
    plan = plan_stack(settings, config)
    if supervisor_pid(settings.run_dir) is None:
        check_ports_free(plan.ports)
    status = start(
        plan.specs,
        settings.run_dir,
        settings.log_dir,
        info=plan.info,
        timeout_s=config.stack.startup_timeout_s + 120,
    )
    if json_output:
        print_json(status)
        return
    _print_status(status)
    typer.echo(f"Prefect UI: {plan.info['ui']}   (stop with `pyros down`)")


def down() -> None:
    """Stop the stack of this PYROS_HOME (every process it started)."""
    typer.echo("stack stopped" if stop(load_settings().run_dir) else "no stack running")


def _print_status(status: dict[str, Any]) -> None:
    logs = {str(Path(p["log"]).parent) for p in status["processes"] if p.get("log")}
    print_table(
        f"PyROS stack ({status.get('phase', '?')})",
        ["process", "state", "pid", "restarts", "log"],
        [
            [
                p["name"],
                p["state"] + ("" if p["ready"] else " (not ready)"),
                p["pid"],
                p["restarts"],
                Path(p["log"]).name if len(logs) == 1 else p["log"],
            ]
            for p in status["processes"]
        ],
    )
    if len(logs) == 1:
        typer.echo(f"logs in {logs.pop()}")


def _connection(stack: RunningStack | None) -> dict[str, Any]:
    """Which stack this command talks to, and the clock, Prefect API, mode and database it uses
    (each said to come from the stack, this shell's environment, or the default)."""
    settings = load_settings()

    def origin(name: str) -> str:
        if stack is not None and stack.environment.get(name) == os.environ.get(name):
            return "stack"
        return "environment" if os.environ.get(name) else "default"

    return {
        "running": stack is not None,
        "home": str(settings.home),
        "supervisor_pid": stack.supervisor_pid if stack else None,
        "up_since": stack.started_at if stack else None,
        "clock": settings.clock_spec,
        "clock_from": origin("PYROS_CLOCK"),
        "clock_now": get_clock().now(),
        "api": settings.prefect_api_url,
        "api_from": origin("PREFECT_API_URL"),
        "mode": settings.mode.value,
        "mode_from": origin("PYROS_MODE"),
        "database": redact_url(settings.database_url),
        "database_from": origin("PYROS_DATABASE_URL"),
    }


def _print_connection(connection: dict[str, Any]) -> None:
    if connection["running"]:
        typer.echo(
            f"stack: running in {connection['home']} (supervisor pid "
            f"{connection['supervisor_pid']}, up since {connection['up_since'] or 'unknown'})"
        )
    else:
        typer.echo(
            f"stack: none running in {connection['home']}: commands use the defaults below "
            "(`pyros up` or `make run` starts one)"
        )
    api = connection["api"] or "none (events are journaled only)"
    typer.echo(
        f"clock: {connection['clock']} [{connection['clock_from']}], now "
        f"{connection['clock_now']:%Y-%m-%d %H:%M:%S} UTC"
    )
    typer.echo(f"Prefect API: {api} [{connection['api_from']}]")
    typer.echo(f"mode: {connection['mode']} [{connection['mode_from']}]")
    typer.echo(f"database: {connection['database']} [{connection['database_from']}]")


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alert_listener_status(run_dir: Path) -> dict[str, Any] | None:
    """The alert listener's status file (``run/alert-listener.json``), with whether its process
    still runs and the age of its last heartbeat; None when there is none."""
    from watchers.alerts.paths import STATUS_NAME

    try:
        status: dict[str, Any] = json.loads((run_dir / STATUS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    status["running"] = _pid_alive(status.get("pid"))
    heartbeat = status.get("heartbeat_at")
    try:
        at = datetime.fromisoformat(str(heartbeat)) if heartbeat else None
    except ValueError:
        at = None
    status["heartbeat_age_s"] = (
        None if at is None else round((datetime.now(UTC) - at).total_seconds(), 1)
    )
    return status


def _print_alert_listener(status: dict[str, Any]) -> None:
    roads = status.get("roads") or {}
    up = ", ".join(f"{name} {'up' if ok else 'DOWN'}" for name, ok in roads.items()) or "none"
    age = status.get("heartbeat_age_s")
    beat = "never" if age is None else f"{age:.0f} s ago (wall)"
    state = "running" if status["running"] else "NOT RUNNING (stale file)"
    counts = " ".join(f"{k}={v}" for k, v in sorted((status.get("decided") or {}).items()))
    received = " ".join(f"{k}={v}" for k, v in sorted((status.get("received") or {}).items()))
    typer.echo(
        f"alert listener: {state}, pid {status.get('pid')}, last heartbeat {beat}; roads: {up}"
    )
    typer.echo(
        f"  received: {received or 'none'}; decided: {counts or 'none'}; "
        f"pending: {status.get('pending', 0)}"
    )


def status(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
    watch: bool = typer.Option(False, "--watch", help="Redraw until Ctrl-C."),
    every_s: float = typer.Option(
        2.0, "--every", min=0.2, help="Wall seconds between two redraws of --watch."
    ),
    timeout_s: float = typer.Option(
        0.5, "--timeout", min=0.05, help="Wall seconds each device gateway has to answer."
    ),
) -> None:
    """The state of the observatory: mode, dome, mount, cameras (exposure progress), weather
    verdict and its age, current and next sequences, last alert, watchers' heartbeats and the
    stack's processes; which stack this shell talks to (home, clock, Prefect API). Exit code 3
    when no stack runs in this PYROS_HOME."""
    from app.cli.observatory import observatory_status, print_observatory, watch_status

    if watch and json_output:
        raise CliError("--watch and --json do not go together (--json prints one document)")
    run_dir = load_settings().run_dir
    stack = running_stack(run_dir)
    connection = _connection(stack)
    listener = alert_listener_status(run_dir)
    current: dict[str, Any] = {}
    problem = None
    if stack is None:
        problem = f"no stack running in {connection['home']}"
    else:
        try:
            current = call(run_dir, "status")
        except SupervisorUnavailable as exc:
            problem = str(exc)
    if problem is None and watch:
        watch_status(run_dir, every_s, timeout_s)
        return
    observatory = None
    if problem is None:
        observatory = observatory_status(current.get("processes"), timeout_s)
    if json_output:
        print_json(
            {
                **current,
                "ok": problem is None,
                "error": problem or current.get("error"),
                "connection": connection,
                "alert_listener": listener,
                "observatory": None if observatory is None else observatory.as_dict(),
            }
        )
    else:
        _print_connection(connection)
        if observatory is not None:
            print_observatory(observatory)
            logs = {str(Path(p["log"]).parent) for p in current["processes"] if p.get("log")}
            if len(logs) == 1:
                typer.echo(f"logs in {logs.pop()}")
        if listener is not None:
            _print_alert_listener(listener)
        if current.get("info", {}).get("ui"):
            typer.echo(f"Prefect UI: {current['info']['ui']}")
    if problem is not None:
        if not json_output:
            typer.echo(f"pyros: {problem}", err=True)
        raise typer.Exit(EXIT_NOT_READY)
