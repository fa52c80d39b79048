"""``pyros replay NIGHT``: re-run a recorded night from its journal and say what differs."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError
from app.cli.output import print_json


def replay(
    night: str = typer.Argument(..., help="Night label YYYY-MM-DD (see `pyros journal nights`)."),
    set_: list[str] = typer.Option(
        [], "--set", help="What-if: override a configuration key, section.key=value (repeatable)."
    ),
    tolerance_s: float = typer.Option(
        120.0, "--tolerance", min=0.0, help="Time tolerance of 'identical' (simulated s)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Directory of the replay's database and report (default: $PYROS_HOME/replays/NIGHT).",
    ),
    json_output: bool = typer.Option(False, "--json", help="End with the summary as JSON."),
) -> None:
    """Replay a recorded night on the discrete-event clock into a database of its own and
    compare its decisions with the recorded ones (docs/replay.md)."""
    from app.cli.progressbar import progress_bar
    from infra.config import get_config
    from infra.journal import night_start_date
    from infra.settings import load_settings
    from tasks.replay.run import ReplayError, replay_and_compare

    try:
        night_start_date(night)
    except ValueError:
        raise CliError(f"night {night!r}: expected a label YYYY-MM-DD") from None
    out_dir = out or load_settings().home / "replays" / night
    try:
        with progress_bar(f"replay {night} (simulated s)") as advance:
            outcome = replay_and_compare(
                ready_engine(), night, get_config(), out_dir, overrides=set_,
                tolerance_s=tolerance_s, progress=advance,
            )  # fmt: skip
    except ReplayError as error:
        raise CliError(str(error)) from None
    if json_output:
        typer.echo(outcome.report, err=True)
        print_json(outcome.summary())
        return
    typer.echo(outcome.report)
    run = outcome.run
    typer.echo(
        f"{run.simulated_seconds:.0f} simulated s in {outcome.wall_seconds:.2f} wall s; "
        f"report {outcome.report_path}"
    )
