"""``pyros``: the command line of PyROS.

Sub-commands live in sibling modules, each a small Typer app registered here. Errors never show a
traceback: known ones print one line and exit 2 (bad input) or 3 (database not ready); unexpected
ones exit 1 and leave the traceback in ``$PYROS_HOME/logs/cli.log``.
"""

from __future__ import annotations

import sys

import click
import typer

from app.cli import (
    alertcmd,
    calibratecmd,
    configcmd,
    dbcmd,
    gatewayscmd,
    journalcmd,
    modecmd,
    monitorcmd,
    nightcmd,
    nrtcmd,
    requestcmd,
    runcmd,
    schedulecmd,
    simulatorscmd,
    stackcmd,
)
from app.cli.errors import report

app = typer.Typer(
    name="pyros",
    help="PyROS: control software of a robotic GRB follow-up telescope.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dbcmd.app, name="db")
app.add_typer(requestcmd.app, name="request")
app.add_typer(configcmd.app, name="config")
app.add_typer(journalcmd.app, name="journal")
app.add_typer(alertcmd.app, name="alert")
app.add_typer(gatewayscmd.app, name="gateways")
app.add_typer(monitorcmd.app, name="monitor")
app.add_typer(monitorcmd.dome_app, name="dome")
app.add_typer(schedulecmd.app, name="schedule")
app.add_typer(calibratecmd.app, name="calibrate")
app.add_typer(simulatorscmd.app, name="simulators")
app.add_typer(nrtcmd.app, name="nrt")
app.add_typer(nightcmd.app, name="night")
app.command("mode")(modecmd.mode)
app.command("demo")(runcmd.demo)
app.command("up")(stackcmd.up)
app.command("down")(stackcmd.down)
app.command("status")(stackcmd.status)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the ``pyros`` console script)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="pyros", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("pyros: aborted\n")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("pyros: interrupted\n")
        return 130
    except Exception as exc:
        return report(exc, as_json="--json" in args)
    return result if isinstance(result, int) else 0


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
