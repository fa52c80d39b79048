"""``pyros night``: a whole simulated night from one command (``--simulate``), and the report of
any night (``pyros night report [NIGHT]``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from app.cli.common import ready_engine
from app.cli.errors import EXIT_NOT_READY, CliError
from app.cli.nightgrb import GRB_AFTER_DARK_MIN
from app.cli.output import print_json

# The stack, the database, the configuration and the night's report are imported inside the
# commands: every command module is imported by `pyros --help`, and each command answers within
# the CLI's 2 s.

app = typer.Typer(
    help="The night: simulate one through the whole stack, or show a night's report.",
    invoke_without_command=True,
    rich_markup_mode=None,  # help texts name site-file sections ([nrt]): not markup
)


@app.callback()
def night(
    context: typer.Context,
    simulate: bool = typer.Option(
        False, "--simulate", help="Run a night on the simulators through the whole stack."
    ),
    speed: float = typer.Option(
        60.0, "--speed", min=1.0, max=100000.0, help="Simulated seconds per wall second."
    ),
    scenario: Path | None = typer.Option(
        None,
        "--scenario",
        exists=True,
        dir_okay=False,
        help="Scenario file (default: the repository's night scenario).",
    ),
    hours: float | None = typer.Option(
        None,
        "--hours",
        min=0.05,
        max=24.0,
        help="Simulate the evening and only this many hours of the dark night.",
    ),
    frame_px: int = typer.Option(
        512,
        "--frame-px",
        min=0,
        max=8192,
        help="Square frames of this many pixels (0: the instruments' own size).",
    ),
    json_output: bool = typer.Option(
        False, "--json", help="End with the summary as one JSON line."
    ),
    down: bool = typer.Option(
        False, "--down", help="Stop the stack when the night is over (default: leave it up)."
    ),
    grb: bool = typer.Option(
        True,
        "--grb/--no-grb",
        help="With the default scenario, a GRB alert through the broker and its afterglow in the "
        "sky (--grb-after-dark); ignored with --scenario.",
    ),
    grb_after_dark: float = typer.Option(
        GRB_AFTER_DARK_MIN,
        "--grb-after-dark",
        min=0.0,
        max=1440.0,
        help="Minutes into the dark night of the GRB (none when the run ends before).",
    ),
    grb_error_deg: float | None = typer.Option(
        None,
        "--grb-error-deg",
        min=0.001,
        max=180.0,
        help="Make the GRB a Fermi GBM one with this error radius (deg): a box the follow-up "
        "tiles ([[alerts.strategies]] must cover it), its afterglow in one of the tiles.",
    ),
) -> None:
    """Simulate a night from dusk to dawn at the site (``--simulate``), ending with its report."""
    if context.invoked_subcommand is not None:
        return
    if not simulate:
        typer.echo(context.get_help())
        raise typer.Exit(0)
    # import time: the stack, the night and the progress display
    from app.cli.nightprogress import NightDisplay
    from app.cli.nightsim import simulate_night

    try:
        with NightDisplay(to_stderr=json_output) as display:
            result = simulate_night(
                speed=speed,
                scenario=scenario,
                hours=hours,
                frame_px=frame_px,
                down=down,
                display=display,
                grb_after_dark_s=grb_after_dark * 60.0 if grb else None,
                grb_error_deg=grb_error_deg,
            )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    summary = result["summary"]
    if json_output:
        typer.echo(result["markdown"], err=True)
        typer.echo(json.dumps(summary, default=str))
        return
    typer.echo(result["markdown"])
    typer.echo(f"report: {summary['report']}")
    typer.echo(f"Prefect UI: {summary['ui']}")
    if not down:
        typer.echo("the stack is still up for browsing; `pyros down` stops it")


@app.command("report")
def report(
    label: str | None = typer.Argument(
        None, help="Night label YYYY-MM-DD (default: the latest night that has data)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    write: bool = typer.Option(
        False, "--write", help="Also (re)write $PYROS_HOME/reports/<night>.md and .json."
    ),
) -> None:
    """The report of a night, from the database (the same figures as the night's summary, report
    files and Prefect artifact)."""
    from infra.config import get_config
    from infra.db import session_scope
    from tasks.night.prefect_tasks import reports_dir
    from tasks.night.report import latest_night_with_data, night_has_data, night_report
    from tasks.night.report_render import render_markdown, report_as_dict, write_report_files

    if label is not None:
        try:
            date.fromisoformat(label)
        except ValueError:
            raise CliError(f"night {label!r} is not a date YYYY-MM-DD") from None
    config = get_config()
    engine = ready_engine()
    with session_scope(engine) as session:
        latest = latest_night_with_data(session, config)
        if label is None and latest is None:
            # Nothing to show is an answer (as `pyros schedule show` with no schedule).
            if json_output:
                print_json(None)
            else:
                typer.echo("no night has data in this database yet")
            return
        label = label or str(latest)
        if not night_has_data(session, label, config):
            hint = f"; the latest night with data is {latest}" if latest else ""
            raise CliError(
                f"night {label}: no data (no schedule, image, sequence run or weather change)"
                f"{hint}",
                EXIT_NOT_READY,
            )
        result = night_report(session, label, config)
    if write:
        write_report_files(result, reports_dir())
    if json_output:
        print_json(report_as_dict(result))
    else:
        typer.echo(render_markdown(result))
