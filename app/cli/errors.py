"""How the CLI turns failures into one line on stderr and an exit code, never a traceback.

The exit codes (documented in docs/cli.md, checked by tests/app/cli/test_walk.py):

- 0: done (also a group called without a sub-command: its help);
- 1: an internal error (a defect: the traceback is in ``$PYROS_HOME/logs/cli.log``);
- 2: a usage mistake or bad input (unknown option, missing argument, invalid file or value);
- 3: something needed is not there or not ready (no running stack, database not initialised,
  another instance already running, a port taken);
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import UTC, datetime

import typer

from infra.settings import SettingsError, load_settings

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_READY = 3
EXIT_INTERRUPTED = 130


# The other modules' errors are imported only when an error is being reported: every command
# module imports this one, and `pyros --help` must stay quick (the CLI's budget is 2 s).


def _known_errors() -> dict[type[BaseException], int]:
    from app.stack import PortTaken
    from app.supervisor.control import SupervisorUnavailable
    from app.supervisor.core import StartupError
    from app.supervisor.launch import StackAlreadyRunning
    from infra.clock import ClockError
    from infra.config import ConfigError
    from infra.db.migrate import DatabaseNotReady
    from infra.db.sequence_rules import IllegalTransition
    from infra.oslock import AlreadyRunning

    known: dict[type[BaseException], int] = {
        PortTaken: EXIT_NOT_READY,
        StackAlreadyRunning: EXIT_NOT_READY,
        AlreadyRunning: EXIT_NOT_READY,
        SupervisorUnavailable: EXIT_NOT_READY,
        StartupError: EXIT_INTERNAL,
        ConfigError: EXIT_BAD_INPUT,
        SettingsError: EXIT_BAD_INPUT,
        ClockError: EXIT_BAD_INPUT,
        IllegalTransition: EXIT_BAD_INPUT,
        DatabaseNotReady: EXIT_NOT_READY,
    }
    if "tasks.requests.parse" in sys.modules:
        from tasks.requests.parse import RequestError

        known[RequestError] = EXIT_BAD_INPUT
    return known


class CliError(Exception):
    """A failure the CLI reports as is (message, exit code)."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of a known error, or None for an unexpected one."""
    if isinstance(exc, CliError):
        return exc.code
    for kind, code in _known_errors().items():
        if isinstance(exc, kind):
            return code
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        return EXIT_NOT_READY
    return None


def one_line(exc: BaseException) -> str:
    """The first line of an error's message, with its type when the message is empty."""
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError) and exc.orig is not None:
        text = f"database error: {exc.orig}"
    else:
        text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def log_traceback(exc: BaseException) -> str | None:
    """Write the traceback of an unexpected error to ``$PYROS_HOME/logs/cli.log``."""
    try:
        log_dir = load_settings().log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "cli.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now(UTC).isoformat()} {' '.join(sys.argv)}\n")
            handle.write("".join(traceback.format_exception(exc)))
        return str(path)
    except Exception:
        return None


def report_usage(exc: typer.TyperException, *, as_json: bool) -> int:
    """Report a usage error (Typer's own: unknown option, missing argument, bad value) as Typer
    would, and as one JSON object with ``--json``; returns its exit code (2)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        # A group declared with no_args_is_help: Typer printed the help, which was asked for.
        return EXIT_OK
    code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
    if as_json:
        message = exc.format_message().strip().splitlines()
        sys.stdout.write(
            json.dumps({"ok": False, "error": message[0] if message else "", "exit_code": code})
            + "\n"
        )
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        sys.stderr.write(f"pyros: {exc.format_message()}\n")
    return int(code)


def report(exc: BaseException, *, as_json: bool) -> int:
    """Print ``exc`` as one line (and a JSON object when asked); returns the exit code."""
    code = exit_code_for(exc)
    message = one_line(exc)
    if code is None:
        code = EXIT_INTERNAL
        where = log_traceback(exc)
        message = f"internal error: {type(exc).__name__}: {message}" + (
            f" (traceback in {where})" if where else ""
        )
    if as_json:
        sys.stdout.write(json.dumps({"ok": False, "error": message, "exit_code": code}) + "\n")
    sys.stderr.write(f"pyros: {message}\n")
    return code
