"""``pyros``: the command line of PyROS.

Sub-commands live in sibling modules, each a small Typer app registered here. Errors never show a
traceback: usage mistakes and bad input exit 2, a stack or database that is not there or not ready
exits 3, with one line saying so; unexpected errors exit 1 and leave the traceback in
``$PYROS_HOME/logs/cli.log`` (docs/cli.md lists the exit codes). A group without a sub-command
shows its help and exits 0.

Before anything reads the environment, a command takes the clock, the Prefect API, the mode, the
site file and the database of the stack running in its ``PYROS_HOME`` for each of them not set
explicitly (:func:`infra.stackrun.adopt_stack_environment`).
"""

from __future__ import annotations

import sys

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
    peoplecmd,
    previewscmd,
    replaycmd,
    requestcmd,
    requestlife,
    runcmd,
    schedulecmd,
    simulatorscmd,
    stackcmd,
)
from app.cli.errors import EXIT_INTERRUPTED, report, report_usage
from app.cli.groups import show_help_without_subcommand
from infra.secrets import adopt_client_auth
from infra.stackrun import adopt_stack_environment

app = typer.Typer(
    name="pyros",
    help="PyROS: control software of a robotic GRB follow-up telescope.",
    invoke_without_command=True,
    callback=show_help_without_subcommand,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts name site-file sections ([nrt]): not markup
)
app.add_typer(dbcmd.app, name="db")
app.add_typer(requestcmd.app, name="request")
requestcmd.app.command("cancel")(requestlife.cancel)
requestcmd.app.command("images")(requestlife.images)
requestcmd.app.command("export")(requestlife.export)
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
app.add_typer(previewscmd.app, name="previews")
app.add_typer(nightcmd.app, name="night")
app.add_typer(peoplecmd.user_app, name="user")
app.add_typer(peoplecmd.program_app, name="program")
app.add_typer(peoplecmd.country_app, name="country")
app.command("mode")(modecmd.mode)
app.command("replay")(replaycmd.replay)
app.command("demo")(runcmd.demo)
app.command("up")(stackcmd.up)
app.command("down")(stackcmd.down)
app.command("status")(stackcmd.status)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the ``pyros`` console script)."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    try:
        adopt_client_auth()
        adopt_stack_environment()
        result = app(args=args, prog_name="pyros", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("pyros: aborted\n")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        sys.stderr.write("pyros: interrupted\n")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:
        # Typer's usage errors (a missing argument, an unknown option, a bad value): Typer
        # vendors Click since 0.26, so they are TyperExceptions, not click's exceptions.
        return report_usage(exc, as_json=as_json)
    except Exception as exc:
        return report(exc, as_json=as_json)
    finally:
        flush_events()
    return result if isinstance(result, int) else 0


def flush_events() -> None:
    """Deliver the events this command sent to Prefect before the process exits, quietly."""
    # Imported here: infra.events brings SQLAlchemy and the configuration (`pyros --help`
    # stays quick), and it has work to do only when Prefect was imported to send an event.
    if "prefect.events" in sys.modules:
        from infra.events import flush_sent_events

        flush_sent_events()


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
