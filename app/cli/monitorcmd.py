"""``pyros monitor``: the environment monitor, its overrides and drills; ``pyros dome``."""

from __future__ import annotations

import getpass
import logging
from typing import Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table
from infra.clock import get_clock

# The database, the monitor and the observatory state are imported inside the commands: every
# command module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("The environment monitor (weather, site, safety reflex).")
dome_app = command_group("Ask the monitor to open or close the dome.")


@app.command()
def run() -> None:
    """Run the monitor in the foreground (one instance per PYROS_HOME) until Ctrl-C."""
    from watchers.environment.process import run_monitor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise typer.Exit(run_monitor())


@app.command()
def status(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The latest weather and site statuses, their history and the overrides in force."""
    from sqlalchemy import select

    from infra.db import session_scope
    from infra.db.models import SiteWatch, WeatherWatch, WeatherWatchHistory
    from tasks.environment.observatory_state import dome_request, overrides

    with session_scope(ready_engine()) as session:
        weather = session.scalars(
            select(WeatherWatch).order_by(WeatherWatch.id.desc()).limit(1)
        ).first()
        site = session.scalars(select(SiteWatch).order_by(SiteWatch.id.desc()).limit(1)).first()
        history = session.scalars(
            select(WeatherWatchHistory).order_by(WeatherWatchHistory.id.desc()).limit(10)
        ).all()
        request = dome_request(session)
        history_rows: list[dict[str, Any]] = [
            {"at": h.at, "from": h.from_status, "to": h.to_status, "reason": h.reason}
            for h in history
        ]
        override_lines = [o.describe() for o in overrides(session)]
        data: dict[str, Any] = {
            "weather_status": weather.global_status if weather else None,
            "weather_at": weather.updated_at if weather else None,
            "should_close": weather.should_close if weather else None,
            "site_status": site.global_status if site else None,
            "dome_request": {"state": request.state, "by": request.by, "at": request.at},
            "overrides": override_lines,
            "history": history_rows,
        }
    if json_output:
        print_json(data)
        return
    typer.echo(
        f"weather {data['weather_status']} (close: {data['should_close']}), site "
        f"{data['site_status']}, dome requested {request.state}"
    )
    for line in override_lines:
        typer.echo(f"override: {line}")
    print_table(
        "Weather history",
        ["at (UTC)", "from", "to", "reason"],
        [
            [f"{h['at']:%Y-%m-%d %H:%M:%S}", h["from"], h["to"], h["reason"][:70]]
            for h in history_rows
        ],
    )


def _operator(by: str | None) -> str:
    return by or getpass.getuser()


@app.command()
def override(
    element: str = typer.Argument(
        ..., help="Element to ignore (a faulty sensor), or '*' to force the dome closed."
    ),
    minutes: float = typer.Option(..., "--for", help="Duration in (simulated) minutes."),
    reason: str = typer.Option(..., "--reason", help="Why (shown to every operator)."),
    by: str | None = typer.Option(None, "--by", help="Operator name (default: login name)."),
) -> None:
    """Add an operator override, always visible in the synthesis until it expires."""
    _override(element, minutes, reason, _operator(by))


def _override(element: str, minutes: float, reason: str, by: str) -> None:
    from infra.db import session_scope
    from tasks.environment.observatory_state import add_override

    with session_scope(ready_engine()) as session:
        try:
            done = add_override(session, element, minutes * 60.0, by, reason, get_clock().now())
        except ValueError as exc:
            raise CliError(str(exc)) from None
    typer.echo(done.describe())


@app.command("clear-overrides")
def clear(by: str | None = typer.Option(None, "--by")) -> None:
    """Remove every override."""
    from infra.db import session_scope
    from tasks.environment.observatory_state import clear_overrides

    with session_scope(ready_engine()) as session:
        clear_overrides(session, _operator(by), get_clock().now())
    typer.echo("overrides cleared")


@app.command("fake-alarm")
def fake_alarm(
    minutes: float = typer.Option(5.0, "--for", help="Drill length in (simulated) minutes."),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """A drill: an unsafe condition the monitor acts on (closes, parks, emits) for a while."""
    _override("*", minutes, "fake alarm (drill)", _operator(by))


@dome_app.command("open")
def dome_open(
    by: str | None = typer.Option(None, "--by"), reason: str = typer.Option("", "--reason")
) -> None:
    """Request the dome open (the monitor opens it once safe for the hold time)."""
    _dome(True, _operator(by), reason)


@dome_app.command("close")
def dome_close(
    by: str | None = typer.Option(None, "--by"), reason: str = typer.Option("", "--reason")
) -> None:
    """Request the dome closed."""
    _dome(False, _operator(by), reason)


def _dome(opening: bool, by: str, reason: str) -> None:
    from infra.db import session_scope
    from tasks.environment.observatory_state import DomeRequestState, request_dome

    state = DomeRequestState.OPEN if opening else DomeRequestState.CLOSED
    with session_scope(ready_engine()) as session:
        request_dome(session, state, by, get_clock().now(), reason)
    typer.echo(f"dome requested {state}")
