"""``pyros up``, ``pyros down``, ``pyros status``: the whole stack on embedded defaults."""

from __future__ import annotations

from typing import Any

import typer

from app.cli.errors import EXIT_NOT_READY, CliError
from app.cli.output import print_json, print_table
from app.supervisor.control import SupervisorUnavailable, call
from app.supervisor.launch import down as stop
from app.supervisor.launch import supervisor_pid
from app.supervisor.launch import up as start
from infra.settings import load_settings

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
    print_table(
        f"PyROS stack ({status.get('phase', '?')})",
        ["process", "state", "pid", "restarts", "log"],
        [
            [
                p["name"],
                p["state"] + ("" if p["ready"] else " (not ready)"),
                p["pid"],
                p["restarts"],
                p["log"],
            ]
            for p in status["processes"]
        ],
    )


def status(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show the stack's processes (and where the UI is)."""
    try:
        current = call(load_settings().run_dir, "status")
    except SupervisorUnavailable as exc:
        raise CliError(str(exc), EXIT_NOT_READY) from None
    if json_output:
        print_json(current)
        return
    _print_status(current)
    if current.get("info", {}).get("ui"):
        typer.echo(f"Prefect UI: {current['info']['ui']}")
