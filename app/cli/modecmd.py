"""``pyros mode``: show or set AUTO/MANUAL."""

from __future__ import annotations

import getpass

import typer

from app.cli.common import ready_engine
from app.cli.errors import CliError

# The database and the mode's table are imported inside the command: every command module is
# imported by `pyros --help`, and each command answers within the CLI's 2 s.


def mode(
    value: str | None = typer.Argument(None, help="AUTO or MANUAL (omit to show)."),
    by: str | None = typer.Option(None, "--by", help="Operator name (default: the login name)."),
) -> None:
    """Show or set the operating mode (MANUAL: nothing automatic moves the telescope)."""
    from infra.db import session_scope
    from infra.opmode import get_operating_mode, set_operating_mode

    with session_scope(ready_engine()) as session:
        if value is not None:
            try:
                set_operating_mode(session, value, by or getpass.getuser())
            except ValueError as exc:
                raise CliError(str(exc)) from None
        current = get_operating_mode(session)
    typer.echo(f"operating mode: {current.value}")
