"""``pyros db``: migrations and the defaults."""

from __future__ import annotations

import typer

from app.cli.errors import CliError
from app.cli.groups import command_group
from app.cli.output import print_json
from infra.settings import load_settings, redact_url

# The database, its migrations and the configuration are imported inside the commands: every
# command module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("Database schema and defaults.")


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database schema to REVISION (default: the newest)."""
    from alembic.util.exc import CommandError

    from infra.db import get_engine
    from infra.db.migrate import current_revision
    from infra.db.migrate import upgrade as do_upgrade

    engine = get_engine()
    try:
        do_upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision, mostly
        raise CliError(f"database upgrade to {revision!r}: {exc}") from None
    typer.echo(
        f"database {redact_url(load_settings().database_url)} at revision "
        f"{current_revision(engine)}"
    )


@app.command()
def init(json_output: bool = typer.Option(False, "--json", help="Print a JSON summary.")) -> None:
    """Migrate the schema and load the defaults (user pyros, program GRB, country, devices,
    instruments, follow-up strategies). Safe to run again."""
    from infra.config import get_config
    from infra.db import get_engine
    from infra.db.bootstrap import init_database

    report = init_database(get_engine(), get_config())
    url = redact_url(load_settings().database_url)
    if json_output:
        print_json({"database": url, "created": report.created, "updated": report.updated})
        return
    typer.echo(
        f"database {url} ready; created {len(report.created)} default rows"
        + (f" ({', '.join(report.created)})" if report.created else "")
        + (f"; updated {', '.join(report.updated)}" if report.updated else "")
    )


@app.command()
def current() -> None:
    """Print the revision the database is at and the one the code needs."""
    from infra.db import get_engine
    from infra.db.migrate import current_revision, head_revision

    typer.echo(
        f"database: {current_revision(get_engine()) or 'not initialised'}; code: {head_revision()}"
    )
